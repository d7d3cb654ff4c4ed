//! Catalog types: controls and licence SKUs.

use crate::domain::points::Points;
use crate::graphql::ids;
use crate::graphql::types::enums::{ActionType, Category, Level, Tier};
use crate::graphql::types::present;
use crate::service::catalog::LicenseWithPlans;
use async_graphql::{ID, Object};
use chrono::{DateTime, Utc};
use entity::control;

/// A control: one recommended security configuration or task. Defined by the service catalog
/// (shared by all tenants), or, inside one tenant, by that tenant's own control profile from its
/// Microsoft Graph import (`source: TENANT_PROFILE`), which only that tenant sees.
pub struct Control(pub control::Model);

/// A security control of the catalog: what to do, what it is worth and what it needs. Any
/// authenticated caller may read the catalog.
#[Object]
impl Control {
    /// Global object id.
    pub async fn id(&self) -> ID {
        ids::encode("Control", &self.0.id)
    }
    /// Stable control id, e.g. `AdminMFAV2`.
    async fn control_id(&self) -> &str {
        &self.0.id
    }
    /// Who defines this control as seen here: the service catalog, or the tenant's own profile.
    async fn source(&self) -> crate::graphql::types::enums::ControlSource {
        if self.0.origin == crate::service::state::controls::ORIGIN_OWN_PROFILE {
            crate::graphql::types::enums::ControlSource::TenantProfile
        } else {
            crate::graphql::types::enums::ControlSource::ServiceCatalog
        }
    }
    /// Short title.
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// The category it scores in.
    async fn category(&self) -> Category {
        self.0.category.into()
    }
    /// Product family, as the vendor spells it (e.g. `AzureAD`, `MDO`).
    async fn service(&self) -> &str {
        &self.0.service
    }
    /// Points for full implementation (service catalog controls: more than 0, at most 10).
    async fn max_points(&self) -> f64 {
        present(Points::from_storage(self.0.max_points))
    }
    /// Complexity tier.
    async fn tier(&self) -> Tier {
        self.0.tier.into()
    }
    /// How much users notice it.
    async fn user_impact(&self) -> Level {
        self.0.user_impact.into()
    }
    /// What implementing it costs.
    async fn implementation_cost(&self) -> Level {
        self.0.implementation_cost.into()
    }
    /// Threats it mitigates (e.g. `PasswordCracking`), as the vendor names them.
    async fn threats(&self) -> &[String] {
        &self.0.threats.0
    }
    /// Kind of action.
    async fn action_type(&self) -> ActionType {
        self.0.action_type.into()
    }
    /// Implementation steps.
    async fn remediation(&self) -> &str {
        &self.0.remediation
    }
    /// What users notice when it is implemented.
    async fn user_impact_description(&self) -> &str {
        &self.0.user_impact_description
    }
    /// What must be in place first (licences, roles, other settings).
    async fn prerequisites(&self) -> &str {
        &self.0.prerequisites
    }
    /// The "Manage" deep link.
    async fn action_url(&self) -> Option<&str> {
        self.0
            .action_url
            .as_deref()
            .and_then(crate::domain::sanitize::safe_url)
    }
    /// Documentation links.
    async fn learn_more_urls(&self) -> Vec<&str> {
        crate::domain::sanitize::safe_urls(&self.0.learn_more_urls.0)
    }
    /// Licence plans of which any one makes the control licensed; empty when none is needed.
    async fn required_license_plans(&self) -> &[String] {
        &self.0.required_license_plans.0
    }
    /// Rank published by the vendor (1 = most important); `null` when unknown.
    async fn vendor_rank(&self) -> Option<i32> {
        self.0.vendor_rank
    }
    /// Deprecated controls count for no tenant; their actions keep status and history.
    async fn deprecated(&self) -> bool {
        self.0.deprecated
    }
    /// Where the control comes from: the shipped catalog, a SERVICE_ADMIN, or the tenant's own
    /// profile from its Graph import (see `source`).
    async fn origin(&self) -> async_graphql::Result<crate::graphql::types::enums::ControlOrigin> {
        crate::graphql::types::enums::ControlOrigin::of_stored(&self.0.origin).ok_or_else(|| {
            crate::error::AppError::Internal(anyhow::anyhow!("unknown control origin {:?}", self.0.origin))
                .into()
        })
    }
    /// When the control last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// A purchasable licence SKU.
pub struct License(pub LicenseWithPlans);

/// A licence SKU and the plans it grants. Any authenticated caller may read them; SERVICE_ADMINs
/// manage them (`upsertLicense`).
#[Object]
impl License {
    /// The SKU, e.g. `M365_E5`.
    async fn sku(&self) -> &str {
        &self.0.license.sku
    }
    /// Display name, e.g. `Microsoft 365 E5`.
    async fn name(&self) -> &str {
        &self.0.license.name
    }
    /// Plans this SKU grants (e.g. `AAD_P1`).
    async fn plans(&self) -> &[String] {
        &self.0.plans
    }
}
