//! Mutations on tenants: `createTenant` (SERVICE_ADMIN), `updateTenant`,
//! `setTenantLicense`, `removeTenantLicense` (ADMIN).

use crate::graphql::types::user_error::split;
use crate::graphql::types::{Tenant, TenantLicense, UserError};
use crate::graphql::{db, viewer};
use crate::service::access::tenants::{self, LicenseHolding, NewTenant, TenantUpdate};
use async_graphql::{Context, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

#[derive(Default)]
pub struct TenantMutation;

/// A new tenant.
#[derive(InputObject)]
pub struct CreateTenantInput {
    /// Unique slug: 2 to 64 lowercase letters, digits and inner dashes.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Industry code, e.g. `finance` (default `other`).
    pub industry: Option<String>,
    /// Licensed users (default 0).
    pub seat_count: Option<i64>,
    /// Active users (default 0).
    pub active_user_count: Option<i64>,
    /// Product families the tenant uses (`AzureAD`, `EXO`, …); default none.
    pub enabled_services: Option<Vec<String>>,
}

/// The result of `createTenant`.
#[derive(SimpleObject)]
pub struct CreateTenantPayload {
    /// The tenant created.
    pub tenant: Option<Tenant>,
    /// Why nothing was written, when something was refused.
    pub user_errors: Vec<UserError>,
}

/// Changes to a tenant's settings; omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateTenantInput {
    /// The tenant to change.
    pub slug: String,
    /// New display name.
    pub name: Option<String>,
    /// New industry code, e.g. `finance`.
    pub industry: Option<String>,
    /// New number of licensed users (0 or more).
    pub seat_count: Option<i64>,
    /// New number of active users (0 or more).
    pub active_user_count: Option<i64>,
    /// The full new list. Under the `SERVICE_CATALOG` source the controls of these services
    /// apply: a newly enabled service adds its actions, a disabled one's actions stop counting
    /// (and leave lists and ranks) but keep their status, notes, tags and history.
    pub enabled_services: Option<Vec<String>>,
    /// Which controls apply: switch a tenant whose score came from Microsoft Graph back to the
    /// service catalog (or to its latest export again).
    pub catalog_source: Option<crate::graphql::types::enums::CatalogSource>,
    /// Whether `RISK_ACCEPTED` needs an approved `requestRiskAcceptance` (decided by an ADMIN
    /// other than the requester): when true, a direct change to RISK_ACCEPTED is refused with
    /// `APPROVAL_REQUIRED`. Default false.
    pub risk_acceptance_requires_approval: Option<bool>,
    /// The full new list of reminder thresholds: days before a risk acceptance's review date or a
    /// device exception's end at which `risk_acceptance.expiring` / `exception.expiring` is
    /// raised (1 to 5 different numbers, each 1 to 365; any order). Default 30, 7, 1.
    pub reminder_days: Option<Vec<i32>>,
}

/// The result of `updateTenant`.
#[derive(SimpleObject)]
pub struct UpdateTenantPayload {
    /// The tenant, after the change.
    pub tenant: Option<Tenant>,
    /// Why nothing was written, when something was refused.
    pub user_errors: Vec<UserError>,
}

/// A tenant's holding of a licence SKU (replaces the existing holding of that SKU).
#[derive(InputObject)]
pub struct SetTenantLicenseInput {
    /// The tenant (ADMIN).
    pub tenant_slug: String,
    /// A SKU from `licenses`, e.g. `M365_E5`.
    pub sku: String,
    /// Seats bought (0 or more).
    pub seats_purchased: i64,
    /// At most `seatsPurchased`.
    pub seats_assigned: i64,
    /// When the licence ends; never when absent.
    pub expires_at: Option<DateTime<Utc>>,
}

/// The result of `setTenantLicense`.
#[derive(SimpleObject)]
pub struct SetTenantLicensePayload {
    /// The tenant, after the change.
    pub tenant: Option<Tenant>,
    /// The holding as stored.
    pub license: Option<TenantLicense>,
    /// Why nothing was written, when something was refused.
    pub user_errors: Vec<UserError>,
}

/// Which holding to remove.
#[derive(InputObject)]
pub struct RemoveTenantLicenseInput {
    /// The tenant (ADMIN).
    pub tenant_slug: String,
    /// The SKU whose holding to remove, e.g. `M365_E5`.
    pub sku: String,
}

/// The result of `removeTenantLicense`.
#[derive(SimpleObject)]
pub struct RemoveTenantLicensePayload {
    /// The tenant, after the change.
    pub tenant: Option<Tenant>,
    /// The SKU that was removed.
    pub removed_sku: Option<String>,
    /// Why nothing was written, when something was refused.
    pub user_errors: Vec<UserError>,
}

#[Object]
impl TenantMutation {
    /// Creates a tenant (SERVICE_ADMIN only; every tenant role gets `FORBIDDEN`). The creator
    /// does not become the tenant's ADMIN: give roles with `grantRole` or a first token with
    /// `createApiToken`.
    async fn create_tenant(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `CreateTenantInput`.")] input: CreateTenantInput,
    ) -> Result<CreateTenantPayload> {
        let new = NewTenant {
            slug: input.slug,
            name: input.name,
            industry: input.industry.unwrap_or_else(|| "other".into()),
            seat_count: input.seat_count.unwrap_or(0),
            active_user_count: input.active_user_count.unwrap_or(0),
            enabled_services: input.enabled_services.unwrap_or_default(),
        };
        let result = tenants::create_as_service_admin(db(ctx), viewer(ctx)?, &new, Utc::now()).await;
        let (tenant, user_errors) = split(result)?;
        Ok(CreateTenantPayload {
            tenant: tenant.map(Tenant),
            user_errors,
        })
    }

    /// Changes a tenant's settings (ADMIN).
    async fn update_tenant(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `UpdateTenantInput`.")] input: UpdateTenantInput,
    ) -> Result<UpdateTenantPayload> {
        let change = TenantUpdate {
            slug: input.slug,
            name: input.name,
            industry: input.industry,
            seat_count: input.seat_count,
            active_user_count: input.active_user_count,
            enabled_services: input.enabled_services,
            catalog_source: input.catalog_source.map(Into::into),
            risk_acceptance_requires_approval: input.risk_acceptance_requires_approval,
            reminder_days: input.reminder_days,
        };
        let result = tenants::update(db(ctx), viewer(ctx)?, &change, Utc::now()).await;
        let (tenant, user_errors) = split(result)?;
        Ok(UpdateTenantPayload {
            tenant: tenant.map(Tenant),
            user_errors,
        })
    }

    /// Sets a tenant's holding of a licence SKU (ADMIN).
    async fn set_tenant_license(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `SetTenantLicenseInput`.")] input: SetTenantLicenseInput,
    ) -> Result<SetTenantLicensePayload> {
        let holding = LicenseHolding {
            tenant_slug: input.tenant_slug,
            sku: input.sku,
            seats_purchased: input.seats_purchased,
            seats_assigned: input.seats_assigned,
            expires_at: input.expires_at,
        };
        let result = tenants::set_license(db(ctx), viewer(ctx)?, &holding, Utc::now()).await;
        let (set, user_errors) = split(result)?;
        let (tenant, license) = match set {
            Some((t, l)) => (Some(Tenant(t)), Some(TenantLicense(l))),
            None => (None, None),
        };
        Ok(SetTenantLicensePayload {
            tenant,
            license,
            user_errors,
        })
    }

    /// Removes a tenant's holding of a licence SKU (ADMIN).
    async fn remove_tenant_license(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `RemoveTenantLicenseInput`.")] input: RemoveTenantLicenseInput,
    ) -> Result<RemoveTenantLicensePayload> {
        let result =
            tenants::remove_license(db(ctx), viewer(ctx)?, &input.tenant_slug, &input.sku, Utc::now()).await;
        let (tenant, user_errors) = split(result)?;
        let removed_sku = tenant.is_some().then_some(input.sku);
        Ok(RemoveTenantLicensePayload {
            tenant: tenant.map(Tenant),
            removed_sku,
            user_errors,
        })
    }
}
