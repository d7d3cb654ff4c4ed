//! The axum router: GraphQL over HTTP and over WebSocket (subscriptions), the dashboard, the
//! playground, health checks, Prometheus metrics and request tracing.

mod dashboard;
mod export;
mod graphql_http;
mod health;
mod metrics;
mod playground;
pub mod serve;
mod share;
mod state;
mod ws;
mod ws_guard;

pub use state::AppState;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderName, Request};
use axum::http::{HeaderValue, Method, Response, header};
use axum::routing::get;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::Span;

/// The header carrying the request id (set if the client did not send one, echoed back).
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The header a reverse proxy appends the client's address to.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The address of the client, which requests without a valid token are rate-limited by: the
/// socket's peer, or with `TRUST_FORWARDED_FOR` the last `X-Forwarded-For` entry (the one the
/// proxy in front of us added; earlier entries are whatever the client sent). `None` when neither
/// is known (a router served without connect info).
pub struct ClientAddr(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let socket = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        if !state.config.trust_forwarded_for {
            return Ok(ClientAddr(socket));
        }
        let forwarded = parts
            .headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .last()
            .and_then(|last| last.trim().parse::<IpAddr>().ok());
        Ok(ClientAddr(forwarded.or(socket)))
    }
}

/// CORS for the configured origins (`CORS_ALLOWED_ORIGINS`): a preflight from one of them is
/// answered with what a browser client of the API needs (GET and POST, the `Authorization`,
/// `Content-Type` and `X-Request-Id` headers, cached for 10 minutes), and its responses can be
/// read by the page, `X-Request-Id` and `Retry-After` included. Any other origin's preflight is
/// answered without those headers, so the browser refuses the call. Tokens are bearer tokens,
/// never cookies, so credentials are not allowed.
pub fn cors(origins: &[String]) -> CorsLayer {
    let allow_origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        // Config::validate checked every origin; an invalid header value cannot reach here.
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            REQUEST_ID,
        ])
        .expose_headers([REQUEST_ID, header::RETRY_AFTER])
        .max_age(Duration::from_secs(600))
}

/// The access line: one per request at `info`, when its response leaves, with the request
/// span's fields (method, path, request id, GraphQL operation, tenant) and the status and
/// duration. Never headers or bodies, which carry tokens.
fn access_line<B>(response: &Response<B>, latency: Duration, _span: &Span) {
    tracing::info!(
        status = response.status().as_u16(),
        duration_ms = latency.as_secs_f64() * 1000.0,
        "request finished"
    );
}

/// Builds the whole router.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.max_body_bytes;
    let cors = cors(&state.config.cors_allowed_origins);
    Router::new()
        .route("/graphql", get(graphql_http::get).post(graphql_http::post))
        .route("/graphql/assets/{*path}", get(playground::asset))
        .route("/", get(dashboard::page))
        .route("/tenants", get(dashboard::page))
        .route("/tenants/{*rest}", get(dashboard::page))
        .route("/dashboard/assets/{*path}", get(dashboard::asset))
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
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|req: &Request<_>| {
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
                        })
                        .on_response(access_line),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(cors)
                .layer(TimeoutLayer::with_status_code(
                    axum::http::StatusCode::REQUEST_TIMEOUT,
                    Duration::from_secs(30),
                ))
                .layer(axum::extract::DefaultBodyLimit::max(body_limit)),
        )
}
