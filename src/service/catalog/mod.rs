//! The service catalog: controls and licence SKUs shared by every tenant (SPEC §1a), read by
//! anyone and changed only by SERVICE_ADMINs (mutations, `load-catalog`) and the shipped data
//! (`seed::catalog`). Every entry is validated the same way whatever its source: texts reduced
//! to plain text, links only as absolute `https:` URLs ([`ControlEntry::validated`]).

use crate::auth::Viewer;
use crate::domain::enums::{ActionType, Category, Level, Tier};
use crate::domain::points::{Points, STORAGE_SCALE};
use crate::domain::sanitize::{https_url, plain_text};
use crate::error::{AppError, AppResult};
use crate::service::access::tenants;
use chrono::{DateTime, Utc};
use entity::types::StringList;
use entity::{control, license, license_plan, tenant_license};
use rust_decimal::Decimal;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// A decimal number of points as stored (ten-thousandths, halves away from zero).
fn to_storage(d: Decimal) -> i64 {
    Points::from_decimal(d).to_storage()
}

/// Filter of the `controls` query.
#[derive(Debug, Default, Clone)]
pub struct ControlFilter {
    pub categories: Vec<String>,
    pub services: Vec<String>,
    pub search: Option<String>,
    pub include_deprecated: bool,
}

/// Controls matching the filter, ordered by id. Any authenticated caller may read the catalog.
pub async fn controls(
    db: &DatabaseConnection,
    _viewer: &Viewer,
    filter: &ControlFilter,
) -> AppResult<Vec<control::Model>> {
    let mut cond = Condition::all();
    if !filter.categories.is_empty() {
        cond = cond.add(control::Column::Category.is_in(filter.categories.clone()));
    }
    if !filter.services.is_empty() {
        cond = cond.add(control::Column::Service.is_in(filter.services.clone()));
    }
    if !filter.include_deprecated {
        cond = cond.add(control::Column::Deprecated.eq(false));
    }
    let mut rows = control::Entity::find()
        .filter(cond)
        .order_by_asc(control::Column::Id)
        .all(db)
        .await?;
    if let Some(search) = filter
        .search
        .as_deref()
        .map(str::to_lowercase)
        .filter(|s| !s.is_empty())
    {
        rows.retain(|c| c.id.to_lowercase().contains(&search) || c.title.to_lowercase().contains(&search));
    }
    Ok(rows)
}

/// The controls of the service catalog among `ids` (one query). Any caller reads the catalog.
pub async fn controls_by_ids(
    db: &DatabaseConnection,
    _viewer: &Viewer,
    ids: &[String],
) -> AppResult<Vec<control::Model>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(control::Entity::find()
        .filter(control::Column::Id.is_in(ids.iter().cloned()))
        .all(db)
        .await?)
}

/// A licence SKU with the plans it grants.
#[derive(Clone, Debug)]
pub struct LicenseWithPlans {
    pub license: license::Model,
    pub plans: Vec<String>,
}

/// All licence SKUs, ordered by SKU.
pub async fn licenses(db: &DatabaseConnection) -> AppResult<Vec<LicenseWithPlans>> {
    let skus = license::Entity::find()
        .order_by_asc(license::Column::Sku)
        .all(db)
        .await?;
    let mut plans: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in license_plan::Entity::find()
        .order_by_asc(license_plan::Column::Plan)
        .all(db)
        .await?
    {
        plans.entry(p.license_sku).or_default().push(p.plan);
    }
    Ok(skus
        .into_iter()
        .map(|license| {
            let plans = plans.remove(&license.sku).unwrap_or_default();
            LicenseWithPlans { license, plans }
        })
        .collect())
}

/// One control as a catalog file (`data/controls.json`, `load-catalog`) or a mutation gives it.
/// [`ControlEntry::validated`] turns it into what is stored.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlEntry {
    pub id: String,
    pub title: String,
    pub category: Category,
    pub service: String,
    pub max_points: Decimal,
    pub tier: Tier,
    pub user_impact: Level,
    pub implementation_cost: Level,
    #[serde(default)]
    pub threats: Vec<String>,
    pub action_type: ActionType,
    #[serde(default)]
    pub required_license_plans: Vec<String>,
    #[serde(default)]
    pub action_url: Option<String>,
    #[serde(default)]
    pub vendor_rank: Option<i32>,
    #[serde(default)]
    pub remediation: String,
    #[serde(default)]
    pub user_impact_description: String,
    #[serde(default)]
    pub prerequisites: String,
    #[serde(default)]
    pub learn_more_urls: Vec<String>,
    #[serde(default)]
    pub deprecated: bool,
}

/// One licence SKU as `data/licenses.json`, `load-catalog --licenses` or `upsertLicense` give it.
#[derive(Clone, Debug, Deserialize)]
pub struct LicenseEntry {
    pub sku: String,
    pub name: String,
    pub plans: Vec<String>,
}

/// Longest title, and longest of the other texts, in characters.
const MAX_TITLE_CHARS: usize = 500;
const MAX_TEXT_CHARS: usize = 20_000;
/// Most list entries (threats, links, plans) one control or SKU holds.
const MAX_LIST_LEN: usize = 50;

/// A short name (`service`, a plan, a threat): plain text of 1 to 64 characters.
fn short_name(raw: &str, field: &str) -> AppResult<String> {
    crate::service::check_text(field, raw, false)?;
    let text = plain_text(raw);
    if text.is_empty() || text.chars().count() > 64 || text.contains('\n') {
        return Err(AppError::bad_input(
            field,
            format!("{field} must be 1 to 64 characters on one line"),
        ));
    }
    Ok(text)
}

fn text(raw: &str, field: &str, max: usize) -> AppResult<String> {
    if !raw.is_empty() {
        crate::service::check_text(field, raw, true)?;
    }
    let text = plain_text(raw);
    if text.chars().count() > max {
        return Err(AppError::bad_input(
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
    Ok(text)
}

fn list<T>(items: &[String], field: &str, each: impl Fn(&str, &str) -> AppResult<T>) -> AppResult<Vec<T>> {
    if items.len() > MAX_LIST_LEN {
        return Err(AppError::bad_input(
            field,
            format!("{field} holds at most {MAX_LIST_LEN} entries"),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| each(item, &format!("{field}.{i}")))
        .collect()
}

fn https_link(raw: &str, field: &str) -> AppResult<String> {
    https_url(raw)
        .ok_or_else(|| AppError::bad_input(field, format!("{field} must be an absolute https: URL")))
}

/// A catalog id: 1 to 200 characters of letters, digits, `_`, `.` and `-`.
pub fn validate_id(id: &str, field: &str) -> AppResult<()> {
    let ok = (1..=200).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(AppError::bad_input(
            field,
            format!("{field} must be 1 to 200 characters of letters, digits, '_', '.' and '-'"),
        ))
    }
}

impl ControlEntry {
    /// The entry as stored: texts reduced to plain text, links only as absolute `https:` URLs,
    /// `maxPoints` in 0 < p ≤ 10; the first failure names its field (`actionUrl`,
    /// `learnMoreUrls.1`, …). Validating a validated entry returns it unchanged.
    pub fn validated(&self) -> AppResult<ControlEntry> {
        validate_id(&self.id, "id")?;
        let title = text(&self.title, "title", MAX_TITLE_CHARS)?;
        if title.is_empty() {
            return Err(AppError::bad_input("title", "title must not be empty"));
        }
        let max_points = self.max_points.normalize();
        if max_points <= Decimal::ZERO || max_points > Decimal::TEN {
            return Err(AppError::bad_input(
                "maxPoints",
                "maxPoints must be greater than 0 and at most 10",
            ));
        }
        if Decimal::new(to_storage(max_points), STORAGE_SCALE) != max_points {
            return Err(AppError::bad_input(
                "maxPoints",
                "maxPoints has at most 4 decimal places",
            ));
        }
        if self.vendor_rank.is_some_and(|r| r < 1) {
            return Err(AppError::bad_input("vendorRank", "vendorRank must be at least 1"));
        }
        let action_url = match self.action_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(url) => Some(https_link(url, "actionUrl")?),
        };
        Ok(ControlEntry {
            id: self.id.clone(),
            title,
            category: self.category,
            service: short_name(&self.service, "service")?,
            max_points,
            tier: self.tier,
            user_impact: self.user_impact,
            implementation_cost: self.implementation_cost,
            threats: list(&self.threats, "threats", short_name)?,
            action_type: self.action_type,
            required_license_plans: list(&self.required_license_plans, "requiredLicensePlans", short_name)?,
            action_url,
            vendor_rank: self.vendor_rank,
            remediation: text(&self.remediation, "remediation", MAX_TEXT_CHARS)?,
            user_impact_description: text(
                &self.user_impact_description,
                "userImpactDescription",
                MAX_TEXT_CHARS,
            )?,
            prerequisites: text(&self.prerequisites, "prerequisites", MAX_TEXT_CHARS)?,
            learn_more_urls: list(&self.learn_more_urls, "learnMoreUrls", https_link)?,
            deprecated: self.deprecated,
        })
    }

    /// The entry a stored control holds (its content, without origin and times).
    pub fn of(c: &control::Model) -> ControlEntry {
        ControlEntry {
            id: c.id.clone(),
            title: c.title.clone(),
            category: c.category,
            service: c.service.clone(),
            max_points: Decimal::new(c.max_points, STORAGE_SCALE).normalize(),
            tier: c.tier,
            user_impact: c.user_impact,
            implementation_cost: c.implementation_cost,
            threats: c.threats.0.clone(),
            action_type: c.action_type,
            required_license_plans: c.required_license_plans.0.clone(),
            action_url: c.action_url.clone(),
            vendor_rank: c.vendor_rank,
            remediation: c.remediation.clone(),
            user_impact_description: c.user_impact_description.clone(),
            prerequisites: c.prerequisites.clone(),
            learn_more_urls: c.learn_more_urls.0.clone(),
            deprecated: c.deprecated,
        }
    }

    /// The content as one canonical JSON value (fixed field order, points in storage units).
    fn canonical(&self) -> serde_json::Value {
        serde_json::json!([
            self.id,
            self.title,
            self.category.as_str(),
            self.service,
            to_storage(self.max_points),
            self.tier.as_str(),
            self.user_impact.as_str(),
            self.implementation_cost.as_str(),
            self.threats,
            self.action_type.as_str(),
            self.required_license_plans,
            self.action_url,
            self.vendor_rank,
            self.remediation,
            self.user_impact_description,
            self.prerequisites,
            self.learn_more_urls,
            self.deprecated,
        ])
    }

    /// Whether two entries hold the same content.
    pub fn same_content(&self, other: &ControlEntry) -> bool {
        self.canonical() == other.canonical()
    }

    /// SHA-256 (hex) of the content: what `control.shipped_digest` records of a shipped entry.
    pub fn digest(&self) -> String {
        let digest = Sha256::digest(self.canonical().to_string().as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Names of the fields (as the API spells them) in which `other` differs from `self`.
    pub fn changed_fields(&self, other: &ControlEntry) -> Vec<&'static str> {
        const NAMES: [&str; 18] = [
            "id",
            "title",
            "category",
            "service",
            "maxPoints",
            "tier",
            "userImpact",
            "implementationCost",
            "threats",
            "actionType",
            "requiredLicensePlans",
            "actionUrl",
            "vendorRank",
            "remediation",
            "userImpactDescription",
            "prerequisites",
            "learnMoreUrls",
            "deprecated",
        ];
        let (a, b) = (self.canonical(), other.canonical());
        NAMES
            .iter()
            .enumerate()
            .filter(|(i, _)| a[*i] != b[*i])
            .map(|(_, name)| *name)
            .collect()
    }

    /// A new row holding this (validated) entry.
    pub fn new_row(
        &self,
        origin: &str,
        shipped_digest: Option<String>,
        now: DateTime<Utc>,
    ) -> control::Model {
        control::Model {
            id: self.id.clone(),
            title: self.title.clone(),
            category: self.category,
            service: self.service.clone(),
            max_points: to_storage(self.max_points),
            tier: self.tier,
            user_impact: self.user_impact,
            implementation_cost: self.implementation_cost,
            threats: StringList(self.threats.clone()),
            action_type: self.action_type,
            remediation: self.remediation.clone(),
            user_impact_description: self.user_impact_description.clone(),
            prerequisites: self.prerequisites.clone(),
            action_url: self.action_url.clone(),
            learn_more_urls: StringList(self.learn_more_urls.clone()),
            required_license_plans: StringList(self.required_license_plans.clone()),
            vendor_rank: self.vendor_rank,
            deprecated: self.deprecated,
            origin: origin.to_string(),
            shipped_digest,
            created_at: now,
            updated_at: now,
        }
    }

    /// Writes this (validated) entry's content over an existing row, keeping its id, origin,
    /// digest and creation time.
    pub fn apply_to(&self, row: &control::Model, now: DateTime<Utc>) -> control::ActiveModel {
        let fresh = self.new_row(&row.origin, row.shipped_digest.clone(), now);
        let mut am: control::ActiveModel = row.clone().into();
        am.title = Set(fresh.title);
        am.category = Set(fresh.category);
        am.service = Set(fresh.service);
        am.max_points = Set(fresh.max_points);
        am.tier = Set(fresh.tier);
        am.user_impact = Set(fresh.user_impact);
        am.implementation_cost = Set(fresh.implementation_cost);
        am.threats = Set(fresh.threats);
        am.action_type = Set(fresh.action_type);
        am.remediation = Set(fresh.remediation);
        am.user_impact_description = Set(fresh.user_impact_description);
        am.prerequisites = Set(fresh.prerequisites);
        am.action_url = Set(fresh.action_url);
        am.learn_more_urls = Set(fresh.learn_more_urls);
        am.required_license_plans = Set(fresh.required_license_plans);
        am.vendor_rank = Set(fresh.vendor_rank);
        am.deprecated = Set(fresh.deprecated);
        am.updated_at = Set(now);
        am
    }
}

impl LicenseEntry {
    /// The entry as stored: SKU like a control id, the name as plain text of 1 to 200 characters,
    /// plans as short names without duplicates (sorted).
    pub fn validated(&self) -> AppResult<LicenseEntry> {
        validate_id(&self.sku, "sku")?;
        let name = text(&self.name, "name", 200)?;
        if name.is_empty() {
            return Err(AppError::bad_input("name", "name must not be empty"));
        }
        let mut plans = list(&self.plans, "plans", short_name)?;
        plans.sort();
        plans.dedup();
        Ok(LicenseEntry {
            sku: self.sku.clone(),
            name,
            plans,
        })
    }
}

/// What a catalog write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
}

/// Inserts a control, or overwrites an existing one's content, in the caller's transaction;
/// a new or newly applicable control gets actions in the tenants that take it (see
/// [`tenants::add_actions_for_control`]). Returns what happened, the row and the number of
/// tenants that got an action. `entry` must be validated.
pub async fn upsert_control<C: ConnectionTrait>(
    conn: &C,
    entry: &ControlEntry,
    now: DateTime<Utc>,
) -> AppResult<(Outcome, control::Model, usize)> {
    let existing = control::Entity::find_by_id(entry.id.clone()).one(conn).await?;
    match existing {
        None => {
            let row = control::ActiveModel::from(entry.new_row(ADMIN_ORIGIN, None, now))
                .insert(conn)
                .await?;
            let tenants = tenants::add_actions_for_control(conn, &row, now).await?;
            Ok((Outcome::Created, row, tenants))
        }
        Some(old) => {
            let before = ControlEntry::of(&old);
            if before.same_content(entry) {
                return Ok((Outcome::Unchanged, old, 0));
            }
            let row = entry.apply_to(&old, now).update(conn).await?;
            let newly_applicable = !row.deprecated && (old.deprecated || old.service != row.service);
            let tenants = if newly_applicable {
                tenants::add_actions_for_control(conn, &row, now).await?
            } else {
                0
            };
            Ok((Outcome::Updated, row, tenants))
        }
    }
}

/// Inserts a licence SKU or replaces its name and plans, in the caller's transaction. A change of
/// plans changes which actions are licensed, so every tenant holding the SKU is marked stale.
/// `entry` must be validated.
pub async fn upsert_license<C: ConnectionTrait>(
    conn: &C,
    entry: &LicenseEntry,
    now: DateTime<Utc>,
) -> AppResult<(Outcome, LicenseWithPlans)> {
    let existing = license::Entity::find_by_id(entry.sku.clone()).one(conn).await?;
    let mut plans: Vec<String> = license_plan::Entity::find()
        .filter(license_plan::Column::LicenseSku.eq(&entry.sku))
        .all(conn)
        .await?
        .into_iter()
        .map(|p| p.plan)
        .collect();
    plans.sort();
    let outcome = match &existing {
        None => Outcome::Created,
        Some(l) if l.name == entry.name && plans == entry.plans => Outcome::Unchanged,
        Some(_) => Outcome::Updated,
    };
    let license = match existing {
        None => {
            license::ActiveModel {
                sku: Set(entry.sku.clone()),
                name: Set(entry.name.clone()),
                created_at: Set(now),
            }
            .insert(conn)
            .await?
        }
        Some(l) if l.name != entry.name => {
            let mut am: license::ActiveModel = l.into();
            am.name = Set(entry.name.clone());
            am.update(conn).await?
        }
        Some(l) => l,
    };
    if plans != entry.plans {
        license_plan::Entity::delete_many()
            .filter(license_plan::Column::LicenseSku.eq(&entry.sku))
            .exec(conn)
            .await?;
        let rows: Vec<license_plan::ActiveModel> = entry
            .plans
            .iter()
            .map(|plan| license_plan::ActiveModel {
                license_sku: Set(entry.sku.clone()),
                plan: Set(plan.clone()),
            })
            .collect();
        if !rows.is_empty() {
            license_plan::Entity::insert_many(rows).exec(conn).await?;
        }
        let holders: Vec<i64> = tenant_license::Entity::find()
            .filter(tenant_license::Column::LicenseSku.eq(&entry.sku))
            .all(conn)
            .await?
            .into_iter()
            .map(|h| h.tenant_id)
            .collect();
        for tenant_id in holders {
            tenants::touch(conn, tenant_id, now).await?;
        }
    }
    Ok((
        outcome,
        LicenseWithPlans {
            license,
            plans: entry.plans.clone(),
        },
    ))
}

/// `origin` of controls a SERVICE_ADMIN created (mutation or `load-catalog`); shipped ones are
/// `CATALOG`.
pub const ADMIN_ORIGIN: &str = "ADMIN";

/// Creates a service-catalog control (SERVICE_ADMIN). An existing id is `BAD_USER_INPUT`.
pub async fn create_control(
    db: &DatabaseConnection,
    viewer: &Viewer,
    entry: &ControlEntry,
    now: DateTime<Utc>,
) -> AppResult<control::Model> {
    viewer.require_service_admin()?;
    let entry = entry.validated()?;
    let txn = crate::db::begin_write(db).await?;
    if control::Entity::find_by_id(entry.id.clone())
        .one(&txn)
        .await?
        .is_some()
    {
        return Err(AppError::bad_input(
            "id",
            format!("a control with id {:?} already exists", entry.id),
        ));
    }
    let (_, row, tenants) = upsert_control(&txn, &entry, now).await?;
    crate::service::audit::record(
        &txn,
        None,
        Some(viewer.principal_id),
        crate::service::audit::action::CONTROL_CREATED,
        format!("Control:{}", row.id),
        serde_json::json!({ "control": entry.canonical(), "tenantsWithNewActions": tenants }),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(row)
}

/// Changes to a control; `None` leaves a field as it is (`Some(None)` clears an optional one).
#[derive(Clone, Debug, Default)]
pub struct ControlPatch {
    pub id: String,
    pub title: Option<String>,
    pub category: Option<Category>,
    pub service: Option<String>,
    pub max_points: Option<Decimal>,
    pub tier: Option<Tier>,
    pub user_impact: Option<Level>,
    pub implementation_cost: Option<Level>,
    pub threats: Option<Vec<String>>,
    pub action_type: Option<ActionType>,
    pub required_license_plans: Option<Vec<String>>,
    pub action_url: Option<Option<String>>,
    pub vendor_rank: Option<Option<i32>>,
    pub remediation: Option<String>,
    pub user_impact_description: Option<String>,
    pub prerequisites: Option<String>,
    pub learn_more_urls: Option<Vec<String>>,
    pub deprecated: Option<bool>,
}

/// Updates a service-catalog control (SERVICE_ADMIN); `NOT_FOUND` for an unknown id. A patch that
/// changes nothing writes nothing. A control whose service changed, or that is no longer
/// deprecated, gets actions in the tenants that take it and have none for it.
pub async fn update_control(
    db: &DatabaseConnection,
    viewer: &Viewer,
    patch: &ControlPatch,
    now: DateTime<Utc>,
) -> AppResult<control::Model> {
    viewer.require_service_admin()?;
    let txn = crate::db::begin_write(db).await?;
    let Some(old) = control::Entity::find_by_id(patch.id.clone()).one(&txn).await? else {
        return Err(AppError::NotFound("control"));
    };
    let before = ControlEntry::of(&old);
    let mut next = before.clone();
    macro_rules! take {
        ($($field:ident),*) => {
            $(if let Some(v) = &patch.$field { next.$field = v.clone(); })*
        };
    }
    take!(
        title,
        category,
        service,
        max_points,
        tier,
        user_impact,
        implementation_cost,
        threats,
        action_type,
        required_license_plans,
        action_url,
        vendor_rank,
        remediation,
        user_impact_description,
        prerequisites,
        learn_more_urls,
        deprecated
    );
    let next = next.validated()?;
    let changed = before.changed_fields(&next);
    let (_, row, tenants) = upsert_control(&txn, &next, now).await?;
    if !changed.is_empty() {
        crate::service::audit::record(
            &txn,
            None,
            Some(viewer.principal_id),
            crate::service::audit::action::CONTROL_UPDATED,
            format!("Control:{}", row.id),
            serde_json::json!({ "changed": changed, "tenantsWithNewActions": tenants }),
            now,
        )
        .await?;
    }
    txn.commit().await?;
    Ok(row)
}

/// Creates a licence SKU or replaces its name and plans (SERVICE_ADMIN).
pub async fn upsert_license_sku(
    db: &DatabaseConnection,
    viewer: &Viewer,
    entry: &LicenseEntry,
    now: DateTime<Utc>,
) -> AppResult<LicenseWithPlans> {
    viewer.require_service_admin()?;
    let entry = entry.validated()?;
    let txn = crate::db::begin_write(db).await?;
    let (outcome, license) = upsert_license(&txn, &entry, now).await?;
    if outcome != Outcome::Unchanged {
        crate::service::audit::record(
            &txn,
            None,
            Some(viewer.principal_id),
            crate::service::audit::action::LICENSE_SKU_UPSERTED,
            format!("License:{}", entry.sku),
            serde_json::json!({ "name": entry.name, "plans": entry.plans, "created": outcome == Outcome::Created }),
            now,
        )
        .await?;
    }
    txn.commit().await?;
    Ok(license)
}

/// What `load-catalog` changed.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    pub controls_created: Vec<String>,
    pub controls_updated: Vec<String>,
    pub controls_unchanged: usize,
    pub licenses_created: Vec<String>,
    pub licenses_updated: Vec<String>,
    pub licenses_unchanged: usize,
    /// Action rows added (one per tenant and new or newly applicable control).
    pub actions_added: usize,
}

/// Parses and validates a catalog file's controls (the `data/controls.json` format); errors name
/// the entry (`3 (AdminMFAV2).actionUrl: …`).
pub fn parse_controls(json: &str) -> AppResult<Vec<ControlEntry>> {
    let raw: Vec<ControlEntry> = serde_json::from_str(json)
        .map_err(|e| AppError::bad_input("controls", format!("not a list of controls: {e}")))?;
    let mut seen = std::collections::HashSet::new();
    raw.iter()
        .enumerate()
        .map(|(i, c)| {
            if !seen.insert(c.id.clone()) {
                return Err(AppError::bad_input(
                    &format!("{i}.id"),
                    format!("entry {i}: control id {:?} appears twice", c.id),
                ));
            }
            c.validated().map_err(|e| in_entry(e, i, &c.id))
        })
        .collect()
}

/// Parses and validates a licence file (the `data/licenses.json` format).
pub fn parse_licenses(json: &str) -> AppResult<Vec<LicenseEntry>> {
    let raw: Vec<LicenseEntry> = serde_json::from_str(json)
        .map_err(|e| AppError::bad_input("licenses", format!("not a list of licences: {e}")))?;
    raw.iter()
        .enumerate()
        .map(|(i, l)| l.validated().map_err(|e| in_entry(e, i, &l.sku)))
        .collect()
}

/// Prefixes a validation error with the file entry it is about.
fn in_entry(err: AppError, index: usize, id: &str) -> AppError {
    match err {
        AppError::BadUserInput { field, message } => AppError::BadUserInput {
            field: std::iter::once(index.to_string()).chain(field).collect(),
            message: format!("entry {index} ({id}): {message}"),
        },
        other => other,
    }
}

/// Upserts validated controls and licences in one transaction as the system (`load-catalog`:
/// whoever runs the CLI against the database is trusted like a SERVICE_ADMIN), with one audit row.
pub async fn load_entries(
    db: &DatabaseConnection,
    controls: &[ControlEntry],
    licenses: &[LicenseEntry],
    now: DateTime<Utc>,
) -> AppResult<LoadReport> {
    let txn = crate::db::begin_write(db).await?;
    let mut report = LoadReport::default();
    for l in licenses {
        match upsert_license(&txn, l, now).await?.0 {
            Outcome::Created => report.licenses_created.push(l.sku.clone()),
            Outcome::Updated => report.licenses_updated.push(l.sku.clone()),
            Outcome::Unchanged => report.licenses_unchanged += 1,
        }
    }
    for c in controls {
        let (outcome, _, tenants) = upsert_control(&txn, c, now).await?;
        report.actions_added += tenants;
        match outcome {
            Outcome::Created => report.controls_created.push(c.id.clone()),
            Outcome::Updated => report.controls_updated.push(c.id.clone()),
            Outcome::Unchanged => report.controls_unchanged += 1,
        }
    }
    let changed = !(report.controls_created.is_empty()
        && report.controls_updated.is_empty()
        && report.licenses_created.is_empty()
        && report.licenses_updated.is_empty());
    if changed {
        crate::service::audit::record(
            &txn,
            None,
            None,
            crate::service::audit::action::CATALOG_LOADED,
            "Catalog".to_string(),
            serde_json::json!({
                "controlsCreated": report.controls_created,
                "controlsUpdated": report.controls_updated,
                "licensesCreated": report.licenses_created,
                "licensesUpdated": report.licenses_updated,
                "actionsAdded": report.actions_added,
            }),
            now,
        )
        .await?;
    }
    txn.commit().await?;
    Ok(report)
}
