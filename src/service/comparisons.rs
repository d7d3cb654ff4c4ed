//! Comparisons with similar organisations (SPEC §8).
//!
//! Cost per request does not grow with the number of tenants for the standard cohorts: when a
//! day's snapshots are written, [`write_aggregates`] stores per cohort key (`ALL`,
//! `BAND:SEATS_101_500`, `INDUSTRY:finance`) a `domain::leave_one_out::CohortSummary` of the
//! members' percentages and per-category sums of points and max. Answering reads one row per day
//! and cohort and removes the asking tenant's own value in constant time, so a cohort never
//! contains the tenant asking about it. Membership is decided by the tenant's industry and seat
//! count when the aggregate was written.
//!
//! `CUSTOM` cohorts (any of industries × seat bands × holding a licence plan) can't be
//! precomputed for every combination: they are computed from that day's snapshots of the
//! matching tenants, so their cost grows with the size of the cohort (not with the number of
//! tenants overall: the matching is done by the database).
//!
//! A cohort with fewer than `k` tenants (after excluding the asker) is not answered, so no single
//! organisation can be inferred from it. Vendor benchmarks imported from Microsoft Graph are
//! returned beside ours, as reported.

use crate::auth::Viewer;
use crate::domain::cohort::{Distribution, SeatBand, distribution, suppressed};
use crate::domain::enums::{Category, Role};
use crate::domain::leave_one_out::CohortSummary;
use crate::domain::points::{Points, STORAGE_SCALE};
use crate::error::{AppError, AppResult};
use crate::service::snapshots::{end_of_day, validate_range};
use crate::service::state::{TenantState, parse};
use chrono::{DateTime, NaiveDate, Utc};
use entity::{cohort_aggregate, license_plan, score_snapshot, tenant, tenant_license, vendor_benchmark};
use rust_decimal::Decimal;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Most cohorts one comparison may ask for.
pub const MAX_COHORTS: usize = 10;

/// The key of the cohort of all tenants.
pub const KEY_ALL: &str = "ALL";

/// The key of a seat band's cohort, e.g. `BAND:SEATS_101_500`.
pub fn band_key(band: SeatBand) -> String {
    format!("BAND:{band}")
}

/// The key of an industry's cohort, e.g. `INDUSTRY:finance`.
pub fn industry_key(industry: &str) -> String {
    format!("INDUSTRY:{industry}")
}

/// The precomputed cohorts a tenant belongs to.
fn keys_of(t: &tenant::Model) -> [String; 3] {
    [
        KEY_ALL.to_string(),
        band_key(SeatBand::of(t.seat_count)),
        industry_key(&t.industry),
    ]
}

/// Sums of one category over a cohort's members.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct CategorySums {
    category: String,
    points: Decimal,
    max: Decimal,
}

/// What `cohort_aggregate.data` holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct AggregateData {
    summary: CohortSummary,
    categories: Vec<CategorySums>,
}

/// One tenant's figures on one day, as cohorts use them.
#[derive(Clone, Debug)]
struct Member {
    percentage: Decimal,
    /// `(category, points, max)`.
    categories: Vec<(String, Decimal, Decimal)>,
}

/// A stored integer figure as a decimal (cohort statistics are sums and means of such).
fn from_storage(v: i64) -> Decimal {
    Decimal::new(v, STORAGE_SCALE)
}

impl Member {
    fn of(row: &score_snapshot::Model) -> Member {
        Member {
            // 12 places: a statistic over many tenants, far finer than the 2 places it shows.
            percentage: Points::from_storage(row.current)
                .percent_of(&Points::from_storage(row.max_score))
                .round_dp(12),
            categories: row
                .categories
                .0
                .iter()
                .map(|c| {
                    (
                        c.category.clone(),
                        from_storage(c.current),
                        from_storage(c.max_score),
                    )
                })
                .collect(),
        }
    }
}

fn category_sums<'a>(members: impl Iterator<Item = &'a Member>) -> Vec<CategorySums> {
    let mut sums: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
    for m in members {
        for (category, points, max) in &m.categories {
            let entry = sums.entry(category.clone()).or_default();
            entry.0 += *points;
            entry.1 += *max;
        }
    }
    sums.into_iter()
        .map(|(category, (points, max))| CategorySums {
            category,
            points,
            max,
        })
        .collect()
}

/// (Re)computes the cohort aggregates of `day` from that day's snapshots (all sources). Run in
/// the caller's transaction; upserts, so racing writers converge on the same rows.
pub async fn write_aggregates<C: ConnectionTrait>(
    conn: &C,
    day: NaiveDate,
    now: DateTime<Utc>,
) -> AppResult<usize> {
    let rows = score_snapshot::Entity::find()
        .filter(score_snapshot::Column::Day.eq(day))
        .all(conn)
        .await?;
    let tenant_ids: Vec<i64> = rows.iter().map(|r| r.tenant_id).collect();
    let tenants: HashMap<i64, tenant::Model> = tenant::Entity::find()
        .filter(tenant::Column::Id.is_in(tenant_ids))
        .all(conn)
        .await?
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
    let mut groups: BTreeMap<String, Vec<Member>> = BTreeMap::new();
    for row in &rows {
        let Some(t) = tenants.get(&row.tenant_id) else {
            continue;
        };
        let member = Member::of(row);
        for key in keys_of(t) {
            groups.entry(key).or_default().push(member.clone());
        }
    }
    let mut models = Vec::with_capacity(groups.len());
    for (key, members) in &groups {
        let percentages: Vec<Decimal> = members.iter().map(|m| m.percentage).collect();
        let Some(summary) = CohortSummary::of(&percentages) else {
            continue;
        };
        let data = AggregateData {
            summary,
            categories: category_sums(members.iter()),
        };
        let data = serde_json::to_value(&data)
            .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("cohort aggregate")))?;
        models.push(cohort_aggregate::ActiveModel {
            day: Set(day),
            cohort_key: Set(key.clone()),
            member_count: Set(members.len() as i64),
            data: Set(data),
            computed_at: Set(now),
            ..Default::default()
        });
    }
    let keys: Vec<String> = groups.keys().cloned().collect();
    cohort_aggregate::Entity::delete_many()
        .filter(cohort_aggregate::Column::Day.eq(day))
        .filter(cohort_aggregate::Column::CohortKey.is_not_in(keys))
        .exec(conn)
        .await?;
    let written = models.len();
    for chunk in models.chunks(500) {
        cohort_aggregate::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([cohort_aggregate::Column::Day, cohort_aggregate::Column::CohortKey])
                    .update_columns([
                        cohort_aggregate::Column::MemberCount,
                        cohort_aggregate::Column::Data,
                        cohort_aggregate::Column::ComputedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(conn)
            .await?;
    }
    Ok(written)
}

/// A cohort to compare with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CohortSpec {
    AllTenants,
    /// The asker's seat band.
    SimilarSize,
    /// The asker's industry.
    SameIndustry,
    /// Tenants in any of `industries` (all when empty), in any of `seat_bands` (all when empty)
    /// and holding any of `license_plans` (no condition when empty).
    Custom {
        industries: Vec<String>,
        seat_bands: Vec<SeatBand>,
        license_plans: Vec<String>,
    },
}

/// Why a cohort is not answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suppression {
    /// Fewer than `k` tenants besides the asker.
    TooFewTenants { k: usize },
    /// No snapshots for that day (e.g. today, which is not over yet).
    NoData,
}

/// A cohort's average points and max of one category.
#[derive(Clone, Debug, PartialEq)]
pub struct CategoryAverage {
    pub category: Category,
    pub average_points: Decimal,
    pub average_max: Decimal,
}

/// An answered cohort.
#[derive(Clone, Debug, PartialEq)]
pub struct CohortFigures {
    /// Count (without the asker), mean and quartiles of the members' percentages.
    pub distribution: Distribution,
    pub categories: Vec<CategoryAverage>,
}

/// One cohort on one day.
#[derive(Clone, Debug)]
pub struct CohortAnswer {
    pub spec: CohortSpec,
    /// The cohort key, e.g. `BAND:SEATS_101_500`, or a description of a custom cohort.
    pub key: String,
    pub figures: Result<CohortFigures, Suppression>,
}

/// One day of a comparison.
#[derive(Clone, Debug)]
pub struct DayComparison {
    pub day: NaiveDate,
    /// The asker's own percentage that day (live for today).
    /// Exact for today; from the day's stored figures before.
    pub tenant_percentage: Option<Points>,
    pub cohorts: Vec<CohortAnswer>,
    /// Benchmarks imported from the vendor for the asker and that day.
    pub vendor_benchmarks: Vec<vendor_benchmark::Model>,
}

fn key_of_spec(spec: &CohortSpec, asker: &tenant::Model) -> String {
    match spec {
        CohortSpec::AllTenants => KEY_ALL.to_string(),
        CohortSpec::SimilarSize => band_key(SeatBand::of(asker.seat_count)),
        CohortSpec::SameIndustry => industry_key(&asker.industry),
        CohortSpec::Custom {
            industries,
            seat_bands,
            license_plans,
        } => {
            let mut parts = Vec::new();
            if !industries.is_empty() {
                parts.push(format!("INDUSTRY:{}", industries.join(",")));
            }
            if !seat_bands.is_empty() {
                let bands: Vec<&str> = seat_bands.iter().map(|b| b.as_str()).collect();
                parts.push(format!("BAND:{}", bands.join(",")));
            }
            if !license_plans.is_empty() {
                parts.push(format!("PLAN:{}", license_plans.join(",")));
            }
            if parts.is_empty() {
                "CUSTOM".to_string()
            } else {
                format!("CUSTOM:{}", parts.join(";"))
            }
        }
    }
}

fn averages(categories: &[(String, Decimal, Decimal)], count: usize) -> AppResult<Vec<CategoryAverage>> {
    let n = Decimal::from(count.max(1));
    let mut out = Vec::new();
    for (category, points, max) in categories {
        out.push(CategoryAverage {
            category: parse(category, "category")?,
            average_points: *points / n,
            average_max: *max / n,
        });
    }
    out.sort_by_key(|c| Category::ALL.iter().position(|x| *x == c.category));
    Ok(out)
}

/// Figures of a precomputed cohort, without the asker when it is a member.
fn from_aggregate(
    data: &AggregateData,
    asker: Option<&Member>,
    k: usize,
) -> AppResult<Result<CohortFigures, Suppression>> {
    let dist = match asker {
        Some(m) => data.summary.without(m.percentage),
        None => data.summary.distribution(),
    };
    let Some(dist) = dist.filter(|d| !suppressed(d.count, k)) else {
        return Ok(Err(Suppression::TooFewTenants { k }));
    };
    let mine: HashMap<&str, (Decimal, Decimal)> = asker
        .map(|m| {
            m.categories
                .iter()
                .map(|(c, p, x)| (c.as_str(), (*p, *x)))
                .collect()
        })
        .unwrap_or_default();
    let sums: Vec<(String, Decimal, Decimal)> = data
        .categories
        .iter()
        .map(|c| {
            let (p, x) = mine.get(c.category.as_str()).copied().unwrap_or_default();
            (c.category.clone(), c.points - p, c.max - x)
        })
        .collect();
    Ok(Ok(CohortFigures {
        distribution: dist,
        categories: averages(&sums, dist.count)?,
    }))
}

/// Figures of a set of members computed directly (custom cohorts).
fn from_members(members: &[&Member], k: usize) -> AppResult<Result<CohortFigures, Suppression>> {
    let percentages: Vec<Decimal> = members.iter().map(|m| m.percentage).collect();
    let Some(dist) = distribution(&percentages).filter(|d| !suppressed(d.count, k)) else {
        return Ok(Err(Suppression::TooFewTenants { k }));
    };
    let sums: Vec<(String, Decimal, Decimal)> = category_sums(members.iter().copied())
        .into_iter()
        .map(|c| (c.category, c.points, c.max))
        .collect();
    Ok(Ok(CohortFigures {
        distribution: dist,
        categories: averages(&sums, dist.count)?,
    }))
}

/// The snapshots of a custom cohort's candidates over the range, and which of them held a
/// qualifying licence at the end of each day. Never includes the asker.
struct CustomCohort {
    /// Day → (tenant, member figures).
    snapshots: HashMap<NaiveDate, Vec<(i64, Member)>>,
    /// Licences of the candidates that grant a qualifying plan.
    licences: Vec<tenant_license::Model>,
    needs_licence: bool,
}

impl CustomCohort {
    async fn load<C: ConnectionTrait>(
        conn: &C,
        asker_id: i64,
        spec: &CohortSpec,
        from: NaiveDate,
        to: NaiveDate,
    ) -> AppResult<CustomCohort> {
        let CohortSpec::Custom {
            industries,
            seat_bands,
            license_plans,
        } = spec
        else {
            return Err(AppError::Internal(anyhow::anyhow!("not a custom cohort")));
        };
        let mut q = tenant::Entity::find().filter(tenant::Column::Id.ne(asker_id));
        if !industries.is_empty() {
            q = q.filter(tenant::Column::Industry.is_in(industries.clone()));
        }
        if !seat_bands.is_empty() {
            let mut any = Condition::any();
            for band in seat_bands {
                // SeatBand::of puts 0 and negative counts in the first band too.
                let (low, high) = band.range();
                let mut c = Condition::all();
                if *band != SeatBand::B1To100 {
                    c = c.add(tenant::Column::SeatCount.gte(low));
                }
                if let Some(high) = high {
                    c = c.add(tenant::Column::SeatCount.lte(high));
                }
                any = any.add(c);
            }
            q = q.filter(any);
        }
        let ids: Vec<i64> = q.all(conn).await?.into_iter().map(|t| t.id).collect();
        let mut licences = Vec::new();
        if !license_plans.is_empty() && !ids.is_empty() {
            let skus: HashSet<String> = license_plan::Entity::find()
                .filter(license_plan::Column::Plan.is_in(license_plans.clone()))
                .all(conn)
                .await?
                .into_iter()
                .map(|p| p.license_sku)
                .collect();
            licences = tenant_license::Entity::find()
                .filter(tenant_license::Column::TenantId.is_in(ids.clone()))
                .filter(tenant_license::Column::LicenseSku.is_in(skus))
                .all(conn)
                .await?;
        }
        let mut snapshots: HashMap<NaiveDate, Vec<(i64, Member)>> = HashMap::new();
        if !ids.is_empty() {
            for row in score_snapshot::Entity::find()
                .filter(score_snapshot::Column::TenantId.is_in(ids))
                .filter(score_snapshot::Column::Day.gte(from))
                .filter(score_snapshot::Column::Day.lte(to))
                .all(conn)
                .await?
            {
                snapshots
                    .entry(row.day)
                    .or_default()
                    .push((row.tenant_id, Member::of(&row)));
            }
        }
        Ok(CustomCohort {
            snapshots,
            licences,
            needs_licence: !license_plans.is_empty(),
        })
    }

    fn members(&self, day: NaiveDate) -> Vec<&Member> {
        let end = end_of_day(day);
        let holds = |tenant_id: i64| {
            self.licences.iter().any(|l| {
                l.tenant_id == tenant_id
                    && l.created_at < end
                    && l.expires_at.is_none_or(|e| e > end)
                    && l.seats_purchased >= 1
            })
        };
        self.snapshots
            .get(&day)
            .map(|v| {
                v.iter()
                    .filter(|(t, _)| !self.needs_licence || holds(*t))
                    .map(|(_, m)| m)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// `Tenant.comparisons` (READER): per day of `from..=to` up to today, the asker's percentage,
/// each cohort's figures without the asker (or why not), and the vendor's benchmarks.
/// `own_snapshots` are the asker's stored snapshots of at least `from..=to`
/// ([`crate::service::snapshots::of_tenant`], shared with `scoreHistory` in one request).
#[allow(clippy::too_many_arguments)]
pub async fn compare<C: ConnectionTrait>(
    conn: &C,
    viewer: &Viewer,
    live: &TenantState,
    own_snapshots: &[score_snapshot::Model],
    from: NaiveDate,
    to: NaiveDate,
    specs: Vec<CohortSpec>,
    k: usize,
    today: NaiveDate,
) -> AppResult<Vec<DayComparison>> {
    let asker = &live.tenant;
    viewer.require(asker.id, Role::Reader)?;
    validate_range(from, to)?;
    if specs.len() > MAX_COHORTS {
        return Err(AppError::bad_input(
            "cohorts",
            format!("at most {MAX_COHORTS} cohorts per comparison"),
        ));
    }
    let to = to.min(today);
    let own: HashMap<NaiveDate, Member> = own_snapshots
        .iter()
        .filter(|row| row.tenant_id == asker.id && (from..=to).contains(&row.day))
        .map(|row| (row.day, Member::of(row)))
        .collect();
    // The asker's own percentage per day, exact (from the snapshot's exact figures).
    let mut own_exact: HashMap<NaiveDate, Points> = HashMap::new();
    for row in own_snapshots
        .iter()
        .filter(|row| row.tenant_id == asker.id && (from..=to).contains(&row.day))
    {
        let overall = crate::service::snapshots::DailyScore::stored(row)?.overall;
        own_exact.insert(row.day, overall.percentage(&overall.current));
    }
    let keys: Vec<String> = specs
        .iter()
        .filter(|s| !matches!(s, CohortSpec::Custom { .. }))
        .map(|s| key_of_spec(s, asker))
        .collect();
    let mut aggregates: HashMap<(NaiveDate, String), AggregateData> = HashMap::new();
    if !keys.is_empty() {
        // The data as text, parsed straight into its type (not through a JSON value first).
        let rows: Vec<(NaiveDate, String, String)> = cohort_aggregate::Entity::find()
            .select_only()
            .column(cohort_aggregate::Column::Day)
            .column(cohort_aggregate::Column::CohortKey)
            .column_as(Expr::cust("CAST(data AS TEXT)"), "data_text")
            .filter(cohort_aggregate::Column::Day.gte(from))
            .filter(cohort_aggregate::Column::Day.lte(to))
            .filter(cohort_aggregate::Column::CohortKey.is_in(keys))
            .into_tuple()
            .all(conn)
            .await?;
        for (day, key, text) in rows {
            let data: AggregateData = serde_json::from_str(&text).map_err(|e| {
                AppError::Internal(anyhow::Error::new(e).context("unreadable cohort aggregate"))
            })?;
            aggregates.insert((day, key), data);
        }
    }
    let mut customs = Vec::new();
    for spec in &specs {
        customs.push(match spec {
            CohortSpec::Custom { .. } => Some(CustomCohort::load(conn, asker.id, spec, from, to).await?),
            _ => None,
        });
    }
    let mut benchmarks: BTreeMap<NaiveDate, Vec<vendor_benchmark::Model>> = BTreeMap::new();
    for b in vendor_benchmark::Entity::find()
        .filter(vendor_benchmark::Column::TenantId.eq(asker.id))
        .filter(vendor_benchmark::Column::Day.gte(from))
        .filter(vendor_benchmark::Column::Day.lte(to))
        .order_by_asc(vendor_benchmark::Column::Basis)
        .order_by_asc(vendor_benchmark::Column::BasisValue)
        .all(conn)
        .await?
    {
        benchmarks.entry(b.day).or_default().push(b);
    }
    let asker_keys = keys_of(asker);
    let mut days = Vec::new();
    for day in from.iter_days().take_while(|d| *d <= to) {
        let mine = own.get(&day);
        let mut cohorts = Vec::with_capacity(specs.len());
        for (spec, custom) in specs.iter().zip(&customs) {
            let key = key_of_spec(spec, asker);
            let figures = match custom {
                // Today is not over, so nobody has a snapshot of it yet.
                Some(_) if day >= today => Err(Suppression::NoData),
                Some(c) => from_members(&c.members(day), k)?,
                None => match aggregates.get(&(day, key.clone())) {
                    // The asker counts in an aggregate only if it had a snapshot that day and
                    // belongs to the cohort.
                    Some(data) => from_aggregate(data, mine.filter(|_| asker_keys.contains(&key)), k)?,
                    None => Err(Suppression::NoData),
                },
            };
            cohorts.push(CohortAnswer {
                spec: spec.clone(),
                key,
                figures,
            });
        }
        let tenant_percentage = if day == today {
            Some(live.score.overall.percentage(&live.score.overall.current))
        } else {
            own_exact.remove(&day)
        };
        days.push(DayComparison {
            day,
            tenant_percentage,
            cohorts,
            vendor_benchmarks: benchmarks.remove(&day).unwrap_or_default(),
        });
    }
    Ok(days)
}
