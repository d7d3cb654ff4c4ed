//! The GraphQL schema: assembled from parts by area (`query`, `mutation`, `subscription`),
//! per-request context (viewer, request id, loaders) and Relay ids. The playground page lives in
//! `http::playground`.

pub mod ids;
pub(crate) mod limits;
pub mod loaders;
pub mod mutation;
mod nodes;
mod null_propagation;
pub mod pagination;
pub mod pipeline;
mod query;
mod request_metrics;
pub mod subscription;
pub mod types;

use crate::auth::{GrantsCache, Viewer};
use crate::config::Config;
use crate::error::AppError;
use async_graphql::{Context, Schema};
use sea_orm::DatabaseConnection;
use std::net::IpAddr;
use std::sync::Arc;

pub use mutation::Mutation;
pub use pipeline::Pipeline;
pub use query::Query;
pub use subscription::Subscription;

/// The schema type served by the HTTP layer.
pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// Builds the schema with its limits and long-lived data.
pub fn build_schema(
    db: DatabaseConnection,
    config: Arc<Config>,
    hub: crate::service::notify::Hub,
    grants: Arc<GrantsCache>,
    states: crate::service::state::States,
) -> AppSchema {
    let builder = builder()
        .data(db)
        .data(hub)
        // Running subscriptions re-authenticate with it (see `subscription`).
        .data(grants)
        // One per server instance (not a global): tests run several servers in one process.
        .data(states)
        // `limits::Limits` checks data fields against MAX_QUERY_DEPTH and introspection against
        // MAX_INTROSPECTION_DEPTH (fragments expanded, in `pipeline`); this is async-graphql's
        // own backstop.
        .limit_depth(config.max_query_depth.max(config.max_introspection_depth))
        .limit_complexity(config.max_query_complexity)
        // No extensions: limits, null propagation and metrics run around execution in
        // `pipeline` (any extension sends every field through async-graphql's slow path).
        // "Did you mean …?" hints would map the schema for anyone probing it, authenticated or
        // not; introspection (when allowed) is the deliberate way to learn it.
        .disable_suggestions();
    let builder = if config.allow_introspection {
        builder
    } else {
        builder.disable_introspection()
    };
    builder.data(config).finish()
}

/// The public schema as SDL, exactly as the server answers introspection: every description and
/// the `@specifiedBy` URL of scalars that have one (`schema.graphql` is this text).
pub fn sdl() -> String {
    builder()
        .finish()
        .sdl_with_options(async_graphql::SDLExportOptions::new().include_specified_by())
}

/// The schema's types, with descriptions for API users where async-graphql's own would say
/// nothing (connections) or speak of Rust types (`DateTime`).
fn builder() -> async_graphql::SchemaBuilder<Query, Mutation, Subscription> {
    use crate::graphql::types::{AuditEntry, Control, ImprovementAction, workflow::ActionEvent};
    type Page<T> = async_graphql::connection::Connection<String, T, pagination::TotalCount>;
    Schema::build(Query, Mutation::default(), Subscription)
        .override_output_type_description::<chrono::DateTime<chrono::Utc>>(
            "A point in time as an RFC 3339 string, e.g. `2026-11-27T14:05:00+00:00`. Answers are \
             in UTC (fractional seconds when there are any); inputs may carry any offset.",
        )
        .override_output_type_description::<Page<ActionEvent>>(
            "A page of action events, with the total over all pages (Relay cursor connection).",
        )
        .override_output_type_description::<Page<AuditEntry>>(
            "A page of audit entries, with the total over all pages (Relay cursor connection).",
        )
        .override_output_type_description::<Page<Control>>(
            "A page of controls, with the total over all pages (Relay cursor connection).",
        )
        .override_output_type_description::<Page<ImprovementAction>>(
            "A page of improvement actions, with the total over all pages (Relay cursor \
             connection).",
        )
        .override_output_type_description::<Page<crate::graphql::types::risk::RiskAcceptance>>(
            "A page of risk acceptances, with the total over all pages (Relay cursor connection).",
        )
        .override_output_type_description::<Page<crate::graphql::types::webhooks::WebhookDelivery>>(
            "A page of an endpoint's deliveries, newest first, with the total over all pages \
             (Relay cursor connection; cursors are keys, so they stay valid as new deliveries \
             arrive).",
        )
}

/// What one request carries into the resolvers.
pub struct RequestContext {
    viewer: Result<Viewer, ()>,
    pub request_id: String,
    client: Option<IpAddr>,
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
}

impl RequestContext {
    /// Context of one HTTP request from `client` (the address requests without a valid token are
    /// rate-limited by).
    pub fn new(
        db: &DatabaseConnection,
        config: &Arc<Config>,
        viewer: Result<Viewer, ()>,
        request_id: String,
        client: Option<IpAddr>,
    ) -> Self {
        RequestContext {
            viewer,
            request_id,
            client,
            db: db.clone(),
            config: config.clone(),
        }
    }

    /// Attaches this context (shared by all requests of a batch) to a request.
    pub fn attach(&self, request: async_graphql::Request) -> async_graphql::Request {
        request.data(RequestData {
            viewer: self.viewer.clone(),
            request_id: self.request_id.clone(),
            client: self.client,
            loaders: loaders::RequestLoaders::new(&self.db),
        })
    }
}

/// Per-request data stored in the GraphQL context.
pub struct RequestData {
    viewer: Result<Viewer, ()>,
    pub request_id: String,
    /// The client's address, when known: requests without a valid token are rate-limited by it.
    client: Option<IpAddr>,
    /// DataLoaders and the tenant-state cache of this request only.
    pub loaders: loaders::RequestLoaders,
}

/// The authenticated caller, or `UNAUTHENTICATED`.
pub fn viewer<'a>(ctx: &'a Context<'_>) -> Result<&'a Viewer, AppError> {
    ctx.data_opt::<RequestData>()
        .and_then(|d| d.viewer.as_ref().ok())
        .ok_or(AppError::Unauthenticated)
}

/// The database connection.
pub fn db<'a>(ctx: &'a Context<'_>) -> &'a DatabaseConnection {
    ctx.data_unchecked::<DatabaseConnection>()
}

/// The configuration.
pub fn config<'a>(ctx: &'a Context<'_>) -> &'a Config {
    ctx.data_unchecked::<Arc<Config>>()
}
