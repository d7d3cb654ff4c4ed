//! Tenants: lookup scoped to the caller, creation (with one action row per applicable control),
//! the licences a tenant holds, principals with their first tokens, and the ADMIN operations on
//! tenant settings and licences (each in one transaction with its audit row).

use crate::auth::{TOKEN_PREFIX, Viewer};
use crate::domain::enums::{CatalogSource, Role};
use crate::domain::tokens::{display_prefix, generate_secret, hash_secret};
use crate::error::{AppError, AppResult};
use crate::service::alerts::{self, Alert, AlertKind};
use crate::service::state::controls;
use crate::service::state::persisted::Change;
use chrono::{DateTime, Utc};
use entity::types::StringList;
use entity::{
    api_token, control, improvement_action, license, principal, role_grant, tenant, tenant_license,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    Set,
};
use serde_json::json;

/// Tenants the caller holds a role on, ordered by name.
pub async fn accessible(db: &DatabaseConnection, viewer: &Viewer) -> AppResult<Vec<tenant::Model>> {
    Ok(tenant::Entity::find()
        .filter(tenant::Column::Id.is_in(viewer.tenant_ids()))
        .order_by_asc(tenant::Column::Name)
        .all(db)
        .await?)
}

/// A tenant by slug, if the caller may read it; otherwise `NOT_FOUND` like a missing one.
pub async fn by_slug<C: ConnectionTrait>(db: &C, viewer: &Viewer, slug: &str) -> AppResult<tenant::Model> {
    let found = tenant::Entity::find()
        .filter(tenant::Column::Slug.eq(slug))
        .one(db)
        .await?;
    match found {
        Some(t) if viewer.role_on(t.id).is_some() => {
            crate::telemetry::record_tenant(&t.slug);
            Ok(t)
        }
        _ => Err(AppError::NotFound("tenant")),
    }
}

/// A tenant by id, if the caller may read it.
pub async fn by_id(db: &DatabaseConnection, viewer: &Viewer, id: i64) -> AppResult<tenant::Model> {
    viewer.require(id, Role::Reader)?;
    tenant::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound("tenant"))
}

/// The tenants among `ids` that the caller holds a role on (one query, none for ids it holds no
/// role on); others are left out exactly like ids that do not exist.
pub async fn visible_by_ids(
    db: &DatabaseConnection,
    viewer: &Viewer,
    ids: &[i64],
) -> AppResult<Vec<tenant::Model>> {
    let ids: Vec<i64> = ids
        .iter()
        .copied()
        .filter(|id| viewer.role_on(*id).is_some())
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(tenant::Entity::find()
        .filter(tenant::Column::Id.is_in(ids))
        .all(db)
        .await?)
}

/// The licence holdings among `ids` that the caller may read (READER of their tenant, as
/// `Tenant.licenses`); other tenants' are left out exactly like ids that do not exist.
pub async fn licenses_by_ids(
    db: &DatabaseConnection,
    viewer: &Viewer,
    ids: &[i64],
) -> AppResult<Vec<tenant_license::Model>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(tenant_license::Entity::find()
        .filter(tenant_license::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .filter(|l| viewer.role_on(l.tenant_id).is_some())
        .collect())
}

/// The licences a tenant holds, ordered by SKU.
pub async fn licenses(
    db: &DatabaseConnection,
    viewer: &Viewer,
    tenant_id: i64,
) -> AppResult<Vec<tenant_license::Model>> {
    viewer.require(tenant_id, Role::Reader)?;
    Ok(tenant_license::Entity::find()
        .filter(tenant_license::Column::TenantId.eq(tenant_id))
        .order_by_asc(tenant_license::Column::LicenseSku)
        .all(db)
        .await?)
}

/// What a new tenant is made of.
#[derive(Clone, Debug)]
pub struct NewTenant {
    pub slug: String,
    pub name: String,
    pub industry: String,
    pub seat_count: i64,
    pub active_user_count: i64,
    pub enabled_services: Vec<String>,
}

/// Checks a tenant's fields; errors name the field.
pub fn validate_new_tenant(t: &NewTenant) -> AppResult<()> {
    let slug_ok = (2..=64).contains(&t.slug.len())
        && t.slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !t.slug.starts_with('-')
        && !t.slug.ends_with('-');
    if !slug_ok {
        return Err(AppError::bad_input(
            "slug",
            "slug must be 2 to 64 characters of lowercase letters, digits and inner dashes",
        ));
    }
    crate::service::check_text("name", &t.name, false)?;
    crate::service::check_text("industry", &t.industry, false)?;
    if t.name.trim().is_empty() || t.name.len() > 200 {
        return Err(AppError::bad_input("name", "name must be 1 to 200 characters"));
    }
    if t.industry.trim().is_empty() || t.industry.len() > 64 {
        return Err(AppError::bad_input(
            "industry",
            "industry must be 1 to 64 characters",
        ));
    }
    if t.seat_count < 0 || t.active_user_count < 0 {
        return Err(AppError::bad_input(
            "seatCount",
            "seat and user counts cannot be negative",
        ));
    }
    Ok(())
}

/// Creates a tenant and one `TO_ADDRESS` action per applicable, non-deprecated control. Runs on
/// the caller's connection or transaction; authorisation is the caller's business.
pub async fn create<C: ConnectionTrait>(
    conn: &C,
    new: &NewTenant,
    now: DateTime<Utc>,
) -> AppResult<tenant::Model> {
    validate_new_tenant(new)?;
    let exists = tenant::Entity::find()
        .filter(tenant::Column::Slug.eq(&new.slug))
        .one(conn)
        .await?;
    if exists.is_some() {
        return Err(AppError::BadUserInput {
            field: vec!["slug".into()],
            message: format!("a tenant with slug {:?} already exists", new.slug),
        });
    }
    let tenant = tenant::ActiveModel {
        slug: Set(new.slug.clone()),
        name: Set(new.name.trim().to_string()),
        industry: Set(new.industry.trim().to_lowercase()),
        seat_count: Set(new.seat_count),
        active_user_count: Set(new.active_user_count),
        enabled_services: Set(StringList(new.enabled_services.clone())),
        azure_tenant_id: Set(None),
        state_version: Set(0),
        catalog_source: Set(CatalogSource::ServiceCatalog),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    controls::ensure_action_rows(conn, &tenant, controls::ORIGIN_APPLICABLE, now).await?;
    Ok(tenant)
}

/// Creates a principal.
pub async fn create_principal<C: ConnectionTrait>(
    conn: &C,
    name: &str,
    kind: &str,
    now: DateTime<Utc>,
) -> AppResult<principal::Model> {
    Ok(principal::ActiveModel {
        name: Set(name.to_string()),
        kind: Set(kind.to_string()),
        created_at: Set(now),
        // Explicit rather than the column default: SQLite once answered NULL for it in the
        // insert's RETURNING row under concurrent test load.
        grants_version: Set(0),
        service_admin: Set(false),
        ..Default::default()
    }
    .insert(conn)
    .await?)
}

/// Grants (or changes) a principal's role on a tenant.
pub async fn grant_role<C: ConnectionTrait>(
    conn: &C,
    principal_id: i64,
    tenant_id: i64,
    role: Role,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let existing = role_grant::Entity::find_by_id((principal_id, tenant_id))
        .one(conn)
        .await?;
    match existing {
        Some(g) => {
            let mut g: role_grant::ActiveModel = g.into();
            g.role = Set(role);
            g.update(conn).await?;
        }
        None => {
            role_grant::ActiveModel {
                principal_id: Set(principal_id),
                tenant_id: Set(tenant_id),
                role: Set(role),
                created_at: Set(now),
            }
            .insert(conn)
            .await?;
        }
    }
    bump_grants_version(conn, principal_id).await
}

/// Marks a principal's grants as changed, in the transaction that changed them, so every server
/// process drops its cached copy (`auth::GrantsCache`).
pub async fn bump_grants_version<C: ConnectionTrait>(conn: &C, principal_id: i64) -> AppResult<()> {
    use sea_orm::sea_query::{Expr, ExprTrait};
    principal::Entity::update_many()
        .col_expr(
            principal::Column::GrantsVersion,
            Expr::col(principal::Column::GrantsVersion).add(1),
        )
        .filter(principal::Column::Id.eq(principal_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Issues a new API token for a principal. Returns the secret (shown once) and the stored row,
/// which holds only its hash.
pub async fn issue_token<C: ConnectionTrait>(
    conn: &C,
    principal_id: i64,
    name: &str,
    expires_at: Option<DateTime<Utc>>,
    created_by: Option<i64>,
    now: DateTime<Utc>,
) -> AppResult<(String, api_token::Model)> {
    let secret = generate_secret(&mut rand::rng(), TOKEN_PREFIX);
    let row = api_token::ActiveModel {
        principal_id: Set(principal_id),
        name: Set(name.to_string()),
        token_prefix: Set(display_prefix(&secret)),
        token_hash: Set(hash_secret(&secret)),
        created_by: Set(created_by),
        created_at: Set(now),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
        last_used_at: Set(None),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok((secret, row))
}

/// Bumps the tenant's state version and persists its state (`state::persisted`, read again from
/// the transaction): every committed change to a tenant's actions, tags, licences or services
/// does this in its transaction, at its end (after its writes), so anything derived from the
/// tenant's rows can tell it is stale. Returns the row as this transaction left it.
pub async fn touch<C: ConnectionTrait>(
    conn: &C,
    tenant_id: i64,
    now: DateTime<Utc>,
) -> AppResult<tenant::Model> {
    touch_with(conn, tenant_id, now, Change::Reload).await
}

/// [`touch`] for a change that says what it changed, so the persisted state is derived from the
/// previous one instead of read again (see `state::persisted::Change`).
pub async fn touch_with<C: ConnectionTrait>(
    conn: &C,
    tenant_id: i64,
    now: DateTime<Utc>,
    change: Change<'_>,
) -> AppResult<tenant::Model> {
    use sea_orm::sea_query::{Expr, ExprTrait};
    let touched = tenant::Entity::update_many()
        .col_expr(
            tenant::Column::StateVersion,
            Expr::col(tenant::Column::StateVersion).add(1),
        )
        .col_expr(tenant::Column::UpdatedAt, Expr::value(now))
        .filter(tenant::Column::Id.eq(tenant_id))
        .exec_with_returning(conn)
        .await?
        .pop()
        .ok_or(AppError::NotFound("tenant"))?;
    // Score alerts compare the overview before and after: read the one before only when an
    // endpoint listens (one indexed read otherwise).
    let score_kinds = [AlertKind::ScoreZoneDropped, AlertKind::ScoreDropped];
    let listening = alerts::subscribed(conn, tenant_id, &score_kinds).await?;
    let before = if listening.is_empty() {
        None
    } else {
        let previous = tenant::Model {
            state_version: touched.state_version - 1,
            ..touched.clone()
        };
        crate::service::state::persisted::load_summary(conn, &previous).await?
    };
    crate::service::state::persisted::persist(conn, &touched, change, now).await?;
    if let Some(before) = before {
        raise_score_alerts(conn, &listening, &before, &touched, now).await?;
    }
    // Delivered by PostgreSQL only if this transaction commits (see `service::notify`).
    crate::service::notify::tenant_changed(conn, tenant_id).await?;
    Ok(touched)
}

/// `score.zone_dropped` (the percentage fell into a worse zone of the tenant's score zones) and
/// `score.dropped` (the current score fell below the day's start, the latest snapshot before
/// today; each endpoint hears when the drop passes its `scoreDropPoints`, see
/// `alerts::crosses_drop_threshold`), for the change that left `touched`, in its transaction.
async fn raise_score_alerts<C: ConnectionTrait>(
    conn: &C,
    listening: &[AlertKind],
    before: &crate::service::state::summary::Summary,
    touched: &tenant::Model,
    now: DateTime<Utc>,
) -> AppResult<()> {
    use crate::domain::goals::{Zone, zone};
    use crate::domain::points::Points;
    use entity::{score_snapshot, score_zone};
    use sea_orm::QueryOrder;
    let Some(after) = crate::service::state::persisted::load_summary(conn, touched).await? else {
        return Ok(());
    };
    let (points_before, max_before) = before.current_and_max();
    let (points_after, max_after) = after.current_and_max();
    let (pct_before, pct_after) = (
        points_before.percent_of(&max_before),
        points_after.percent_of(&max_after),
    );
    let name = |z: Zone| match z {
        Zone::Bad => "BAD",
        Zone::Okay => "OKAY",
        Zone::Good => "GOOD",
    };
    if listening.contains(&AlertKind::ScoreZoneDropped)
        && let Some(zones) = score_zone::Entity::find_by_id(touched.id).one(conn).await?
    {
        let (okay, good) = (
            Points::from_storage(zones.okay_from),
            Points::from_storage(zones.good_from),
        );
        let (zone_before, zone_after) = (zone(&pct_before, &okay, &good), zone(&pct_after, &okay, &good));
        if zone_after < zone_before {
            let data = serde_json::json!({
                "zoneBefore": name(zone_before),
                "zoneAfter": name(zone_after),
                "percentageBefore": pct_before.round2(),
                "percentageAfter": pct_after.round2(),
                "pointsBefore": points_before.to_f64(),
                "pointsAfter": points_after.to_f64(),
                "maxScore": max_after.to_f64(),
            });
            let alert = Alert {
                tenant_id: touched.id,
                kind: AlertKind::ScoreZoneDropped,
                data,
            };
            alerts::raise(conn, alert, now).await?;
        }
    }
    if listening.contains(&AlertKind::ScoreDropped) && points_after < points_before {
        let today = now.date_naive();
        let start = score_snapshot::Entity::find()
            .filter(score_snapshot::Column::TenantId.eq(touched.id))
            .filter(score_snapshot::Column::Day.lt(today))
            .order_by_desc(score_snapshot::Column::Day)
            .one(conn)
            .await?;
        if let Some(start) = start {
            let at_start = Points::from_storage(start.current);
            let drop = at_start.clone() - points_after.clone();
            let data = serde_json::json!({
                "day": today,
                "pointsAtDayStart": at_start.to_f64(),
                "pointsBefore": points_before.to_f64(),
                "pointsAfter": points_after.to_f64(),
                "dropPoints": drop.to_f64(),
                "maxScore": max_after.to_f64(),
            });
            let alert = Alert {
                tenant_id: touched.id,
                kind: AlertKind::ScoreDropped,
                data,
            };
            alerts::raise(conn, alert, now).await?;
        }
    }
    Ok(())
}

/// Creates a tenant (SERVICE_ADMIN only, SPEC §7). The SERVICE_ADMIN does not become the
/// tenant's ADMIN: it grants roles with `grantRole` or creates the tenant's first token with
/// `createApiToken`. Tenant roles get `FORBIDDEN`, whatever tenants they hold roles on.
pub async fn create_as_service_admin(
    db: &DatabaseConnection,
    viewer: &Viewer,
    new: &NewTenant,
    now: DateTime<Utc>,
) -> AppResult<tenant::Model> {
    viewer.require_service_admin()?;
    validate_new_tenant(new)?;
    validate_services(&new.enabled_services)?;
    let txn = crate::db::begin_write(db).await?;
    let tenant = create(&txn, new, now).await?;
    crate::service::audit::record(
        &txn,
        Some(tenant.id),
        Some(viewer.principal_id),
        crate::service::audit::action::TENANT_CREATED,
        format!("Tenant:{}", tenant.slug),
        json!({
            "slug": tenant.slug,
            "name": tenant.name,
            "industry": tenant.industry,
            "seatCount": tenant.seat_count,
            "activeUserCount": tenant.active_user_count,
            "enabledServices": tenant.enabled_services.0,
        }),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(tenant)
}

/// Service names: non-empty, at most 64 characters.
fn validate_services(services: &[String]) -> AppResult<()> {
    for s in services {
        crate::service::check_text("enabledServices", s, false)?;
    }
    if services.len() > 100 || services.iter().any(|s| s.trim().is_empty() || s.len() > 64) {
        return Err(AppError::bad_input(
            "enabledServices",
            "enabledServices must hold at most 100 names of 1 to 64 characters",
        ));
    }
    Ok(())
}

/// Changes to a tenant's settings; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct TenantUpdate {
    pub slug: String,
    pub name: Option<String>,
    pub industry: Option<String>,
    pub seat_count: Option<i64>,
    pub active_user_count: Option<i64>,
    pub enabled_services: Option<Vec<String>>,
    pub catalog_source: Option<CatalogSource>,
    pub risk_acceptance_requires_approval: Option<bool>,
    /// The full new list of reminder thresholds (days); `Some(vec![])` is refused.
    pub reminder_days: Option<Vec<i32>>,
}

/// Updates a tenant's settings (ADMIN). What applies follows at once (SPEC §1): enabling a
/// service (or switching the catalog source) adds a `TO_ADDRESS` action for each newly applicable
/// control; actions that stop applying keep their rows, status, notes, tags and history, which
/// count again when they apply again.
pub async fn update(
    db: &DatabaseConnection,
    viewer: &Viewer,
    change: &TenantUpdate,
    now: DateTime<Utc>,
) -> AppResult<tenant::Model> {
    let current = by_slug(db, viewer, &change.slug).await?;
    viewer.require(current.id, Role::Admin)?;
    let mut services: Vec<String> = Vec::new();
    for s in change
        .enabled_services
        .clone()
        .unwrap_or_else(|| current.enabled_services.0.clone())
    {
        let s = s.trim().to_string();
        if !services.contains(&s) {
            services.push(s);
        }
    }
    let next = NewTenant {
        slug: current.slug.clone(),
        name: change.name.clone().unwrap_or_else(|| current.name.clone()),
        industry: change
            .industry
            .clone()
            .unwrap_or_else(|| current.industry.clone()),
        seat_count: change.seat_count.unwrap_or(current.seat_count),
        active_user_count: change.active_user_count.unwrap_or(current.active_user_count),
        enabled_services: services,
    };
    validate_new_tenant(&next)?;
    validate_services(&next.enabled_services)?;

    let source = change.catalog_source.unwrap_or(current.catalog_source);
    let requires_approval = change
        .risk_acceptance_requires_approval
        .unwrap_or(current.risk_acceptance_requires_approval);
    let reminder_days = match &change.reminder_days {
        Some(days) => Some(entity::types::DayList(
            crate::domain::rules::reminder_thresholds(days)
                .map_err(|message| AppError::bad_input("reminderDays", message))?,
        )),
        None => current.reminder_days.clone(),
    };
    let txn = crate::db::begin_write(db).await?;
    let mut detail = serde_json::Map::new();
    let mut changed = |field: &str, from: serde_json::Value, to: serde_json::Value| {
        if from != to {
            detail.insert(field.to_string(), json!({ "from": from, "to": to }));
        }
    };
    let name = next.name.trim().to_string();
    let industry = next.industry.trim().to_lowercase();
    changed("name", json!(current.name), json!(name));
    changed("industry", json!(current.industry), json!(industry));
    changed("seatCount", json!(current.seat_count), json!(next.seat_count));
    changed(
        "activeUserCount",
        json!(current.active_user_count),
        json!(next.active_user_count),
    );
    changed(
        "enabledServices",
        json!(current.enabled_services.0),
        json!(next.enabled_services),
    );
    changed("catalogSource", json!(current.catalog_source), json!(source));
    changed(
        "riskAcceptanceRequiresApproval",
        json!(current.risk_acceptance_requires_approval),
        json!(requires_approval),
    );
    changed(
        "reminderDays",
        json!(current.reminder_days.as_ref().map(|d| &d.0)),
        json!(reminder_days.as_ref().map(|d| &d.0)),
    );
    let tenant_id = current.id;
    let mut active: tenant::ActiveModel = current.into();
    active.name = Set(name);
    active.industry = Set(industry);
    active.seat_count = Set(next.seat_count);
    active.active_user_count = Set(next.active_user_count);
    active.enabled_services = Set(StringList(next.enabled_services.clone()));
    active.catalog_source = Set(source);
    active.risk_acceptance_requires_approval = Set(requires_approval);
    active.reminder_days = Set(reminder_days);
    let updated = active.update(&txn).await?;
    controls::ensure_action_rows(&txn, &updated, controls::ORIGIN_APPLICABLE, now).await?;
    touch(&txn, tenant_id, now).await?;
    crate::service::audit::record(
        &txn,
        Some(tenant_id),
        Some(viewer.principal_id),
        crate::service::audit::action::TENANT_UPDATED,
        format!("Tenant:{}", change.slug),
        serde_json::Value::Object(detail),
        now,
    )
    .await?;
    let tenant = tenant::Entity::find_by_id(tenant_id)
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound("tenant"))?;
    txn.commit().await?;
    Ok(tenant)
}

/// A licence holding to set.
#[derive(Clone, Debug)]
pub struct LicenseHolding {
    pub tenant_slug: String,
    pub sku: String,
    pub seats_purchased: i64,
    pub seats_assigned: i64,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Sets (adds or replaces) a tenant's holding of a licence SKU (ADMIN).
pub async fn set_license(
    db: &DatabaseConnection,
    viewer: &Viewer,
    holding: &LicenseHolding,
    now: DateTime<Utc>,
) -> AppResult<(tenant::Model, tenant_license::Model)> {
    let tenant = by_slug(db, viewer, &holding.tenant_slug).await?;
    viewer.require(tenant.id, Role::Admin)?;
    if holding.seats_purchased < 0 {
        return Err(AppError::bad_input(
            "seatsPurchased",
            "seatsPurchased cannot be negative",
        ));
    }
    if holding.seats_assigned < 0 || holding.seats_assigned > holding.seats_purchased {
        return Err(AppError::bad_input(
            "seatsAssigned",
            "seatsAssigned must be between 0 and seatsPurchased",
        ));
    }
    let known = license::Entity::find_by_id(holding.sku.clone()).one(db).await?;
    if known.is_none() {
        return Err(AppError::bad_input(
            "sku",
            format!("unknown licence SKU {:?}", holding.sku),
        ));
    }
    let txn = crate::db::begin_write(db).await?;
    let existing = tenant_license::Entity::find()
        .filter(tenant_license::Column::TenantId.eq(tenant.id))
        .filter(tenant_license::Column::LicenseSku.eq(&holding.sku))
        .one(&txn)
        .await?;
    let row = match existing {
        Some(row) => {
            let mut active: tenant_license::ActiveModel = row.into();
            active.seats_purchased = Set(holding.seats_purchased);
            active.seats_assigned = Set(holding.seats_assigned);
            active.expires_at = Set(holding.expires_at);
            active.updated_at = Set(now);
            active.update(&txn).await?
        }
        None => {
            tenant_license::ActiveModel {
                tenant_id: Set(tenant.id),
                license_sku: Set(holding.sku.clone()),
                seats_purchased: Set(holding.seats_purchased),
                seats_assigned: Set(holding.seats_assigned),
                expires_at: Set(holding.expires_at),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await?
        }
    };
    // Licences decide which actions are licensed, so derived scores are stale now.
    touch(&txn, tenant.id, now).await?;
    crate::service::audit::record(
        &txn,
        Some(tenant.id),
        Some(viewer.principal_id),
        crate::service::audit::action::LICENSE_SET,
        format!("TenantLicense:{}", holding.sku),
        json!({
            "sku": holding.sku,
            "seatsPurchased": holding.seats_purchased,
            "seatsAssigned": holding.seats_assigned,
            "expiresAt": holding.expires_at,
        }),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok((tenant, row))
}

/// Removes a tenant's holding of a licence SKU (ADMIN); `NOT_FOUND` when it holds none.
pub async fn remove_license(
    db: &DatabaseConnection,
    viewer: &Viewer,
    tenant_slug: &str,
    sku: &str,
    now: DateTime<Utc>,
) -> AppResult<tenant::Model> {
    let tenant = by_slug(db, viewer, tenant_slug).await?;
    viewer.require(tenant.id, Role::Admin)?;
    let txn = crate::db::begin_write(db).await?;
    let deleted = tenant_license::Entity::delete_many()
        .filter(tenant_license::Column::TenantId.eq(tenant.id))
        .filter(tenant_license::Column::LicenseSku.eq(sku))
        .exec(&txn)
        .await?;
    if deleted.rows_affected == 0 {
        return Err(AppError::NotFound("licence"));
    }
    touch(&txn, tenant.id, now).await?;
    crate::service::audit::record(
        &txn,
        Some(tenant.id),
        Some(viewer.principal_id),
        crate::service::audit::action::LICENSE_REMOVED,
        format!("TenantLicense:{sku}"),
        json!({ "sku": sku }),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(tenant)
}

/// A tenant by slug for managing its grants and tokens: any tenant for a SERVICE_ADMIN; for
/// everybody else only a tenant it holds a role on (`NOT_FOUND` otherwise, like a missing one).
/// Whether the caller's role suffices is the caller's business.
pub async fn managed_by_slug<C: ConnectionTrait>(
    conn: &C,
    viewer: &Viewer,
    slug: &str,
) -> AppResult<tenant::Model> {
    let found = tenant::Entity::find()
        .filter(tenant::Column::Slug.eq(slug))
        .one(conn)
        .await?;
    match found {
        Some(t) if viewer.service_admin || viewer.role_on(t.id).is_some() => {
            crate::telemetry::record_tenant(&t.slug);
            Ok(t)
        }
        _ => Err(AppError::NotFound("tenant")),
    }
}

/// Creates a SERVICE_ADMIN principal and its first token (the `create-service-admin` CLI and the
/// demo); returns the principal and the token's secret, shown once.
pub async fn create_service_admin<C: ConnectionTrait>(
    conn: &C,
    name: &str,
    now: DateTime<Utc>,
) -> AppResult<(principal::Model, String)> {
    crate::service::check_text("name", name, false)?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(AppError::bad_input("name", "name must be 1 to 200 characters"));
    }
    let created = create_principal(conn, name, "USER", now).await?;
    let mut active: principal::ActiveModel = created.into();
    active.service_admin = Set(true);
    let created = active.update(conn).await?;
    let (secret, token) = issue_token(conn, created.id, "first service admin token", None, None, now).await?;
    crate::service::audit::record(
        conn,
        None,
        None,
        crate::service::audit::action::SERVICE_ADMIN_CREATED,
        format!("Principal:{}", created.id),
        json!({ "name": created.name, "token": token.token_prefix }),
        now,
    )
    .await?;
    Ok((created, secret))
}

/// The principal the `securescore` command line acts as: a SERVICE_ADMIN named `command line`
/// (kind `COMMAND_LINE`), created on first use and never given a token, so the audit log says
/// what was done from the command line and nobody can act as it over the API.
pub async fn command_line_principal(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> AppResult<principal::Model> {
    const KIND: &str = "COMMAND_LINE";
    let existing = principal::Entity::find()
        .filter(principal::Column::Kind.eq(KIND))
        .order_by_asc(principal::Column::Id)
        .one(db)
        .await?;
    if let Some(found) = existing {
        return Ok(found);
    }
    let txn = crate::db::begin_write(db).await?;
    let created = create_principal(&txn, "command line", KIND, now).await?;
    let mut active: principal::ActiveModel = created.into();
    active.service_admin = Set(true);
    let created = active.update(&txn).await?;
    txn.commit().await?;
    Ok(created)
}

/// Adds a fresh `TO_ADDRESS` action for `control` to every tenant that takes its controls from
/// the service catalog, has the control's service enabled and has no action for that control id
/// yet (a tenant's rows keep their status and history across catalog changes). Runs in the
/// caller's transaction and marks each changed tenant's state stale; returns how many tenants
/// got a row. Tenants on their own Graph catalog are never touched (SPEC §1a).
pub async fn add_actions_for_control<C: ConnectionTrait>(
    conn: &C,
    control: &control::Model,
    now: DateTime<Utc>,
) -> AppResult<usize> {
    use sea_orm::QuerySelect;
    if control.deprecated {
        return Ok(0);
    }
    let candidates: Vec<i64> = tenant::Entity::find()
        .filter(tenant::Column::CatalogSource.eq(CatalogSource::ServiceCatalog))
        .order_by_asc(tenant::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .filter(|t| t.enabled_services.0.contains(&control.service))
        .map(|t| t.id)
        .collect();
    if candidates.is_empty() {
        return Ok(0);
    }
    let having: std::collections::HashSet<i64> = improvement_action::Entity::find()
        .select_only()
        .column(improvement_action::Column::TenantId)
        .filter(improvement_action::Column::ControlId.eq(&control.id))
        .into_tuple::<i64>()
        .all(conn)
        .await?
        .into_iter()
        .collect();
    let missing: Vec<i64> = candidates.into_iter().filter(|id| !having.contains(id)).collect();
    // Chunks keep each statement well below the bind-parameter limits of SQLite and PostgreSQL.
    for chunk in missing.chunks(200) {
        let rows: Vec<improvement_action::ActiveModel> = chunk
            .iter()
            .map(|tenant_id| controls::new_action(*tenant_id, control, now))
            .collect();
        improvement_action::Entity::insert_many(rows).exec(conn).await?;
    }
    for tenant_id in &missing {
        touch(conn, *tenant_id, now).await?;
    }
    Ok(missing.len())
}

/// Every tenant, ordered by name (SERVICE_ADMIN only).
pub async fn all_for_service_admin(
    db: &DatabaseConnection,
    viewer: &Viewer,
) -> AppResult<Vec<tenant::Model>> {
    viewer.require_service_admin()?;
    Ok(tenant::Entity::find()
        .order_by_asc(tenant::Column::Name)
        .all(db)
        .await?)
}
