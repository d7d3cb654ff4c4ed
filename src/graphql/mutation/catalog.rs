//! Mutations on the service catalog (SERVICE_ADMIN only): `createControl`, `updateControl`,
//! `deprecateControl`, `upsertLicense`. Texts are stored as plain text and links only as absolute
//! `https:` URLs; a refused value is a `BAD_USER_INPUT` user error naming its field.

use crate::error::AppError;
use crate::graphql::types::enums::{ActionType, Category, Level, Tier};
use crate::graphql::types::user_error::split;
use crate::graphql::types::{Control, License, UserError};
use crate::graphql::{db, viewer};
use crate::service::catalog::{self, ControlEntry, ControlPatch, LicenseEntry};
use async_graphql::{Context, InputObject, MaybeUndefined, Object, Result, SimpleObject};
use chrono::Utc;
use rust_decimal::Decimal;

#[derive(Default)]
pub struct CatalogMutation;

/// A new control of the service catalog.
#[derive(InputObject)]
pub struct CreateControlInput {
    /// Stable control id: 1 to 200 letters, digits, `_`, `.` and `-` (e.g. `AdminMFAV2`).
    pub id: String,
    /// Title (HTML is reduced to plain text).
    pub title: String,
    /// The category it scores in.
    pub category: Category,
    /// Product family (e.g. `AzureAD`); tenants with it enabled get the control as an action.
    pub service: String,
    /// Points for full implementation: more than 0, at most 10.
    pub max_points: f64,
    /// Complexity tier.
    pub tier: Tier,
    /// Impact on users.
    pub user_impact: Level,
    /// Cost of implementing it.
    pub implementation_cost: Level,
    /// Threats it mitigates (default none).
    pub threats: Option<Vec<String>>,
    /// Kind of action.
    pub action_type: ActionType,
    /// Licence plans of which any one makes it licensed (default none: no licence needed).
    pub required_license_plans: Option<Vec<String>>,
    /// The "Manage" deep link: an absolute `https:` URL.
    pub action_url: Option<String>,
    /// Rank published by the vendor.
    pub vendor_rank: Option<i32>,
    /// Implementation steps (plain text).
    pub remediation: Option<String>,
    /// What users notice (plain text).
    pub user_impact_description: Option<String>,
    /// What is needed first (plain text).
    pub prerequisites: Option<String>,
    /// Documentation links: absolute `https:` URLs.
    pub learn_more_urls: Option<Vec<String>>,
}

/// The result of `createControl`, `updateControl` and `deprecateControl`.
#[derive(SimpleObject)]
pub struct ControlPayload {
    /// The control as stored.
    pub control: Option<Control>,
    /// Why nothing was written, when something was refused.
    pub user_errors: Vec<UserError>,
}

/// Changes to a control of the service catalog; omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateControlInput {
    /// The stable id of the control to change (`Control.controlId`).
    pub id: String,
    /// New title.
    pub title: Option<String>,
    /// New category.
    pub category: Option<Category>,
    /// New product family; tenants with it enabled that lack the control get it as an action.
    pub service: Option<String>,
    /// New maximum points (more than 0, at most 10).
    pub max_points: Option<f64>,
    /// New tier.
    pub tier: Option<Tier>,
    /// New user impact.
    pub user_impact: Option<Level>,
    /// New implementation cost.
    pub implementation_cost: Option<Level>,
    /// The full new list of threats.
    pub threats: Option<Vec<String>>,
    /// New kind of action.
    pub action_type: Option<ActionType>,
    /// The full new list of licence plans.
    pub required_license_plans: Option<Vec<String>>,
    /// New "Manage" link (absolute `https:`); `null` removes it.
    pub action_url: MaybeUndefined<String>,
    /// New vendor rank; `null` removes it.
    pub vendor_rank: MaybeUndefined<i32>,
    /// New implementation steps.
    pub remediation: Option<String>,
    /// New description of the impact on users.
    pub user_impact_description: Option<String>,
    /// New prerequisites.
    pub prerequisites: Option<String>,
    /// The full new list of documentation links (absolute `https:`).
    pub learn_more_urls: Option<Vec<String>>,
}

/// Which control to deprecate (or bring back).
#[derive(InputObject)]
pub struct DeprecateControlInput {
    /// The stable id of the control (`Control.controlId`).
    pub id: String,
    /// `true` (the default) deprecates it: it stops counting for every tenant, which keeps its
    /// action's status and history; `false` brings it back.
    #[graphql(default = true)]
    pub deprecated: bool,
}

/// A licence SKU to create, or whose name and plans to replace.
#[derive(InputObject)]
pub struct UpsertLicenseInput {
    /// The SKU, e.g. `M365_E5` (letters, digits, `_`, `.`, `-`).
    pub sku: String,
    /// Display name.
    pub name: String,
    /// The full list of plans it grants (e.g. `AAD_P1`).
    pub plans: Vec<String>,
}

/// The result of `upsertLicense`.
#[derive(SimpleObject)]
pub struct UpsertLicensePayload {
    /// The SKU as stored.
    pub license: Option<License>,
    /// Why nothing was written, when something was refused.
    pub user_errors: Vec<UserError>,
}

/// Points from the API, exactly as decimal as the client wrote them; a non-finite number is
/// refused like an out-of-range one.
fn points(value: f64) -> Result<Decimal, AppError> {
    Decimal::try_from(value).map_err(|_| AppError::bad_input("maxPoints", "maxPoints must be a number"))
}

fn payload(result: Result<entity::control::Model, AppError>) -> Result<ControlPayload> {
    let (control, user_errors) = split(result)?;
    Ok(ControlPayload {
        control: control.map(Control),
        user_errors,
    })
}

#[Object]
impl CatalogMutation {
    /// Creates a control of the service catalog (SERVICE_ADMIN). Every tenant that takes its
    /// controls from the service catalog and has the control's service enabled gets it as a
    /// `TO_ADDRESS` action, in the same transaction. An existing id is `BAD_USER_INPUT`.
    async fn create_control(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `CreateControlInput`.")] input: CreateControlInput,
    ) -> Result<ControlPayload> {
        let viewer = viewer(ctx)?;
        // The role first, so a caller who may not do this learns nothing from validation.
        viewer.require_service_admin()?;
        let result = match points(input.max_points) {
            Ok(max_points) => {
                let entry = ControlEntry {
                    id: input.id,
                    title: input.title,
                    category: input.category.into(),
                    service: input.service,
                    max_points,
                    tier: input.tier.into(),
                    user_impact: input.user_impact.into(),
                    implementation_cost: input.implementation_cost.into(),
                    threats: input.threats.unwrap_or_default(),
                    action_type: input.action_type.into(),
                    required_license_plans: input.required_license_plans.unwrap_or_default(),
                    action_url: input.action_url,
                    vendor_rank: input.vendor_rank,
                    remediation: input.remediation.unwrap_or_default(),
                    user_impact_description: input.user_impact_description.unwrap_or_default(),
                    prerequisites: input.prerequisites.unwrap_or_default(),
                    learn_more_urls: input.learn_more_urls.unwrap_or_default(),
                    deprecated: false,
                };
                catalog::create_control(db(ctx), viewer, &entry, Utc::now()).await
            }
            Err(e) => Err(e),
        };
        payload(result)
    }

    /// Changes a control of the service catalog (SERVICE_ADMIN); `NOT_FOUND` for an unknown id.
    /// A change that changes nothing writes nothing. Scores of every tenant follow at once.
    async fn update_control(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `UpdateControlInput`.")] input: UpdateControlInput,
    ) -> Result<ControlPayload> {
        let viewer = viewer(ctx)?;
        viewer.require_service_admin()?;
        let max_points = match input.max_points.map(points).transpose() {
            Ok(p) => p,
            Err(e) => return payload(Err(e)),
        };
        let patch = ControlPatch {
            id: input.id,
            title: input.title,
            category: input.category.map(Into::into),
            service: input.service,
            max_points,
            tier: input.tier.map(Into::into),
            user_impact: input.user_impact.map(Into::into),
            implementation_cost: input.implementation_cost.map(Into::into),
            threats: input.threats,
            action_type: input.action_type.map(Into::into),
            required_license_plans: input.required_license_plans,
            action_url: maybe(input.action_url),
            vendor_rank: maybe(input.vendor_rank),
            remediation: input.remediation,
            user_impact_description: input.user_impact_description,
            prerequisites: input.prerequisites,
            learn_more_urls: input.learn_more_urls,
            deprecated: None,
        };
        payload(catalog::update_control(db(ctx), viewer, &patch, Utc::now()).await)
    }

    /// Deprecates a control of the service catalog, or brings it back with `deprecated: false`
    /// (SERVICE_ADMIN). A deprecated control stops counting for every tenant; the actions keep
    /// their status, notes and history.
    async fn deprecate_control(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `DeprecateControlInput`.")] input: DeprecateControlInput,
    ) -> Result<ControlPayload> {
        let patch = ControlPatch {
            id: input.id,
            deprecated: Some(input.deprecated),
            ..Default::default()
        };
        payload(catalog::update_control(db(ctx), viewer(ctx)?, &patch, Utc::now()).await)
    }

    /// Creates a licence SKU, or replaces its name and plans (SERVICE_ADMIN). Tenants holding
    /// the SKU see their licensed actions follow at once.
    async fn upsert_license(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `UpsertLicenseInput`.")] input: UpsertLicenseInput,
    ) -> Result<UpsertLicensePayload> {
        let entry = LicenseEntry {
            sku: input.sku,
            name: input.name,
            plans: input.plans,
        };
        let result = catalog::upsert_license_sku(db(ctx), viewer(ctx)?, &entry, Utc::now()).await;
        let (license, user_errors) = split(result)?;
        Ok(UpsertLicensePayload {
            license: license.map(License),
            user_errors,
        })
    }
}

/// An optional input field that can also be cleared: absent → unchanged, `null` → cleared.
fn maybe<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}
