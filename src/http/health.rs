//! `GET /healthz` (the process is up) and `GET /readyz` (the database answers, within
//! `READY_TIMEOUT_MS`: a load balancer learns within that time that the database is gone, rather
//! than after the pool's wait for a connection).

use crate::http::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use std::time::Duration;

pub async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, "ok")
}

pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let limit = Duration::from_millis(state.config.ready_timeout_ms);
    match tokio::time::timeout(limit, state.db.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready"),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
        Err(_) => {
            tracing::warn!(timeout_ms = limit.as_millis() as u64, "readiness check timed out");
            (StatusCode::SERVICE_UNAVAILABLE, "database did not answer in time")
        }
    }
}
