//! Daily score snapshots (SPEC §8): one row per tenant per UTC day, written by a background job,
//! by the `securescore snapshot` CLI, and by backfills.
//!
//! A snapshot of day D is the tenant's state **at the end of D**, reconstructed honestly from
//! the current rows by replaying newer events backwards (`domain::replay`), so the job, a
//! snapshot taken days late and a backfill all give the same figures, and a written snapshot is
//! final. Today is never written: it is always served live. Inserting is `ON CONFLICT (tenant_id,
//! day) DO NOTHING`, so re-runs and racing processes never duplicate a row, and an existing row
//! (e.g. one imported from Microsoft Graph, `source = IMPORTED`) is never overwritten.
//!
//! Several server processes may share one PostgreSQL database: the job claims a day in
//! `job_lease` with a conditional insert (or takes over a lease that expired uncompleted), so
//! one process does a day's work; the others see the claim and skip. Whatever a crashed holder
//! left half done is completed by the next one, since every write is idempotent.
//!
//! What the event log does not record is taken as it is now: a control's points or deprecation
//! changed later, and licences (those bought after D are left out; expiry is judged at the end
//! of D).

use crate::domain::enums::{Role, Status};
use crate::domain::points::Points;
use crate::domain::replay::{ActionProgress, PastEvent, state_before};
use crate::domain::scoring::{ScoreViews, TenantScore, to_storage};
use crate::error::{AppError, AppResult};
use crate::service::history::{cache, comparisons, packed};
use crate::service::state::{self, TenantState, parse};
use chrono::{DateTime, Days, NaiveDate, Utc};
use entity::types::{CategoryFigure, CategoryFigures, ExactFigures, ExactViews, StatusCounts};
use entity::{action_event, cohort_aggregate, improvement_action, job_lease, score_snapshot, tenant};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    Set, TryInsertResult,
};
use std::collections::{BTreeMap, HashMap};

/// Longest date range a history, trend or comparison query may ask for, in days.
pub const MAX_RANGE_DAYS: i64 = 400;

/// How many days back the job looks for days nobody snapshotted (e.g. while every server was
/// down); older gaps are for `securescore snapshot --backfill-from`.
const CATCH_UP_DAYS: u64 = 7;

/// How long a claim on a day's job lasts before another process may take it over.
const LEASE_TTL: chrono::TimeDelta = chrono::TimeDelta::minutes(15);

/// Source of snapshots this service computes.
pub const SOURCE_COMPUTED: &str = "COMPUTED";
/// Snapshot `source` of a day written by an import (the snapshot job leaves these alone).
pub const SOURCE_IMPORTED: &str = "IMPORTED";
/// Source of today's score, computed when asked (never stored).
pub const SOURCE_LIVE: &str = "LIVE";

/// The first moment after day `day` (its end, exclusive).
pub fn end_of_day(day: NaiveDate) -> DateTime<Utc> {
    (day + Days::new(1)).and_time(chrono::NaiveTime::MIN).and_utc()
}

/// The first moment of day `day`.
pub fn start_of_day(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// Checks a query's date range: `from ≤ to` and at most [`MAX_RANGE_DAYS`] days.
pub fn validate_range(from: NaiveDate, to: NaiveDate) -> AppResult<()> {
    if from > to {
        return Err(AppError::bad_input("from", "`from` must not be after `to`"));
    }
    if (to - from).num_days() + 1 > MAX_RANGE_DAYS {
        return Err(AppError::bad_input(
            "to",
            format!("a range may span at most {MAX_RANGE_DAYS} days"),
        ));
    }
    Ok(())
}

/// `(implementedBefore, totalBefore)` from a progress event's data.
pub(crate) fn progress_before(data: Option<&serde_json::Value>) -> Option<(i64, i64)> {
    let data = data?;
    Some((
        data.get("implementedBefore")?.as_i64()?,
        data.get("totalBefore")?.as_i64()?,
    ))
}

/// The tenant's scored state at the end of `day`: actions that existed then, each rolled back
/// over the events that happened after it.
pub async fn state_at_end_of<C: ConnectionTrait>(
    conn: &C,
    tenant: tenant::Model,
    day: NaiveDate,
) -> AppResult<TenantState> {
    let end = end_of_day(day);
    let rows = improvement_action::Entity::find()
        .filter(improvement_action::Column::TenantId.eq(tenant.id))
        .filter(improvement_action::Column::CreatedAt.lt(end))
        .all(conn)
        .await?;
    let rows = crate::service::state::controls::with_controls(conn, &tenant, rows).await?;
    let mut newer: HashMap<i64, Vec<PastEvent>> = HashMap::new();
    for e in action_event::Entity::find()
        .filter(action_event::Column::TenantId.eq(tenant.id))
        .filter(action_event::Column::OccurredAt.gte(end))
        .order_by_desc(action_event::Column::OccurredAt)
        .order_by_desc(action_event::Column::Id)
        .all(conn)
        .await?
    {
        newer.entry(e.action_id).or_default().push(PastEvent {
            kind: e.kind,
            status_before: e.status_before,
            progress_before: progress_before(e.data.as_ref()),
        });
    }
    let mut past_rows = Vec::with_capacity(rows.len());
    for (mut row, c) in rows {
        if let Some(events) = newer.get(&row.id) {
            let now = ActionProgress {
                status: row.status,
                implemented: row.implemented,
                total: row.total,
            };
            let then = state_before(now, events);
            row.status = then.status;
            row.implemented = then.implemented;
            row.total = then.total;
        }
        past_rows.push((row, c));
    }
    let held = state::held_licenses_bought_before(conn, tenant.id, Some(end)).await?;
    state::build_shared(tenant, past_rows, &held, end)
}

/// The per-category figures of a score, in storage units (ten-thousandths of a point).
pub fn category_figures(score: &TenantScore) -> CategoryFigures {
    CategoryFigures(
        score
            .categories
            .iter()
            .map(|(c, v)| CategoryFigure {
                category: c.as_str().to_string(),
                max_score: to_storage(&v.max_score),
                current: to_storage(&v.current),
                planned: to_storage(&v.planned),
                current_license: to_storage(&v.current_license),
                achievable: to_storage(&v.achievable),
                verified: to_storage(&v.verified),
            })
            .collect(),
    )
}

/// The six views as exact fractions.
fn exact_views(v: &ScoreViews) -> ExactViews {
    v.as_array().map(Points::to_exact_string)
}

/// The figures of a score as exact fractions (SPEC §3: points are exact in storage).
pub fn exact_figures(score: &TenantScore) -> ExactFigures {
    ExactFigures {
        overall: exact_views(&score.overall),
        categories: score
            .categories
            .iter()
            .map(|(c, v)| (c.as_str().to_string(), exact_views(v)))
            .collect(),
    }
}

/// Views read back from exact fractions; `None` when a stored text is not one (then the
/// rounded integer columns are used).
fn views_of_exact(v: &ExactViews) -> Option<ScoreViews> {
    let mut parsed = v.iter().map(|s| s.parse::<Points>().ok());
    let mut next = || parsed.next().flatten();
    Some(ScoreViews::from_array([
        next()?,
        next()?,
        next()?,
        next()?,
        next()?,
        next()?,
    ]))
}

/// Counts of actions by status, every status present (zero where none).
pub fn status_counts<'a>(statuses: impl IntoIterator<Item = &'a Status>) -> BTreeMap<String, i64> {
    let mut counts: BTreeMap<String, i64> = Status::ALL.iter().map(|s| (s.as_str().to_string(), 0)).collect();
    for s in statuses {
        *counts.entry(s.as_str().to_string()).or_default() += 1;
    }
    counts
}

/// A `COMPUTED` snapshot row of a score: the one shape the job, the backfill and the seeders
/// write.
pub fn computed_row(
    tenant_id: i64,
    day: NaiveDate,
    score: &TenantScore,
    counts: BTreeMap<String, i64>,
    created_at: DateTime<Utc>,
) -> score_snapshot::ActiveModel {
    let v = &score.overall;
    score_snapshot::ActiveModel {
        tenant_id: Set(tenant_id),
        day: Set(day),
        max_score: Set(to_storage(&v.max_score)),
        current: Set(to_storage(&v.current)),
        planned: Set(to_storage(&v.planned)),
        current_license: Set(to_storage(&v.current_license)),
        achievable: Set(to_storage(&v.achievable)),
        verified: Set(to_storage(&v.verified)),
        categories: Set(category_figures(score)),
        exact: Set(Some(exact_figures(score))),
        status_counts: Set(StatusCounts(counts)),
        source: Set(SOURCE_COMPUTED.to_string()),
        vendor_current_score: Set(None),
        vendor_max_score: Set(None),
        created_at: Set(created_at),
        ..Default::default()
    }
}

/// The snapshot row of a computed state.
fn snapshot_row(s: &TenantState, day: NaiveDate, now: DateTime<Utc>) -> score_snapshot::ActiveModel {
    let counts = status_counts(s.actions.iter().map(|a| &a.scored.status));
    computed_row(s.tenant.id, day, &s.score, counts, now)
}

/// Writes one tenant's snapshot of the past day `day` unless it has one. Returns whether a row
/// was written.
pub async fn write_snapshot<C: ConnectionTrait>(
    conn: &C,
    tenant: tenant::Model,
    day: NaiveDate,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let exists = score_snapshot::Entity::find()
        .filter(score_snapshot::Column::TenantId.eq(tenant.id))
        .filter(score_snapshot::Column::Day.eq(day))
        .count(conn)
        .await?
        > 0;
    if exists {
        // Cheap path for re-runs; the conflict clause below covers a race with another writer.
        return Ok(false);
    }
    let state = state_at_end_of(conn, tenant, day).await?;
    let inserted = score_snapshot::Entity::insert(snapshot_row(&state, day, now))
        .on_conflict_do_nothing_on([score_snapshot::Column::TenantId, score_snapshot::Column::Day])
        .exec_without_returning(conn)
        .await?;
    Ok(matches!(inserted, TryInsertResult::Inserted(n) if n > 0))
}

/// What snapshotting one day did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DayReport {
    pub day: NaiveDate,
    /// Tenants whose snapshot was written now.
    pub written: usize,
    /// Tenants that already had one (computed or imported).
    pub existing: usize,
    /// Whether the day's cohort aggregates were (re)computed.
    pub aggregated: bool,
}

/// Snapshots every tenant that existed at the end of the past day `day`, then recomputes the
/// day's cohort aggregates when a snapshot was added (or none were computed yet).
pub async fn snapshot_day(
    db: &DatabaseConnection,
    day: NaiveDate,
    now: DateTime<Utc>,
) -> AppResult<DayReport> {
    if day >= now.date_naive() {
        return Err(AppError::bad_input(
            "date",
            format!("{day} is not over yet: today is served live and a day is snapshotted once it has ended"),
        ));
    }
    let tenants = tenant::Entity::find()
        .filter(tenant::Column::CreatedAt.lt(end_of_day(day)))
        .order_by_asc(tenant::Column::Id)
        .all(db)
        .await?;
    let mut report = DayReport {
        day,
        ..DayReport::default()
    };
    for t in tenants {
        if write_snapshot(db, t, day, now).await? {
            report.written += 1;
        } else {
            report.existing += 1;
        }
    }
    let has_aggregates = cohort_aggregate::Entity::find()
        .filter(cohort_aggregate::Column::Day.eq(day))
        .count(db)
        .await?
        > 0;
    if report.written > 0 || !has_aggregates {
        let txn = crate::db::begin_write(db).await?;
        comparisons::write_aggregates(&txn, day, now).await?;
        txn.commit().await?;
        report.aggregated = true;
    }
    Ok(report)
}

/// Snapshots every past day from `from` to `to` (inclusive), oldest first.
pub async fn backfill(
    db: &DatabaseConnection,
    from: NaiveDate,
    to: NaiveDate,
    now: DateTime<Utc>,
) -> AppResult<Vec<DayReport>> {
    if from > to {
        return Err(AppError::bad_input(
            "from",
            "--backfill-from must not be after --to",
        ));
    }
    let mut reports = Vec::new();
    for day in from.iter_days().take_while(|d| *d <= to) {
        reports.push(snapshot_day(db, day, now).await?);
    }
    Ok(reports)
}

/// Claims the named job for `holder`: a new lease, or one that expired without completing.
async fn claim(db: &DatabaseConnection, name: &str, holder: &str, now: DateTime<Utc>) -> AppResult<bool> {
    let inserted = job_lease::Entity::insert(job_lease::ActiveModel {
        name: Set(name.to_string()),
        holder: Set(holder.to_string()),
        claimed_at: Set(now),
        expires_at: Set(now + LEASE_TTL),
        completed_at: Set(None),
    })
    .on_conflict_do_nothing_on([job_lease::Column::Name])
    .exec_without_returning(db)
    .await?;
    if matches!(inserted, TryInsertResult::Inserted(n) if n > 0) {
        return Ok(true);
    }
    // The condition is the lock: of several processes taking over the same expired lease, the
    // database lets exactly one UPDATE match.
    let taken = job_lease::Entity::update_many()
        .col_expr(job_lease::Column::Holder, Expr::value(holder))
        .col_expr(job_lease::Column::ClaimedAt, Expr::value(now))
        .col_expr(job_lease::Column::ExpiresAt, Expr::value(now + LEASE_TTL))
        .filter(job_lease::Column::Name.eq(name))
        .filter(job_lease::Column::CompletedAt.is_null())
        .filter(job_lease::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    Ok(taken.rows_affected == 1)
}

/// Ends `holder`'s lease: completed, or released for another process to retry at once.
async fn finish(
    db: &DatabaseConnection,
    name: &str,
    holder: &str,
    completed: bool,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let column = if completed {
        job_lease::Column::CompletedAt
    } else {
        job_lease::Column::ExpiresAt
    };
    job_lease::Entity::update_many()
        .col_expr(column, Expr::value(now))
        .filter(job_lease::Column::Name.eq(name))
        .filter(job_lease::Column::Holder.eq(holder))
        .exec(db)
        .await?;
    Ok(())
}

/// What one run of the daily job did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobReport {
    /// Days this process claimed and snapshotted.
    pub days: Vec<DayReport>,
    /// Days another process holds or has completed.
    pub skipped: Vec<NaiveDate>,
    /// Snapshots deleted by retention.
    pub deleted: u64,
}

/// One run of the daily job as of `now`: for yesterday (and the days before it up to a week
/// back, in case they were missed), claim the day, snapshot every tenant that lacks one, write
/// the day's cohort aggregates, and delete snapshots older than `retention_days`.
pub async fn run_daily_job(
    db: &DatabaseConnection,
    holder: &str,
    retention_days: u32,
    now: DateTime<Utc>,
) -> AppResult<JobReport> {
    let today = now.date_naive();
    let mut report = JobReport::default();
    for back in (1..=CATCH_UP_DAYS).rev() {
        let day = today - Days::new(back);
        let name = format!("snapshot:{day}");
        let done = job_lease::Entity::find_by_id(name.clone())
            .one(db)
            .await?
            .is_some_and(|l| l.completed_at.is_some());
        if done || !claim(db, &name, holder, now).await? {
            report.skipped.push(day);
            continue;
        }
        match snapshot_day(db, day, now).await {
            Ok(day_report) => {
                finish(db, &name, holder, true, now).await?;
                report.days.push(day_report);
            }
            Err(e) => {
                finish(db, &name, holder, false, now).await?;
                return Err(e);
            }
        }
    }
    report.deleted = apply_retention(db, retention_days, now).await?;
    Ok(report)
}

/// Deletes snapshots this service computed, cohort aggregates and finished leases older than
/// `retention_days`. Imported history (snapshots and vendor benchmarks from Microsoft Graph) is
/// the customer's archive and is kept until the tenant's ADMIN deletes it
/// ([`delete_imported_history`]).
pub async fn apply_retention(
    db: &DatabaseConnection,
    retention_days: u32,
    now: DateTime<Utc>,
) -> AppResult<u64> {
    let cutoff = now.date_naive() - Days::new(u64::from(retention_days));
    let deleted = score_snapshot::Entity::delete_many()
        .filter(score_snapshot::Column::Day.lt(cutoff))
        .filter(score_snapshot::Column::Source.eq(SOURCE_COMPUTED))
        .exec(db)
        .await?
        .rows_affected;
    cohort_aggregate::Entity::delete_many()
        .filter(cohort_aggregate::Column::Day.lt(cutoff))
        .exec(db)
        .await?;
    job_lease::Entity::delete_many()
        .filter(job_lease::Column::CompletedAt.lt(start_of_day(cutoff)))
        .exec(db)
        .await?;
    Ok(deleted)
}

/// What [`delete_imported_history`] removed.
#[derive(Clone, Debug)]
pub struct DeletedHistory {
    pub tenant: tenant::Model,
    pub snapshots: u64,
    pub benchmarks: u64,
}

/// Deletes a tenant's imported history (ADMIN): the snapshots and vendor benchmarks its
/// Microsoft Graph imports wrote, on the days `from..=to` (every day when absent), in one
/// transaction with its audit row. Computed snapshots are left alone.
pub async fn delete_imported_history(
    db: &DatabaseConnection,
    viewer: &crate::auth::Viewer,
    tenant_slug: &str,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> AppResult<DeletedHistory> {
    let tenant = crate::service::access::tenants::by_slug(db, viewer, tenant_slug).await?;
    viewer.require(tenant.id, Role::Admin)?;
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(AppError::bad_input("from", "from must not be after to"));
    }
    let txn = crate::db::begin_write(db).await?;
    let mut snapshots = score_snapshot::Entity::delete_many()
        .filter(score_snapshot::Column::TenantId.eq(tenant.id))
        .filter(score_snapshot::Column::Source.eq(SOURCE_IMPORTED));
    let mut benchmarks = entity::vendor_benchmark::Entity::delete_many()
        .filter(entity::vendor_benchmark::Column::TenantId.eq(tenant.id));
    if let Some(f) = from {
        snapshots = snapshots.filter(score_snapshot::Column::Day.gte(f));
        benchmarks = benchmarks.filter(entity::vendor_benchmark::Column::Day.gte(f));
    }
    if let Some(t) = to {
        snapshots = snapshots.filter(score_snapshot::Column::Day.lte(t));
        benchmarks = benchmarks.filter(entity::vendor_benchmark::Column::Day.lte(t));
    }
    let snapshots = snapshots.exec(&txn).await?.rows_affected;
    let benchmarks = benchmarks.exec(&txn).await?.rows_affected;
    crate::service::audit::record(
        &txn,
        Some(tenant.id),
        Some(viewer.principal_id),
        "IMPORTED_HISTORY_DELETED",
        format!("Tenant:{}", tenant.slug),
        serde_json::json!({ "from": from, "to": to, "snapshots": snapshots, "benchmarks": benchmarks }),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(DeletedHistory {
        tenant,
        snapshots,
        benchmarks,
    })
}

/// Runs the daily job every `every` until the process stops. Each process has its own holder
/// name; the lease decides which one works on a day.
pub fn spawn_snapshot_job(
    db: DatabaseConnection,
    every: std::time::Duration,
    retention_days: u32,
) -> tokio::task::JoinHandle<()> {
    let holder = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let result = run_daily_job(&db, &holder, retention_days, Utc::now()).await;
            crate::metrics::record_snapshot_job_run(if result.is_ok() { "ok" } else { "error" });
            match result {
                Ok(r) if r.days.is_empty() && r.deleted == 0 => {}
                Ok(r) => tracing::info!(
                    days = r.days.len(),
                    written = r.days.iter().map(|d| d.written).sum::<usize>(),
                    deleted = r.deleted,
                    "snapshot job"
                ),
                Err(e) => tracing::warn!(error = ?e, "snapshot job failed"),
            }
        }
    })
}

/// One day of a tenant's score history, stored or live.
#[derive(Clone, Debug)]
pub struct DailyScore {
    pub day: NaiveDate,
    /// `COMPUTED`, `IMPORTED`, or `LIVE` for today.
    pub source: String,
    pub overall: ScoreViews,
    /// One entry per category present (all five for computed snapshots).
    pub categories: Vec<(crate::domain::enums::Category, ScoreViews)>,
    pub status_counts: Vec<(Status, i64)>,
    /// The vendor's own figures of an imported snapshot, as reported.
    pub vendor_current_score: Option<Points>,
    pub vendor_max_score: Option<Points>,
}

impl DailyScore {
    /// Today's figures from the live state.
    pub fn live(s: &TenantState, today: NaiveDate) -> DailyScore {
        let mut counts: BTreeMap<Status, i64> = Status::ALL.iter().map(|s| (*s, 0)).collect();
        for a in &s.actions {
            *counts.entry(a.scored.status).or_default() += 1;
        }
        DailyScore {
            day: today,
            source: SOURCE_LIVE.to_string(),
            overall: s.score.overall.clone(),
            categories: s.score.categories.clone(),
            status_counts: counts.into_iter().collect(),
            vendor_current_score: None,
            vendor_max_score: None,
        }
    }

    /// A stored snapshot's figures: the exact ones where the row has them (computed days),
    /// otherwise the integer columns (imported days, whose vendor figures are decimals).
    pub fn stored(row: &score_snapshot::Model) -> AppResult<DailyScore> {
        let views = |max: i64, current: i64, planned: i64, lic: i64, achievable: i64, verified: i64| {
            ScoreViews::from_array(
                [max, current, planned, lic, achievable, verified].map(Points::from_storage),
            )
        };
        let exact = row.exact.as_ref();
        let mut categories = Vec::with_capacity(row.categories.0.len());
        for f in &row.categories.0 {
            let figures = exact
                .and_then(|e| e.categories.get(&f.category))
                .and_then(views_of_exact)
                .unwrap_or_else(|| {
                    views(
                        f.max_score,
                        f.current,
                        f.planned,
                        f.current_license,
                        f.achievable,
                        f.verified,
                    )
                });
            categories.push((parse(&f.category, "category")?, figures));
        }
        let mut status_counts = Vec::with_capacity(row.status_counts.0.len());
        for (status, count) in &row.status_counts.0 {
            status_counts.push((parse(status, "status")?, *count));
        }
        Ok(DailyScore {
            day: row.day,
            source: row.source.clone(),
            overall: exact.and_then(|e| views_of_exact(&e.overall)).unwrap_or_else(|| {
                views(
                    row.max_score,
                    row.current,
                    row.planned,
                    row.current_license,
                    row.achievable,
                    row.verified,
                )
            }),
            categories,
            status_counts,
            vendor_current_score: row.vendor_current_score.map(Points::from_storage),
            vendor_max_score: row.vendor_max_score.map(Points::from_storage),
        })
    }
}

/// A tenant's stored snapshots of `from..=to`, by day (no authorisation here: callers check the
/// viewer first, and the range is validated by the functions that use them).
pub async fn of_tenant<C: ConnectionTrait>(
    conn: &C,
    tenant_id: i64,
    from: NaiveDate,
    to: NaiveDate,
) -> AppResult<Vec<score_snapshot::Model>> {
    Ok(score_snapshot::Entity::find()
        .filter(score_snapshot::Column::TenantId.eq(tenant_id))
        .filter(score_snapshot::Column::Day.gte(from))
        .filter(score_snapshot::Column::Day.lte(to))
        .order_by_asc(score_snapshot::Column::Day)
        .all(conn)
        .await?)
}

/// `Tenant.scoreHistory`: the stored snapshots of `from..=to` before today, then today from the
/// live state when the range includes it (READER). Days without a snapshot are left out.
///
/// Past days come from the history cache (`cache`: each day in compact form, checked against
/// the days' versions in one query), so a range of unchanged days parses nothing.
pub async fn history<C: ConnectionTrait>(
    conn: &C,
    viewer: &crate::auth::Viewer,
    live: &TenantState,
    from: NaiveDate,
    to: NaiveDate,
    today: NaiveDate,
) -> AppResult<Vec<DailyScore>> {
    viewer.require(live.tenant.id, Role::Reader)?;
    validate_range(from, to)?;
    let mut series = Vec::new();
    let last_past = today.pred_opt().map(|yesterday| yesterday.min(to));
    if let Some(last) = last_past.filter(|last| from <= *last) {
        let versions = cache::read_versions(conn, from, last).await?;
        let tenant = live.tenant.id;
        let stored = cache::HistoryCache::shared()
            .tenant_days(conn, &versions, &[tenant], from, last)
            .await?;
        for d in stored.get(&tenant).into_iter().flatten() {
            if let Some(snapshot) = &d.snapshot {
                series.push(packed::daily_score(snapshot, d.day)?);
            }
        }
    }
    if (from..=to).contains(&today) {
        series.push(DailyScore::live(live, today));
    }
    Ok(series)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().expect("valid date in test")
    }

    #[test]
    fn ranges_are_checked() {
        let cases = [
            ("2026-01-01", "2026-01-01", true, "one day"),
            ("2026-01-02", "2026-01-01", false, "from after to"),
            ("2026-01-01", "2027-02-04", true, "400 days"),
            ("2026-01-01", "2027-02-05", false, "401 days"),
        ];
        for (from, to, ok, why) in cases {
            assert_eq!(validate_range(day(from), day(to)).is_ok(), ok, "{why}");
        }
    }

    #[test]
    fn progress_before_is_read_from_event_data() {
        let data = serde_json::json!({ "implementedBefore": 2, "totalBefore": 5, "implemented": 5 });
        assert_eq!(progress_before(Some(&data)), Some((2, 5)), "both present");
        let partial = serde_json::json!({ "implementedBefore": 2 });
        assert_eq!(progress_before(Some(&partial)), None, "total missing");
        assert_eq!(progress_before(None), None, "no data");
    }

    #[test]
    fn a_day_ends_at_the_next_midnight_utc() {
        assert_eq!(
            end_of_day(day("2026-02-28")).to_rfc3339(),
            "2026-03-01T00:00:00+00:00"
        );
    }
}
