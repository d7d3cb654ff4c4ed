//! API tokens (creation, revocation, listing) and the audit log of administrative changes.
//!
//! Token secrets are returned once, by [`create_api_token`], and stored only as a SHA-256 hash;
//! nothing here logs or audits them. A token belongs to a principal, and the principal holds roles
//! on tenants. A tenant ADMIN manages only what belongs to its tenants (SPEC §7): the tokens of a
//! principal whose roles are *all* on tenants it administers. The tokens of anybody else (an MSP
//! that also works for other tenants, a SERVICE_ADMIN) are nonexistent to it (`NOT_FOUND`, exactly
//! like an id that was never issued); it can remove such a principal's grant on its own tenant
//! instead ([`remove_tenant_grant`]). A SERVICE_ADMIN manages every token and grants roles on
//! any tenant ([`grant_role`]).

pub mod secrets;
pub mod tenants;

use crate::auth::Viewer;
use crate::domain::enums::Role;
use crate::error::{AppError, AppResult};
use crate::service::audit;
use chrono::{DateTime, Utc};
use entity::{api_token, audit_log, principal, role_grant, tenant};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::json;
use std::collections::HashMap;

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

fn validate_new_token(input: &NewApiToken, now: DateTime<Utc>) -> AppResult<()> {
    crate::service::check_text("principalName", &input.principal_name, false)?;
    crate::service::check_text("name", &input.name, false)?;
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

/// Creates a principal with `role` on the tenant and a token for it (ADMIN of the tenant, or a
/// SERVICE_ADMIN on any tenant). Returns the secret, which is not stored and cannot be shown
/// again.
pub async fn create_api_token(
    db: &DatabaseConnection,
    viewer: &Viewer,
    input: &NewApiToken,
    now: DateTime<Utc>,
) -> AppResult<(String, TokenInfo)> {
    let tenant = tenants::managed_by_slug(db, viewer, &input.tenant_slug).await?;
    require_admin_or_service_admin(viewer, tenant.id)?;
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
    audit::record(
        &txn,
        Some(tenant.id),
        Some(viewer.principal_id),
        audit::action::TOKEN_CREATED,
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

/// ADMIN of the tenant, or a SERVICE_ADMIN.
fn require_admin_or_service_admin(viewer: &Viewer, tenant_id: i64) -> AppResult<()> {
    if viewer.service_admin {
        return Ok(());
    }
    viewer.require(tenant_id, Role::Admin).map(|_| ())
}

/// A principal's roles, by tenant id.
async fn grants_of<C: ConnectionTrait>(conn: &C, principal_id: i64) -> AppResult<Vec<(i64, Role)>> {
    Ok(role_grant::Entity::find()
        .filter(role_grant::Column::PrincipalId.eq(principal_id))
        .order_by_asc(role_grant::Column::TenantId)
        .all(conn)
        .await?
        .into_iter()
        .map(|g| (g.tenant_id, g.role))
        .collect())
}

/// Whether a tenant ADMIN manages the tokens of a principal with these grants: the principal is
/// no SERVICE_ADMIN and every one of its roles is on a tenant the viewer administers.
fn tenant_admin_manages(viewer: &Viewer, principal: &principal::Model, grants: &[(i64, Role)]) -> bool {
    !principal.service_admin
        && !grants.is_empty()
        && grants
            .iter()
            .all(|(tenant_id, _)| viewer.role_on(*tenant_id) == Some(Role::Admin))
}

/// The tenant whose audit log records a change to a principal's token: its only tenant, or none
/// (a service-level row) for a principal with roles on several tenants or none, since a tenant's
/// log must not show the tokens of a principal that also works elsewhere.
fn audit_tenant(grants: &[(i64, Role)]) -> Option<i64> {
    match grants {
        [(tenant_id, _)] => Some(*tenant_id),
        _ => None,
    }
}

/// Whether the viewer may manage the principal's tokens; otherwise the answer it gets:
/// `FORBIDDEN` when every role of the principal is on a tenant the viewer holds a role on (below
/// ADMIN on one of them), and `NOT_FOUND`, like a token that does not exist, in every other case.
fn check_manages(viewer: &Viewer, principal: &principal::Model, grants: &[(i64, Role)]) -> AppResult<()> {
    if viewer.service_admin || tenant_admin_manages(viewer, principal, grants) {
        return Ok(());
    }
    let within_viewers_tenants = !principal.service_admin
        && !grants.is_empty()
        && grants
            .iter()
            .all(|(tenant_id, _)| viewer.role_on(*tenant_id).is_some());
    if within_viewers_tenants {
        Err(AppError::Forbidden {
            needed: Role::Admin.as_str(),
        })
    } else {
        Err(AppError::NotFound("API token"))
    }
}

/// Revokes a token (a SERVICE_ADMIN, or an ADMIN of every tenant its principal holds a role on).
/// It stops working at once. Revoking a revoked token changes nothing and answers the token as
/// it is.
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
    let grants = grants_of(&txn, principal.id).await?;
    check_manages(viewer, &principal, &grants)?;
    let role = audit_tenant(&grants).and_then(|_| grants.first().map(|(_, r)| *r));
    if token.revoked_at.is_some() {
        return Ok(TokenInfo {
            token,
            principal_name: principal.name,
            role,
        });
    }
    let mut active: api_token::ActiveModel = token.into();
    active.revoked_at = Set(Some(now));
    let token = active.update(&txn).await?;
    audit::record(
        &txn,
        audit_tenant(&grants),
        Some(viewer.principal_id),
        audit::action::TOKEN_REVOKED,
        format!("ApiToken:{}", token.id),
        json!({ "name": token.name, "prefix": token.token_prefix, "principal": principal.name }),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(TokenInfo {
        token,
        principal_name: principal.name,
        role,
    })
}

/// Tokens of the principals holding a role on the tenant, newest first, with revoked and expired
/// ones so admins can see what was cut off. A SERVICE_ADMIN sees all of them; a tenant ADMIN only
/// those it manages (see the module header); everybody else gets `FORBIDDEN`.
pub async fn api_tokens(
    db: &DatabaseConnection,
    viewer: &Viewer,
    tenant_id: i64,
) -> AppResult<Vec<TokenInfo>> {
    require_admin_or_service_admin(viewer, tenant_id)?;
    let roles: HashMap<i64, Role> = role_grant::Entity::find()
        .filter(role_grant::Column::TenantId.eq(tenant_id))
        .all(db)
        .await?
        .into_iter()
        .map(|g| (g.principal_id, g.role))
        .collect();
    let principal_ids: Vec<i64> = roles.keys().copied().collect();
    // Every role of those principals, to tell a tenant ADMIN which of them work elsewhere too.
    let mut all_grants: HashMap<i64, Vec<(i64, Role)>> = HashMap::new();
    if !viewer.service_admin {
        for g in role_grant::Entity::find()
            .filter(role_grant::Column::PrincipalId.is_in(principal_ids.clone()))
            .all(db)
            .await?
        {
            all_grants
                .entry(g.principal_id)
                .or_default()
                .push((g.tenant_id, g.role));
        }
    }
    let rows = api_token::Entity::find()
        .filter(api_token::Column::PrincipalId.is_in(principal_ids))
        .find_also_related(principal::Entity)
        .order_by_desc(api_token::Column::CreatedAt)
        .order_by_desc(api_token::Column::Id)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(token, principal)| {
            let principal = principal?;
            let visible = viewer.service_admin
                || tenant_admin_manages(
                    viewer,
                    &principal,
                    all_grants.get(&principal.id).map_or(&[][..], Vec::as_slice),
                );
            visible.then(|| TokenInfo {
                role: roles.get(&principal.id).copied(),
                principal_name: principal.name,
                token,
            })
        })
        .collect())
}

/// One principal's role on a tenant, as the tenant's ADMINs see it: nothing about the
/// principal's roles or tokens elsewhere.
#[derive(Clone, Debug)]
pub struct GrantInfo {
    pub principal_id: i64,
    pub principal_name: String,
    pub role: Role,
    pub granted_at: DateTime<Utc>,
}

/// The principals holding a role on the tenant, by name (ADMIN of the tenant or SERVICE_ADMIN).
pub async fn grants(db: &DatabaseConnection, viewer: &Viewer, tenant_id: i64) -> AppResult<Vec<GrantInfo>> {
    require_admin_or_service_admin(viewer, tenant_id)?;
    let grants = role_grant::Entity::find()
        .filter(role_grant::Column::TenantId.eq(tenant_id))
        .all(db)
        .await?;
    let names: HashMap<i64, String> = principal::Entity::find()
        .filter(principal::Column::Id.is_in(grants.iter().map(|g| g.principal_id).collect::<Vec<_>>()))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect();
    let mut rows: Vec<GrantInfo> = grants
        .into_iter()
        .filter_map(|g| {
            Some(GrantInfo {
                principal_id: g.principal_id,
                principal_name: names.get(&g.principal_id)?.clone(),
                role: g.role,
                granted_at: g.created_at,
            })
        })
        .collect();
    rows.sort_by(|a, b| {
        a.principal_name
            .cmp(&b.principal_name)
            .then(a.principal_id.cmp(&b.principal_id))
    });
    Ok(rows)
}

/// Grants (or changes) a principal's role on any tenant (SERVICE_ADMIN only: a tenant ADMIN
/// granting a role on its tenant to a principal of another tenant would hide that principal's
/// tokens from the other tenant's ADMINs). Tenant roles get `FORBIDDEN`, or `NOT_FOUND` for a
/// tenant they hold no role on; an unknown principal is `NOT_FOUND`.
pub async fn grant_role(
    db: &DatabaseConnection,
    viewer: &Viewer,
    tenant_slug: &str,
    principal_id: i64,
    role: Role,
    now: DateTime<Utc>,
) -> AppResult<(tenant::Model, GrantInfo)> {
    let tenant = tenants::managed_by_slug(db, viewer, tenant_slug).await?;
    viewer.require_service_admin()?;
    let txn = crate::db::begin_write(db).await?;
    let Some(principal) = principal::Entity::find_by_id(principal_id).one(&txn).await? else {
        return Err(AppError::NotFound("principal"));
    };
    let before = role_grant::Entity::find_by_id((principal.id, tenant.id))
        .one(&txn)
        .await?;
    tenants::grant_role(&txn, principal.id, tenant.id, role, now).await?;
    audit::record(
        &txn,
        Some(tenant.id),
        Some(viewer.principal_id),
        audit::action::ROLE_GRANTED,
        format!("Principal:{}", principal.id),
        json!({
            "principal": principal.name,
            "role": role.as_str(),
            "previousRole": before.as_ref().map(|g| g.role),
        }),
        now,
    )
    .await?;
    let granted_at = before.map_or(now, |g| g.created_at);
    txn.commit().await?;
    if principal.id == viewer.principal_id {
        viewer.granted(tenant.id, role);
    }
    Ok((
        tenant,
        GrantInfo {
            principal_id: principal.id,
            principal_name: principal.name,
            role,
            granted_at,
        },
    ))
}

/// Removes a principal's role on a tenant (ADMIN of the tenant or SERVICE_ADMIN), the way a
/// tenant ADMIN cuts off an MSP whose tokens it cannot revoke. Its roles elsewhere are untouched.
/// `NOT_FOUND` when the principal holds no role on the tenant.
pub async fn remove_tenant_grant(
    db: &DatabaseConnection,
    viewer: &Viewer,
    tenant_slug: &str,
    principal_id: i64,
    now: DateTime<Utc>,
) -> AppResult<(tenant::Model, GrantInfo)> {
    let tenant = tenants::managed_by_slug(db, viewer, tenant_slug).await?;
    require_admin_or_service_admin(viewer, tenant.id)?;
    let txn = crate::db::begin_write(db).await?;
    let Some(grant) = role_grant::Entity::find_by_id((principal_id, tenant.id))
        .one(&txn)
        .await?
    else {
        return Err(AppError::NotFound("role grant"));
    };
    let Some(principal) = principal::Entity::find_by_id(grant.principal_id)
        .one(&txn)
        .await?
    else {
        return Err(AppError::NotFound("role grant"));
    };
    role_grant::Entity::delete_by_id((principal.id, tenant.id))
        .exec(&txn)
        .await?;
    tenants::bump_grants_version(&txn, principal.id).await?;
    audit::record(
        &txn,
        Some(tenant.id),
        Some(viewer.principal_id),
        audit::action::GRANT_REMOVED,
        format!("Principal:{}", principal.id),
        json!({ "principal": principal.name, "role": grant.role }),
        now,
    )
    .await?;
    txn.commit().await?;
    if principal.id == viewer.principal_id {
        viewer.ungranted(tenant.id);
    }
    Ok((
        tenant,
        GrantInfo {
            principal_id: principal.id,
            principal_name: principal.name,
            role: grant.role,
            granted_at: grant.created_at,
        },
    ))
}

/// The principals among `ids` that the viewer may see (`node`, `nodes`): itself, every one as a
/// SERVICE_ADMIN, and those holding a role on a tenant the viewer administers. Others are left
/// out exactly like ids that do not exist.
pub async fn visible_principals(
    db: &DatabaseConnection,
    viewer: &Viewer,
    ids: &[i64],
) -> AppResult<Vec<principal::Model>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let found = principal::Entity::find()
        .filter(principal::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    if viewer.service_admin {
        return Ok(found);
    }
    let grants = grants_of_all(db, found.iter().map(|p| p.id)).await?;
    Ok(found
        .into_iter()
        .filter(|p| {
            p.id == viewer.principal_id
                || grants.get(&p.id).is_some_and(|g| {
                    g.iter()
                        .any(|(tenant_id, _)| viewer.role_on(*tenant_id) == Some(Role::Admin))
                })
        })
        .collect())
}

/// The roles of several principals, by principal id (one query).
async fn grants_of_all<C: ConnectionTrait>(
    conn: &C,
    principal_ids: impl IntoIterator<Item = i64>,
) -> AppResult<HashMap<i64, Vec<(i64, Role)>>> {
    let mut out: HashMap<i64, Vec<(i64, Role)>> = HashMap::new();
    for g in role_grant::Entity::find()
        .filter(role_grant::Column::PrincipalId.is_in(principal_ids))
        .order_by_asc(role_grant::Column::TenantId)
        .all(conn)
        .await?
    {
        out.entry(g.principal_id).or_default().push((g.tenant_id, g.role));
    }
    Ok(out)
}

/// The tokens among `ids` that some `apiTokens` list shows the viewer: a SERVICE_ADMIN sees the
/// tokens of every principal holding a role on a tenant, a tenant ADMIN only those it manages
/// (see the module header). Everything else is left out exactly like an id never issued. With no
/// tenant to see it from, `role` is the principal's role when it holds exactly one.
pub async fn api_tokens_by_ids(
    db: &DatabaseConnection,
    viewer: &Viewer,
    ids: &[i64],
) -> AppResult<Vec<TokenInfo>> {
    if ids.is_empty() || (!viewer.service_admin && viewer.tenant_ids().is_empty()) {
        return Ok(Vec::new());
    }
    let rows = api_token::Entity::find()
        .filter(api_token::Column::Id.is_in(ids.iter().copied()))
        .find_also_related(principal::Entity)
        .all(db)
        .await?;
    let grants = grants_of_all(db, rows.iter().map(|(t, _)| t.principal_id)).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(token, principal)| {
            let principal = principal?;
            let grants = grants.get(&principal.id).map_or(&[][..], Vec::as_slice);
            let visible = if viewer.service_admin {
                !grants.is_empty()
            } else {
                tenant_admin_manages(viewer, &principal, grants)
            };
            visible.then(|| TokenInfo {
                role: audit_tenant(grants).and_then(|_| grants.first().map(|(_, r)| *r)),
                principal_name: principal.name,
                token,
            })
        })
        .collect())
}

/// The entries among `ids` that the viewer may read in a tenant's `auditLog` (any role on that
/// tenant). Service-level entries, which no tenant's log shows, are left out like ids that do
/// not exist, and so are other tenants' entries.
pub async fn audit_entries_by_ids(
    db: &DatabaseConnection,
    viewer: &Viewer,
    ids: &[i64],
) -> AppResult<Vec<AuditEntry>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<audit_log::Model> = audit_log::Entity::find()
        .filter(audit_log::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .filter(|e| e.tenant_id.is_some_and(|t| viewer.role_on(t).is_some()))
        .collect();
    with_actor_names(db, rows).await
}

/// Audit rows with the names of the principals who acted (one query).
async fn with_actor_names(
    db: &DatabaseConnection,
    rows: Vec<audit_log::Model>,
) -> AppResult<Vec<AuditEntry>> {
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
    with_actor_names(db, rows).await
}
