//! API tokens as admins see them (never the secret), principals and their role grants on a
//! tenant, and entries of the audit log.

use crate::graphql::ids;
use crate::graphql::types::enums::Role;
use crate::service::access::{AuditEntry as AuditRow, GrantInfo, TokenInfo};
use async_graphql::{ID, Json, Object};
use chrono::{DateTime, Utc};

/// An API token. The secret is shown once, by `createApiToken`, and never again.
pub struct ApiToken(pub TokenInfo);

/// An API token: a secret that authenticates as one principal. Listed to the tenant's ADMINs and
/// SERVICE_ADMINs; the secret itself is shown only once, by `createApiToken`.
#[Object]
impl ApiToken {
    /// Global id (pass it to `revokeApiToken`).
    pub async fn id(&self) -> ID {
        ids::encode("ApiToken", self.0.token.id)
    }
    /// What the token is for.
    async fn name(&self) -> &str {
        &self.0.token.name
    }
    /// The first characters of the secret, so people can tell tokens apart.
    async fn prefix(&self) -> &str {
        &self.0.token.token_prefix
    }
    /// Name of the principal the token authenticates as.
    async fn principal_name(&self) -> &str {
        &self.0.principal_name
    }
    /// The principal the token authenticates as (its id is what `grantRole` and
    /// `removeTenantGrant` take).
    async fn principal(&self) -> Principal {
        Principal {
            id: self.0.token.principal_id,
            name: self.0.principal_name.clone(),
        }
    }
    /// The principal's role on the tenant whose `apiTokens` lists it. Fetched by `node` or
    /// `nodes`, with no tenant to see it from: its only role, `null` when it holds several.
    async fn role(&self) -> Option<Role> {
        self.0.role.map(Role::from)
    }
    /// When the token was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.token.created_at
    }
    /// When the token stops working; `null` when it never expires.
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.token.expires_at
    }
    /// When the token was revoked; `null` while not revoked.
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.token.revoked_at
    }
    /// When the token last authenticated a request (recorded at most once a minute).
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.token.last_used_at
    }
    /// Whether the token still authenticates (neither revoked nor expired).
    async fn active(&self) -> bool {
        self.0.token.revoked_at.is_none() && self.0.token.expires_at.is_none_or(|at| at > Utc::now())
    }
}

/// Who calls the API: a named person or automation, with roles on tenants and API tokens. Only
/// its id and name are shown; its roles on tenants are seen per tenant (`Tenant.grants`), by the
/// ADMINs of that tenant.
pub struct Principal {
    pub id: i64,
    pub name: String,
}

/// Who a token authenticates as: a person, a pipeline or an MSP. Its roles are per tenant.
#[Object]
impl Principal {
    /// Global object id (pass it to `grantRole` and `removeTenantGrant`).
    pub async fn id(&self) -> ID {
        ids::encode("Principal", self.id)
    }
    /// Name of the principal.
    async fn name(&self) -> &str {
        &self.name
    }
}

/// A principal's role on one tenant.
pub struct RoleGrant(pub GrantInfo);

/// A principal's role on a tenant, as listed to the tenant's ADMINs and SERVICE_ADMINs.
#[Object]
impl RoleGrant {
    /// The principal holding the role.
    async fn principal(&self) -> Principal {
        Principal {
            id: self.0.principal_id,
            name: self.0.principal_name.clone(),
        }
    }
    /// Its role on the tenant.
    async fn role(&self) -> Role {
        self.0.role.into()
    }
    /// When the principal first got a role on the tenant (a later change of role keeps it).
    async fn granted_at(&self) -> DateTime<Utc> {
        self.0.granted_at
    }
}

/// One administrative change: who did what to which object, when.
pub struct AuditEntry(pub AuditRow);

/// One administrative change to a tenant (tokens, grants, settings, licences). Readable by anyone
/// with a role on the tenant (READER and up).
#[Object]
impl AuditEntry {
    /// Global id of the entry.
    pub async fn id(&self) -> ID {
        ids::encode("AuditEntry", self.0.entry.id)
    }
    /// What was done.
    async fn action(&self) -> async_graphql::Result<crate::graphql::types::enums::AuditAction> {
        crate::graphql::types::enums::AuditAction::of_stored(&self.0.entry.action).ok_or_else(|| {
            crate::error::AppError::Internal(anyhow::anyhow!(
                "unknown audit action {:?}",
                self.0.entry.action
            ))
            .into()
        })
    }
    /// What was changed, e.g. `ApiToken:12` or `TenantLicense:M365_E5`.
    async fn target(&self) -> &str {
        &self.0.entry.target
    }
    /// Name of the principal who acted, when known.
    async fn actor_name(&self) -> Option<&str> {
        self.0.actor_name.as_deref()
    }
    /// Details of the change (never secrets).
    async fn detail(&self) -> Option<Json<serde_json::Value>> {
        self.0.entry.detail.clone().map(Json)
    }
    /// When the change was made.
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.entry.occurred_at
    }
}
