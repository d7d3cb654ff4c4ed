//! Who is calling: bearer tokens (stored as SHA-256 hashes), principals and their role per
//! tenant. Authorization itself is checked in the service layer through [`Viewer::require`].
//!
//! Every operation is authorised with the token's state when it runs (SPEC §7): an HTTP request
//! and every operation on an open WebSocket call [`authenticate_cached`], which reads the token
//! and its principal in one indexed query (revocation, expiry and the principal's
//! `grants_version`) and takes the grants from [`GrantsCache`] only while that version is
//! unchanged. The version is bumped in the transaction of every grant change, so a change made
//! through any server process is in force for the next operation everywhere; nothing a decision
//! depends on lives only in one process's memory.

use crate::domain::enums::{Role, RoleExt};
use crate::domain::tokens::hash_secret;
use crate::error::{AppError, AppResult};
use chrono::{DateTime, Utc};
use entity::{api_token, principal, role_grant};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Prefix of API tokens, so they are recognisable in logs, secret scanners and config files.
pub const TOKEN_PREFIX: &str = "ssk_";

/// `last_used_at` is written at most this often per token, so authentication does not turn
/// every read request into a database write.
const LAST_USED_GRANULARITY: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// The authenticated caller of one request.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub principal_id: i64,
    pub name: String,
    pub token_id: i64,
    /// When the token stops working, if it expires: a running subscription re-checks it then.
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether the principal holds the service-wide SERVICE_ADMIN role (SPEC §7): it creates
    /// tenants, manages the service catalog and licence SKUs and grants roles on any tenant. It
    /// implies no role on any tenant.
    pub service_admin: bool,
    /// The principal's grants as read at authentication (possibly shared with other requests
    /// through [`GrantsCache`]; never changed).
    base: Arc<HashMap<i64, Role>>,
    /// Roles granted (`Some`) or removed (`None`) during this request, shared by the clones of
    /// one request's viewer, so a grant a mutation changed is in force for the rest of that
    /// request: the fields of the mutation's payload and the next mutations of the document.
    grants: Arc<RwLock<HashMap<i64, Option<Role>>>>,
}

impl Viewer {
    /// The operator at the command line, acting as `principal`: the SERVICE_ADMIN without tokens
    /// that `service::access::tenants::command_line_principal` returns. Whoever can run the
    /// server's CLI against its database is trusted like the server itself.
    pub fn command_line(principal: &principal::Model) -> Viewer {
        Viewer {
            principal_id: principal.id,
            name: principal.name.clone(),
            token_id: 0,
            expires_at: None,
            service_admin: principal.service_admin,
            base: Arc::new(HashMap::new()),
            grants: Arc::new(RwLock::new(HashMap::new())),
        }
    }

    /// The caller's role on a tenant, if any.
    pub fn role_on(&self, tenant_id: i64) -> Option<Role> {
        // A poisoned lock only means another thread panicked while inserting; the map is
        // still a valid map.
        let grants = self.grants.read().unwrap_or_else(|e| e.into_inner());
        match grants.get(&tenant_id) {
            Some(changed) => *changed,
            None => self.base.get(&tenant_id).copied(),
        }
    }

    /// Ids of the tenants the caller holds a role on.
    pub fn tenant_ids(&self) -> Vec<i64> {
        let grants = self.grants.read().unwrap_or_else(|e| e.into_inner());
        let mut ids: Vec<i64> = grants
            .keys()
            .chain(self.base.keys())
            .copied()
            .filter(|id| grants.get(id).is_none_or(Option::is_some))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Records a role granted during this request, after the granting transaction committed.
    pub fn granted(&self, tenant_id: i64, role: Role) {
        let mut grants = self.grants.write().unwrap_or_else(|e| e.into_inner());
        grants.insert(tenant_id, Some(role));
    }

    /// Records that the caller's role on a tenant was removed during this request, after the
    /// removing transaction committed (an ADMIN removing its own grant).
    pub fn ungranted(&self, tenant_id: i64) {
        let mut grants = self.grants.write().unwrap_or_else(|e| e.into_inner());
        grants.insert(tenant_id, None);
    }

    /// Checks that the caller is a SERVICE_ADMIN; anybody else gets `FORBIDDEN`.
    pub fn require_service_admin(&self) -> AppResult<()> {
        if self.service_admin {
            Ok(())
        } else {
            Err(AppError::Forbidden {
                needed: "SERVICE_ADMIN",
            })
        }
    }

    /// Checks that the caller may act on the tenant with at least `needed`. A tenant the caller
    /// has no role on answers `NOT_FOUND`, exactly like one that does not exist.
    pub fn require(&self, tenant_id: i64, needed: Role) -> AppResult<Role> {
        match self.role_on(tenant_id) {
            None => Err(AppError::NotFound("tenant")),
            Some(role) if role.allows(needed) => Ok(role),
            Some(_) => Err(AppError::Forbidden {
                needed: needed.as_str(),
            }),
        }
    }
}

/// Extracts the token from an `Authorization` header value (`Bearer <token>`).
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Resolves a presented token to its viewer. Unknown, expired and revoked tokens all answer
/// `UNAUTHENTICATED`.
pub async fn authenticate(db: &DatabaseConnection, token: &str, now: DateTime<Utc>) -> AppResult<Viewer> {
    authenticate_cached(db, None, token, now).await
}

/// A per-process copy of principals' grants, each valid while the principal's `grants_version`
/// (read with the token on every request) is unchanged: every grant change bumps it in its
/// transaction, in whichever process, so a stale copy is never used. It spares an MSP's
/// requests from reading one grant row per customer each time. Bounded: when full it is
/// emptied, which only costs a re-read per principal.
pub struct GrantsCache {
    capacity: usize,
    /// By principal id: the `grants_version` the grants were read at, and the grants.
    entries: RwLock<HashMap<i64, (i64, Grants)>>,
}

/// A principal's role per tenant id.
type Grants = Arc<HashMap<i64, Role>>;

impl GrantsCache {
    pub fn new(capacity: usize) -> Self {
        GrantsCache {
            capacity,
            entries: RwLock::new(HashMap::new()),
        }
    }
}

/// [`authenticate`], reusing a principal's grants from `cache` while they are current.
pub async fn authenticate_cached(
    db: &DatabaseConnection,
    cache: Option<&GrantsCache>,
    token: &str,
    now: DateTime<Utc>,
) -> AppResult<Viewer> {
    let hash = hash_secret(token);
    let Some((token, Some(principal))) = api_token::Entity::find()
        .filter(api_token::Column::TokenHash.eq(hash))
        .find_also_related(principal::Entity)
        .one(db)
        .await?
    else {
        return Err(AppError::Unauthenticated);
    };
    if token.revoked_at.is_some() || token.expires_at.is_some_and(|at| at <= now) {
        return Err(AppError::Unauthenticated);
    }
    if token
        .last_used_at
        .is_none_or(|at| now - at >= LAST_USED_GRANULARITY)
    {
        touch_last_used(db, token.id, now).await;
    }
    let cached = cache.and_then(|c| {
        let entries = c.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&principal.id)
            .filter(|(version, _)| *version == principal.grants_version)
            .map(|(_, grants)| grants.clone())
    });
    let base = match cached {
        Some(grants) => grants,
        None => {
            let grants: Grants = Arc::new(
                role_grant::Entity::find()
                    .select_only()
                    .column(role_grant::Column::TenantId)
                    .column(role_grant::Column::Role)
                    .filter(role_grant::Column::PrincipalId.eq(principal.id))
                    .into_tuple::<(i64, Role)>()
                    .all(db)
                    .await?
                    .into_iter()
                    .collect(),
            );
            if let Some(c) = cache {
                let mut entries = c.entries.write().unwrap_or_else(|e| e.into_inner());
                if entries.len() >= c.capacity {
                    entries.clear();
                }
                entries.insert(principal.id, (principal.grants_version, grants.clone()));
            }
            grants
        }
    };
    Ok(Viewer {
        principal_id: principal.id,
        name: principal.name,
        token_id: token.id,
        expires_at: token.expires_at,
        service_admin: principal.service_admin,
        base,
        grants: Arc::new(RwLock::new(HashMap::new())),
    })
}

/// Records that a token was used. The condition repeats the one-minute check in SQL so that
/// concurrent requests (or server processes) write the row once, not once each. A failure is
/// only logged: it is bookkeeping and must not refuse an otherwise valid request.
async fn touch_last_used(db: &DatabaseConnection, token_id: i64, now: DateTime<Utc>) {
    let stale = Condition::any()
        .add(api_token::Column::LastUsedAt.is_null())
        .add(api_token::Column::LastUsedAt.lte(now - LAST_USED_GRANULARITY));
    let result = api_token::Entity::update_many()
        .col_expr(api_token::Column::LastUsedAt, Expr::value(now))
        .filter(api_token::Column::Id.eq(token_id))
        .filter(stale)
        .exec(db)
        .await;
    if let Err(err) = result {
        tracing::warn!(token_id, error = %err, "cannot record the token's last use");
    }
}
