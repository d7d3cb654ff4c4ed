//! The audit log of administrative changes (SPEC §7): who changed which tenant setting, token,
//! grant or catalog entry, written in the same transaction as the change. A leaf of the
//! service layer: every group that makes such changes records them here. Never given secrets.

use chrono::{DateTime, Utc};
use entity::audit_log;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};

use crate::error::AppResult;

/// Audit actions, as stored in `audit_log.action` and shown to clients.
pub mod action {
    pub const TOKEN_CREATED: &str = "TOKEN_CREATED";
    pub const TOKEN_REVOKED: &str = "TOKEN_REVOKED";
    pub const TENANT_CREATED: &str = "TENANT_CREATED";
    pub const TENANT_UPDATED: &str = "TENANT_UPDATED";
    pub const LICENSE_SET: &str = "LICENSE_SET";
    pub const LICENSE_REMOVED: &str = "LICENSE_REMOVED";
    pub const ROLE_GRANTED: &str = "ROLE_GRANTED";
    pub const GRANT_REMOVED: &str = "GRANT_REMOVED";
    pub const SERVICE_ADMIN_CREATED: &str = "SERVICE_ADMIN_CREATED";
    pub const CONTROL_CREATED: &str = "CONTROL_CREATED";
    pub const CONTROL_UPDATED: &str = "CONTROL_UPDATED";
    pub const LICENSE_SKU_UPSERTED: &str = "LICENSE_SKU_UPSERTED";
    pub const CATALOG_LOADED: &str = "CATALOG_LOADED";
}

/// Appends an audit row on the caller's transaction. `detail` must never contain secrets.
pub async fn record<C: ConnectionTrait>(
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
