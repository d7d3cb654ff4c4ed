//! The caller: principal, roles and the tenants it can see.

use crate::auth::Viewer;
use crate::graphql::types::enums::Role;
use crate::graphql::types::{Tenant, present};
use crate::graphql::{db, ids, loaders};
use crate::service;
use async_graphql::{ComplexObject, Context, ID, Object, Result, SimpleObject};

/// The authenticated caller. Not a `Node`: its `id` is its principal's, which `node` resolves
/// to the `Principal`.
pub struct ViewerInfo(pub Viewer);

/// The caller: the principal its token authenticates as, and its tenants.
#[Object(name = "Viewer")]
impl ViewerInfo {
    /// Global id of the principal.
    async fn id(&self) -> ID {
        ids::encode("Principal", self.0.principal_id)
    }
    /// Name of the principal.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The tenants the caller holds a role on, with that role.
    async fn tenants(&self, ctx: &Context<'_>) -> Result<Vec<TenantAccess>> {
        let tenants = service::access::tenants::accessible(db(ctx), &self.0).await?;
        Ok(tenants
            .into_iter()
            .filter_map(|t| {
                let role = self.0.role_on(t.id)?;
                Some(TenantAccess {
                    role: role.into(),
                    tenant: Tenant(t),
                })
            })
            .collect())
    }
}

/// A tenant and the caller's role on it.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct TenantAccess {
    /// The caller's role on the tenant.
    pub role: Role,
    /// The tenant.
    pub tenant: Tenant,
}

#[ComplexObject]
impl TenantAccess {
    /// The tenant's current score as a percentage of its maximum (`secureScore.current`), so an
    /// MSP dashboard can list all its tenants in one cheap query.
    async fn current_score_percentage(&self, ctx: &Context<'_>) -> Result<f64> {
        let state = loaders::tenant_state(ctx, &self.tenant.0).await?;
        let overall = &state.score.overall;
        Ok(present(overall.percentage(&overall.current)))
    }
}
