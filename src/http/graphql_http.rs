//! A thin GraphQL-over-HTTP handler around the schema: content negotiation between
//! `application/graphql-response+json` and `application/json`, request errors answered with 4xx
//! under the former, mutations refused over GET (CSRF safety), and the playground for browsers.
//!
//! Limits that need no parsing are checked here, before any GraphQL work: batch size and query
//! document size (`BAD_USER_INPUT`, HTTP 400); the body size is capped earlier by the router's
//! `DefaultBodyLimit` (HTTP 413). Limits on the parsed document (aliases, depth, complexity) and
//! the per-token rate limit live in `graphql::limits`; a `RATE_LIMITED` answer becomes HTTP 429
//! with `Retry-After` here, and an answer the database's unavailability left empty
//! (`SERVICE_UNAVAILABLE`, nothing executed) HTTP 503 with `Retry-After`.

use super::{ClientAddr, playground};
use crate::auth::{self, Viewer};
use crate::graphql::RequestContext;
use crate::http::AppState;
use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, BatchResponse};
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::header::{ACCEPT, ALLOW, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const APPLICATION_JSON: &str = "application/json";

/// Which media type the client asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum MediaType {
    GraphqlResponseJson,
    Json,
}

impl MediaType {
    fn as_str(self) -> &'static str {
        match self {
            MediaType::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
            MediaType::Json => "application/json; charset=utf-8",
        }
    }
}

/// Picks the response media type from `Accept` by quality (`q`), the way the GraphQL-over-HTTP
/// reference server does: `application/graphql-response+json` when the client names it, and
/// `application/json` for `application/json`, `application/*` and `*/*` — the spec keeps
/// `application/json` the default for legacy clients until its watershed. A range that asks for
/// a charset other than UTF-8 or has `q=0` is not acceptable. `None` when nothing acceptable is
/// offered (HTTP 406).
fn negotiate(headers: &HeaderMap) -> Option<MediaType> {
    let Some(accept) = headers.get(ACCEPT).and_then(|v| v.to_str().ok()) else {
        // A missing Accept is treated like `application/json`, as the spec asks.
        return Some(MediaType::Json);
    };
    let mut best: Option<(f32, u8, MediaType)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut quality = 1.0_f32;
        let mut utf8 = true;
        for param in parts {
            let (name, value) = param.split_once('=').unwrap_or((param, ""));
            let value = value.trim().trim_matches('"').to_ascii_lowercase();
            match name.trim().to_ascii_lowercase().as_str() {
                "q" => quality = value.parse().unwrap_or(0.0),
                "charset" => utf8 = value == "utf-8" || value == "utf8",
                _ => {}
            }
        }
        // The rank breaks ties between equal qualities: a type named exactly beats a wildcard.
        let (rank, chosen) = match media.as_str() {
            GRAPHQL_RESPONSE_JSON => (3, MediaType::GraphqlResponseJson),
            APPLICATION_JSON => (2, MediaType::Json),
            "application/*" | "*/*" => (1, MediaType::Json),
            _ => continue,
        };
        if quality <= 0.0 || !utf8 {
            continue;
        }
        if best.is_none_or(|(q, r, _)| quality > q || (quality == q && rank > r)) {
            best = Some((quality, rank, chosen));
        }
    }
    best.map(|(_, _, media)| media)
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// An HTTP-level refusal (what the client can accept or sends is not GraphQL over HTTP) as a
/// GraphQL-shaped JSON body with a code, like every other error under `/graphql`.
fn refusal(status: StatusCode, message: &str, code: &str) -> Response {
    let body = serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, [(CONTENT_TYPE, APPLICATION_JSON)], body.to_string()).into_response()
}

/// A request-level error (the request could not be parsed) in the negotiated media type.
fn request_error(media: MediaType, status: StatusCode, message: &str, code: &str) -> Response {
    let body = serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static(media.as_str()))],
        body.to_string(),
    )
        .into_response()
}

/// HTTP 503 with `Retry-After` for a request the database's unavailability kept from running at
/// all: the error as GraphQL answers it (`SERVICE_UNAVAILABLE`, `retryAfterSeconds`).
fn unavailable(media: MediaType, err: &crate::error::AppError) -> Response {
    let error = async_graphql::ErrorExtensions::extend(err);
    let body = serde_json::json!({ "errors": [{
        "message": error.message,
        "extensions": {
            "code": err.code(),
            "retryAfterSeconds": crate::error::UNAVAILABLE_RETRY_AFTER_SECS,
        },
    }] });
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (CONTENT_TYPE, HeaderValue::from_static(media.as_str())),
            (
                RETRY_AFTER,
                HeaderValue::from(crate::error::UNAVAILABLE_RETRY_AFTER_SECS),
            ),
        ],
        body.to_string(),
    )
        .into_response()
}

/// `GET /graphql`: the playground for browsers, otherwise a query from the URL's parameters.
pub async fn get(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let query = uri.query().unwrap_or("");
    if wants_html(&headers) && !query.contains("query=") {
        return playground::page();
    }
    let Some(media) = negotiate(&headers) else {
        return refusal(
            StatusCode::NOT_ACCEPTABLE,
            "Accept must allow application/graphql-response+json or application/json",
            "NOT_ACCEPTABLE",
        );
    };
    // async-graphql would read a missing `query` as an empty document (HTTP 200 with a parse
    // error); without one this is not a GraphQL request, so it gets HTTP 400.
    let has_query = query
        .split('&')
        .any(|pair| pair.split('=').next() == Some("query"));
    let parsed = if has_query {
        async_graphql::http::parse_query_string(query).map_err(|err| err.to_string())
    } else {
        Err("the `query` parameter is missing".to_string())
    };
    let request = match parsed {
        Ok(r) => r,
        Err(message) => return request_error(media, StatusCode::BAD_REQUEST, &message, "BAD_REQUEST"),
    };
    if let Some(refusal) = refuse_oversized(&state, std::slice::from_ref(&request), media) {
        return refusal;
    }
    if is_mutation(&request) {
        let mut resp = request_error(
            media,
            StatusCode::METHOD_NOT_ALLOWED,
            "mutations are only accepted over POST",
            "BAD_REQUEST",
        );
        resp.headers_mut().insert(ALLOW, HeaderValue::from_static("POST"));
        return resp;
    }
    execute(&state, &headers, BatchRequest::Single(request), media, client).await
}

/// `POST /graphql`: a JSON body with one request (or a batch of them).
pub async fn post(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejected) if rejected.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!(
                    "the request body is larger than {} bytes (MAX_BODY_BYTES)",
                    state.config.max_body_bytes
                ),
                "PAYLOAD_TOO_LARGE",
            );
        }
        Err(rejected) => {
            return refusal(
                rejected.status(),
                &format!("the request body could not be read: {}", rejected.body_text()),
                "BAD_REQUEST",
            );
        }
    };
    let Some(media) = negotiate(&headers) else {
        return refusal(
            StatusCode::NOT_ACCEPTABLE,
            "Accept must allow application/graphql-response+json or application/json",
            "NOT_ACCEPTABLE",
        );
    };
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence != APPLICATION_JSON {
        // Only JSON bodies: a form or text/plain POST could be sent cross-site without a CORS
        // preflight, so refusing them keeps mutations safe from CSRF.
        return refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
            "UNSUPPORTED_MEDIA_TYPE",
        );
    }
    let batch = match parse_body(&body) {
        Ok(b) => b,
        Err(message) => return request_error(media, StatusCode::BAD_REQUEST, &message, "BAD_REQUEST"),
    };
    let requests = match &batch {
        BatchRequest::Single(r) => std::slice::from_ref(r),
        BatchRequest::Batch(rs) => rs.as_slice(),
    };
    if let Some(refusal) = refuse_oversized(&state, requests, media) {
        return refusal;
    }
    execute(&state, &headers, batch, media, client).await
}

/// Parses a POST body: one request object or an array of them, each with a string `query`.
/// async-graphql would default a missing `query` to an empty document and answer a parse error
/// with HTTP 200; a body without a query is not a GraphQL request at all, so it gets HTTP 400.
fn parse_body(body: &[u8]) -> Result<BatchRequest, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|err| format!("invalid JSON body: {err}"))?;
    let has_query = |v: &serde_json::Value| v.get("query").is_some_and(serde_json::Value::is_string);
    let well_formed = match &value {
        serde_json::Value::Array(items) if items.is_empty() => {
            return Err("the batch is empty: send at least one request object".to_string());
        }
        serde_json::Value::Array(items) => items.iter().all(has_query),
        other => has_query(other),
    };
    if !well_formed {
        return Err("every request needs a `query` string".to_string());
    }
    serde_json::from_value(value).map_err(|err| format!("invalid GraphQL request: {err}"))
}

/// Refuses a batch with too many operations or a query document that is too large, before any
/// request of it is parsed or executed.
fn refuse_oversized(
    state: &AppState,
    requests: &[async_graphql::Request],
    media: MediaType,
) -> Option<Response> {
    let config = &state.config;
    if requests.len() > config.max_batch {
        return Some(request_error(
            media,
            StatusCode::BAD_REQUEST,
            &format!(
                "the batch holds {} operations; at most {} are allowed",
                requests.len(),
                config.max_batch
            ),
            "BAD_USER_INPUT",
        ));
    }
    let largest = requests.iter().map(|r| r.query.len()).max().unwrap_or(0);
    if largest > config.max_document_bytes {
        return Some(request_error(
            media,
            StatusCode::BAD_REQUEST,
            &format!(
                "the query document has {largest} bytes; at most {} are allowed",
                config.max_document_bytes
            ),
            "BAD_USER_INPUT",
        ));
    }
    None
}

/// The longest `retryAfterSeconds` of `RATE_LIMITED` errors in the response, if any.
fn rate_limited(response: &BatchResponse) -> Option<u64> {
    let responses = match response {
        BatchResponse::Single(r) => std::slice::from_ref(r),
        BatchResponse::Batch(rs) => rs.as_slice(),
    };
    responses
        .iter()
        .flat_map(|r| r.errors.iter())
        .filter_map(|e| e.extensions.as_ref())
        .filter(|x| x.get("code") == Some(&async_graphql::Value::from("RATE_LIMITED")))
        .map(|x| match x.get("retryAfterSeconds") {
            Some(async_graphql::Value::Number(n)) => n.as_u64().unwrap_or(1),
            _ => 1,
        })
        .max()
}

/// Whether the database's unavailability kept every operation of the response from producing
/// anything: each has a `SERVICE_UNAVAILABLE` error and no data (`null`, or only `null` root
/// fields). Such a response is HTTP 503 with `Retry-After`, and the whole request can be sent
/// again; one that produced some data stays HTTP 200, the errors telling which fields to retry.
fn nothing_executed_for_unavailability(response: &BatchResponse) -> bool {
    let responses = match response {
        BatchResponse::Single(r) => std::slice::from_ref(r),
        BatchResponse::Batch(rs) => rs.as_slice(),
    };
    let unavailable = async_graphql::Value::from("SERVICE_UNAVAILABLE");
    responses.iter().all(|r| {
        let has_unavailable = r
            .errors
            .iter()
            .any(|e| e.extensions.as_ref().and_then(|x| x.get("code")) == Some(&unavailable));
        let no_data = match &r.data {
            async_graphql::Value::Null => true,
            async_graphql::Value::Object(fields) => fields.values().all(|v| *v == async_graphql::Value::Null),
            _ => false,
        };
        has_unavailable && no_data
    })
}

fn is_mutation(request: &async_graphql::Request) -> bool {
    let Ok(doc) = async_graphql::parser::parse_query(&request.query) else {
        return false;
    };
    match &request.operation_name {
        Some(name) => doc
            .operations
            .iter()
            .any(|(n, op)| n.is_some_and(|n| n.as_str() == name) && op.node.ty != OperationType::Query),
        None => doc
            .operations
            .iter()
            .any(|(_, op)| op.node.ty != OperationType::Query),
    }
}

async fn execute(
    state: &AppState,
    headers: &HeaderMap,
    batch: BatchRequest,
    media: MediaType,
    client: Option<std::net::IpAddr>,
) -> Response {
    let request_id = headers
        .get(crate::http::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string();
    let auth = match headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        None => Auth::Anonymous,
        Some(value) => match auth::bearer_token(value) {
            None => Auth::Invalid,
            Some(token) => {
                match auth::authenticate_cached(&state.db, Some(&state.grants), token, chrono::Utc::now())
                    .await
                {
                    Ok(viewer) => Auth::Viewer(viewer),
                    Err(crate::error::AppError::Unauthenticated) => Auth::Invalid,
                    Err(err) if err.is_unavailable() => return unavailable(media, &err),
                    Err(err) => {
                        tracing::error!(error = ?err, "authentication failed");
                        return request_error(
                            media,
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "internal error",
                            "INTERNAL",
                        );
                    }
                }
            }
        },
    };
    let ctx = RequestContext::new(
        &state.db,
        &state.config,
        auth.into_viewer(),
        request_id.clone(),
        client,
    );
    let batch = match batch {
        BatchRequest::Single(r) => BatchRequest::Single(ctx.attach(r)),
        BatchRequest::Batch(rs) => BatchRequest::Batch(rs.into_iter().map(|r| ctx.attach(r)).collect()),
    };
    let response = state.api.execute_batch(batch).await;
    let unavailable = nothing_executed_for_unavailability(&response);
    let retry_after =
        rate_limited(&response).or(unavailable.then_some(crate::error::UNAVAILABLE_RETRY_AFTER_SECS));
    let status = match (&response, media) {
        _ if unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ if retry_after.is_some() => StatusCode::TOO_MANY_REQUESTS,
        (BatchResponse::Single(r), MediaType::GraphqlResponseJson) if is_request_error(r) => {
            StatusCode::BAD_REQUEST
        }
        _ => StatusCode::OK,
    };
    let body = match to_json(with_request_id(response, &request_id)) {
        Ok(b) => b,
        Err(err) => {
            tracing::error!(error = %err, "cannot serialise a GraphQL response");
            return request_error(
                media,
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error",
                "INTERNAL",
            );
        }
    };
    let mut resp = (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static(media.as_str()))],
        body,
    )
        .into_response();
    if let Some(secs) = retry_after {
        resp.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// A response whose request failed before execution (syntax or validation): no data at all and
/// errors without a path.
fn is_request_error(r: &async_graphql::Response) -> bool {
    !r.errors.is_empty() && r.data == async_graphql::Value::Null && r.errors.iter().all(|e| e.path.is_empty())
}

/// Serialises a response, leaving out `data` from responses whose request failed before
/// execution: the GraphQL spec says the entry is then absent, not `null`.
fn to_json(response: BatchResponse) -> serde_json::Result<String> {
    // Executed responses are written straight to text (a trends answer is ~100 KB, and building
    // a JSON value tree of it first cost ~5% of the server's CPU); only the small ones of failed
    // requests go through a value, to drop `data`.
    let one = |r: async_graphql::Response| {
        if !is_request_error(&r) {
            return serde_json::to_string(&r);
        }
        let mut value = serde_json::to_value(r)?;
        if let Some(object) = value.as_object_mut() {
            object.remove("data");
        }
        serde_json::to_string(&value)
    };
    match response {
        BatchResponse::Single(r) => one(r),
        BatchResponse::Batch(rs) => {
            let parts = rs.into_iter().map(one).collect::<Result<Vec<_>, _>>()?;
            Ok(format!("[{}]", parts.join(",")))
        }
    }
}

/// Adds the request id to masked internal errors so users can quote it.
fn with_request_id(mut response: BatchResponse, request_id: &str) -> BatchResponse {
    let add = |r: &mut async_graphql::Response| {
        for e in &mut r.errors {
            let internal = e
                .extensions
                .as_ref()
                .and_then(|x| x.get("code"))
                .is_some_and(|c| *c == async_graphql::Value::from("INTERNAL"));
            if internal {
                e.extensions
                    .get_or_insert_with(Default::default)
                    .set("requestId", request_id.to_string());
            }
        }
    };
    match &mut response {
        BatchResponse::Single(r) => add(r),
        BatchResponse::Batch(rs) => rs.iter_mut().for_each(add),
    }
    response
}

/// What the `Authorization` header established.
enum Auth {
    Anonymous,
    Invalid,
    Viewer(Viewer),
}

impl Auth {
    fn into_viewer(self) -> Result<Viewer, ()> {
        match self {
            Auth::Viewer(v) => Ok(v),
            Auth::Anonymous | Auth::Invalid => Err(()),
        }
    }
}
