//! The controls as one tenant sees them (SPEC §1, §1a): the service catalog overlaid with the
//! tenant's own control profiles, and which of them apply.
//!
//! This is the one place that pairs a tenant's action rows with their controls. A tenant's own
//! profile of id X (written only by that tenant's Graph import) replaces the service catalog's X
//! for that tenant alone; nothing here ever reads another tenant's profiles. Applicability is
//! `domain::applicability::applies`, decided on every read, so rows of controls that stop
//! applying keep their history and count again when they apply again.

use crate::domain::applicability::applies;
use crate::domain::enums::CatalogSource;
use crate::domain::enums::Status;
use crate::error::AppResult;
use chrono::{DateTime, Utc};
use entity::{control, improvement_action, tenant, tenant_control};
use sea_orm::Set;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// `control.origin` of a tenant's own profile as the rest of the server sees it.
pub const ORIGIN_OWN_PROFILE: &str = "TENANT_PROFILE";

/// A tenant's own control profiles.
#[derive(Clone, Debug, Default)]
pub struct OwnProfiles {
    pub by_id: HashMap<String, Arc<control::Model>>,
    /// Ids of the profiles in the tenant's latest export.
    pub in_export: HashSet<String>,
}

/// A profile row as a control (origin [`ORIGIN_OWN_PROFILE`]).
pub fn profile_control(p: tenant_control::Model) -> control::Model {
    control::Model {
        id: p.id,
        title: p.title,
        category: p.category,
        service: p.service,
        max_points: p.max_points,
        tier: p.tier,
        user_impact: p.user_impact,
        implementation_cost: p.implementation_cost,
        threats: p.threats,
        action_type: p.action_type,
        remediation: p.remediation,
        user_impact_description: p.user_impact_description,
        prerequisites: p.prerequisites,
        action_url: p.action_url,
        learn_more_urls: p.learn_more_urls,
        required_license_plans: p.required_license_plans,
        vendor_rank: p.vendor_rank,
        deprecated: p.deprecated,
        origin: ORIGIN_OWN_PROFILE.to_string(),
        shipped_digest: None,
        created_at: p.created_at,
        updated_at: p.updated_at,
    }
}

/// The tenant's own profiles (usually none: one indexed lookup).
pub async fn own_profiles<C: ConnectionTrait>(conn: &C, tenant_id: i64) -> AppResult<OwnProfiles> {
    let mut own = OwnProfiles::default();
    for p in tenant_control::Entity::find()
        .filter(tenant_control::Column::TenantId.eq(tenant_id))
        .all(conn)
        .await?
    {
        if p.in_latest_export {
            own.in_export.insert(p.id.clone());
        }
        own.by_id.insert(p.id.clone(), Arc::new(profile_control(p)));
    }
    Ok(own)
}

/// Whether `control` (as the tenant sees it) applies to the tenant.
pub fn applies_to(tenant: &tenant::Model, own: &OwnProfiles, control: &control::Model) -> bool {
    applies(
        tenant.catalog_source,
        &tenant.enabled_services.0,
        &control.service,
        own.in_export.contains(&control.id),
    )
}

/// Pairs action rows with the controls the tenant sees, keeping only applicable ones.
/// `catalog` looks a control up in the service catalog.
pub fn applicable_rows(
    tenant: &tenant::Model,
    rows: Vec<improvement_action::Model>,
    own: &OwnProfiles,
    catalog: impl Fn(&str) -> Option<Arc<control::Model>>,
) -> AppResult<Vec<(improvement_action::Model, Arc<control::Model>)>> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(c) = own
            .by_id
            .get(&row.control_id)
            .cloned()
            .or_else(|| catalog(&row.control_id))
        else {
            continue;
        };
        if applies_to(tenant, own, &c) {
            out.push((row, c));
        }
    }
    Ok(out)
}

/// Service catalog controls by id.
pub async fn catalog_controls<C: ConnectionTrait>(
    conn: &C,
    ids: impl IntoIterator<Item = String>,
) -> AppResult<HashMap<String, Arc<control::Model>>> {
    let ids: BTreeSet<String> = ids.into_iter().collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(control::Entity::find()
        .filter(control::Column::Id.is_in(ids))
        .all(conn)
        .await?
        .into_iter()
        .map(|c| (c.id.clone(), Arc::new(c)))
        .collect())
}

/// The controls of some of a tenant's action rows as the tenant sees them, applicable or not
/// (for history: what a past event was about).
pub async fn controls_of<C: ConnectionTrait>(
    conn: &C,
    tenant_id: i64,
    control_ids: impl IntoIterator<Item = String>,
) -> AppResult<HashMap<String, Arc<control::Model>>> {
    let own = own_profiles(conn, tenant_id).await?;
    let wanted: BTreeSet<String> = control_ids.into_iter().collect();
    let mut found = catalog_controls(
        conn,
        wanted.iter().filter(|id| !own.by_id.contains_key(*id)).cloned(),
    )
    .await?;
    for id in wanted {
        if let Some(c) = own.by_id.get(&id) {
            found.insert(id, c.clone());
        }
    }
    Ok(found)
}

/// Pairs a tenant's action rows with their controls, keeping only applicable ones.
pub async fn with_controls<C: ConnectionTrait>(
    conn: &C,
    tenant: &tenant::Model,
    rows: Vec<improvement_action::Model>,
) -> AppResult<Vec<(improvement_action::Model, Arc<control::Model>)>> {
    let own = own_profiles(conn, tenant.id).await?;
    let catalog = catalog_controls(
        conn,
        rows.iter()
            .filter(|r| !own.by_id.contains_key(&r.control_id))
            .map(|r| r.control_id.clone()),
    )
    .await?;
    applicable_rows(tenant, rows, &own, |id| catalog.get(id).cloned())
}

/// The control of one of the tenant's actions, if it applies.
pub async fn applicable_control<C: ConnectionTrait>(
    conn: &C,
    tenant: &tenant::Model,
    control_id: &str,
) -> AppResult<Option<control::Model>> {
    let own = own_profiles(conn, tenant.id).await?;
    let c = match own.by_id.get(control_id) {
        Some(c) => Some(c.clone()),
        None => control::Entity::find_by_id(control_id.to_string())
            .one(conn)
            .await?
            .map(Arc::new),
    };
    match c {
        Some(c) if applies_to(tenant, &own, &c) => Ok(Some(control::Model::clone(&c))),
        _ => Ok(None),
    }
}

/// Every control that applies to the tenant (deprecated ones aside), ordered by id.
pub async fn applicable<C: ConnectionTrait>(
    conn: &C,
    tenant: &tenant::Model,
) -> AppResult<Vec<Arc<control::Model>>> {
    let own = own_profiles(conn, tenant.id).await?;
    let mut controls: Vec<Arc<control::Model>> = own.by_id.values().cloned().collect();
    if tenant.catalog_source == CatalogSource::ServiceCatalog {
        for c in control::Entity::find()
            .filter(control::Column::Service.is_in(tenant.enabled_services.0.clone()))
            .all(conn)
            .await?
        {
            if !own.by_id.contains_key(&c.id) {
                controls.push(Arc::new(c));
            }
        }
    }
    let mut out = Vec::with_capacity(controls.len());
    for c in controls {
        if !c.deprecated && applies_to(tenant, &own, &c) {
            out.push(c);
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// Gives the tenant a `TO_ADDRESS` action row for every applicable control that has none yet
/// (after creating the tenant, enabling a service, an import, switching the catalog source).
/// Returns the rows it inserted.
pub async fn ensure_action_rows<C: ConnectionTrait>(
    conn: &C,
    tenant: &tenant::Model,
    origin: &str,
    now: DateTime<Utc>,
) -> AppResult<Vec<improvement_action::Model>> {
    let have: HashSet<String> = improvement_action::Entity::find()
        .filter(improvement_action::Column::TenantId.eq(tenant.id))
        .all(conn)
        .await?
        .into_iter()
        .map(|a| a.control_id)
        .collect();
    let missing: Vec<Arc<control::Model>> = applicable(conn, tenant)
        .await?
        .into_iter()
        .filter(|c| !have.contains(&c.id))
        .collect();
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = missing.iter().map(|c| c.id.clone()).collect();
    let missing = missing.iter().map(|c| {
        let mut row = new_action(tenant.id, c, now);
        row.origin = sea_orm::Set(origin.to_string());
        row
    });
    improvement_action::Entity::insert_many(missing)
        .exec(conn)
        .await?;
    Ok(improvement_action::Entity::find()
        .filter(improvement_action::Column::TenantId.eq(tenant.id))
        .filter(improvement_action::Column::ControlId.is_in(ids))
        .all(conn)
        .await?)
}

/// The tenant's own control profiles, ordered by id (any role on the tenant).
pub async fn profiles(
    db: &sea_orm::DatabaseConnection,
    viewer: &crate::auth::Viewer,
    tenant_id: i64,
) -> AppResult<Vec<control::Model>> {
    viewer.require(tenant_id, crate::domain::enums::Role::Reader)?;
    let mut rows: Vec<control::Model> = tenant_control::Entity::find()
        .filter(tenant_control::Column::TenantId.eq(tenant_id))
        .all(db)
        .await?
        .into_iter()
        .map(profile_control)
        .collect();
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(rows)
}

/// `improvement_action.origin` of a row created because its control applies to the tenant.
pub const ORIGIN_APPLICABLE: &str = "APPLICABLE";

/// A fresh action row for a control.
pub fn new_action(tenant_id: i64, c: &control::Model, now: DateTime<Utc>) -> improvement_action::ActiveModel {
    improvement_action::ActiveModel {
        tenant_id: Set(tenant_id),
        control_id: Set(c.id.clone()),
        category: Set(c.category),
        status: Set(Status::ToAddress),
        implemented: Set(0),
        total: Set(0),
        implementation_status: Set(None),
        users_affected: Set(0),
        review_by: Set(None),
        version: Set(1),
        origin: Set(ORIGIN_APPLICABLE.to_string()),
        status_changed_at: Set(now),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}
