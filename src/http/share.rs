//! `GET /share/{token}`: the reduced view of a shared action as JSON (for `Accept:
//! application/json`) or as a small HTML page. Unknown, expired and revoked tokens all give the
//! same 404.
//!
//! The page is static markup with every text escaped and only `https:` links (the service layer
//! drops any other), served under a Content-Security-Policy that allows no script, style, frame
//! or form at all, `X-Content-Type-Options: nosniff`, and `Referrer-Policy: no-referrer` (the
//! token is in the URL, so following a link must not send it on).

use crate::error::AppError;
use crate::http::AppState;
use crate::service::collab::share;
use axum::extract::{Path, State};
use axum::http::HeaderValue;
use axum::http::header::{
    ACCEPT, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The JSON answer: exactly the fields and types of GraphQL's `sharedAction`, so a client can
/// read either (points as numbers rounded to 2 places, `linkExpiresAt`).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct SharedActionJson<'a> {
    title: &'a str,
    category: crate::domain::enums::Category,
    service: &'a str,
    status: crate::domain::enums::Status,
    points_achieved: f64,
    max_points: f64,
    remediation: &'a str,
    action_url: Option<&'a str>,
    learn_more_urls: &'a [String],
    /// RFC 3339 as GraphQL's `DateTime` writes it.
    link_expires_at: String,
}

impl<'a> From<&'a share::SharedView> for SharedActionJson<'a> {
    fn from(v: &'a share::SharedView) -> Self {
        SharedActionJson {
            title: &v.title,
            category: v.category,
            service: &v.service,
            status: v.status,
            points_achieved: crate::domain::present::present(&v.points_achieved),
            max_points: crate::domain::present::present(&v.max_points),
            remediation: &v.remediation,
            action_url: v.action_url.as_deref(),
            learn_more_urls: &v.learn_more_urls,
            link_expires_at: v.expires_at.to_rfc3339(),
        }
    }
}

/// What a share page may load: nothing (it has no script, style, image or form).
pub const SHARE_PAGE_CSP: &str =
    "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub async fn get(State(state): State<AppState>, Path(token): Path<String>, headers: HeaderMap) -> Response {
    let mut response = page(state, token, headers).await;
    let h = response.headers_mut();
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(SHARE_PAGE_CSP));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

async fn page(state: AppState, token: String, headers: HeaderMap) -> Response {
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
        Err(e) if e.is_unavailable() => {
            tracing::warn!(error = %e.message(), "cannot open a share link: database unavailable");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from(crate::error::UNAVAILABLE_RETRY_AFTER_SECS),
                )],
                "the database cannot be reached right now; retry in a moment",
            )
                .into_response();
        }
        Err(e) => {
            tracing::error!(error = ?e, "cannot open a share link");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    };
    let no_store = [(CACHE_CONTROL, "no-store")];
    if json {
        return (no_store, axum::Json(SharedActionJson::from(&view))).into_response();
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
        category = view.category.as_str(),
        service = escape(&view.service),
        status = view.status.as_str(),
        achieved = view.points_achieved.round2(),
        max = view.max_points.round2(),
        remediation = escape(&view.remediation),
        expires = view.expires_at.format("%Y-%m-%d"),
    );
    (no_store, Html(html)).into_response()
}
