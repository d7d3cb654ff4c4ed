//! The axum router: GraphQL over HTTP and over WebSocket (subscriptions), the playground, health
//! checks, Prometheus metrics and request tracing.

mod export;
mod graphql_http;
mod health;
mod metrics;
mod playground;
mod share;
mod ws;

use crate::app::AppState;
use axum::Router;
use axum::http::{HeaderName, Request};
use axum::routing::get;
use std::time::Duration;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// The header carrying the request id (set if the client did not send one, echoed back).
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Builds the whole router.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.max_body_bytes;
    Router::new()
        .route("/graphql", get(graphql_http::get).post(graphql_http::post))
        .route("/graphql/assets/{*path}", get(playground::asset))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/share/{token}", get(share::get))
        .route("/export/{tenant}/actions.csv", get(export::actions_csv))
        .route("/export/{tenant}/history.json", get(export::history_json))
        .route("/graphql/ws", get(ws::handler))
        .route("/metrics", get(metrics::get))
        // Wraps the routes above; only a WebSocket upgrade of `GET /graphql` is taken over.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ws::upgrade_graphql,
        ))
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                    let request_id = req
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    // Only method, path and request id: never headers, which carry tokens.
                    tracing::info_span!(
                        "request",
                        method = %req.method(),
                        path = %req.uri().path(),
                        request_id = %request_id,
                        operation = tracing::field::Empty,
                        tenant = tracing::field::Empty,
                    )
                }))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(TimeoutLayer::with_status_code(
                    axum::http::StatusCode::REQUEST_TIMEOUT,
                    Duration::from_secs(30),
                ))
                .layer(axum::extract::DefaultBodyLimit::max(body_limit)),
        )
}
