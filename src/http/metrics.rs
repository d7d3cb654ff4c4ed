//! `GET /metrics`: the Prometheus text exposition of `crate::metrics`. It carries no tenant data
//! and needs no token, so route it only to the network your scraper is on.

use crate::http::AppState;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

/// The content type of the Prometheus text format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub async fn get(State(state): State<AppState>) -> impl IntoResponse {
    ([(CONTENT_TYPE, TEXT_FORMAT)], crate::metrics::render(&state.db))
}
