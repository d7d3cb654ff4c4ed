//! GraphQL subscriptions over WebSocket: `GET /graphql/ws`, and a WebSocket upgrade of
//! `GET /graphql` (the same URL as the HTTP endpoint, which is what most clients expect).
//! Both speak `graphql-transport-ws` (the `graphql-ws` npm package) and the legacy
//! `subscriptions-transport-ws` protocol, chosen by `Sec-WebSocket-Protocol`. The connection
//! authenticates in `connection_init` (see `graphql::subscription::connection_data`).

use crate::app::AppState;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::{FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::header::UPGRADE;
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// `GET /graphql/ws`.
pub async fn handler(
    State(state): State<AppState>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    accept(state, protocol, upgrade)
}

/// Middleware on `/graphql`: a GET that asks for a WebSocket upgrade becomes a subscription
/// connection; every other request goes on to the GraphQL-over-HTTP handler untouched.
pub async fn upgrade_graphql(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let upgrade_here = request.uri().path() == "/graphql"
        && request.method() == Method::GET
        && wants_websocket(request.headers());
    if !upgrade_here {
        return next.run(request).await;
    }
    let (mut parts, _body) = request.into_parts();
    let protocol = match GraphQLProtocol::from_request_parts(&mut parts, &state).await {
        Ok(p) => p,
        Err(rejection) => return rejection.into_response(),
    };
    match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(upgrade) => accept(state, protocol, upgrade),
        Err(rejection) => rejection.into_response(),
    }
}

fn wants_websocket(headers: &HeaderMap) -> bool {
    headers
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

fn accept(state: AppState, protocol: GraphQLProtocol, upgrade: WebSocketUpgrade) -> Response {
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            let db = state.db.clone();
            GraphQLWebSocket::new(socket, state.schema.clone(), protocol)
                .on_connection_init(move |payload| crate::graphql::subscription::connection_data(db, payload))
                .serve()
        })
        .into_response()
}
