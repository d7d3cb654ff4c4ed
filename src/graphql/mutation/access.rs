//! Mutations on API tokens and role grants: `createApiToken`, `revokeApiToken` (ADMIN of the
//! tenant or SERVICE_ADMIN), `grantRole` (SERVICE_ADMIN), `removeTenantGrant` (ADMIN of the
//! tenant or SERVICE_ADMIN).

use crate::error::AppError;
use crate::graphql::types::enums::Role;
use crate::graphql::types::user_error::split;
use crate::graphql::types::{ApiToken, RoleGrant, Tenant, UserError};
use crate::graphql::{db, ids, viewer};
use crate::service::access::{self, NewApiToken};
use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

#[derive(Default)]
pub struct AccessMutation;

/// A new principal with a role on one tenant, and a token for it.
#[derive(InputObject)]
pub struct CreateApiTokenInput {
    /// The tenant the principal gets a role on; the caller must be its ADMIN or a SERVICE_ADMIN.
    pub tenant_slug: String,
    /// Name of the new principal (e.g. `ci-pipeline`).
    pub principal_name: String,
    /// The principal's role on the tenant.
    pub role: Role,
    /// What the token is for.
    pub name: String,
    /// When the token stops working; never when absent.
    pub expires_at: Option<DateTime<Utc>>,
}

/// The result of `createApiToken`.
#[derive(SimpleObject)]
pub struct CreateApiTokenPayload {
    /// The secret to send as `Authorization: Bearer <secret>`. Shown here once: only its hash is
    /// stored, so it cannot be listed or recovered later.
    pub secret: Option<String>,
    /// The token created (without its secret, which is in `secret`).
    pub api_token: Option<ApiToken>,
    /// Why nothing was written, when something was refused.
    pub user_errors: Vec<UserError>,
}

/// Which token to revoke.
#[derive(InputObject)]
pub struct RevokeApiTokenInput {
    /// The token's global id (`ApiToken.id`).
    pub id: ID,
}

/// The result of `revokeApiToken`.
#[derive(SimpleObject)]
pub struct RevokeApiTokenPayload {
    /// The token, now revoked.
    pub api_token: Option<ApiToken>,
    /// Why nothing was written, when something was refused.
    pub user_errors: Vec<UserError>,
}

/// A role to give a principal on a tenant.
#[derive(InputObject)]
pub struct GrantRoleInput {
    /// The tenant (any tenant: only SERVICE_ADMINs grant roles).
    pub tenant_slug: String,
    /// The principal's global id (`Principal.id`, e.g. from `ApiToken.principal`).
    pub principal_id: ID,
    /// The role it gets; replaces the role it held on the tenant, if any.
    pub role: Role,
}

/// The result of `grantRole`.
#[derive(SimpleObject)]
pub struct GrantRolePayload {
    /// The tenant the role is on.
    pub tenant: Option<Tenant>,
    /// The grant as it now stands.
    pub grant: Option<RoleGrant>,
    /// Why nothing was written, when something was refused.
    pub user_errors: Vec<UserError>,
}

/// Which principal loses its role on which tenant.
#[derive(InputObject)]
pub struct RemoveTenantGrantInput {
    /// The tenant; the caller must be its ADMIN or a SERVICE_ADMIN.
    pub tenant_slug: String,
    /// The principal's global id (`Principal.id`, e.g. from `Tenant.grants`).
    pub principal_id: ID,
}

/// The result of `removeTenantGrant`.
#[derive(SimpleObject)]
pub struct RemoveTenantGrantPayload {
    /// The tenant the role was on.
    pub tenant: Option<Tenant>,
    /// The grant that was removed.
    pub removed_grant: Option<RoleGrant>,
    /// Why nothing was written, when something was refused.
    pub user_errors: Vec<UserError>,
}

/// A principal id from the API; a malformed one becomes 0, which no principal has, so it answers
/// like a well-formed id that does not exist, after the caller's authorisation was checked.
fn principal_key(id: &ID) -> i64 {
    ids::decode_i64(id, "Principal").unwrap_or(0)
}

#[Object]
impl AccessMutation {
    /// Creates a principal with a role on a tenant and an API token for it (ADMIN of that
    /// tenant, or a SERVICE_ADMIN on any tenant). The payload carries the secret once.
    async fn create_api_token(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `CreateApiTokenInput`.")] input: CreateApiTokenInput,
    ) -> Result<CreateApiTokenPayload> {
        let new = NewApiToken {
            tenant_slug: input.tenant_slug,
            principal_name: input.principal_name,
            role: input.role.into(),
            name: input.name,
            expires_at: input.expires_at,
        };
        let result = access::create_api_token(db(ctx), viewer(ctx)?, &new, Utc::now()).await;
        let (created, user_errors) = split(result)?;
        let (secret, api_token) = match created {
            Some((secret, info)) => (Some(secret), Some(ApiToken(info))),
            None => (None, None),
        };
        Ok(CreateApiTokenPayload {
            secret,
            api_token,
            user_errors,
        })
    }

    /// Revokes an API token: a SERVICE_ADMIN revokes any token, a tenant ADMIN only the tokens
    /// of principals whose roles are all on tenants it administers (anything else answers
    /// `NOT_FOUND`, like a token that does not exist). It stops working at once. Revoking a
    /// revoked token changes nothing.
    async fn revoke_api_token(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `RevokeApiTokenInput`.")] input: RevokeApiTokenInput,
    ) -> Result<RevokeApiTokenPayload> {
        let viewer = viewer(ctx)?;
        let result = match ids::decode_i64(&input.id, "ApiToken") {
            Some(id) => access::revoke_api_token(db(ctx), viewer, id, Utc::now()).await,
            // A malformed id answers like a well-formed one that does not exist.
            None => Err(AppError::NotFound("API token")),
        };
        let (token, user_errors) = split(result)?;
        Ok(RevokeApiTokenPayload {
            api_token: token.map(ApiToken),
            user_errors,
        })
    }

    /// Gives a principal a role on a tenant, or changes the role it holds there
    /// (SERVICE_ADMIN only; tenant roles get `FORBIDDEN`). Takes effect on the principal's next
    /// request.
    async fn grant_role(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `GrantRoleInput`.")] input: GrantRoleInput,
    ) -> Result<GrantRolePayload> {
        let result = access::grant_role(
            db(ctx),
            viewer(ctx)?,
            &input.tenant_slug,
            principal_key(&input.principal_id),
            input.role.into(),
            Utc::now(),
        )
        .await;
        let (granted, user_errors) = split(result)?;
        let (tenant, grant) = match granted {
            Some((t, g)) => (Some(Tenant(t)), Some(RoleGrant(g))),
            None => (None, None),
        };
        Ok(GrantRolePayload {
            tenant,
            grant,
            user_errors,
        })
    }

    /// Removes a principal's role on a tenant (ADMIN of the tenant or SERVICE_ADMIN); its roles
    /// on other tenants are untouched. This is how a tenant ADMIN cuts off an MSP whose tokens it
    /// cannot see. `NOT_FOUND` when the principal holds no role on the tenant.
    async fn remove_tenant_grant(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `RemoveTenantGrantInput`.")] input: RemoveTenantGrantInput,
    ) -> Result<RemoveTenantGrantPayload> {
        let result = access::remove_tenant_grant(
            db(ctx),
            viewer(ctx)?,
            &input.tenant_slug,
            principal_key(&input.principal_id),
            Utc::now(),
        )
        .await;
        let (removed, user_errors) = split(result)?;
        let (tenant, removed_grant) = match removed {
            Some((t, g)) => (Some(Tenant(t)), Some(RoleGrant(g))),
            None => (None, None),
        };
        Ok(RemoveTenantGrantPayload {
            tenant,
            removed_grant,
            user_errors,
        })
    }
}
