//! API tokens (creation, revocation, listing) and the audit log of administrative changes.
//!
//! Token secrets are returned once, by [`create_api_token`], and stored only as a SHA-256 hash;
//! nothing here logs or audits them. A token belongs to a principal, and the principal holds roles
//! on tenants: an ADMIN of any of those tenants manages the token, everybody else sees it as
//! nonexistent (`NOT_FOUND`), exactly like an id that was never issued.

use crate::auth::Viewer;
use crate::domain::enums::Role;
use crate::error::{AppError, AppResult};
use crate::service::tenants;
use chrono::{DateTime, Utc};
use entity::{api_token, audit_log, principal, role_grant};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::json;
use std::collections::HashMap;

/// Audit actions, as stored in `audit_log.action` and shown to clients.
pub mod action {
    pub const TOKEN_CREATED: &str = "TOKEN_CREATED";
    pub const TOKEN_REVOKED: &str = "TOKEN_REVOKED";
    pub const TENANT_CREATED: &str = "TENANT_CREATED";
    pub const TENANT_UPDATED: &str = "TENANT_UPDATED";
    pub const LICENSE_SET: &str = "LICENSE_SET";
    pub const LICENSE_REMOVED: &str = "LICENSE_REMOVED";
}

/// A token as shown to admins: never the secret, only its display prefix.
#[derive(Clone, Debug)]
pub struct TokenInfo {
    pub token: api_token::Model,
    pub principal_name: String,
    /// The principal's role on the tenant the token is seen from.
    pub role: Option<Role>,
}

/// What `createApiToken` asks for.
#[derive(Clone, Debug)]
pub struct NewApiToken {
    pub tenant_slug: String,
    pub principal_name: String,
    pub role: Role,
    pub name: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// One audit entry with the name of the principal who acted.
#[derive(Clone, Debug)]
pub struct AuditEntry {
    pub entry: audit_log::Model,
    pub actor_name: Option<String>,
}

/// Appends an audit row on the caller's transaction. `detail` must never contain secrets.
pub async fn audit<C: ConnectionTrait>(
    conn: &C,
    tenant_id: Option<i64>,
    actor_id: Option<i64>,
    action: &str,
    target: String,
    detail: serde_json::Value,
    now: DateTime<Utc>,
) -> AppResult<()> {
    audit_log::ActiveModel {
        tenant_id: Set(tenant_id),
        actor_id: Set(actor_id),
        action: Set(action.to_string()),
        target: Set(target),
        detail: Set(Some(detail)),
        occurred_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}

fn validate_new_token(input: &NewApiToken, now: DateTime<Utc>) -> AppResult<()> {
    let principal = input.principal_name.trim();
    if principal.is_empty() || principal.chars().count() > 200 {
        return Err(AppError::bad_input(
            "principalName",
            "principalName must be 1 to 200 characters",
        ));
    }
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::bad_input("name", "name must be 1 to 100 characters"));
    }
    if input.expires_at.is_some_and(|at| at <= now) {
        return Err(AppError::bad_input(
            "expiresAt",
            "expiresAt must be in the future",
        ));
    }
    Ok(())
}

/// Creates a principal with `role` on the tenant and a token for it (ADMIN of the tenant only).
/// Returns the secret, which is not stored and cannot be shown again.
pub async fn create_api_token(
    db: &DatabaseConnection,
    viewer: &Viewer,
    input: &NewApiToken,
    now: DateTime<Utc>,
) -> AppResult<(String, TokenInfo)> {
    let tenant = tenants::by_slug(db, viewer, &input.tenant_slug).await?;
    viewer.require(tenant.id, Role::Admin)?;
    validate_new_token(input, now)?;
    let txn = crate::db::begin_write(db).await?;
    let principal = tenants::create_principal(&txn, input.principal_name.trim(), "TOKEN", now).await?;
    tenants::grant_role(&txn, principal.id, tenant.id, input.role, now).await?;
    let (secret, token) = tenants::issue_token(
        &txn,
        principal.id,
        input.name.trim(),
        input.expires_at,
        Some(viewer.principal_id),
        now,
    )
    .await?;
    audit(
        &txn,
        Some(tenant.id),
        Some(viewer.principal_id),
        action::TOKEN_CREATED,
        format!("ApiToken:{}", token.id),
        json!({
            "name": token.name,
            "prefix": token.token_prefix,
            "principal": principal.name,
            "role": input.role.as_str(),
            "expiresAt": token.expires_at,
        }),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok((
        secret,
        TokenInfo {
            token,
            principal_name: principal.name,
            role: Some(input.role),
        },
    ))
}

/// The tenant from which the viewer administers a token, or the answer for a viewer who may not:
/// `FORBIDDEN` when it shares a tenant with the token's principal below ADMIN, otherwise
/// `NOT_FOUND`, like a token that does not exist.
async fn administering_tenant<C: ConnectionTrait>(
    conn: &C,
    viewer: &Viewer,
    principal_id: i64,
) -> AppResult<(i64, Role)> {
    let grants = role_grant::Entity::find()
        .filter(role_grant::Column::PrincipalId.eq(principal_id))
        .order_by_asc(role_grant::Column::TenantId)
        .all(conn)
        .await?;
    let mut shares_a_tenant = false;
    for g in &grants {
        match viewer.role_on(g.tenant_id) {
            Some(Role::Admin) => {
                let role = g.role.parse::<Role>().unwrap_or(Role::Reader);
                return Ok((g.tenant_id, role));
            }
            Some(_) => shares_a_tenant = true,
            None => {}
        }
    }
    if shares_a_tenant {
        Err(AppError::Forbidden {
            needed: Role::Admin.as_str(),
        })
    } else {
        Err(AppError::NotFound("API token"))
    }
}

/// Revokes a token (ADMIN of a tenant its principal has a role on). Revoking a revoked token
/// changes nothing and answers the token as it is.
pub async fn revoke_api_token(
    db: &DatabaseConnection,
    viewer: &Viewer,
    token_id: i64,
    now: DateTime<Utc>,
) -> AppResult<TokenInfo> {
    let txn = crate::db::begin_write(db).await?;
    let Some((token, Some(principal))) = api_token::Entity::find_by_id(token_id)
        .find_also_related(principal::Entity)
        .one(&txn)
        .await?
    else {
        return Err(AppError::NotFound("API token"));
    };
    let (tenant_id, role) = administering_tenant(&txn, viewer, principal.id).await?;
    if token.revoked_at.is_some() {
        return Ok(TokenInfo {
            token,
            principal_name: principal.name,
            role: Some(role),
        });
    }
    let mut active: api_token::ActiveModel = token.into();
    active.revoked_at = Set(Some(now));
    let token = active.update(&txn).await?;
    audit(
        &txn,
        Some(tenant_id),
        Some(viewer.principal_id),
        action::TOKEN_REVOKED,
        format!("ApiToken:{}", token.id),
        json!({ "name": token.name, "prefix": token.token_prefix, "principal": principal.name }),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(TokenInfo {
        token,
        principal_name: principal.name,
        role: Some(role),
    })
}

/// Tokens of every principal holding a role on the tenant, newest first (ADMIN only; revoked
/// and expired tokens included so admins can see what was cut off).
pub async fn api_tokens(
    db: &DatabaseConnection,
    viewer: &Viewer,
    tenant_id: i64,
) -> AppResult<Vec<TokenInfo>> {
    viewer.require(tenant_id, Role::Admin)?;
    let roles: HashMap<i64, Role> = role_grant::Entity::find()
        .filter(role_grant::Column::TenantId.eq(tenant_id))
        .all(db)
        .await?
        .into_iter()
        .filter_map(|g| g.role.parse::<Role>().ok().map(|r| (g.principal_id, r)))
        .collect();
    let rows = api_token::Entity::find()
        .filter(api_token::Column::PrincipalId.is_in(roles.keys().copied().collect::<Vec<_>>()))
        .find_also_related(principal::Entity)
        .order_by_desc(api_token::Column::CreatedAt)
        .order_by_desc(api_token::Column::Id)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(token, principal)| {
            let principal = principal?;
            Some(TokenInfo {
                role: roles.get(&principal.id).copied(),
                principal_name: principal.name,
                token,
            })
        })
        .collect())
}

/// Number of audit entries of a tenant (any role may read the audit log, SPEC §7 "all queries").
pub async fn audit_log_count(db: &DatabaseConnection, viewer: &Viewer, tenant_id: i64) -> AppResult<usize> {
    viewer.require(tenant_id, Role::Reader)?;
    let n = audit_log::Entity::find()
        .filter(audit_log::Column::TenantId.eq(tenant_id))
        .count(db)
        .await?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// Audit entries `[start, end)` of a tenant, newest first.
pub async fn audit_log_range(
    db: &DatabaseConnection,
    viewer: &Viewer,
    tenant_id: i64,
    start: usize,
    end: usize,
) -> AppResult<Vec<AuditEntry>> {
    viewer.require(tenant_id, Role::Reader)?;
    let rows = audit_log::Entity::find()
        .filter(audit_log::Column::TenantId.eq(tenant_id))
        .order_by_desc(audit_log::Column::OccurredAt)
        .order_by_desc(audit_log::Column::Id)
        .offset(start as u64)
        .limit(end.saturating_sub(start) as u64)
        .all(db)
        .await?;
    let actor_ids: Vec<i64> = rows.iter().filter_map(|r| r.actor_id).collect();
    let names: HashMap<i64, String> = if actor_ids.is_empty() {
        HashMap::new()
    } else {
        principal::Entity::find()
            .filter(principal::Column::Id.is_in(actor_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|p| (p.id, p.name))
            .collect()
    };
    Ok(rows
        .into_iter()
        .map(|entry| AuditEntry {
            actor_name: entry.actor_id.and_then(|id| names.get(&id).cloned()),
            entry,
        })
        .collect())
}
