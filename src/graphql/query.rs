//! The query root.

use crate::error::AppError;
use crate::graphql::types::{Control, License, Node, Tenant, ViewerInfo};
use crate::graphql::{db, nodes, pagination, viewer};
use crate::service;
use crate::service::catalog::ControlFilter;
use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Object, Result};

#[derive(Default)]
pub struct Query;

/// Filter of the control catalog.
#[derive(InputObject, Default)]
pub struct ControlFilterInput {
    /// Any of these categories.
    pub categories: Option<Vec<String>>,
    /// Any of these services.
    pub services: Option<Vec<String>>,
    /// Case-insensitive text in the id or title.
    pub search: Option<String>,
    /// Include deprecated controls (default false).
    pub include_deprecated: Option<bool>,
}

#[Object]
impl Query {
    /// The caller: principal, roles and tenants.
    async fn viewer(&self, ctx: &Context<'_>) -> Result<ViewerInfo> {
        Ok(ViewerInfo(viewer(ctx)?.clone()))
    }

    /// Every tenant, by name (SERVICE_ADMIN only, `FORBIDDEN` for anybody else), to manage their
    /// `grants` and `apiTokens`. A SERVICE_ADMIN holds no role on them, so their scores and
    /// actions stay closed to it.
    async fn service_tenants(&self, ctx: &Context<'_>) -> Result<Vec<Tenant>> {
        let rows = service::access::tenants::all_for_service_admin(db(ctx), viewer(ctx)?).await?;
        Ok(rows.into_iter().map(Tenant).collect())
    }

    /// A tenant by slug; `NOT_FOUND` when absent or not accessible.
    async fn tenant(&self, ctx: &Context<'_>, slug: String) -> Result<Option<Tenant>> {
        let (t, along) = service::state::cache::tenant_by_slug(db(ctx), viewer(ctx)?, &slug).await?;
        crate::graphql::loaders::loaders(ctx)?
            .states
            .remember_read_along(&t, along);
        Ok(Some(Tenant(t)))
    }

    /// Any object by its global id; `null` when it does not exist or the caller may not see it
    /// (another tenant's id, a malformed id and an id never issued answer alike).
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Node>> {
        Ok(nodes::resolve(ctx, std::slice::from_ref(&id))
            .await?
            .pop()
            .flatten())
    }

    /// Objects by their global ids, one entry per id in the same order: `null` for each id that
    /// `node` would answer `null` for. At most 100 ids (`BAD_USER_INPUT` beyond).
    #[graphql(complexity = "ids.len().clamp(1, nodes::MAX_NODES) * child_complexity")]
    async fn nodes(&self, ctx: &Context<'_>, ids: Vec<ID>) -> Result<Vec<Option<Node>>> {
        if ids.len() > nodes::MAX_NODES {
            return Err(
                AppError::bad_input("ids", format!("nodes takes at most {} ids", nodes::MAX_NODES)).into(),
            );
        }
        nodes::resolve(ctx, &ids).await
    }

    /// The control catalog, ordered by control id.
    async fn controls(
        &self,
        ctx: &Context<'_>,
        filter: Option<ControlFilterInput>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<String, Control, pagination::TotalCount>> {
        let viewer = viewer(ctx)?;
        let f = filter.unwrap_or_default();
        let filter = ControlFilter {
            categories: f.categories.unwrap_or_default(),
            services: f.services.unwrap_or_default(),
            search: f.search,
            include_deprecated: f.include_deprecated.unwrap_or(false),
        };
        let rows = service::catalog::controls(db(ctx), viewer, &filter).await?;
        let args = pagination::PageArgs::new(first, after, last, before)?;
        Ok(pagination::paginate(rows, &args, Control))
    }

    /// The read-only, reduced view of an action behind a share link. Needs no authentication;
    /// unknown, expired and revoked tokens all answer `NOT_FOUND`.
    async fn shared_action(
        &self,
        ctx: &Context<'_>,
        token: String,
    ) -> Result<Option<crate::graphql::types::workflow::SharedAction>> {
        let view = service::collab::share::open(db(ctx), &token, chrono::Utc::now()).await?;
        Ok(Some(crate::graphql::types::workflow::SharedAction(view)))
    }

    /// All licence SKUs and the plans they grant.
    async fn licenses(&self, ctx: &Context<'_>) -> Result<Vec<License>> {
        viewer(ctx)?;
        Ok(service::catalog::licenses(db(ctx))
            .await?
            .into_iter()
            .map(License)
            .collect())
    }
}
