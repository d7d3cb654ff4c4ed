//! A thin GraphQL-over-HTTP handler around the schema: content negotiation between
//! `application/graphql-response+json` and `application/json`, request errors answered with 4xx
//! under the former, mutations refused over GET (CSRF safety), and the playground for browsers.

use crate::app::AppState;
use crate::auth::{self, Viewer};
use crate::graphql::{RequestContext, playground_html};
use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, BatchResponse};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{ACCEPT, ALLOW, AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};

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

/// Picks the response media type from `Accept`; `None` when nothing acceptable is offered.
fn negotiate(headers: &HeaderMap) -> Option<MediaType> {
    let Some(accept) = headers.get(ACCEPT).and_then(|v| v.to_str().ok()) else {
        // The spec asks servers to treat a missing Accept like `application/json` for legacy
        // clients.
        return Some(MediaType::Json);
    };
    let mut fallback = None;
    for part in accept.split(',') {
        let media = part.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match media.as_str() {
            GRAPHQL_RESPONSE_JSON | "application/*" | "*/*" => return Some(MediaType::GraphqlResponseJson),
            APPLICATION_JSON => fallback = Some(MediaType::Json),
            _ => {}
        }
    }
    fallback
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

fn plain(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(CONTENT_TYPE, "text/plain; charset=utf-8")],
        message.to_string(),
    )
        .into_response()
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

/// `GET /graphql`: the playground for browsers, otherwise a query from the URL's parameters.
pub async fn get(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let query = uri.query().unwrap_or("");
    if wants_html(&headers) && !query.contains("query=") {
        return Html(playground_html()).into_response();
    }
    let Some(media) = negotiate(&headers) else {
        return plain(
            StatusCode::NOT_ACCEPTABLE,
            "Accept must allow application/graphql-response+json or application/json",
        );
    };
    let request = match async_graphql::http::parse_query_string(query) {
        Ok(r) => r,
        Err(err) => return request_error(media, StatusCode::BAD_REQUEST, &err.to_string(), "BAD_REQUEST"),
    };
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
    execute(
        &state,
        &headers,
        BatchRequest::Single(request),
        media,
        Method::GET,
    )
    .await
}

/// `POST /graphql`: a JSON body with one request (or a batch of them).
pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(media) = negotiate(&headers) else {
        return plain(
            StatusCode::NOT_ACCEPTABLE,
            "Accept must allow application/graphql-response+json or application/json",
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
        return plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        );
    }
    let batch: BatchRequest = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(err) => {
            return request_error(
                media,
                StatusCode::BAD_REQUEST,
                &format!("invalid JSON body: {err}"),
                "BAD_REQUEST",
            );
        }
    };
    execute(&state, &headers, batch, media, Method::POST).await
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
    _method: Method,
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
            Some(token) => match auth::authenticate(&state.db, token, chrono::Utc::now()).await {
                Ok(viewer) => Auth::Viewer(viewer),
                Err(crate::error::AppError::Unauthenticated) => Auth::Invalid,
                Err(err) => {
                    tracing::error!(error = ?err, "authentication failed");
                    return request_error(
                        media,
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal error",
                        "INTERNAL",
                    );
                }
            },
        },
    };
    let ctx = RequestContext::new(state, auth.into_viewer(), request_id.clone());
    let batch = match batch {
        BatchRequest::Single(r) => BatchRequest::Single(ctx.attach(r)),
        BatchRequest::Batch(rs) => BatchRequest::Batch(rs.into_iter().map(|r| ctx.attach(r)).collect()),
    };
    let response = state.schema.execute_batch(batch).await;
    let status = match (&response, media) {
        (BatchResponse::Single(r), MediaType::GraphqlResponseJson) if is_request_error(r) => {
            StatusCode::BAD_REQUEST
        }
        _ => StatusCode::OK,
    };
    let body = match serde_json::to_string(&with_request_id(response, &request_id)) {
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
    (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static(media.as_str()))],
        body,
    )
        .into_response()
}

/// A response whose request failed before execution (syntax or validation): no data at all and
/// errors without a path.
fn is_request_error(r: &async_graphql::Response) -> bool {
    !r.errors.is_empty() && r.data == async_graphql::Value::Null && r.errors.iter().all(|e| e.path.is_empty())
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
