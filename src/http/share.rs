//! `GET /share/{token}`: the reduced view of a shared action as JSON (for `Accept:
//! application/json`) or as a small HTML page. Unknown, expired and revoked tokens all give the
//! same 404.

use crate::app::AppState;
use crate::error::AppError;
use crate::service::share;
use axum::extract::{Path, State};
use axum::http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub async fn get(State(state): State<AppState>, Path(token): Path<String>, headers: HeaderMap) -> Response {
    let json = headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"));
    let view = match share::open(&state.db, &token, chrono::Utc::now()).await {
        Ok(v) => v,
        Err(AppError::NotFound(_)) => {
            let body =
                serde_json::json!({ "error": { "code": "NOT_FOUND", "message": "shared action not found" } });
            return if json {
                (
                    StatusCode::NOT_FOUND,
                    [(CONTENT_TYPE, "application/json")],
                    body.to_string(),
                )
                    .into_response()
            } else {
                (StatusCode::NOT_FOUND, Html("<!doctype html><title>Not found</title><p>This link is unknown, expired or revoked.</p>".to_string())).into_response()
            };
        }
        Err(e) => {
            tracing::error!(error = ?e, "cannot open a share link");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    };
    let no_store = [(CACHE_CONTROL, "no-store")];
    if json {
        return (no_store, axum::Json(view)).into_response();
    }
    let links: String = view
        .learn_more_urls
        .iter()
        .map(|u| format!("<li><a href=\"{0}\">{0}</a></li>", escape(u)))
        .collect();
    let manage = view
        .action_url
        .as_deref()
        .map(|u| format!("<p><a href=\"{0}\">Manage</a></p>", escape(u)))
        .unwrap_or_default();
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head><body>\
         <h1>{title}</h1><p>{category} · {service} · status {status}</p>\
         <p>{achieved} of {max} points</p><h2>Implementation</h2><pre>{remediation}</pre>{manage}\
         <ul>{links}</ul><p><small>Link expires {expires}</small></p></body></html>",
        title = escape(&view.title),
        category = escape(&view.category),
        service = escape(&view.service),
        status = view.status.as_str(),
        achieved = view.points_achieved.round2(),
        max = view.max_points.round2(),
        remediation = escape(&view.remediation),
        expires = view.expires_at.format("%Y-%m-%d"),
    );
    (no_store, Html(html)).into_response()
}
