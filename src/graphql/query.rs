//! The query root.

use crate::error::AppError;
use crate::graphql::types::enums::Category;
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
#[graphql(name = "ControlFilter")]
pub struct ControlFilterInput {
    /// Any of these categories.
    pub categories: Option<Vec<Category>>,
    /// Any of these services.
    pub services: Option<Vec<String>>,
    /// Case-insensitive text in the id or title.
    pub search: Option<String>,
    /// Include deprecated controls (default false).
    pub include_deprecated: Option<bool>,
}

/// All queries. Every query but `sharedAction` needs a bearer token; tenant data needs a role on
/// the tenant (READER and up).
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
    async fn tenant(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The tenant's slug, e.g. `contoso`.")] slug: String,
    ) -> Result<Option<Tenant>> {
        let (t, along) = service::state::cache::tenant_by_slug(db(ctx), viewer(ctx)?, &slug).await?;
        crate::graphql::loaders::loaders(ctx)?
            .states
            .remember_read_along(&t, along);
        Ok(Some(Tenant(t)))
    }

    /// Any object by its global id; `null` when it does not exist or the caller may not see it
    /// (another tenant's id, a malformed id and an id never issued answer alike).
    async fn node(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A global id, as found in any `id` field.")] id: ID,
    ) -> Result<Option<Node>> {
        Ok(nodes::resolve(ctx, std::slice::from_ref(&id))
            .await?
            .pop()
            .flatten())
    }

    /// Objects by their global ids, one entry per id in the same order: `null` for each id that
    /// `node` would answer `null` for. At most 100 ids (`BAD_USER_INPUT` beyond).
    #[graphql(complexity = "ids.len().clamp(1, nodes::MAX_NODES) * child_complexity")]
    async fn nodes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Global ids, as found in any `id` field (at most 100).")] ids: Vec<ID>,
    ) -> Result<Vec<Option<Node>>> {
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
        #[graphql(desc = "Which controls to list (default: every non-deprecated control).")] filter: Option<
            ControlFilterInput,
        >,
        #[graphql(
            desc = "Number of controls from the start (1 to 100; default 20 when neither `first` nor `last` is given)."
        )]
        first: Option<i32>,
        #[graphql(desc = "Cursor (`endCursor` of the previous page) to continue after.")] after: Option<
            String,
        >,
        #[graphql(desc = "Number of controls from the end (1 to 100).")] last: Option<i32>,
        #[graphql(desc = "Cursor (`startCursor` of the next page) to continue before.")] before: Option<
            String,
        >,
    ) -> Result<Connection<String, Control, pagination::TotalCount>> {
        let viewer = viewer(ctx)?;
        let f = filter.unwrap_or_default();
        let filter = ControlFilter {
            categories: f
                .categories
                .into_iter()
                .flatten()
                .map(|c| crate::domain::enums::Category::from(c).as_str().to_string())
                .collect(),
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
        #[graphql(desc = "The token of the share link (from its URL).")] token: String,
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
