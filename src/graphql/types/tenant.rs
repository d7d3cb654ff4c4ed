//! The tenant and what hangs directly off it.

use crate::graphql::{db, ids, viewer};
use crate::service;
use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use entity::{tenant, tenant_license};

/// One organisation.
pub struct Tenant(pub tenant::Model);

#[Object]
impl Tenant {
    /// Global object id.
    pub async fn id(&self) -> ID {
        ids::encode("Tenant", self.0.id)
    }
    async fn slug(&self) -> &str {
        &self.0.slug
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Industry code, e.g. `finance`.
    async fn industry(&self) -> &str {
        &self.0.industry
    }
    /// Licensed users.
    async fn seat_count(&self) -> i64 {
        self.0.seat_count
    }
    async fn active_user_count(&self) -> i64 {
        self.0.active_user_count
    }
    /// Product families the tenant uses (`AzureAD`, `EXO`, `MDO`, …).
    async fn enabled_services(&self) -> &[String] {
        &self.0.enabled_services.0
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// The licences the tenant holds.
    async fn licenses(&self, ctx: &Context<'_>) -> Result<Vec<TenantLicense>> {
        let rows = service::tenants::licenses(db(ctx), viewer(ctx)?, self.0.id).await?;
        Ok(rows.into_iter().map(TenantLicense).collect())
    }
}

/// A tenant's holding of a licence.
pub struct TenantLicense(pub tenant_license::Model);

#[Object]
impl TenantLicense {
    async fn sku(&self) -> &str {
        &self.0.license_sku
    }
    async fn seats_purchased(&self) -> i64 {
        self.0.seats_purchased
    }
    async fn seats_assigned(&self) -> i64 {
        self.0.seats_assigned
    }
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }
}
