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
use crate::domain::enums::{
    ActionType, CatalogSource, Category, CategoryExt, EventKind, Level, LevelExt, Role, Status, StatusExt,
    Tier, TierExt,
};
use crate::domain::points::{Points, STORAGE_SCALE, round2_decimal as round2};
use crate::domain::rules::status_after_progress;
use crate::error::{AppError, AppResult};
use crate::service::access::tenants;
use crate::service::alerts::{self, Alert, AlertKind};
use crate::service::collab::notes;
use crate::service::history::snapshots::SOURCE_IMPORTED;
use crate::service::state::controls;
use crate::service::state::{self, TenantState};
use crate::service::workflow::events::{self, Actor, NewEvent};
use crate::service::workflow::{self, ProgressInput, Resolved};
use chrono::{DateTime, NaiveDate, Utc};
use entity::types::{StatusCounts, StringList};
use entity::{
    action_event, control, improvement_action, note, score_snapshot, tenant, tenant_control, vendor_benchmark,
};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Set,
};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A vendor's decimal figure as stored (ten-thousandths, halves away from zero).
fn to_storage(d: Decimal) -> i64 {
    Points::from_decimal(d).to_storage()
}

/// A stored figure as the decimal the parser works with.
fn from_storage(v: i64) -> Decimal {
    Decimal::new(v, STORAGE_SCALE)
}

/// Audit action of an import that changed something.
const AUDIT_IMPORTED: &str = "GRAPH_IMPORTED";

use super::parse;
pub use parse::*;

/// Who runs an import: an API caller (needs ADMIN on the tenant) or the system (CLI, scheduled
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

fn warning(path: impl Into<String>, message: impl Into<String>) -> ImportWarning {
    ImportWarning {
        path: path.into(),
        message: message.into(),
    }
}

/// A control present in the scores but missing from the profiles.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportGap {
    pub control_id: String,
    /// What was done about it.
    pub message: String,
    /// Max points used for it (derived, or from the existing profile or service catalog).
    pub max_points: Option<Decimal>,
    pub category: Option<Category>,
}

/// One day on which the vendor's totals differ from ours.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreDiscrepancy {
    pub day: NaiveDate,
    pub vendor_current_score: Decimal,
    pub vendor_max_score: Decimal,
    pub recomputed_current: Points,
    pub recomputed_max: Points,
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
    pub warnings: Vec<ImportWarning>,
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

/// `improvement_action.origin` of a row an import created.
const ORIGIN_IMPORT: &str = "IMPORT";

/// Imports the documents into a tenant. Everything happens in one write transaction; a dry run
/// rolls it back and reports what would have changed.
///
/// The export's controls (its profiles and the newest record's `controlScores`) become the
/// tenant's own control profiles (SPEC §1a) — never the service catalog, which other tenants
/// share — marked as the tenant's latest export; the first import switches the tenant to the
/// `MICROSOFT_GRAPH` catalog source, under which exactly those controls apply, so its score is
/// the vendor's. Statuses, progress and notes go through the workflow's and the notes' write
/// paths, like any user change.
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
    let result = import_checked(db, importer, tenant_slug, docs, max_bytes, dry_run, now).await;
    if let Err(err) = &result
        && !dry_run
        && !err.fails_the_whole_request()
    {
        import_failed(db, tenant_slug, err, now).await?;
    }
    result
}

/// Raises `import.failed` for the tenant `tenant_slug` (when it exists) in a transaction of its
/// own: the import's was rolled back.
async fn import_failed(
    db: &DatabaseConnection,
    tenant_slug: &str,
    err: &AppError,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let Some(tenant) = tenant::Entity::find()
        .filter(tenant::Column::Slug.eq(tenant_slug))
        .one(db)
        .await?
    else {
        return Ok(());
    };
    let txn = crate::db::begin_write(db).await?;
    let data = serde_json::json!({ "code": err.code(), "message": err.message() });
    let alert = Alert {
        tenant_id: tenant.id,
        kind: AlertKind::ImportFailed,
        data,
    };
    alerts::raise(&txn, alert, now).await?;
    txn.commit().await?;
    Ok(())
}

/// [`import`] once the caller was authorised.
async fn import_checked(
    db: &DatabaseConnection,
    importer: Importer<'_>,
    tenant_slug: &str,
    docs: &ImportDocuments,
    max_bytes: usize,
    dry_run: bool,
    now: DateTime<Utc>,
) -> AppResult<ImportReport> {
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
        warnings: parsed.warnings.clone(),
        ..Default::default()
    };
    let actor = importer.actor();
    let azure_id = check_azure_tenant(&txn, &tenant, &parsed).await?;
    let newest = parsed
        .records
        .last()
        .ok_or_else(|| bad("secureScores", "secureScores holds no daily records"))?;

    let first_import = tenant_control::Entity::find()
        .filter(tenant_control::Column::TenantId.eq(tenant.id))
        .one(&txn)
        .await?
        .is_none();
    let export = write_profiles(&txn, &tenant, &parsed, newest, &mut report, now).await?;
    let tenant = update_tenant(&txn, tenant, newest, azure_id, first_import, &mut report).await?;
    let mut actions = ensure_actions(&txn, &actor, &tenant, &export, &mut report, now).await?;
    let claimed: BTreeSet<&str> = parsed
        .profiles
        .iter()
        .filter(|p| {
            p.state
                .as_ref()
                .and_then(|u| Status::from_graph_state(&u.state))
                .is_some_and(|s| s.is_claim())
        })
        .map(|p| p.id.as_str())
        .collect();
    apply_progress(&txn, &actor, &mut actions, newest, &claimed, &mut report, now).await?;
    apply_states(&txn, &actor, &mut actions, &parsed.profiles, &mut report, now).await?;

    let live = state::load(&txn, tenant.clone(), now).await?;
    write_snapshots(&txn, &live, &parsed.records, &mut report, now).await?;
    write_benchmarks(&txn, tenant.id, &parsed.records, &mut report, now).await?;

    if report.changed() {
        tenants::touch(&txn, tenant.id, now).await?;
        crate::service::audit::record(
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
                "warnings": report.warnings.len(),
            }),
            now,
        )
        .await?;
    }
    let tenant = tenant::Entity::find_by_id(tenant.id)
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound("tenant"))?;
    if dry_run {
        txn.rollback().await?;
    } else {
        let data = serde_json::json!({
            "records": report.records,
            "profiles": report.profiles,
            "actionsCreated": report.actions_created,
            "actionsUpdated": report.actions_updated,
            "snapshotsWritten": report.snapshots_written,
            "eventsWritten": report.events_written,
            "gaps": report.gaps.len(),
            "discrepancies": report.discrepancies.len(),
            "warnings": report.warnings.len(),
        });
        let alert = Alert {
            tenant_id: tenant.id,
            kind: AlertKind::ImportFinished,
            data,
        };
        alerts::raise(&txn, alert, now).await?;
        txn.commit().await?;
    }
    report.tenant = Some(tenant);
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

/// A control with neutral defaults, for a control the tenant's data names but nobody describes.
fn blank_control(id: &str, now: DateTime<Utc>) -> control::Model {
    control::Model {
        id: id.to_string(),
        title: id.to_string(),
        category: Category::Infrastructure,
        service: "Unknown".to_string(),
        max_points: 0,
        tier: Tier::DefenseInDepth,
        user_impact: Level::Unknown,
        implementation_cost: Level::Unknown,
        threats: StringList::default(),
        action_type: ActionType::Config,
        remediation: String::new(),
        user_impact_description: String::new(),
        prerequisites: String::new(),
        action_url: None,
        learn_more_urls: StringList::default(),
        required_license_plans: StringList::default(),
        vendor_rank: None,
        deprecated: false,
        origin: controls::ORIGIN_OWN_PROFILE.to_string(),
        shipped_digest: None,
        created_at: now,
        updated_at: now,
    }
}

/// The control a profile describes, merged over `base` (the tenant's earlier profile, else the
/// service catalog's entry, else neutral defaults): fields the profile lacks keep `base`'s.
fn control_from_profile(p: &Profile, base: control::Model) -> control::Model {
    let mut c = base;
    if let Some(t) = p.title.as_ref().filter(|t| !t.trim().is_empty()) {
        c.title = t.clone();
    }
    if let Some(cat) = p.category.as_deref().and_then(Category::normalize) {
        c.category = cat;
    }
    if let Some(s) = &p.service {
        c.service = s.trim().to_string();
    }
    if let Some(m) = p.max_score.filter(|m| *m >= Decimal::ZERO) {
        c.max_points = to_storage(m);
    }
    if let Some(t) = p.tier.as_deref().and_then(Tier::normalize) {
        c.tier = t;
    }
    if let Some(l) = &p.user_impact {
        c.user_impact = Level::normalize(l);
    }
    if let Some(l) = &p.implementation_cost {
        c.implementation_cost = Level::normalize(l);
    }
    if let Some(t) = &p.threats {
        c.threats = StringList(t.clone());
    }
    if let Some(a) = p.action_type.as_deref().and_then(action_type) {
        c.action_type = a;
    }
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

/// A profile row of the tenant holding `c`'s content.
fn profile_row(tenant_id: i64, c: &control::Model, in_latest_export: bool) -> tenant_control::Model {
    tenant_control::Model {
        tenant_id,
        id: c.id.clone(),
        title: c.title.clone(),
        category: c.category,
        service: c.service.clone(),
        max_points: c.max_points,
        tier: c.tier,
        user_impact: c.user_impact,
        implementation_cost: c.implementation_cost,
        threats: c.threats.clone(),
        action_type: c.action_type,
        remediation: c.remediation.clone(),
        user_impact_description: c.user_impact_description.clone(),
        prerequisites: c.prerequisites.clone(),
        action_url: c.action_url.clone(),
        learn_more_urls: c.learn_more_urls.clone(),
        required_license_plans: c.required_license_plans.clone(),
        vendor_rank: c.vendor_rank,
        deprecated: c.deprecated,
        in_latest_export,
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

/// Whether two profile rows hold the same content (timestamps aside).
fn same_profile(a: &tenant_control::Model, b: &tenant_control::Model) -> bool {
    let strip = |c: &tenant_control::Model| tenant_control::Model {
        created_at: DateTime::<Utc>::MIN_UTC,
        updated_at: DateTime::<Utc>::MIN_UTC,
        ..c.clone()
    };
    strip(a) == strip(b)
}

/// Writes the export's controls as the tenant's own profiles, marked as its latest export (and
/// the tenant's other profiles as not), comparing first so an unchanged export writes nothing.
/// Returns the export's controls by id, as the tenant now sees them.
async fn write_profiles<C: ConnectionTrait>(
    conn: &C,
    tenant: &tenant::Model,
    parsed: &Parsed,
    newest: &ScoreRecord,
    report: &mut ImportReport,
    now: DateTime<Utc>,
) -> AppResult<BTreeMap<String, control::Model>> {
    let existing: HashMap<String, tenant_control::Model> = tenant_control::Entity::find()
        .filter(tenant_control::Column::TenantId.eq(tenant.id))
        .all(conn)
        .await?
        .into_iter()
        .map(|p| (p.id.clone(), p))
        .collect();
    let profiled: BTreeSet<&str> = parsed.profiles.iter().map(|p| p.id.as_str()).collect();
    let catalog = controls::catalog_controls(
        conn,
        parsed
            .profiles
            .iter()
            .map(|p| p.id.clone())
            .chain(newest.controls.iter().map(|c| c.control_id.clone())),
    )
    .await?;
    let base = |id: &str| -> control::Model {
        match (existing.get(id), catalog.get(id)) {
            (Some(own), _) => controls::profile_control(own.clone()),
            (None, Some(c)) => control::Model {
                origin: controls::ORIGIN_OWN_PROFILE.to_string(),
                shipped_digest: None,
                created_at: now,
                updated_at: now,
                ..control::Model::clone(c)
            },
            (None, None) => blank_control(id, now),
        }
    };
    let mut wanted: BTreeMap<String, control::Model> = BTreeMap::new();
    for p in &parsed.profiles {
        wanted.insert(p.id.clone(), control_from_profile(p, base(&p.id)));
    }
    for (i, c) in newest.controls.iter().enumerate() {
        if profiled.contains(c.control_id.as_str()) || wanted.contains_key(&c.control_id) {
            continue;
        }
        let path = format!("secureScores.value.{}.controlScores.{i}", newest.index);
        wanted.insert(
            c.control_id.clone(),
            score_only_control(
                c,
                base(&c.control_id),
                existing.contains_key(&c.control_id),
                catalog.contains_key(&c.control_id),
                &path,
                report,
            ),
        );
    }
    for (id, c) in &wanted {
        let row = profile_row(tenant.id, c, true);
        match existing.get(id) {
            Some(old) if same_profile(old, &row) => {}
            Some(old) => {
                let mut am = tenant_control::ActiveModel::from(row).reset_all();
                am.created_at = Set(old.created_at);
                am.updated_at = Set(now);
                am.update(conn).await?;
                report.controls_updated += 1;
            }
            None => {
                let mut am = tenant_control::ActiveModel::from(row);
                am.created_at = Set(now);
                am.updated_at = Set(now);
                am.insert(conn).await?;
                report.controls_created += 1;
            }
        }
    }
    let left_out: Vec<String> = existing
        .values()
        .filter(|p| p.in_latest_export && !wanted.contains_key(&p.id))
        .map(|p| p.id.clone())
        .collect();
    if !left_out.is_empty() {
        report.controls_updated += left_out.len();
        tenant_control::Entity::update_many()
            .col_expr(tenant_control::Column::InLatestExport, Expr::value(false))
            .col_expr(tenant_control::Column::UpdatedAt, Expr::value(now))
            .filter(tenant_control::Column::TenantId.eq(tenant.id))
            .filter(tenant_control::Column::Id.is_in(left_out))
            .exec(conn)
            .await?;
    }
    Ok(wanted)
}

/// A control of the newest `controlScores` that no profile describes: what the scores tell,
/// over what is known of it. Every one is reported as a gap, with how its max was found.
fn score_only_control(
    c: &ControlScore,
    base: control::Model,
    own: bool,
    in_catalog: bool,
    path: &str,
    report: &mut ImportReport,
) -> control::Model {
    let mut control = base;
    if let Some(desc) = c.description.as_ref().filter(|d| !d.trim().is_empty())
        && !own
        && !in_catalog
    {
        control.title = desc.clone();
    }
    if let Some(cat) = c.category.as_deref().and_then(Category::normalize)
        && !own
        && !in_catalog
    {
        control.category = cat;
    }
    let known = if own {
        "the tenant's earlier profile"
    } else if in_catalog {
        "the service catalog's entry"
    } else {
        "nothing else"
    };
    let message = match derived_max(c) {
        Some(m) => {
            control.max_points = to_storage(m);
            format!(
                "in controlScores but not in controlProfiles: max points {} = score / scoreInPercentage × 100; other fields from {known}",
                round2(m)
            )
        }
        None if own || in_catalog => format!(
            "in controlScores but not in controlProfiles, and its max cannot be derived (no score with scoreInPercentage): max points {} from {known}",
            round2(from_storage(control.max_points))
        ),
        None => match c.score.filter(|s| *s > Decimal::ZERO) {
            Some(s) => {
                control.max_points = to_storage(s);
                report.warnings.push(warning(
                    path,
                    format!(
                        "control {}: max points cannot be derived (score {} but no scoreInPercentage); it keeps its achieved points, counted as {} of {}",
                        c.control_id,
                        round2(s),
                        round2(s),
                        round2(s)
                    ),
                ));
                format!(
                    "in controlScores but not in controlProfiles, with score but no scoreInPercentage: max points taken as its score {}",
                    round2(s)
                )
            }
            None => {
                report.warnings.push(warning(
                    path,
                    format!(
                        "control {}: max points cannot be derived (no score and no scoreInPercentage); counted as 0",
                        c.control_id
                    ),
                ));
                "in controlScores but not in controlProfiles, with no score: max points unknown, counted as 0"
                    .to_string()
            }
        },
    };
    report.gaps.push(ImportGap {
        control_id: c.control_id.clone(),
        message,
        max_points: Some(from_storage(control.max_points)),
        category: Some(control.category),
    });
    control
}

/// Takes over seats, active users, enabled services and (on first import) the Azure tenant id
/// from the newest record, and switches a tenant's first import to the `MICROSOFT_GRAPH` catalog
/// source. Services are only ever added: Graph omits always-on families.
async fn update_tenant<C: ConnectionTrait>(
    conn: &C,
    tenant: tenant::Model,
    newest: &ScoreRecord,
    azure_id: Option<String>,
    first_import: bool,
    report: &mut ImportReport,
) -> AppResult<tenant::Model> {
    let mut services = tenant.enabled_services.0.clone();
    for s in &newest.services {
        if !services.contains(s) {
            services.push(s.clone());
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
    let source = if first_import {
        CatalogSource::MicrosoftGraph
    } else {
        tenant.catalog_source
    };
    if services == tenant.enabled_services.0
        && seats == tenant.seat_count
        && active == tenant.active_user_count
        && azure == tenant.azure_tenant_id
        && source == tenant.catalog_source
    {
        return Ok(tenant);
    }
    let mut am: tenant::ActiveModel = tenant.into();
    am.enabled_services = Set(StringList(services));
    am.seat_count = Set(seats);
    am.active_user_count = Set(active);
    am.azure_tenant_id = Set(azure);
    am.catalog_source = Set(source);
    report.tenant_updated = true;
    // `updated_at` and the state version are bumped by `tenants::touch` at the end.
    Ok(am.update(conn).await?)
}

/// Makes sure the tenant has an action for every control of the export (origin IMPORT, with an
/// IMPORTED event) and for every control that applies to it; returns the export's actions with
/// their controls, by control id.
async fn ensure_actions<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    tenant: &tenant::Model,
    export: &BTreeMap<String, control::Model>,
    report: &mut ImportReport,
    now: DateTime<Utc>,
) -> AppResult<BTreeMap<String, Resolved>> {
    let have: HashMap<String, improvement_action::Model> = improvement_action::Entity::find()
        .filter(improvement_action::Column::TenantId.eq(tenant.id))
        .all(conn)
        .await?
        .into_iter()
        .map(|a| (a.control_id.clone(), a))
        .collect();
    let mut actions = BTreeMap::new();
    for (id, c) in export {
        let action = match have.get(id) {
            Some(a) => a.clone(),
            None => {
                let mut am = crate::service::state::controls::new_action(tenant.id, c, now);
                am.origin = Set(ORIGIN_IMPORT.to_string());
                let row = am.insert(conn).await?;
                let mut ev = NewEvent::new(tenant.id, row.id, EventKind::Imported);
                ev.status_after = Some(Status::ToAddress);
                ev.comment = Some("added by a Microsoft Graph import".into());
                ev.data = Some(json!({ "created": true }));
                events::record(conn, actor, ev, now).await?;
                report.events_written += 1;
                report.actions_created += 1;
                row
            }
        };
        actions.insert(
            id.clone(),
            Resolved {
                tenant: tenant.clone(),
                action,
                control: c.clone(),
                before: None,
            },
        );
    }
    report.actions_created += controls::ensure_action_rows(conn, tenant, controls::ORIGIN_APPLICABLE, now)
        .await?
        .len();
    Ok(actions)
}

/// The newest record's progress → each action, through the workflow (COMPLETED / REGRESSED /
/// PROGRESS_CHANGED events as fits; nothing when unchanged).
async fn apply_progress<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    actions: &mut BTreeMap<String, Resolved>,
    newest: &ScoreRecord,
    claimed: &BTreeSet<&str>,
    report: &mut ImportReport,
    now: DateTime<Utc>,
) -> AppResult<()> {
    for (i, c) in newest.controls.iter().enumerate() {
        let Some(r) = actions.get_mut(&c.control_id) else {
            continue;
        };
        // The vendor's score of a control under a status claim (third party, alternate
        // mitigation, risk accepted) is the claim's, not implementation: its progress is the
        // count of what is implemented, when reported, and otherwise left as it is.
        let c = &if claimed.contains(c.control_id.as_str()) {
            if c.count.is_none() || c.total.is_none() {
                continue;
            }
            ControlScore {
                score: None,
                score_in_percentage: None,
                ..c.clone()
            }
        } else {
            c.clone()
        };
        let max = from_storage(r.control.max_points);
        if let Some(score) = c.score
            && score > max
            && max > Decimal::ZERO
        {
            report.warnings.push(warning(
                format!("secureScores.value.{}.controlScores.{i}.score", newest.index),
                format!(
                    "control {}: score {} is above its max points {}; counted as complete",
                    c.control_id,
                    round2(score),
                    round2(max)
                ),
            ));
        }
        let Some((implemented, total)) = progress_of(c, Some(max)) else {
            continue;
        };
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
/// event through the workflow's status write path), and its comment → a note through the notes'
/// write path. A status someone set here after the vendor's update wins, and COMPLETED is left
/// to progress (the system's status).
async fn apply_states<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    actions: &mut BTreeMap<String, Resolved>,
    profiles: &[Profile],
    report: &mut ImportReport,
    now: DateTime<Utc>,
) -> AppResult<()> {
    for p in profiles {
        let Some(u) = &p.state else { continue };
        let Some(r) = actions.get_mut(&p.id) else { continue };
        // An unknown state was reported by the parser, with its path.
        match Status::from_graph_state(&u.state) {
            None => {}
            Some(wanted) => {
                let current = r.status();
                if current != wanted && current != Status::Completed {
                    let mut local = action_event::Entity::find()
                        .filter(action_event::Column::ActionId.eq(r.action.id))
                        .filter(action_event::Column::Kind.is_in(LOCAL_STATUS_EVENTS));
                    if let Some(at) = u.updated_at {
                        local = local.filter(action_event::Column::OccurredAt.gt(at));
                    }
                    if local.one(conn).await?.is_some() {
                        report.warnings.push(warning(
                            format!("{}.controlStateUpdates", p.path),
                            format!(
                                "control {}: Secure Score says {} but the status was changed here since; kept {}",
                                p.id, u.state, current
                            ),
                        ));
                    } else {
                        r.action = workflow::write_status(
                            conn,
                            actor,
                            r,
                            wanted,
                            None,
                            u.comment.clone(),
                            EventKind::Imported,
                            Some(json!({
                                "graphState": u.state,
                                "updatedBy": u.updated_by,
                                "updatedDateTime": u.updated_at,
                            })),
                            now,
                        )
                        .await?;
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
                let mut data = Map::new();
                data.insert("importedFrom".into(), json!(u.updated_by));
                notes::write(conn, actor, r.tenant.id, r.action.id, &body, data, now).await?;
                report.notes_added += 1;
                report.events_written += 1;
            }
        }
    }
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
            let (after, _) = status_after_progress(row.status, implemented, total);
            row.implemented = implemented;
            row.total = total;
            row.status = after;
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
    let v = &s.score.overall;
    let counts =
        crate::service::history::snapshots::status_counts(s.actions.iter().map(|a| &a.scored.status));
    score_snapshot::Model {
        id: 0,
        tenant_id,
        day: record.day,
        max_score: v.max_score.to_storage(),
        current: v.current.to_storage(),
        planned: v.planned.to_storage(),
        current_license: v.current_license.to_storage(),
        achievable: v.achievable.to_storage(),
        verified: v.verified.to_storage(),
        categories: crate::service::history::snapshots::category_figures(&s.score),
        exact: Some(crate::service::history::snapshots::exact_figures(&s.score)),
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
        let ours = &s.score.overall;
        if ours.current.round2() != round2(record.current_score)
            || ours.max_score.round2() != round2(record.max_score)
        {
            report.discrepancies.push(ScoreDiscrepancy {
                day: record.day,
                vendor_current_score: record.current_score,
                vendor_max_score: record.max_score,
                recomputed_current: ours.current.clone(),
                recomputed_max: ours.max_score.clone(),
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
