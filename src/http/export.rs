//! `GET /export/{tenant}/actions.csv` and `GET /export/{tenant}/history.json`: a tenant's
//! improvement actions and daily snapshot series for spreadsheets and BI tools. Same bearer
//! tokens and roles as the API (READER); another tenant answers 404 exactly like a missing one.
//!
//! Both bodies are streamed (`Body::from_stream`): the CSV in chunks of records, the history in
//! pages read from the database as the client consumes them.

use crate::auth::{self, Viewer};
use crate::error::AppError;
use crate::http::AppState;
use crate::service::export;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, Utc};
use futures::stream::{self, StreamExt};
use serde::Deserialize;

/// Records per streamed CSV chunk.
const CSV_CHUNK: usize = 100;

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    let mut resp = (status, [(CONTENT_TYPE, "application/json")], body.to_string()).into_response();
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut()
            .insert(WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
    }
    resp
}

fn app_error(e: AppError) -> Response {
    match e {
        AppError::Unauthenticated => error(StatusCode::UNAUTHORIZED, e.code(), &e.message()),
        AppError::NotFound(_) => error(StatusCode::NOT_FOUND, "NOT_FOUND", "tenant not found"),
        AppError::Forbidden { .. } => error(StatusCode::FORBIDDEN, e.code(), &e.message()),
        AppError::BadUserInput { .. } => error(StatusCode::BAD_REQUEST, e.code(), &e.message()),
        unavailable if unavailable.is_unavailable() => {
            let mut resp = error(
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVICE_UNAVAILABLE",
                &unavailable.message(),
            );
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(crate::error::UNAVAILABLE_RETRY_AFTER_SECS),
            );
            resp
        }
        other => {
            tracing::error!(error = ?other, "export failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error")
        }
    }
}

async fn viewer(state: &AppState, headers: &HeaderMap) -> Result<Viewer, AppError> {
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(auth::bearer_token)
        .ok_or(AppError::Unauthenticated)?;
    auth::authenticate(&state.db, token, Utc::now()).await
}

fn attachment(name: &str) -> String {
    format!("attachment; filename=\"{name}\"")
}

/// `GET /export/{tenant}/actions.csv`
pub async fn actions_csv(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let v = viewer(&state, &headers).await?;
        let tenant = export::tenant_for_export(&state.db, &v, &slug).await?;
        export::actions(&state.db, &state.states, &v, tenant).await
    }
    .await;
    let (tenant_state, tags) = match result {
        Ok(x) => x,
        Err(e) => return app_error(e),
    };
    let header = stream::once(async { export::csv_bytes([export::ACTION_COLUMNS]) });
    let count = tenant_state.actions.len();
    let rows = stream::iter((0..count).step_by(CSV_CHUNK)).map(move |start| {
        let end = (start + CSV_CHUNK).min(count);
        export::csv_bytes(tenant_state.actions[start..end].iter().map(|a| {
            let names = tags.get(&a.row.id).map(Vec::as_slice).unwrap_or(&[]);
            export::action_record(a, names)
        }))
    });
    let body = header.chain(rows).map(|chunk| {
        chunk.map(Bytes::from).map_err(|e| {
            tracing::error!(error = ?e, "CSV export failed mid-stream");
            std::io::Error::other("CSV export failed")
        })
    });
    (
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (CONTENT_DISPOSITION, attachment(&format!("{slug}-actions.csv"))),
            (CACHE_CONTROL, "no-store".to_string()),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// Optional day range of `history.json` (inclusive).
#[derive(Deserialize)]
pub struct HistoryRange {
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
}

/// Where the history stream is.
enum Cursor {
    Start,
    After(Option<NaiveDate>),
    Done,
}

/// `GET /export/{tenant}/history.json?from=YYYY-MM-DD&to=YYYY-MM-DD`
pub async fn history_json(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    range: Result<Query<HistoryRange>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let Query(range) = match range {
        Ok(range) => range,
        Err(rejected) => {
            return error(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                &format!(
                    "from and to must be days as YYYY-MM-DD ({})",
                    rejected.body_text()
                ),
            );
        }
    };
    let result = async {
        let v = viewer(&state, &headers).await?;
        export::tenant_for_export(&state.db, &v, &slug).await
    }
    .await;
    let tenant = match result {
        Ok(t) => t,
        Err(e) => return app_error(e),
    };
    let prefix = format!(
        "{{\"tenant\":{},\"snapshots\":[",
        serde_json::Value::String(tenant.slug.clone())
    );
    let db = state.db.clone();
    let tenant_id = tenant.id;
    let after_start = range.from.and_then(|d| d.pred_opt());
    let to = range.to;
    // Each step reads one page and emits it as one chunk; the `after` cursor is the last day
    // sent, so memory stays one page whatever the tenant's history holds.
    let pages = stream::unfold((Cursor::Start, true), move |(cursor, first)| {
        let db = db.clone();
        async move {
            let after = match cursor {
                Cursor::Done => return None,
                Cursor::Start => after_start,
                Cursor::After(d) => d,
            };
            let page = export::snapshot_page(&db, tenant_id, after, to)
                .await
                .and_then(|rows| {
                    let days = rows
                        .iter()
                        .map(export::snapshot_json)
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok((rows.last().map(|r| r.day), days))
                });
            match page {
                Err(e) => {
                    tracing::error!(error = ?e, "history export failed mid-stream");
                    Some((
                        Err(std::io::Error::other("history export failed")),
                        (Cursor::Done, first),
                    ))
                }
                Ok((_, days)) if days.is_empty() => {
                    Some((Ok(Bytes::from_static(b"]}")), (Cursor::Done, first)))
                }
                Ok((last, days)) => {
                    let mut chunk = String::new();
                    let mut first = first;
                    for day in &days {
                        if !first {
                            chunk.push(',');
                        }
                        first = false;
                        chunk.push_str(&day.to_string());
                    }
                    Some((Ok(Bytes::from(chunk)), (Cursor::After(last), first)))
                }
            }
        }
    });
    let body = stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(prefix)) }).chain(pages);
    (
        [
            (CONTENT_TYPE, "application/json".to_string()),
            (CONTENT_DISPOSITION, attachment(&format!("{slug}-history.json"))),
            (CACHE_CONTROL, "no-store".to_string()),
        ],
        Body::from_stream(body),
    )
        .into_response()
}
