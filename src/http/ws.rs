//! GraphQL subscriptions over WebSocket: `GET /graphql/ws`, and a WebSocket upgrade of
//! `GET /graphql` (the same URL as the HTTP endpoint, which is what most clients expect).
//! Both speak `graphql-transport-ws` (the `graphql-ws` npm package) and the legacy
//! `subscriptions-transport-ws` protocol, chosen by `Sec-WebSocket-Protocol`. The connection
//! authenticates in `connection_init` (see `graphql::subscription::connection_data`), and every
//! operation on it is authorised again with the token's current state by [`Authorising`], the
//! executor the socket runs operations through. Messages are capped at `MAX_BODY_BYTES`, like
//! HTTP bodies.
//!
//! The socket itself is served by `ws_guard`, which bounds what async-graphql leaves open: a
//! socket that sends no `connection_init` within `WS_INIT_TIMEOUT_MS` is closed with 4408, one
//! whose client does not read its messages within `WS_SEND_TIMEOUT_MS` with 1008, and every
//! socket with 1001 when the server shuts down.

use super::ClientAddr;
use super::ws_guard::{Endpoint, Guard};
use crate::auth::GrantsCache;
use crate::graphql::Pipeline;
use crate::graphql::subscription::operation_data_for;
use crate::http::AppState;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::{Data, ErrorExtensions, Executor};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::{FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::header::UPGRADE;
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::stream::{self, BoxStream, StreamExt};
use sea_orm::DatabaseConnection;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// `GET /graphql/ws`.
pub async fn handler(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    accept(state, client, protocol, upgrade)
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
    let Ok(ClientAddr(client)) = ClientAddr::from_request_parts(&mut parts, &state).await;
    match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(upgrade) => accept(state, client, protocol, upgrade),
        Err(rejection) => rejection.into_response(),
    }
}

fn wants_websocket(headers: &HeaderMap) -> bool {
    headers
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

fn accept(
    state: AppState,
    client: Option<IpAddr>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let limit = state.config.max_body_bytes;
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| {
            let db = state.db.clone();
            let executor = Authorising {
                api: state.api.clone(),
                db: state.db.clone(),
                grants: state.grants.clone(),
                client,
            };
            let guard = Guard {
                init_timeout: Duration::from_millis(state.config.ws_init_timeout_ms),
                send_timeout: Duration::from_millis(state.config.ws_send_timeout_ms),
                shutdown: state.shutdown.clone(),
            };
            guard.serve(socket, move |endpoint| {
                let Endpoint {
                    incoming,
                    outgoing,
                    initialised,
                } = endpoint;
                GraphQLWebSocket::new_with_pair(outgoing, incoming, executor, protocol)
                    .on_connection_init(move |payload| {
                        initialised.mark();
                        crate::graphql::subscription::connection_data(db, payload)
                    })
                    .serve()
            })
        })
        .into_response()
}

/// Runs a socket's operations, each with the viewer its connection's token stands for when the
/// operation starts (one indexed query, see `auth`), never the one of `connection_init`.
#[derive(Clone)]
struct Authorising {
    api: Pipeline,
    db: DatabaseConnection,
    grants: Arc<GrantsCache>,
    client: Option<IpAddr>,
}

impl Executor for Authorising {
    async fn execute(&self, request: async_graphql::Request) -> async_graphql::Response {
        self.execute_stream(request, None)
            .next()
            .await
            .unwrap_or_default()
    }

    fn execute_stream(
        &self,
        request: async_graphql::Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, async_graphql::Response> {
        let this = self.clone();
        stream::once(async move {
            let session = session_data.unwrap_or_default();
            match operation_data_for(&request, &this.db, &this.grants, &session, this.client).await {
                Ok(data) => this.api.execute_stream(request.data(data), session),
                Err(err) => {
                    tracing::error!(error = ?err, "authorising a WebSocket operation failed");
                    let error = crate::graphql::limits::request_error(err.extend());
                    stream::once(async move { async_graphql::Response::from_errors(vec![error]) }).boxed()
                }
            }
        })
        .flatten()
        .boxed()
    }
}
