//! History, trends, comparisons and goals as the API presents them (SPEC §8): the `Date`
//! scalar, daily score snapshots, trends, cohort comparisons with vendor benchmarks beside them,
//! and score zones and goals. Built from service results, never from entities directly.

use crate::domain::cohort::SeatBand as DomainSeatBand;
use crate::domain::goals::Zone;
use crate::domain::privacy::LicenseTier as DomainLicenseTier;
use crate::error::AppError;
use crate::graphql::types::enums::{Category, Status};
use crate::graphql::types::score::view;
use crate::graphql::types::{CategoryScore, ScoreView, present};
use crate::service::history::comparisons::{
    CohortAnswer, CohortSpec, DayComparison, ExcludedCell as DomainExcludedCell, Suppression,
};
use crate::service::history::goals::{GoalProgress, Goals, Zones};
use crate::service::history::snapshots::{DailyScore, SOURCE_COMPUTED, SOURCE_IMPORTED, SOURCE_LIVE};
use crate::service::history::trends;
use async_graphql::{
    Enum, InputObject, InputValueError, InputValueResult, Object, Scalar, ScalarType, SimpleObject, Value,
};
use chrono::{DateTime, NaiveDate, Utc};

/// A calendar day in UTC, written `YYYY-MM-DD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

/// A calendar day in UTC, written `YYYY-MM-DD` (e.g. `2026-11-27`).
#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => s
                .parse::<NaiveDate>()
                .map(Date)
                .map_err(|_| InputValueError::custom(format!("{s:?} is not a date (YYYY-MM-DD)"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

/// One day of a tenant's score: a stored snapshot (final once the day is over), or today's live
/// score.
#[derive(Clone)]
pub struct ScoreSnapshot {
    pub tenant_id: i64,
    pub score: DailyScore,
}

impl ScoreSnapshot {
    /// The key of this day's global id.
    fn key(&self) -> String {
        format!("{}:{}", self.tenant_id, self.score.day)
    }

    /// The day's views per category, as `categories` answers them.
    pub(crate) fn category_scores(&self) -> Vec<CategoryScore> {
        self.score
            .categories
            .iter()
            .map(|(c, v)| CategoryScore::new(&format!("day:{}", self.key()), (*c).into(), v))
            .collect()
    }
}

/// Number of actions in one status.
#[derive(SimpleObject)]
pub struct StatusCount {
    /// The status.
    pub status: Status,
    /// Actions in it.
    pub count: i64,
}

/// The tenant's score on one day: a stored end-of-day snapshot, an imported one, or today's live
/// score.
#[Object]
impl ScoreSnapshot {
    /// Stable id for client caches: the tenant and the day (`node` resolves it while the day is
    /// in the tenant's history).
    pub async fn id(&self) -> async_graphql::ID {
        crate::graphql::ids::encode("ScoreSnapshot", self.key())
    }
    /// The day (UTC).
    async fn day(&self) -> Date {
        Date(self.score.day)
    }
    /// Where the figures come from.
    async fn source(&self) -> async_graphql::Result<SnapshotSource> {
        match self.score.source.as_str() {
            SOURCE_COMPUTED => Ok(SnapshotSource::Computed),
            SOURCE_IMPORTED => Ok(SnapshotSource::Imported),
            SOURCE_LIVE => Ok(SnapshotSource::Live),
            other => Err(AppError::from(anyhow::anyhow!("unknown snapshot source {other:?}")).into()),
        }
    }
    /// Whether this is today's live score rather than a stored snapshot.
    async fn live(&self) -> bool {
        self.score.source == SOURCE_LIVE
    }
    /// Σ max of the applicable actions that day.
    async fn max_score(&self) -> ScoreView {
        view(&self.score.overall, &self.score.overall.max_score)
    }
    /// Points achieved that day.
    async fn current(&self) -> ScoreView {
        view(&self.score.overall, &self.score.overall.current)
    }
    /// `current` plus what the PLANNED actions would have added.
    async fn planned(&self) -> ScoreView {
        view(&self.score.overall, &self.score.overall.planned)
    }
    /// What the licences held allowed that day.
    async fn current_license(&self) -> ScoreView {
        view(&self.score.overall, &self.score.overall.current_license)
    }
    /// Like `currentLicense`, except that RISK_ACCEPTED actions stay as they were.
    async fn achievable(&self) -> ScoreView {
        view(&self.score.overall, &self.score.overall.achievable)
    }
    /// Points resting on confirmed implementation that day.
    async fn verified(&self) -> ScoreView {
        view(&self.score.overall, &self.score.overall.verified)
    }
    /// Every view per category.
    async fn categories(&self) -> Vec<CategoryScore> {
        self.category_scores()
    }
    /// Number of actions per status at the end of the day, in the order of the `Status` enum
    /// (stored and live days alike).
    async fn status_counts(&self) -> Vec<StatusCount> {
        let mut counts = self.score.status_counts.clone();
        counts.sort_by_key(|(s, _)| *s);
        counts
            .into_iter()
            .map(|(s, n)| StatusCount {
                status: s.into(),
                count: n,
            })
            .collect()
    }
    /// The vendor's own current score of an imported snapshot, as reported.
    async fn vendor_current_score(&self) -> Option<f64> {
        self.score.vendor_current_score.as_ref().map(present)
    }
    /// The vendor's own maximum of an imported snapshot, as reported.
    async fn vendor_max_score(&self) -> Option<f64> {
        self.score.vendor_max_score.as_ref().map(present)
    }
}

/// One day of a trend.
#[derive(SimpleObject)]
pub struct TrendDay {
    /// The day (UTC).
    pub day: Date,
    /// Sum of the day's increases of an action's points.
    pub points_gained: f64,
    /// Sum of the day's decreases of an action's points (a positive number).
    pub points_lost: f64,
    /// Actions that fell back from COMPLETED.
    pub regressions: u32,
    /// Actions set to RISK_ACCEPTED.
    pub risk_acceptances: u32,
}

/// An action that fell back from COMPLETED.
#[derive(SimpleObject)]
pub struct RegressedAction {
    /// Control id of the action.
    pub control_id: String,
    /// Title of the action.
    pub title: String,
    /// The category it scores in.
    pub category: Category,
    /// When it regressed.
    pub occurred_at: DateTime<Utc>,
    /// Its points before, rounded to 2 places.
    pub points_before: f64,
    /// Its points after, rounded to 2 places.
    pub points_after: f64,
    /// `pointsBefore − pointsAfter`.
    pub points_lost: f64,
    /// The comment recorded with the regression, if any.
    pub comment: Option<String>,
}

/// How the score moved over a range, from the event log.
#[derive(SimpleObject)]
pub struct ScoreTrends {
    /// Sum of every increase of an action's points.
    pub points_achieved: f64,
    /// Sum of every decrease of an action's points (a positive number).
    pub points_regressed: f64,
    /// `pointsAchieved − pointsRegressed`.
    pub net_change: f64,
    /// Every day of the range, oldest first.
    pub days: Vec<TrendDay>,
    /// Regressions in the range, newest first.
    pub regressed_actions: Vec<RegressedAction>,
}

impl From<trends::Trends> for ScoreTrends {
    fn from(t: trends::Trends) -> Self {
        ScoreTrends {
            points_achieved: present(t.points_achieved),
            points_regressed: present(t.points_regressed),
            net_change: present(t.net_change),
            days: t
                .days
                .into_iter()
                .map(|d| TrendDay {
                    day: Date(d.day),
                    points_gained: present(d.points_gained),
                    points_lost: present(d.points_lost),
                    regressions: d.regressions,
                    risk_acceptances: d.risk_acceptances,
                })
                .collect(),
            regressed_actions: t
                .regressions
                .into_iter()
                .map(|r| RegressedAction {
                    control_id: r.control_id,
                    title: r.title,
                    category: r.category.into(),
                    occurred_at: r.occurred_at,
                    points_before: present(&r.points_before),
                    points_after: present(&r.points_after),
                    points_lost: present(&r.points_before - &r.points_after),
                    comment: r.comment,
                })
                .collect(),
        }
    }
}

/// Where the figures of a day's score come from.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum SnapshotSource {
    /// Computed and stored by this service at the end of the day.
    Computed,
    /// Imported from Microsoft Graph (the vendor's figures for the day).
    Imported,
    /// Today's score, computed now; not final until the day is over.
    Live,
}

/// Which organisations to compare with.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum CohortKind {
    /// Every other tenant.
    AllTenants,
    /// Tenants in the same seat band.
    SimilarSize,
    /// Tenants of the same industry.
    SameIndustry,
    /// Tenants matching `industries`, `seatBands`, `licenseTiers` and `licensePlans`.
    Custom,
}

/// A tenant's licence tier on a day: the highest tier whose plan it holds (an unexpired licence
/// with at least one seat). Ordered `NONE` < `P1` < `P2`; tiers are disjoint, so the cells
/// industry × seat band × tier partition the tenants.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "DomainLicenseTier")]
pub enum LicenseTier {
    /// Neither `AAD_P1` nor `AAD_P2`.
    None,
    /// `AAD_P1` but not `AAD_P2` (e.g. M365 E3, Business Premium, Entra ID P1).
    P1,
    /// `AAD_P2` (e.g. M365 E5, Entra ID P2).
    P2,
}

/// A tenant's size by licensed seats (`Tenant.seatCount`), for cohorts.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "DomainSeatBand")]
pub enum SeatBand {
    /// 1 to 100 seats.
    #[graphql(name = "SEATS_1_100")]
    B1To100,
    /// 101 to 500 seats.
    #[graphql(name = "SEATS_101_500")]
    B101To500,
    /// 501 to 1,000 seats.
    #[graphql(name = "SEATS_501_1000")]
    B501To1000,
    /// 1,001 to 5,000 seats.
    #[graphql(name = "SEATS_1001_5000")]
    B1001To5000,
    /// 5,001 to 10,000 seats.
    #[graphql(name = "SEATS_5001_10000")]
    B5001To10000,
    /// More than 10,000 seats.
    #[graphql(name = "SEATS_10001_PLUS")]
    B10001Plus,
}

/// A cohort to compare with. `industries`, `seatBands`, `licenseTiers` and `licensePlans` apply
/// to `CUSTOM` only; each is any-of, an empty or missing one does not restrict, and together
/// they select a union of cells (industry × seat band × licence tier).
#[derive(InputObject)]
pub struct CohortInput {
    /// Which organisations to compare with.
    pub kind: CohortKind,
    /// Industry codes of the members (e.g. `finance`); `CUSTOM` only.
    pub industries: Option<Vec<String>>,
    /// Seat bands of the members; `CUSTOM` only.
    pub seat_bands: Option<Vec<SeatBand>>,
    /// Licence tiers of the members.
    pub license_tiers: Option<Vec<LicenseTier>>,
    /// Holding an unexpired licence that grants any of these plans. Only plans that define
    /// licence tiers are accepted: `AAD_P1` (tiers `P1` and `P2`) and `AAD_P2` (tier `P2`);
    /// other plans overlap across cells and are a `BAD_USER_INPUT` error.
    pub license_plans: Option<Vec<String>>,
}

impl From<CohortInput> for CohortSpec {
    fn from(c: CohortInput) -> Self {
        match c.kind {
            CohortKind::AllTenants => CohortSpec::AllTenants,
            CohortKind::SimilarSize => CohortSpec::SimilarSize,
            CohortKind::SameIndustry => CohortSpec::SameIndustry,
            CohortKind::Custom => CohortSpec::Custom {
                industries: c.industries.unwrap_or_default(),
                seat_bands: c
                    .seat_bands
                    .unwrap_or_default()
                    .into_iter()
                    .map(Into::into)
                    .collect(),
                license_tiers: c
                    .license_tiers
                    .unwrap_or_default()
                    .into_iter()
                    .map(Into::into)
                    .collect(),
                license_plans: c.license_plans.unwrap_or_default(),
            },
        }
    }
}

/// Why a cohort has no figures.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum SuppressionReason {
    /// Every cell of the cohort has fewer than k tenants you cannot read (see `excludedCells`).
    TooFewTenants,
    /// No snapshots for that day (today is not over yet, or nothing was recorded).
    NoData,
}

/// A cohort's average points and maximum in one category. Noisy (see `CohortComparison.noise`):
/// each tenant's category figures are scaled to at most 300 points of max in all, and the
/// category sums carry Laplace noise of scale 3000 / ε per cell, so they are meaningful for
/// cohorts of many hundreds of tenants only.
#[derive(SimpleObject)]
pub struct CohortCategory {
    /// The category.
    pub category: Category,
    /// Average points of the cohort's tenants in the category (noisy).
    pub average_points: f64,
    /// Average maximum of the cohort's tenants in the category (noisy).
    pub average_max: f64,
}

/// A cohort's figures on one day: never the asking tenant, nor any tenant you can read. Every
/// figure carries calibrated noise, fixed per cell and day (see `CohortComparison.noise`).
#[derive(SimpleObject)]
pub struct CohortFigures {
    /// Number of tenants in the cohort (noisy, rounded).
    pub size: i32,
    /// Mean percentage (noisy).
    pub mean_percentage: f64,
    /// Quartiles of the percentages, from a noisy histogram of 10-point buckets (interpolated
    /// within a bucket).
    pub p25_percentage: f64,
    /// Median of the percentages (see `p25Percentage`).
    pub median_percentage: f64,
    /// Third quartile of the percentages (see `p25Percentage`).
    pub p75_percentage: f64,
    /// Average points and maximum per category, all five categories.
    pub categories: Vec<CohortCategory>,
}

/// Why a cell was left out of a cohort.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ExclusionReason {
    /// Fewer than k tenants in the cell that you cannot read (possibly none).
    FewerThanK,
}

/// A cell (industry × seat band × licence tier) of a cohort left out of its figures.
#[derive(SimpleObject)]
pub struct ExcludedCell {
    /// Industry code of the cell (e.g. `finance`).
    pub industry: String,
    /// Seat band of the cell.
    pub seat_band: SeatBand,
    /// Licence tier of the cell.
    pub license_tier: LicenseTier,
    /// Why it was left out.
    pub reason: ExclusionReason,
    /// E.g. `fewer than 5 tenants you cannot read`.
    pub message: String,
}

/// How a cohort's figures are protected.
#[derive(SimpleObject)]
pub struct CohortNoise {
    /// Privacy budget per cell and day (COMPARISON_EPSILON).
    pub epsilon: f64,
    /// Fewest tenants you cannot read a cell needs to count (COHORT_MIN_SIZE).
    pub k: i32,
    /// Number of cells the figures are made of.
    pub cells: i32,
    /// Standard deviation of the noise on `meanPercentage`, in percentage points (`null` when
    /// there are no figures).
    pub mean_standard_deviation: Option<f64>,
    /// A sentence for people saying how the figures are protected.
    pub description: String,
}

/// One cohort on one day: figures, or why there are none.
#[derive(SimpleObject)]
pub struct CohortComparison {
    /// Which kind of cohort this is.
    pub kind: CohortKind,
    /// The cohort compared with, e.g. `ALL`, `BAND:SEATS_101_500`, `INDUSTRY:finance`,
    /// `CUSTOM:INDUSTRY:finance;TIER:P2`.
    pub key: String,
    /// `null` when suppressed.
    pub figures: Option<CohortFigures>,
    /// Why there are no figures; `null` when there are.
    pub suppressed_reason: Option<SuppressionReason>,
    /// Human-readable reason, e.g. `every cell has fewer than 5 tenants you cannot read`.
    pub suppressed_message: Option<String>,
    /// Cells of the cohort left out of the figures. When the cohort names its industries, every
    /// named cell that is not counted is listed, existing or not; otherwise the cells that exist.
    pub excluded_cells: Vec<ExcludedCell>,
    /// How the figures are protected.
    pub noise: CohortNoise,
}

/// One figure of a vendor benchmark (e.g. `identityScore`), as reported.
#[derive(SimpleObject)]
pub struct VendorFigure {
    /// Name of the figure, e.g. `identityScore`.
    pub name: String,
    /// Its value, as reported.
    pub value: f64,
}

/// A comparison average published by the vendor (Microsoft Graph `averageComparativeScores`),
/// imported as reported — not computed by this service and not subject to its cohort rules.
#[derive(SimpleObject)]
pub struct VendorBenchmark {
    /// Always `VENDOR`: marks the figure as the vendor's.
    pub source: crate::graphql::types::enums::BenchmarkSource,
    /// `AllTenants`, `TotalSeats`, `IndustryTypes`, …
    pub basis: String,
    /// The cohort within the basis (e.g. a seat range or an industry).
    pub basis_value: String,
    /// The vendor's average score of the cohort.
    pub average_score: f64,
    /// Further figures of the benchmark, as reported.
    pub figures: Vec<VendorFigure>,
}

/// One day of a comparison.
#[derive(SimpleObject)]
pub struct Comparison {
    /// The day compared.
    pub day: Date,
    /// The tenant's own percentage that day (live for today), `null` without a snapshot.
    pub tenant_percentage: Option<f64>,
    /// One entry per cohort asked for, in the order asked.
    pub cohorts: Vec<CohortComparison>,
    /// The vendor's published averages for that day, from Microsoft Graph imports (empty without
    /// them).
    pub vendor_benchmarks: Vec<VendorBenchmark>,
}

/// The comparison privacy settings of the server (COHORT_MIN_SIZE, COMPARISON_EPSILON,
/// COMPARISON_NOISE_SECRET).
pub(crate) fn privacy(ctx: &async_graphql::Context<'_>) -> crate::service::history::comparisons::Privacy {
    let config = crate::graphql::config(ctx);
    crate::service::history::comparisons::Privacy {
        params: crate::domain::privacy::Params {
            k: config.cohort_min_size,
            epsilon: config.comparison_epsilon,
        },
        configured_secret: config.comparison_noise_secret.clone(),
    }
}

/// A noisy statistic rounded to 2 places, as every figure is presented.
fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

pub(crate) fn excluded(e: DomainExcludedCell) -> ExcludedCell {
    ExcludedCell {
        industry: e.cell.industry,
        seat_band: e.cell.band.into(),
        license_tier: e.cell.tier.into(),
        reason: ExclusionReason::FewerThanK,
        message: format!("fewer than {} tenants you cannot read", e.k),
    }
}

/// The kind of a cohort spec.
pub(crate) fn kind_of(spec: &CohortSpec) -> CohortKind {
    match spec {
        CohortSpec::AllTenants => CohortKind::AllTenants,
        CohortSpec::SimilarSize => CohortKind::SimilarSize,
        CohortSpec::SameIndustry => CohortKind::SameIndustry,
        CohortSpec::Custom { .. } => CohortKind::Custom,
    }
}

pub(crate) fn cohort(a: CohortAnswer) -> CohortComparison {
    let kind = kind_of(&a.spec);
    let (figures, reason, message) = match a.figures {
        Ok(f) => (
            Some(CohortFigures {
                size: i32::try_from(f.size).unwrap_or(i32::MAX),
                mean_percentage: round2(f.mean),
                p25_percentage: round2(f.p25),
                median_percentage: round2(f.median),
                p75_percentage: round2(f.p75),
                categories: f
                    .categories
                    .into_iter()
                    .map(|(category, points, max)| CohortCategory {
                        category: category.into(),
                        average_points: round2(points),
                        average_max: round2(max),
                    })
                    .collect(),
            }),
            None,
            None,
        ),
        Err(Suppression::TooFewTenants { k }) => (
            None,
            Some(SuppressionReason::TooFewTenants),
            Some(format!("every cell has fewer than {k} tenants you cannot read")),
        ),
        Err(Suppression::NoData) => (
            None,
            Some(SuppressionReason::NoData),
            Some("no snapshots for this day".to_string()),
        ),
    };
    let [count, sum, bucket, category] = a.params.scales();
    CohortComparison {
        kind,
        key: a.key,
        figures,
        suppressed_reason: reason,
        suppressed_message: message,
        excluded_cells: a.excluded.into_iter().map(excluded).collect(),
        noise: CohortNoise {
            epsilon: a.params.epsilon,
            k: i32::try_from(a.params.k).unwrap_or(i32::MAX),
            cells: i32::try_from(a.included_cells).unwrap_or(i32::MAX),
            mean_standard_deviation: a.mean_noise_std_dev.map(round2),
            description: format!(
                "Cells (industry × seat band × licence tier) with fewer than {k} tenants you cannot \
                 read are left out, and tenants you can read are never counted. Each cell's count, \
                 sum of percentages, 10-point histogram and category sums carry Laplace noise \
                 (scales {count:.1}, {sum:.1}, {bucket:.1} and {category:.0}; ε = {eps} per cell \
                 and day), fixed per cell, day and statistic, so asking again does not average it away.",
                k = a.params.k,
                eps = a.params.epsilon,
            ),
        },
    }
}

impl From<DayComparison> for Comparison {
    fn from(d: DayComparison) -> Self {
        Comparison {
            day: Date(d.day),
            tenant_percentage: d.tenant_percentage.map(present),
            cohorts: d.cohorts.into_iter().map(cohort).collect(),
            vendor_benchmarks: d
                .vendor_benchmarks
                .into_iter()
                .map(|b| VendorBenchmark {
                    source: crate::graphql::types::enums::BenchmarkSource::Vendor,
                    basis: b.basis,
                    basis_value: b.basis_value,
                    average_score: present(crate::domain::points::Points::from_storage(b.average_score)),
                    figures: b
                        .category_scores
                        .as_object()
                        .map(|o| {
                            o.iter()
                                .filter_map(|(k, v)| {
                                    let value = v.as_f64().or_else(|| v.as_str()?.parse().ok())?;
                                    Some(VendorFigure {
                                        name: k.clone(),
                                        value,
                                    })
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect(),
        }
    }
}

/// A score zone.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "Zone")]
pub enum ScoreZone {
    /// Below `okayFrom`.
    Bad,
    /// From `okayFrom`, below `goodFrom`.
    Okay,
    /// From `goodFrom`.
    Good,
}

/// Thresholds of the score zones, in percent: BAD below `okayFrom`, OKAY from it, GOOD from
/// `goodFrom`.
#[derive(SimpleObject)]
pub struct ScoreZones {
    /// Percentage from which the score is OKAY.
    pub okay_from: f64,
    /// Percentage from which the score is GOOD.
    pub good_from: f64,
    /// The zone the current score is in.
    pub current_zone: ScoreZone,
    /// When the zones were last set.
    pub updated_at: DateTime<Utc>,
}

impl From<Zones> for ScoreZones {
    fn from(z: Zones) -> Self {
        ScoreZones {
            okay_from: present(z.okay_from),
            good_from: present(z.good_from),
            current_zone: z.current_zone.into(),
            updated_at: z.updated_at,
        }
    }
}

/// The days a history query covers: `to` defaults to today (UTC) and `from` to 29 days before
/// `to`, so a query without dates asks for the last 30 days.
pub fn default_range(from: Option<Date>, to: Option<Date>) -> (Date, Date) {
    let to = to.unwrap_or_else(|| Date(Utc::now().date_naive()));
    let from = from.unwrap_or_else(|| Date(to.0 - chrono::Days::new(29)));
    (from, to)
}

/// A dated target and where the tenant stands against it.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct ScoreGoal {
    #[graphql(skip)]
    pub goal_id: i64,
    /// The percentage to reach (above 0, at most 100).
    pub target_percentage: f64,
    /// The day to reach it by.
    pub target_date: Date,
    /// What the goal is for, if given.
    pub note: Option<String>,
    /// When the goal was set.
    pub created_at: DateTime<Utc>,
    /// Current percentage ÷ target (1 or more once reached).
    pub progress: f64,
    /// Where the least-squares trend of the last 30 days reaches on the target date; `null` with
    /// less than two days of history or once the date has passed.
    pub projected_percentage_at_target: Option<f64>,
    /// Reached, or projected to be reached by the target date; `null` without a projection.
    pub on_track: Option<bool>,
}

impl From<GoalProgress> for ScoreGoal {
    fn from(g: GoalProgress) -> Self {
        ScoreGoal {
            goal_id: g.id,
            target_percentage: present(g.target_percentage),
            target_date: Date(g.target_date),
            note: g.note,
            created_at: g.created_at,
            progress: present(g.progress),
            projected_percentage_at_target: g.projected_percentage_at_target.map(present),
            on_track: g.on_track,
        }
    }
}

#[async_graphql::ComplexObject]
impl ScoreGoal {
    /// Global object id (pass it to `updateScoreGoal` and `deleteScoreGoal`, or to `node`).
    pub async fn id(&self) -> async_graphql::ID {
        crate::graphql::ids::encode("ScoreGoal", self.goal_id)
    }
}

/// A tenant's zones and goals.
#[derive(SimpleObject)]
pub struct ScoreGoals {
    /// The current score's percentage.
    pub current_percentage: f64,
    /// `null` until set with `setScoreZones`.
    pub zones: Option<ScoreZones>,
    /// Every goal, by target date.
    pub goals: Vec<ScoreGoal>,
    /// The earliest goal whose date has not passed.
    pub current_goal: Option<ScoreGoal>,
}

impl From<Goals> for ScoreGoals {
    fn from(g: Goals) -> Self {
        ScoreGoals {
            current_percentage: present(g.current_percentage),
            zones: g.zones.map(Into::into),
            goals: g.goals.into_iter().map(Into::into).collect(),
            current_goal: g.current_goal.map(Into::into),
        }
    }
}
