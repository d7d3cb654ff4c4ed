//! The state every HTTP handler is given. It lives in `http`, not in `app`, so the handlers
//! depend only on `graphql` and `service` below them; `app` builds it and depends on `http`.

use crate::config::Config;
use crate::graphql::Pipeline;
use sea_orm::DatabaseConnection;
use std::sync::Arc;

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    /// Runs GraphQL requests: the limits, the schema, the response repairs (see
    /// `graphql::pipeline`).
    pub api: Pipeline,
    /// Principals' role grants kept between requests (validated on each; see `auth`).
    pub grants: Arc<crate::auth::GrantsCache>,
    /// The process's entrance to tenant states (shared with the schema).
    pub states: crate::service::state::States,
    /// Becomes `true` when the server starts shutting down: open WebSockets close with 1001.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}
