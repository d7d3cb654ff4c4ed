//! The scale data set for load tests (`securescore seed-scale`): N tenants × M controls (the
//! shipped catalog plus synthetic controls `synthetic_0001…` to reach M, spread over the
//! catalog's services and categories) with varied statuses, progress, review dates, licences,
//! tags and notes, D days of daily score snapshots and the cohort aggregates of each day, and an
//! "MSP" principal holding OPERATOR on every tenant, whose token the load benchmark uses.
//!
//! Written for speed, not through the per-row service functions: multi-row INSERTs of a few
//! thousand rows (kept under SQLite's 32 766 bound parameters) inside one write transaction per
//! batch of tenants. Snapshots are scored by the domain (`compute_score`) from a simple simulated
//! history — each action reached today's state on some day of the range and stood at
//! `TO_ADDRESS` with less progress before — so the last snapshot is close to the live score.
//! Everything is drawn from a seeded RNG, so a given `--seed` gives the same data.

use crate::domain::enums::{Role, Status};
use crate::domain::licensing::{HeldLicense, licensing};
use crate::domain::points::Points;
use crate::domain::scoring::{ScoredAction, compute_score, from_storage, to_storage};
use crate::service::access::tenants;
use crate::service::history::comparisons;
use anyhow::Context;
use chrono::{DateTime, Days, Duration, Utc};
use entity::types::StringList;
use entity::{
    action_tag, control, improvement_action, license_plan, note, role_grant, tag, tenant, tenant_license,
};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QuerySelect, Set,
};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

/// SQLite's default limit on bound parameters per statement; every multi-row INSERT stays below.
const MAX_BOUND_PARAMETERS: usize = 32_766;

/// Tenants written per transaction: large enough that commits are rare, small enough that a
/// batch's rows (≈ 100 × (M actions + D snapshots)) stay a few tens of MiB in memory.
const TENANTS_PER_BATCH: usize = 100;

const INDUSTRIES: &[&str] = &[
    "finance",
    "healthcare",
    "technology",
    "education",
    "manufacturing",
    "retail",
    "government",
    "insurance",
];

/// SKU bundles a scale tenant may hold (one is drawn per tenant).
const LICENCE_BUNDLES: &[&[&str]] = &[
    &["M365_E5"],
    &["M365_E3", "ENTRA_ID_P2", "MDE_P2"],
    &["M365_E3"],
    &["M365_BUSINESS_PREMIUM"],
    &["O365_E3", "ENTRA_ID_P1"],
    &["O365_E5", "ENTRA_ID_P1", "INTUNE_P1", "MDCA"],
];

const TAG_NAMES: &[(&str, &str)] = &[
    ("Q1 sprint", "#2563eb"),
    ("board ask", "#dc2626"),
    ("quick win", "#16a34a"),
    ("needs budget", "#d97706"),
];

/// What to generate.
#[derive(Clone, Debug)]
pub struct ScaleOptions {
    pub tenants: usize,
    pub controls: usize,
    pub days: u32,
    pub seed: u64,
    /// Where to save the MSP token (mode 0600), besides printing it.
    pub tokens_file: Option<PathBuf>,
}

/// What was written.
#[derive(Clone, Debug)]
pub struct ScaleReport {
    pub tenants: usize,
    pub controls: usize,
    pub actions: usize,
    pub snapshots: usize,
    pub msp_token: String,
    pub first_slug: String,
    pub elapsed: std::time::Duration,
}

/// Slug of the i-th scale tenant (0-based), e.g. `scale-00001`.
pub fn slug(i: usize) -> String {
    format!("scale-{:05}", i + 1)
}

/// Inserts `rows` in multi-row statements of at most [`MAX_BOUND_PARAMETERS`] parameters.
async fn insert_chunked<A, C>(conn: &C, rows: Vec<A>, columns: usize) -> anyhow::Result<()>
where
    A: ActiveModelTrait + Send + Clone,
    C: ConnectionTrait,
{
    let per_statement = (MAX_BOUND_PARAMETERS / columns.max(1)).max(1);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(per_statement).collect();
        <A::Entity as EntityTrait>::insert_many(chunk)
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

/// The catalog plus synthetic controls up to `wanted` (existing synthetic ones are reused).
async fn controls(
    db: &DatabaseConnection,
    wanted: usize,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<control::Model>> {
    let mut all = control::Entity::find().all(db).await?;
    all.sort_by(|a, b| a.id.cmp(&b.id));
    let catalog: Vec<control::Model> = all
        .iter()
        .filter(|c| c.origin == "CATALOG" && !c.deprecated)
        .cloned()
        .collect();
    anyhow::ensure!(!catalog.is_empty(), "the control catalog is empty");
    let mut missing = Vec::new();
    let have: std::collections::HashSet<String> = all.iter().map(|c| c.id.clone()).collect();
    let synthetic_needed = wanted.saturating_sub(catalog.len());
    for i in 1..=synthetic_needed {
        let id = format!("synthetic_{i:04}");
        if have.contains(&id) {
            continue;
        }
        // Each synthetic control copies the shape of a catalog control (so services, categories,
        // tiers and licence plans are spread like the real ones) with its own points.
        let template = &catalog[i % catalog.len()];
        let points = 1 + (i * 7) % 10;
        missing.push(control::ActiveModel::from(control::Model {
            id: id.clone(),
            title: format!("Synthetic control {i:04} ({})", template.title),
            max_points: to_storage(&Points::from(points as i64)),
            vendor_rank: None,
            origin: "SYNTHETIC".to_string(),
            created_at: now,
            updated_at: now,
            ..template.clone()
        }));
    }
    insert_chunked(db, missing, 22).await?;
    let all = control::Entity::find().all(db).await?;
    let mut chosen: Vec<control::Model> = all
        .iter()
        .filter(|c| c.origin == "CATALOG" && !c.deprecated)
        .cloned()
        .collect();
    chosen.sort_by(|a, b| a.id.cmp(&b.id));
    let mut synthetic: Vec<control::Model> = all.into_iter().filter(|c| c.origin == "SYNTHETIC").collect();
    synthetic.sort_by(|a, b| a.id.cmp(&b.id));
    chosen.extend(synthetic.into_iter().take(synthetic_needed));
    chosen.truncate(wanted);
    Ok(chosen)
}

/// One planned action: today's state and the day (index into the range) it was reached.
struct PlannedAction {
    status: Status,
    implemented: i64,
    total: i64,
    /// Progress before `since`.
    implemented_before: i64,
    since: u32,
    review_by: Option<DateTime<Utc>>,
    users_affected: i64,
}

fn plan_action(rng: &mut StdRng, maturity: f64, days: u32, now: DateTime<Utc>, seats: i64) -> PlannedAction {
    let total = *[1_i64, 1, 1, 5, 10, 20, 50].choose(rng).unwrap_or(&1);
    let roll: f64 = rng.random();
    let (status, implemented, review_by) = if roll < maturity * 0.5 {
        (Status::Completed, total, None)
    } else if roll < maturity * 0.5 + 0.05 {
        let review = rng
            .random_bool(0.6)
            .then(|| now + Duration::days(rng.random_range(20..400)));
        (Status::RiskAccepted, rng.random_range(0..total), review)
    } else if roll < maturity * 0.5 + 0.09 {
        let review = rng
            .random_bool(0.5)
            .then(|| now + Duration::days(rng.random_range(20..400)));
        let s = if rng.random_bool(0.5) {
            Status::ResolvedThirdParty
        } else {
            Status::ResolvedAlternateMitigation
        };
        (s, rng.random_range(0..total), review)
    } else if roll < maturity * 0.5 + 0.25 {
        (Status::Planned, rng.random_range(0..total), None)
    } else {
        (Status::ToAddress, rng.random_range(0..total), None)
    };
    PlannedAction {
        status,
        implemented,
        total,
        implemented_before: rng.random_range(0..=implemented),
        since: rng.random_range(0..days.max(1)),
        review_by,
        users_affected: rng.random_range(0..=seats.min(50_000)),
    }
}

/// One tenant of a batch, before it has an id.
struct PlannedTenant {
    slug: String,
    industry: &'static str,
    seats: i64,
    skus: &'static [&'static str],
    actions: Vec<PlannedAction>,
}

fn plan_tenant(
    i: usize,
    rng: &mut StdRng,
    n_controls: usize,
    days: u32,
    now: DateTime<Utc>,
) -> PlannedTenant {
    // Seat counts spread over every band (1–100 … 10001+).
    let seats = *[45_i64, 80, 250, 420, 800, 2_400, 4_000, 7_200, 15_000, 40_000]
        .choose(rng)
        .unwrap_or(&250);
    let maturity: f64 = rng.random_range(0.15..0.9);
    PlannedTenant {
        slug: slug(i),
        industry: INDUSTRIES[i % INDUSTRIES.len()],
        seats,
        skus: LICENCE_BUNDLES.choose(rng).copied().unwrap_or(&[]),
        actions: (0..n_controls)
            .map(|_| plan_action(rng, maturity, days, now, seats))
            .collect(),
    }
}

/// The scoring input of an action, reusable across the days of a simulation.
fn scored(c: &control::Model, licensed: bool) -> ScoredAction {
    ScoredAction {
        category: c.category,
        max_points: from_storage(c.max_points),
        deprecated: c.deprecated,
        status: Status::ToAddress,
        implemented: 0,
        total: 0,
        licensed,
        tier: c.tier,
        user_impact: c.user_impact,
        implementation_cost: c.implementation_cost,
    }
}

/// Seeds the scale data set into a migrated database that holds the catalog.
pub async fn seed(
    db: &DatabaseConnection,
    opts: &ScaleOptions,
    now: DateTime<Utc>,
) -> anyhow::Result<ScaleReport> {
    let started = std::time::Instant::now();
    anyhow::ensure!(opts.tenants >= 1, "--tenants must be at least 1");
    anyhow::ensure!(opts.controls >= 1, "--controls must be at least 1");
    let taken = tenant::Entity::find()
        .filter(tenant::Column::Slug.eq(slug(0)))
        .count(db)
        .await?;
    anyhow::ensure!(
        taken == 0,
        "this database already holds a scale data set (tenant {}); use a fresh database",
        slug(0)
    );
    let controls = controls(db, opts.controls, now).await?;
    let services: Vec<String> = {
        let mut s: Vec<String> = controls.iter().map(|c| c.service.clone()).collect();
        s.sort();
        s.dedup();
        s
    };
    let plans_of: HashMap<String, Vec<String>> = {
        let mut m: HashMap<String, Vec<String>> = HashMap::new();
        for p in license_plan::Entity::find().all(db).await? {
            m.entry(p.license_sku).or_default().push(p.plan);
        }
        m
    };
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let today = now.date_naive();
    let first_day = today - Days::new(u64::from(opts.days));

    let setup = crate::db::begin_write(db).await?;
    let msp = tenants::create_principal(&setup, "Scale MSP", "TOKEN", now)
        .await
        .map_err(|e| anyhow::anyhow!(e.message()))?;
    let (msp_token, _) = tenants::issue_token(&setup, msp.id, "scale benchmark", None, None, now)
        .await
        .map_err(|e| anyhow::anyhow!(e.message()))?;
    setup.commit().await?;

    let mut actions_written = 0;
    let mut snapshots_written = 0;
    for batch_start in (0..opts.tenants).step_by(TENANTS_PER_BATCH) {
        let batch_end = (batch_start + TENANTS_PER_BATCH).min(opts.tenants);
        let planned: Vec<PlannedTenant> = (batch_start..batch_end)
            .map(|i| plan_tenant(i, &mut rng, controls.len(), opts.days, now))
            .collect();
        let txn = crate::db::begin_write(db).await?;
        let tenant_rows: Vec<tenant::ActiveModel> = planned
            .iter()
            .map(|p| tenant::ActiveModel {
                slug: Set(p.slug.clone()),
                name: Set(format!("Scale organisation {}", &p.slug[6..])),
                industry: Set(p.industry.to_string()),
                seat_count: Set(p.seats),
                active_user_count: Set(p.seats * 9 / 10),
                enabled_services: Set(StringList(services.clone())),
                azure_tenant_id: Set(None),
                state_version: Set(1),
                created_at: Set(now - Duration::days(i64::from(opts.days) + 30)),
                updated_at: Set(now),
                ..Default::default()
            })
            .collect();
        insert_chunked(&txn, tenant_rows, 11).await?;
        let slugs: Vec<String> = planned.iter().map(|p| p.slug.clone()).collect();
        let ids: HashMap<String, i64> = tenant::Entity::find()
            .select_only()
            .column(tenant::Column::Slug)
            .column(tenant::Column::Id)
            .filter(tenant::Column::Slug.is_in(slugs))
            .into_tuple::<(String, i64)>()
            .all(&txn)
            .await?
            .into_iter()
            .collect();
        let tenant_id = |p: &PlannedTenant| {
            ids.get(&p.slug)
                .copied()
                .with_context(|| format!("tenant {} was not written", p.slug))
        };

        let mut licences = Vec::new();
        let mut grants = Vec::new();
        let mut action_rows = Vec::with_capacity(planned.len() * controls.len());
        let mut snapshots = Vec::with_capacity(planned.len() * opts.days as usize);
        for p in &planned {
            let tid = tenant_id(p)?;
            grants.push(role_grant::ActiveModel {
                principal_id: Set(msp.id),
                tenant_id: Set(tid),
                role: Set(Role::Operator),
                created_at: Set(now),
            });
            let mut held = Vec::new();
            for (k, sku) in p.skus.iter().enumerate() {
                // A few licences run out within the next weeks, so expiry is part of the data.
                let expires_at = now + Duration::days(if k == 1 && rng.random_bool(0.2) { 20 } else { 365 });
                held.push(HeldLicense {
                    plans: plans_of.get(*sku).cloned().unwrap_or_default(),
                    seats_purchased: p.seats,
                    expires_at: Some(expires_at),
                });
                licences.push(tenant_license::ActiveModel {
                    tenant_id: Set(tid),
                    license_sku: Set(sku.to_string()),
                    seats_purchased: Set(p.seats),
                    seats_assigned: Set(p.seats * 9 / 10),
                    expires_at: Set(Some(expires_at)),
                    created_at: Set(now - Duration::days(i64::from(opts.days) + 30)),
                    updated_at: Set(now),
                    ..Default::default()
                });
            }
            let mut sim = Vec::with_capacity(controls.len());
            for (c, a) in controls.iter().zip(&p.actions) {
                let changed = now - Duration::days(i64::from(opts.days - a.since.min(opts.days)));
                action_rows.push(improvement_action::ActiveModel {
                    tenant_id: Set(tid),
                    control_id: Set(c.id.clone()),
                    category: Set(c.category),
                    status: Set(a.status),
                    implemented: Set(a.implemented),
                    total: Set(a.total),
                    implementation_status: Set(Some(format!("{} of {} implemented", a.implemented, a.total))),
                    users_affected: Set(a.users_affected),
                    review_by: Set(a.review_by),
                    version: Set(1),
                    origin: Set("APPLICABLE".to_string()),
                    status_changed_at: Set(changed),
                    created_at: Set(now - Duration::days(i64::from(opts.days) + 1)),
                    updated_at: Set(changed),
                    ..Default::default()
                });
                let lic = licensing(&c.required_license_plans.0, &held, a.users_affected, now);
                let mut s = scored(c, lic.licensed);
                s.total = a.total;
                sim.push(s);
            }
            for t in 0..opts.days {
                let mut counts: BTreeMap<String, i64> =
                    Status::ALL.iter().map(|s| (s.as_str().to_string(), 0)).collect();
                for (s, a) in sim.iter_mut().zip(&p.actions) {
                    (s.status, s.implemented) = if t >= a.since {
                        (a.status, a.implemented)
                    } else {
                        (Status::ToAddress, a.implemented_before.min(a.total - 1).max(0))
                    };
                    *counts.entry(s.status.as_str().to_string()).or_default() += 1;
                }
                let score = compute_score(&sim);
                let day = first_day + Days::new(u64::from(t));
                let end = crate::service::history::snapshots::end_of_day(day);
                snapshots.push(crate::service::history::snapshots::computed_row(
                    tid,
                    day,
                    &score,
                    counts,
                    end.min(now),
                ));
            }
        }
        actions_written += action_rows.len();
        snapshots_written += snapshots.len();
        insert_chunked(&txn, grants, 4).await?;
        tenants::bump_grants_version(&txn, msp.id)
            .await
            .map_err(|e| anyhow::anyhow!(e.message()))?;
        insert_chunked(&txn, licences, 8).await?;
        insert_chunked(&txn, action_rows, 15).await?;
        insert_chunked(&txn, snapshots, 16).await?;
        write_tags_and_notes(&txn, &ids, msp.id, &mut rng, now).await?;
        txn.commit().await?;
    }

    // Cohort figures per day, as the daily job would have written them.
    for t in 0..opts.days {
        let txn = crate::db::begin_write(db).await?;
        comparisons::write_aggregates(&txn, first_day + Days::new(u64::from(t)), now)
            .await
            .map_err(|e| anyhow::anyhow!(e.message()))?;
        txn.commit().await?;
    }

    // Every tenant's persisted state, as its writes would have left it.
    crate::service::state::persisted::persist_missing(db, now)
        .await
        .map_err(|e| anyhow::anyhow!(e.message()))?;

    if let Some(path) = &opts.tokens_file {
        super::write_secret_file(path, &format!("{msp_token}\n"), "--tokens-file")?;
    }
    Ok(ScaleReport {
        tenants: opts.tenants,
        controls: controls.len(),
        actions: actions_written,
        snapshots: snapshots_written,
        msp_token,
        first_slug: slug(0),
        elapsed: started.elapsed(),
    })
}

/// Four tags per tenant on about 15 % of its actions, and a note on about 5 %.
async fn write_tags_and_notes<C: ConnectionTrait>(
    conn: &C,
    tenant_ids: &HashMap<String, i64>,
    author: i64,
    rng: &mut StdRng,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let ids: Vec<i64> = tenant_ids.values().copied().collect();
    let tags: Vec<tag::ActiveModel> = ids
        .iter()
        .flat_map(|&tid| {
            TAG_NAMES.iter().map(move |(name, color)| tag::ActiveModel {
                tenant_id: Set(tid),
                name: Set(name.to_string()),
                color: Set(color.to_string()),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            })
        })
        .collect();
    insert_chunked(conn, tags, 5).await?;
    let mut tags_of: HashMap<i64, Vec<i64>> = HashMap::new();
    for (tid, id) in tag::Entity::find()
        .select_only()
        .column(tag::Column::TenantId)
        .column(tag::Column::Id)
        .filter(tag::Column::TenantId.is_in(ids.clone()))
        .into_tuple::<(i64, i64)>()
        .all(conn)
        .await?
    {
        tags_of.entry(tid).or_default().push(id);
    }
    let actions: Vec<(i64, i64)> = improvement_action::Entity::find()
        .select_only()
        .column(improvement_action::Column::Id)
        .column(improvement_action::Column::TenantId)
        .filter(improvement_action::Column::TenantId.is_in(ids))
        .into_tuple()
        .all(conn)
        .await?;
    let mut links = Vec::new();
    let mut notes = Vec::new();
    for (action_id, tid) in actions {
        if rng.random_bool(0.15)
            && let Some(tag_ids) = tags_of.get(&tid)
        {
            let n = rng.random_range(1..=2);
            for tag_id in tag_ids.choose_multiple(rng, n) {
                links.push(action_tag::ActiveModel {
                    action_id: Set(action_id),
                    tag_id: Set(*tag_id),
                    created_at: Set(now),
                });
            }
        }
        if rng.random_bool(0.05) {
            notes.push(note::ActiveModel {
                tenant_id: Set(tid),
                action_id: Set(action_id),
                author_id: Set(Some(author)),
                body: Set("Reviewed with the service owner; rollout planned after the pilot.".to_string()),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            });
        }
    }
    insert_chunked(conn, links, 3).await?;
    insert_chunked(conn, notes, 7).await?;
    Ok(())
}
