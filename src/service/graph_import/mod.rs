//! Import of Microsoft Graph Secure Score exports (SPEC §9): the body of
//! `GET /security/secureScores` (daily records) and the pages of
//! `GET /security/secureScoreControlProfiles`.
//!
//! Two halves. [`parse`] turns the JSON documents into typed records without touching the
//! database; it is lenient about what real payloads do (numbers as strings, PascalCase seat-size
//! keys, unknown keys, enum spellings) and strict about shape, refusing with a `BAD_USER_INPUT`
//! that names the field. [`import`] then writes everything in one write transaction through the
//! workflow's version-guarded write path, so every change to an action has its event, and it
//! compares before writing, so importing the same documents twice changes nothing.
//!
//! What the vendor reported is kept as reported (snapshot `vendor_current_score` /
//! `vendor_max_score`); where it disagrees with our recomputation, or data is missing, the report
//! says so rather than hiding it.

use crate::auth::Viewer;
use crate::domain::enums::{ActionType, Category, EventKind, Level, Role, Status, Tier};
use crate::domain::round2;
use crate::domain::rules::status_after_progress;
use crate::domain::scoring::{from_storage, to_storage};
use crate::error::{AppError, AppResult};
use crate::service::events::{self, Actor, NewEvent};
use crate::service::state::{self, TenantState};
use crate::service::workflow::{self, ProgressInput, Resolved};
use crate::service::{access, tenants};
use chrono::{DateTime, NaiveDate, Utc};
use entity::types::{StatusCounts, StringList};
use entity::{action_event, control, improvement_action, note, score_snapshot, tenant, vendor_benchmark};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Set,
};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Snapshot `source` of a day written by an import (the snapshot job leaves these alone).
pub const SOURCE_IMPORTED: &str = "IMPORTED";
/// Audit action of an import that changed something.
const AUDIT_IMPORTED: &str = "GRAPH_IMPORTED";

mod parse;
pub use parse::*;

/// sync), which the operator of the server authorised by running it.
#[derive(Clone, Copy, Debug)]
pub enum Importer<'a> {
    Viewer(&'a Viewer),
    System,
}

impl Importer<'_> {
    fn actor(&self) -> Actor {
        match self {
            Importer::Viewer(v) => Actor::of(v),
            Importer::System => Actor::System,
        }
    }
    fn principal_id(&self) -> Option<i64> {
        match self {
            Importer::Viewer(v) => Some(v.principal_id),
            Importer::System => None,
        }
    }
}

/// A control present in the scores but missing from the profiles.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportGap {
    pub control_id: String,
    /// What was done about it.
    pub message: String,
    /// Max points used for it (derived or from the existing catalog), when known.
    pub max_points: Option<Decimal>,
    pub category: Option<Category>,
}

/// One day on which the vendor's totals differ from ours.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreDiscrepancy {
    pub day: NaiveDate,
    pub vendor_current_score: Decimal,
    pub vendor_max_score: Decimal,
    pub recomputed_current: Decimal,
    pub recomputed_max: Decimal,
    /// Σ of the day's `controlScores[].score` as reported.
    pub control_scores_sum: Decimal,
}

/// What an import did (or, in a dry run, would do).
#[derive(Clone, Debug, Default)]
pub struct ImportReport {
    pub tenant: Option<tenant::Model>,
    pub dry_run: bool,
    pub records: usize,
    pub profiles: usize,
    pub controls_created: usize,
    pub controls_updated: usize,
    pub actions_created: usize,
    pub actions_updated: usize,
    pub notes_added: usize,
    pub snapshots_written: usize,
    pub benchmarks_written: usize,
    pub events_written: usize,
    pub tenant_updated: bool,
    pub gaps: Vec<ImportGap>,
    pub discrepancies: Vec<ScoreDiscrepancy>,
    pub warnings: Vec<String>,
}

impl ImportReport {
    /// Whether anything was (or would be) written.
    pub fn changed(&self) -> bool {
        self.controls_created
            + self.controls_updated
            + self.actions_created
            + self.actions_updated
            + self.notes_added
            + self.snapshots_written
            + self.benchmarks_written
            + self.events_written
            > 0
            || self.tenant_updated
    }
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/// Kinds of event that record a change of status made in this service (not by an import).
const LOCAL_STATUS_EVENTS: [EventKind; 4] = [
    EventKind::StatusChanged,
    EventKind::Undone,
    EventKind::ExceptionRecorded,
    EventKind::Expired,
];

/// Imports the documents into a tenant. Everything happens in one write transaction; a dry run
/// rolls it back and reports what would have changed.
pub async fn import(
    db: &DatabaseConnection,
    importer: Importer<'_>,
    tenant_slug: &str,
    docs: &ImportDocuments,
    max_bytes: usize,
    dry_run: bool,
    now: DateTime<Utc>,
) -> AppResult<ImportReport> {
    // Authorise before looking at the documents, so nobody learns anything from parse errors of
    // a tenant they cannot import into.
    if let Importer::Viewer(v) = importer {
        let t = tenants::by_slug(db, v, tenant_slug).await?;
        v.require(t.id, Role::Admin)?;
    }
    check_size(docs, max_bytes)?;
    let parsed = parse(docs)?;
    let txn = crate::db::begin_write(db).await?;
    let tenant = tenant::Entity::find()
        .filter(tenant::Column::Slug.eq(tenant_slug))
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound("tenant"))?;
    let mut report = ImportReport {
        dry_run,
        records: parsed.records.len(),
        profiles: parsed.profiles.len(),
        ..Default::default()
    };
    let actor = importer.actor();
    let azure_id = check_azure_tenant(&txn, &tenant, &parsed).await?;

    let changed_controls = upsert_profiles(&txn, &parsed.profiles, &mut report, now).await?;
    let newest = parsed
        .records
        .last()
        .ok_or_else(|| bad("secureScores", "secureScores holds no daily records"))?;
    let mut changed_controls_all = changed_controls;
    changed_controls_all.extend(derive_missing(&txn, &parsed, newest, &mut report, now).await?);

    let tenant = update_tenant(&txn, tenant, newest, azure_id, &mut report).await?;
    ensure_actions(&txn, &actor, &tenant, newest, &mut report, now).await?;
    apply_progress(&txn, &actor, &tenant, newest, &mut report, now).await?;
    apply_states(
        &txn,
        &actor,
        &importer,
        &tenant,
        &parsed.profiles,
        &mut report,
        now,
    )
    .await?;

    let live = state::load(&txn, tenant.clone(), now).await?;
    write_snapshots(&txn, &live, &parsed.records, &mut report, now).await?;
    write_benchmarks(&txn, tenant.id, &parsed.records, &mut report, now).await?;

    if report.changed() {
        tenants::touch(&txn, tenant.id, now).await?;
        touch_other_tenants(&txn, tenant.id, &changed_controls_all, now).await?;
        access::audit(
            &txn,
            Some(tenant.id),
            importer.principal_id(),
            AUDIT_IMPORTED,
            format!("Tenant:{}", tenant.slug),
            json!({
                "records": report.records,
                "profiles": report.profiles,
                "controlsCreated": report.controls_created,
                "controlsUpdated": report.controls_updated,
                "actionsCreated": report.actions_created,
                "actionsUpdated": report.actions_updated,
                "notesAdded": report.notes_added,
                "snapshotsWritten": report.snapshots_written,
                "benchmarksWritten": report.benchmarks_written,
                "gaps": report.gaps.len(),
                "discrepancies": report.discrepancies.len(),
            }),
            now,
        )
        .await?;
    }
    let tenant = tenant::Entity::find_by_id(tenant.id)
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound("tenant"))?;
    report.tenant = Some(tenant);
    if dry_run {
        txn.rollback().await?;
    } else {
        txn.commit().await?;
    }
    Ok(report)
}

/// The Azure tenant id the documents belong to. All records and profiles must agree, it must
/// match the tenant's when that is set, and no other tenant may hold it.
async fn check_azure_tenant<C: ConnectionTrait>(
    conn: &C,
    tenant: &tenant::Model,
    parsed: &Parsed,
) -> AppResult<Option<String>> {
    let mut seen: Option<(String, String)> = None;
    let ids = parsed
        .records
        .iter()
        .filter_map(|r| {
            r.azure_tenant_id
                .clone()
                .map(|id| (id, format!("secureScores.value.{}.azureTenantId", r.index)))
        })
        .chain(parsed.profiles.iter().filter_map(|p| {
            p.azure_tenant_id
                .clone()
                .map(|id| (id, format!("{}.azureTenantId", p.path)))
        }));
    for (id, path) in ids {
        if let Some(expected) = &tenant.azure_tenant_id
            && !expected.eq_ignore_ascii_case(&id)
        {
            return Err(bad(
                &path,
                format!(
                    "{path} is {id}, but tenant {} is linked to Azure tenant {expected}; refusing data of another tenant",
                    tenant.slug
                ),
            ));
        }
        match &seen {
            Some((first, first_path)) if !first.eq_ignore_ascii_case(&id) => {
                return Err(bad(
                    &path,
                    format!("{path} is {id}, but {first_path} is {first}: the documents mix tenants"),
                ));
            }
            Some(_) => {}
            None => seen = Some((id, path)),
        }
    }
    let Some((id, path)) = seen else {
        return Ok(None);
    };
    if tenant.azure_tenant_id.is_none() {
        let taken = tenant::Entity::find()
            .filter(tenant::Column::AzureTenantId.eq(id.clone()))
            .filter(tenant::Column::Id.ne(tenant.id))
            .one(conn)
            .await?;
        if taken.is_some() {
            return Err(bad(
                &path,
                format!("Azure tenant {id} is already linked to another tenant"),
            ));
        }
    }
    Ok(Some(id))
}

/// The control a profile describes, merged over what we hold (fields the profile lacks keep
/// their current values; a new control starts from neutral defaults).
fn control_from_profile(p: &Profile, old: Option<&control::Model>, now: DateTime<Utc>) -> control::Model {
    let mut c = old.cloned().unwrap_or_else(|| control::Model {
        id: p.id.clone(),
        title: p.id.clone(),
        category: Category::Infrastructure.as_str().to_string(),
        service: "Unknown".to_string(),
        max_points: 0,
        tier: Tier::DefenseInDepth.as_str().to_string(),
        user_impact: Level::Unknown.as_str().to_string(),
        implementation_cost: Level::Unknown.as_str().to_string(),
        threats: StringList::default(),
        action_type: ActionType::Config.as_str().to_string(),
        remediation: String::new(),
        user_impact_description: String::new(),
        prerequisites: String::new(),
        action_url: None,
        learn_more_urls: StringList::default(),
        required_license_plans: StringList::default(),
        vendor_rank: None,
        deprecated: false,
        origin: "IMPORT".to_string(),
        shipped_digest: None,
        created_at: now,
        updated_at: now,
    });
    if let Some(t) = p.title.as_ref().filter(|t| !t.trim().is_empty()) {
        c.title = t.clone();
    }
    if let Some(cat) = p.category.as_deref().and_then(Category::normalize) {
        c.category = cat.as_str().to_string();
    }
    if let Some(s) = &p.service {
        c.service = s.trim().to_string();
    }
    if let Some(m) = p.max_score.filter(|m| *m >= Decimal::ZERO) {
        c.max_points = to_storage(m);
    }
    if let Some(t) = p.tier.as_deref().and_then(Tier::normalize) {
        c.tier = t.as_str().to_string();
    }
    if let Some(l) = &p.user_impact {
        c.user_impact = Level::normalize(l).as_str().to_string();
    }
    if let Some(l) = &p.implementation_cost {
        c.implementation_cost = Level::normalize(l).as_str().to_string();
    }
    if let Some(t) = &p.threats {
        c.threats = StringList(t.clone());
    }
    if let Some(a) = p.action_type.as_deref().and_then(action_type) {
        c.action_type = a.as_str().to_string();
    }
    // Graph sends HTML here; it is kept as given and escaped by whoever renders it.
    if let Some(r) = &p.remediation {
        c.remediation = r.clone();
    }
    if let Some(r) = &p.remediation_impact {
        c.user_impact_description = r.clone();
    }
    if p.action_url.is_some() {
        c.action_url = p.action_url.clone();
    }
    if p.rank.is_some() {
        c.vendor_rank = p.rank;
    }
    if let Some(d) = p.deprecated {
        c.deprecated = d;
    }
    c
}

fn action_type(s: &str) -> Option<ActionType> {
    match s.trim().to_ascii_lowercase().as_str() {
        "config" | "configuration" => Some(ActionType::Config),
        "review" => Some(ActionType::Review),
        "behavior" | "behaviour" => Some(ActionType::Behavior),
        _ => None,
    }
}

/// Whether two controls hold the same content (timestamps and origin aside).
fn same_content(a: &control::Model, b: &control::Model) -> bool {
    let strip = |c: &control::Model| control::Model {
        created_at: DateTime::<Utc>::MIN_UTC,
        updated_at: DateTime::<Utc>::MIN_UTC,
        origin: String::new(),
        ..c.clone()
    };
    strip(a) == strip(b)
}

async fn write_control<C: ConnectionTrait>(
    conn: &C,
    wanted: control::Model,
    old: Option<&control::Model>,
    report: &mut ImportReport,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    match old {
        None => {
            control::ActiveModel::from(wanted).insert(conn).await?;
            report.controls_created += 1;
            Ok(true)
        }
        Some(old) if same_content(old, &wanted) => Ok(false),
        Some(_) => {
            let mut am = control::ActiveModel::from(wanted).reset_all();
            am.updated_at = Set(now);
            am.created_at = sea_orm::ActiveValue::NotSet;
            am.origin = sea_orm::ActiveValue::NotSet;
            am.update(conn).await?;
            report.controls_updated += 1;
            Ok(true)
        }
    }
}

/// Upserts the profiles as catalog controls; returns the ids that changed.
async fn upsert_profiles<C: ConnectionTrait>(
    conn: &C,
    profiles: &[Profile],
    report: &mut ImportReport,
    now: DateTime<Utc>,
) -> AppResult<Vec<String>> {
    if profiles.is_empty() {
        return Ok(Vec::new());
    }
    let existing: HashMap<String, control::Model> = control::Entity::find()
        .filter(control::Column::Id.is_in(profiles.iter().map(|p| p.id.clone())))
        .all(conn)
        .await?
        .into_iter()
        .map(|c| (c.id.clone(), c))
        .collect();
    let mut changed = Vec::new();
    for p in profiles {
        let old = existing.get(&p.id);
        if p.category
            .as_deref()
            .is_some_and(|c| Category::normalize(c).is_none())
        {
            report.warnings.push(format!(
                "control {}: unknown controlCategory {:?} ignored",
                p.id,
                p.category.as_deref().unwrap_or_default()
            ));
        }
        let wanted = control_from_profile(p, old, now);
        if write_control(conn, wanted, old, report, now).await? {
            changed.push(p.id.clone());
        }
    }
    Ok(changed)
}

/// Controls in the newest record's scores that no profile describes: catalog entries are used as
/// they are; unknown ones are created from what the scores tell. Every one is reported.
async fn derive_missing<C: ConnectionTrait>(
    conn: &C,
    parsed: &Parsed,
    newest: &ScoreRecord,
    report: &mut ImportReport,
    now: DateTime<Utc>,
) -> AppResult<Vec<String>> {
    let profiled: BTreeSet<&str> = parsed.profiles.iter().map(|p| p.id.as_str()).collect();
    let missing: Vec<&ControlScore> = newest
        .controls
        .iter()
        .filter(|c| !profiled.contains(c.control_id.as_str()))
        .collect();
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    let existing: HashMap<String, control::Model> = control::Entity::find()
        .filter(control::Column::Id.is_in(missing.iter().map(|c| c.control_id.clone())))
        .all(conn)
        .await?
        .into_iter()
        .map(|c| (c.id.clone(), c))
        .collect();
    let mut changed = Vec::new();
    for c in missing {
        let category = c.category.as_deref().and_then(Category::normalize);
        if let Some(old) = existing.get(&c.control_id) {
            report.gaps.push(ImportGap {
                control_id: c.control_id.clone(),
                message: "in controlScores but not in controlProfiles; the existing catalog entry is used"
                    .into(),
                max_points: Some(from_storage(old.max_points)),
                category: old.category.parse().ok(),
            });
            continue;
        }
        let derived = derived_max(c);
        let Some(category) = category else {
            report.gaps.push(ImportGap {
                control_id: c.control_id.clone(),
                message: format!(
                    "in controlScores but not in controlProfiles, and its controlCategory {:?} is unknown; not imported",
                    c.category.as_deref().unwrap_or_default()
                ),
                max_points: derived,
                category: None,
            });
            continue;
        };
        let mut message =
            String::from("in controlScores but not in controlProfiles; imported with what the scores tell");
        match derived {
            Some(m) => message.push_str(&format!(
                ": max points {} = score / scoreInPercentage × 100",
                round2(m)
            )),
            None => message.push_str(": max points unknown (no score and scoreInPercentage), counted as 0"),
        }
        let profile = Profile {
            id: c.control_id.clone(),
            path: String::new(),
            azure_tenant_id: None,
            title: c.description.clone(),
            action_type: None,
            action_url: None,
            category: Some(category.as_str().to_string()),
            deprecated: None,
            implementation_cost: None,
            max_score: derived,
            rank: None,
            remediation: None,
            remediation_impact: None,
            service: None,
            threats: None,
            tier: None,
            user_impact: None,
            state: None,
        };
        let wanted = control_from_profile(&profile, None, now);
        write_control(conn, wanted, None, report, now).await?;
        changed.push(c.control_id.clone());
        report.gaps.push(ImportGap {
            control_id: c.control_id.clone(),
            message,
            max_points: Some(derived.unwrap_or(Decimal::ZERO)),
            category: Some(category),
        });
    }
    Ok(changed)
}

/// Takes over seats, active users, enabled services and (on first import) the Azure tenant id
/// from the newest record. Services are only ever added: Graph omits always-on families (Azure
/// AD), and disabling a service would keep its actions anyway.
async fn update_tenant<C: ConnectionTrait>(
    conn: &C,
    tenant: tenant::Model,
    newest: &ScoreRecord,
    azure_id: Option<String>,
    report: &mut ImportReport,
) -> AppResult<tenant::Model> {
    let mut services = tenant.enabled_services.0.clone();
    for flag in &newest.enabled_services {
        let code = service_code(flag);
        if !code.is_empty() && !services.contains(&code) {
            services.push(code);
        }
    }
    let seats = newest
        .licensed_user_count
        .filter(|n| *n >= 0)
        .unwrap_or(tenant.seat_count);
    let active = newest
        .active_user_count
        .filter(|n| *n >= 0)
        .unwrap_or(tenant.active_user_count);
    let azure = tenant.azure_tenant_id.clone().or(azure_id);
    if services == tenant.enabled_services.0
        && seats == tenant.seat_count
        && active == tenant.active_user_count
        && azure == tenant.azure_tenant_id
    {
        return Ok(tenant);
    }
    let mut am: tenant::ActiveModel = tenant.into();
    am.enabled_services = Set(StringList(services));
    am.seat_count = Set(seats);
    am.active_user_count = Set(active);
    am.azure_tenant_id = Set(azure);
    report.tenant_updated = true;
    // `updated_at` and the state version are bumped by `tenants::touch` at the end.
    Ok(am.update(conn).await?)
}

/// Makes sure the tenant has an action for every control of the newest scores (origin IMPORT,
/// with an IMPORTED event) and for every catalog control of its enabled services.
async fn ensure_actions<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    tenant: &tenant::Model,
    newest: &ScoreRecord,
    report: &mut ImportReport,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let have: BTreeSet<String> = improvement_action::Entity::find()
        .filter(improvement_action::Column::TenantId.eq(tenant.id))
        .all(conn)
        .await?
        .into_iter()
        .map(|a| a.control_id)
        .collect();
    let scored: Vec<String> = newest.controls.iter().map(|c| c.control_id.clone()).collect();
    let imported: Vec<control::Model> = control::Entity::find()
        .filter(control::Column::Id.is_in(scored))
        .filter(control::Column::Deprecated.eq(false))
        .all(conn)
        .await?;
    let mut added: BTreeSet<String> = BTreeSet::new();
    for c in &imported {
        if have.contains(&c.id) || !added.insert(c.id.clone()) {
            continue;
        }
        let mut am = tenants::new_action(tenant.id, c, now);
        am.origin = Set("IMPORT".to_string());
        let row = am.insert(conn).await?;
        let mut ev = NewEvent::new(tenant.id, row.id, EventKind::Imported);
        ev.status_after = Some(Status::ToAddress);
        ev.comment = Some("added by a Microsoft Graph import".into());
        ev.data = Some(json!({ "created": true }));
        events::record(conn, actor, ev, now).await?;
        report.events_written += 1;
        report.actions_created += 1;
    }
    let applicable = control::Entity::find()
        .filter(control::Column::Service.is_in(tenant.enabled_services.0.clone()))
        .filter(control::Column::Deprecated.eq(false))
        .all(conn)
        .await?;
    let rows: Vec<improvement_action::ActiveModel> = applicable
        .iter()
        .filter(|c| !have.contains(&c.id) && !added.contains(&c.id))
        .map(|c| tenants::new_action(tenant.id, c, now))
        .collect();
    if !rows.is_empty() {
        report.actions_created += rows.len();
        improvement_action::Entity::insert_many(rows).exec(conn).await?;
    }
    Ok(())
}

/// The tenant's actions with their controls, by control id.
async fn resolved_actions<C: ConnectionTrait>(
    conn: &C,
    tenant: &tenant::Model,
) -> AppResult<BTreeMap<String, Resolved>> {
    let rows = improvement_action::Entity::find()
        .filter(improvement_action::Column::TenantId.eq(tenant.id))
        .find_also_related(control::Entity)
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(action, control)| {
            control.map(|control| {
                (
                    action.control_id.clone(),
                    Resolved {
                        tenant: tenant.clone(),
                        action,
                        control,
                        before: None,
                    },
                )
            })
        })
        .collect())
}

/// The newest record's progress → each action, through the workflow (COMPLETED / REGRESSED /
/// PROGRESS_CHANGED events as fits; nothing when unchanged).
async fn apply_progress<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    tenant: &tenant::Model,
    newest: &ScoreRecord,
    report: &mut ImportReport,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let mut actions = resolved_actions(conn, tenant).await?;
    for c in &newest.controls {
        let Some(r) = actions.get_mut(&c.control_id) else {
            continue;
        };
        let max = Some(from_storage(r.control.max_points));
        let Some((implemented, total)) = progress_of(c, max) else {
            continue;
        };
        if c.count.zip(c.total).is_some_and(|(n, t)| n > t || n < 0) {
            report.warnings.push(format!(
                "control {}: count {} outside 0..total {}; clamped",
                c.control_id,
                c.count.unwrap_or_default(),
                c.total.unwrap_or_default()
            ));
        }
        let input = ProgressInput {
            action: workflow::ActionRef::Id(r.action.id),
            implemented,
            total,
            implementation_status: c
                .implementation_status
                .clone()
                .or_else(|| r.action.implementation_status.clone()),
            users_affected: None,
        };
        let version = r.action.version;
        workflow::apply_progress(conn, actor, r, &input, now).await?;
        if r.action.version != version {
            report.actions_updated += 1;
            report.events_written += 1;
        }
    }
    Ok(())
}

/// The note an imported comment becomes: the comment, then who wrote it in Secure Score, when.
fn note_body(u: &StateUpdate, comment: &str) -> String {
    let by = u.updated_by.as_deref().unwrap_or("unknown");
    let when = u
        .updated_at
        .map(|t| format!(" on {}", t.format("%Y-%m-%d %H:%M UTC")))
        .unwrap_or_default();
    let mut body = format!(
        "{}\n\n(Imported from Microsoft Secure Score; written by {by}{when}, state {})",
        comment.trim(),
        u.state
    );
    if body.chars().count() > crate::service::NOTE_MAX_CHARS {
        body = body.chars().take(crate::service::NOTE_MAX_CHARS).collect();
    }
    body
}

/// The latest `controlStateUpdates` entry of each profile → the action's status (an IMPORTED
/// event), and its comment → a note. A status someone set here after the vendor's update wins,
/// and COMPLETED is left to progress (the system's status).
#[allow(clippy::too_many_arguments)]
async fn apply_states<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    importer: &Importer<'_>,
    tenant: &tenant::Model,
    profiles: &[Profile],
    report: &mut ImportReport,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let mut actions = resolved_actions(conn, tenant).await?;
    for p in profiles {
        let Some(u) = &p.state else { continue };
        let Some(r) = actions.get_mut(&p.id) else { continue };
        match Status::from_graph_state(&u.state) {
            None => report.warnings.push(format!(
                "control {}: unknown controlStateUpdates state {:?} ignored",
                p.id, u.state
            )),
            Some(wanted) => {
                let current = r.status()?;
                if current != wanted && current != Status::Completed {
                    let mut local = action_event::Entity::find()
                        .filter(action_event::Column::ActionId.eq(r.action.id))
                        .filter(action_event::Column::Kind.is_in(LOCAL_STATUS_EVENTS.map(|k| k.as_str())));
                    if let Some(at) = u.updated_at {
                        local = local.filter(action_event::Column::OccurredAt.gt(at));
                    }
                    if local.one(conn).await?.is_some() {
                        report.warnings.push(format!(
                            "control {}: Secure Score says {} but the status was changed here since; kept {}",
                            p.id, u.state, current
                        ));
                    } else {
                        set_status(conn, actor, r, wanted, u, now).await?;
                        report.actions_updated += 1;
                        report.events_written += 1;
                    }
                }
            }
        }
        if let Some(comment) = &u.comment {
            let body = note_body(u, comment);
            let exists = note::Entity::find()
                .filter(note::Column::ActionId.eq(r.action.id))
                .filter(note::Column::Body.eq(body.clone()))
                .one(conn)
                .await?;
            if exists.is_none() {
                let n = note::ActiveModel {
                    tenant_id: Set(tenant.id),
                    action_id: Set(r.action.id),
                    author_id: Set(importer.principal_id()),
                    body: Set(body.clone()),
                    created_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                }
                .insert(conn)
                .await?;
                let mut ev = NewEvent::new(tenant.id, r.action.id, EventKind::NoteAdded);
                ev.comment = Some(body.chars().take(200).collect());
                ev.data = Some(json!({ "noteId": n.id, "importedFrom": u.updated_by }));
                events::record(conn, actor, ev, now).await?;
                report.notes_added += 1;
                report.events_written += 1;
            }
        }
    }
    Ok(())
}

/// Writes an imported status with the version guard and an IMPORTED event.
async fn set_status<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    r: &mut Resolved,
    wanted: Status,
    u: &StateUpdate,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let before = r.status()?;
    let points_before = r.current_points()?;
    let mut am: improvement_action::ActiveModel = r.action.clone().into();
    am.status = Set(wanted.as_str().to_string());
    am.review_by = Set(None);
    am.version = Set(r.action.version + 1);
    am.updated_at = Set(now);
    am.status_changed_at = Set(now);
    let done = improvement_action::Entity::update_many()
        .set(am)
        .filter(improvement_action::Column::Id.eq(r.action.id))
        .filter(improvement_action::Column::Version.eq(r.action.version))
        .exec(conn)
        .await?;
    if done.rows_affected != 1 {
        return Err(AppError::Conflict(format!(
            "action {} was changed by someone else during the import; retry",
            r.action.control_id
        )));
    }
    r.action = improvement_action::Entity::find_by_id(r.action.id)
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("improvement action"))?;
    let mut ev = NewEvent::new(r.tenant.id, r.action.id, EventKind::Imported);
    ev.status_before = Some(before);
    ev.status_after = Some(wanted);
    ev.points_before = Some(points_before);
    ev.points_after = Some(r.points(wanted, r.action.implemented, r.action.total));
    ev.comment = u.comment.clone();
    ev.data = Some(json!({
        "graphState": u.state,
        "updatedBy": u.updated_by,
        "updatedDateTime": u.updated_at,
    }));
    events::record(conn, actor, ev, now).await?;
    Ok(())
}

/// Our views of one day: the tenant's actions as they stand, with that day's reported progress.
fn day_state(live: &TenantState, record: &ScoreRecord) -> AppResult<TenantState> {
    let by_id: HashMap<&str, &ControlScore> = record
        .controls
        .iter()
        .map(|c| (c.control_id.as_str(), c))
        .collect();
    let mut rows = live.rows();
    for (row, control) in &mut rows {
        let Some(c) = by_id.get(control.id.as_str()) else {
            continue;
        };
        if let Some((implemented, total)) = progress_of(c, Some(from_storage(control.max_points))) {
            let status: Status = state::parse(&row.status, "status")?;
            let (after, _) = status_after_progress(status, implemented, total);
            row.implemented = implemented;
            row.total = total;
            row.status = after.as_str().to_string();
        }
    }
    state::build(live.tenant.clone(), rows, &live.held, live.computed_at)
}

/// A snapshot row of a day from our views and the vendor's reported totals.
fn snapshot_of(
    tenant_id: i64,
    s: &TenantState,
    record: &ScoreRecord,
    now: DateTime<Utc>,
) -> score_snapshot::Model {
    let v = s.score.overall;
    let counts = crate::service::snapshots::status_counts(s.actions.iter().map(|a| &a.scored.status));
    score_snapshot::Model {
        id: 0,
        tenant_id,
        day: record.day,
        max_score: to_storage(v.max_score),
        current: to_storage(v.current),
        planned: to_storage(v.planned),
        current_license: to_storage(v.current_license),
        achievable: to_storage(v.achievable),
        verified: to_storage(v.verified),
        categories: crate::service::snapshots::category_figures(&s.score),
        status_counts: StatusCounts(counts),
        source: SOURCE_IMPORTED.to_string(),
        vendor_current_score: Some(to_storage(record.current_score)),
        vendor_max_score: Some(to_storage(record.max_score)),
        created_at: now,
    }
}

/// Each daily record → that day's snapshot (source IMPORTED, vendor totals as reported), and
/// the report of every day on which the vendor's totals differ from ours.
async fn write_snapshots<C: ConnectionTrait>(
    conn: &C,
    live: &TenantState,
    records: &[ScoreRecord],
    report: &mut ImportReport,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let tenant_id = live.tenant.id;
    let existing: HashMap<NaiveDate, score_snapshot::Model> = score_snapshot::Entity::find()
        .filter(score_snapshot::Column::TenantId.eq(tenant_id))
        .filter(score_snapshot::Column::Day.is_in(records.iter().map(|r| r.day)))
        .all(conn)
        .await?
        .into_iter()
        .map(|s| (s.day, s))
        .collect();
    for record in records {
        let s = day_state(live, record)?;
        let wanted = snapshot_of(tenant_id, &s, record, now);
        let ours = s.score.overall;
        if round2(ours.current) != round2(record.current_score)
            || round2(ours.max_score) != round2(record.max_score)
        {
            report.discrepancies.push(ScoreDiscrepancy {
                day: record.day,
                vendor_current_score: record.current_score,
                vendor_max_score: record.max_score,
                recomputed_current: ours.current,
                recomputed_max: ours.max_score,
                control_scores_sum: record.controls.iter().filter_map(|c| c.score).sum(),
            });
        }
        match existing.get(&record.day) {
            Some(old) => {
                let comparable = score_snapshot::Model {
                    id: old.id,
                    created_at: old.created_at,
                    ..wanted.clone()
                };
                if &comparable == old {
                    continue;
                }
                let mut am = score_snapshot::ActiveModel::from(comparable).reset_all();
                am.id = sea_orm::ActiveValue::Unchanged(old.id);
                am.created_at = Set(now);
                am.update(conn).await?;
            }
            None => {
                let mut am: score_snapshot::ActiveModel = wanted.into();
                am.id = sea_orm::ActiveValue::NotSet;
                am.insert(conn).await?;
            }
        }
        report.snapshots_written += 1;
    }
    Ok(())
}

/// `averageComparativeScores` → vendor benchmark rows of each day.
async fn write_benchmarks<C: ConnectionTrait>(
    conn: &C,
    tenant_id: i64,
    records: &[ScoreRecord],
    report: &mut ImportReport,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let existing: HashMap<(NaiveDate, String, String), vendor_benchmark::Model> =
        vendor_benchmark::Entity::find()
            .filter(vendor_benchmark::Column::TenantId.eq(tenant_id))
            .filter(vendor_benchmark::Column::Day.is_in(records.iter().map(|r| r.day)))
            .all(conn)
            .await?
            .into_iter()
            .map(|b| ((b.day, b.basis.clone(), b.basis_value.clone()), b))
            .collect();
    for record in records {
        let mut seen = BTreeSet::new();
        for b in &record.benchmarks {
            let key = (record.day, b.basis.clone(), b.basis_value.clone());
            if !seen.insert(key.clone()) {
                continue;
            }
            let figures: Map<String, Value> = b
                .figures
                .iter()
                .map(|(k, v)| (k.clone(), json!(v.to_f64().unwrap_or(0.0))))
                .collect();
            let average = to_storage(b.average_score);
            let figures = Value::Object(figures);
            match existing.get(&key) {
                Some(old) if old.average_score == average && old.category_scores == figures => {}
                Some(old) => {
                    let mut am: vendor_benchmark::ActiveModel = old.clone().into();
                    am.average_score = Set(average);
                    am.category_scores = Set(figures);
                    am.update(conn).await?;
                    report.benchmarks_written += 1;
                }
                None => {
                    vendor_benchmark::ActiveModel {
                        tenant_id: Set(tenant_id),
                        day: Set(record.day),
                        basis: Set(b.basis.clone()),
                        basis_value: Set(b.basis_value.clone()),
                        average_score: Set(average),
                        category_scores: Set(figures),
                        created_at: Set(now),
                        ..Default::default()
                    }
                    .insert(conn)
                    .await?;
                    report.benchmarks_written += 1;
                }
            }
        }
    }
    Ok(())
}

/// Controls are global: other tenants holding actions on a changed control have stale derived
/// state now.
async fn touch_other_tenants<C: ConnectionTrait>(
    conn: &C,
    tenant_id: i64,
    controls: &[String],
    now: DateTime<Utc>,
) -> AppResult<()> {
    if controls.is_empty() {
        return Ok(());
    }
    let others: BTreeSet<i64> = improvement_action::Entity::find()
        .filter(improvement_action::Column::ControlId.is_in(controls.to_vec()))
        .filter(improvement_action::Column::TenantId.ne(tenant_id))
        .all(conn)
        .await?
        .into_iter()
        .map(|a| a.tenant_id)
        .collect();
    for t in others {
        tenants::touch(conn, t, now).await?;
    }
    Ok(())
}
