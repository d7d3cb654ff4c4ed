//! Mutations on API tokens: `createApiToken`, `revokeApiToken` (ADMIN).

use crate::error::AppError;
use crate::graphql::types::enums::Role;
use crate::graphql::types::user_error::split;
use crate::graphql::types::{ApiToken, UserError};
use crate::graphql::{db, ids, viewer};
use crate::service::access::{self, NewApiToken};
use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

#[derive(Default)]
pub struct AccessMutation;

/// A new principal with a role on one tenant, and a token for it.
#[derive(InputObject)]
pub struct CreateApiTokenInput {
    /// The tenant the principal gets a role on; the caller must be its ADMIN.
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
    pub api_token: Option<ApiToken>,
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
    pub api_token: Option<ApiToken>,
    pub user_errors: Vec<UserError>,
}

#[Object]
impl AccessMutation {
    /// Creates a principal with a role on a tenant and an API token for it (ADMIN of that
    /// tenant). The payload carries the secret once.
    async fn create_api_token(
        &self,
        ctx: &Context<'_>,
        input: CreateApiTokenInput,
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

    /// Revokes an API token (ADMIN of a tenant its principal has a role on). It stops working
    /// at once. Revoking a revoked token changes nothing.
    async fn revoke_api_token(
        &self,
        ctx: &Context<'_>,
        input: RevokeApiTokenInput,
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
}
