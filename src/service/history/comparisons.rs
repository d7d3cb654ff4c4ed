//! Comparisons with similar organisations (SPEC §8), private by construction.
//!
//! **Cells.** When a day's snapshots are written, [`write_aggregates`] stores one row per
//! *cell* (industry × seat band × licence tier, `domain::privacy`): the exact [`Totals`] of its
//! members and their tenant ids. Cells partition the tenants, and every cohort is a union of
//! cells: `ALL_TENANTS` all of them, `SIMILAR_SIZE` those of the asker's seat band,
//! `SAME_INDUSTRY` those of its industry, `CUSTOM` industries × seat bands × licence tiers. So
//! two answers always differ by whole cells.
//!
//! **Who counts.** The tenants the caller can read (every tenant it holds a role on, the asker
//! included) are subtracted from each cell and never count towards *k*: a cell with fewer than
//! *k* other members is left out of the union, and the answer lists it ("fewer than k"), so
//! creating or reading tenants of a cell does not isolate anyone else in it.
//!
//! **Noise.** What remains of each cell gets Laplace noise fixed per cell, day and statistic
//! by a keyed hash of the server secret ([`noise_secret`]), so repeating a query, varying the
//! union, or asking another server process gives the same noise. Subtracting the caller's own
//! tenants changes only values the caller knows already.
//!
//! **Cost.** Past days are immutable until a writer bumps their version, so a comparison reads
//! their cells (with each cell's noise) and the snapshots it subtracts from the history cache
//! (`cache`), checked against the days' versions in one query; only what depends on the caller
//! is computed per request. Vendor benchmarks imported from Microsoft Graph are returned beside
//! ours, as reported (they are the vendor's figures, not ours).
//!
//! The cells also carry peer adoption per control (`super::adoption`), written here with them.

use crate::auth::Viewer;
use crate::domain::cohort::SeatBand;
use crate::domain::enums::{Category, Role};
use crate::domain::points::Points;
use crate::domain::privacy::{Cell, LicenseTier, Params, Published, Totals, mean_noise_std_dev, publish};
use crate::error::{AppError, AppResult};
use crate::service::history::cache::{self, HistoryCache, IdMap, StoredDay};
use crate::service::history::packed;
use crate::service::history::snapshots::{end_of_day, validate_range};
use crate::service::state::TenantState;
use chrono::{DateTime, NaiveDate, Utc};
use entity::{cohort_aggregate, license_plan, score_snapshot, tenant, tenant_license, vendor_benchmark};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Most cohorts one comparison may ask for.
pub const MAX_COHORTS: usize = 10;

/// Name of the generated noise secret in `server_setting`.
const SECRET_SETTING: &str = "comparison_noise_secret";

/// What `cohort_aggregate.data` holds for a cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct CellData {
    cell: Cell,
    /// Ids of the member tenants, so the caller's own can be subtracted.
    members: Vec<i64>,
    /// Exact sums over the members.
    totals: Totals,
}

/// A snapshot's contribution to its cell.
fn contribution(row: &score_snapshot::Model) -> Totals {
    let categories: Vec<(Category, i64, i64)> = row
        .categories
        .0
        .iter()
        .filter_map(|c| Some((c.category.parse().ok()?, c.current, c.max_score)))
        .collect();
    packed::contribution_of(row.current, row.max_score, &categories)
}

/// The licence tier of each of `tenant_ids` at the end of `day`.
async fn tiers_at<C: ConnectionTrait>(
    conn: &C,
    tenant_ids: &[i64],
    day: NaiveDate,
) -> AppResult<HashMap<i64, LicenseTier>> {
    let end = end_of_day(day);
    let mut plans_of: HashMap<String, Vec<String>> = HashMap::new();
    for p in license_plan::Entity::find()
        .filter(license_plan::Column::Plan.is_in(["AAD_P1", "AAD_P2"]))
        .all(conn)
        .await?
    {
        plans_of.entry(p.license_sku).or_default().push(p.plan);
    }
    let mut held: HashMap<i64, Vec<String>> = HashMap::new();
    for chunk in tenant_ids.chunks(500) {
        for l in tenant_license::Entity::find()
            .filter(tenant_license::Column::TenantId.is_in(chunk.to_vec()))
            .filter(tenant_license::Column::LicenseSku.is_in(plans_of.keys().cloned()))
            .all(conn)
            .await?
        {
            if l.created_at < end && l.expires_at.is_none_or(|e| e > end) && l.seats_purchased >= 1 {
                let plans = plans_of.get(&l.license_sku).cloned().unwrap_or_default();
                held.entry(l.tenant_id).or_default().extend(plans);
            }
        }
    }
    Ok(tenant_ids
        .iter()
        .map(|id| {
            let plans = held.get(id).map(Vec::as_slice).unwrap_or_default();
            (*id, LicenseTier::of(plans.iter().map(String::as_str)))
        })
        .collect())
}

/// (Re)computes the cells of `day` from that day's snapshots (all sources): each tenant's
/// industry and seat band now and its licence tier at the end of the day. Run in the caller's
/// transaction; upserts, so racing writers converge on the same rows.
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
    let mut tenants: HashMap<i64, tenant::Model> = HashMap::new();
    for chunk in tenant_ids.chunks(500) {
        for t in tenant::Entity::find()
            .filter(tenant::Column::Id.is_in(chunk.to_vec()))
            .all(conn)
            .await?
        {
            tenants.insert(t.id, t);
        }
    }
    let tiers = tiers_at(conn, &tenant_ids, day).await?;
    let mut cells: BTreeMap<Cell, CellData> = BTreeMap::new();
    for row in &rows {
        let Some(t) = tenants.get(&row.tenant_id) else {
            continue;
        };
        let cell = Cell {
            industry: t.industry.clone(),
            band: SeatBand::of(t.seat_count),
            tier: tiers.get(&t.id).copied().unwrap_or(LicenseTier::None),
        };
        let data = cells.entry(cell.clone()).or_insert_with(|| CellData {
            cell,
            members: Vec::new(),
            totals: Totals::default(),
        });
        data.members.push(t.id);
        data.totals.add(&contribution(row), 1.0);
    }
    let mut models = Vec::with_capacity(cells.len());
    for (cell, data) in &cells {
        let json = serde_json::to_value(data)
            .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("cohort cell")))?;
        models.push(cohort_aggregate::ActiveModel {
            day: Set(day),
            cohort_key: Set(cell.key()),
            member_count: Set(data.members.len() as i64),
            data: Set(json),
            computed_at: Set(now),
            ..Default::default()
        });
    }
    let mut keys: Vec<String> = cells.keys().map(Cell::key).collect();
    if super::adoption::in_window(day, now) {
        keys.extend(cells.keys().map(super::adoption::key));
    }
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
    let members: Vec<(Cell, Vec<i64>)> = cells.into_values().map(|d| (d.cell, d.members)).collect();
    super::adoption::write(conn, day, now, &members, &tenants).await?;
    Ok(written)
}

/// The secret that fixes comparison noise: `configured` (COMPARISON_NOISE_SECRET) or the one
/// stored in the database, generated by the first process that needed it (a conditional insert,
/// so racing processes agree on one).
pub async fn noise_secret<C: ConnectionTrait>(conn: &C, configured: Option<&str>) -> AppResult<Vec<u8>> {
    crate::service::access::secrets::server_secret(conn, SECRET_SETTING, configured).await
}

/// The latest day on or before `day` whose cells were aggregated (`None` before the first
/// snapshot job): the day a standing "now" is judged against (`planning`).
pub async fn latest_aggregated_day<C: ConnectionTrait>(
    conn: &C,
    day: NaiveDate,
) -> AppResult<Option<NaiveDate>> {
    use sea_orm::QueryOrder;
    Ok(cohort_aggregate::Entity::find()
        .filter(cohort_aggregate::Column::Day.lte(day))
        .filter(cohort_aggregate::Column::CohortKey.starts_with(crate::domain::privacy::CELL_PREFIX))
        .order_by_desc(cohort_aggregate::Column::Day)
        .one(conn)
        .await?
        .map(|row| row.day))
}

/// A cohort to compare with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CohortSpec {
    AllTenants,
    /// The asker's seat band.
    SimilarSize,
    /// The asker's industry.
    SameIndustry,
    /// Tenants in any of `industries` (all when empty), in any of `seat_bands` (all when empty),
    /// in any of `license_tiers` (all when empty) and holding any of `license_plans` (no
    /// condition when empty; only plans that define tiers, see [`LicenseTier::holding`]).
    Custom {
        industries: Vec<String>,
        seat_bands: Vec<SeatBand>,
        license_tiers: Vec<LicenseTier>,
        license_plans: Vec<String>,
    },
}

/// Privacy settings of comparisons.
#[derive(Clone, Debug)]
pub struct Privacy {
    pub params: Params,
    /// COMPARISON_NOISE_SECRET, when configured.
    pub configured_secret: Option<String>,
}

/// Why a cohort is not answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suppression {
    /// Every cell of the cohort has fewer than `k` tenants the caller cannot read.
    TooFewTenants { k: usize },
    /// No snapshots for that day (e.g. today, which is not over yet).
    NoData,
}

/// A cell of a cohort left out of its figures: it has fewer than `k` tenants the caller
/// cannot read (possibly none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExcludedCell {
    pub cell: Cell,
    pub k: usize,
}

/// One cohort on one day.
#[derive(Clone, Debug)]
pub struct CohortAnswer {
    pub spec: CohortSpec,
    /// The cohort key, e.g. `ALL`, `BAND:SEATS_101_500`, or a description of a custom cohort.
    pub key: String,
    pub figures: Result<Published, Suppression>,
    /// Cells of the cohort left out, sorted.
    pub excluded: Vec<ExcludedCell>,
    /// Cells the figures are made of.
    pub included_cells: usize,
    pub params: Params,
    /// Standard deviation of the noise on the mean, when answered.
    pub mean_noise_std_dev: Option<f64>,
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

/// `None` (no condition) for an empty list.
fn set<T: Ord>(v: Vec<T>) -> Option<BTreeSet<T>> {
    if v.is_empty() {
        None
    } else {
        Some(v.into_iter().collect())
    }
}

/// A cohort resolved to conditions on cells.
pub(crate) struct Selector {
    /// `None`: any industry.
    industries: Option<BTreeSet<String>>,
    bands: Option<BTreeSet<SeatBand>>,
    tiers: Option<BTreeSet<LicenseTier>>,
}

impl Selector {
    pub(crate) fn of(spec: &CohortSpec, asker: &tenant::Model) -> AppResult<Selector> {
        Ok(match spec {
            CohortSpec::AllTenants => Selector {
                industries: None,
                bands: None,
                tiers: None,
            },
            CohortSpec::SimilarSize => Selector {
                industries: None,
                bands: set(vec![SeatBand::of(asker.seat_count)]),
                tiers: None,
            },
            CohortSpec::SameIndustry => Selector {
                industries: set(vec![asker.industry.clone()]),
                bands: None,
                tiers: None,
            },
            CohortSpec::Custom {
                industries,
                seat_bands,
                license_tiers,
                license_plans,
            } => {
                let mut tiers: Option<BTreeSet<LicenseTier>> = set(license_tiers.clone());
                if !license_plans.is_empty() {
                    let mut holding = BTreeSet::new();
                    for plan in license_plans {
                        let Some(t) = LicenseTier::holding(plan) else {
                            return Err(AppError::bad_input(
                                "cohorts",
                                format!(
                                    "licence plan {plan:?} does not define a licence tier (cohorts are unions \
                                     of disjoint cells); use AAD_P1, AAD_P2 or licenseTiers"
                                ),
                            ));
                        };
                        holding.extend(t.iter().copied());
                    }
                    tiers = Some(match tiers {
                        Some(t) => t.intersection(&holding).copied().collect(),
                        None => holding,
                    });
                }
                Selector {
                    industries: set(industries.clone()),
                    bands: set(seat_bands.clone()),
                    tiers,
                }
            }
        })
    }

    pub(crate) fn contains(&self, cell: &Cell) -> bool {
        self.industries
            .as_ref()
            .is_none_or(|s| s.contains(&cell.industry))
            && self.bands.as_ref().is_none_or(|s| s.contains(&cell.band))
            && self.tiers.as_ref().is_none_or(|s| s.contains(&cell.tier))
    }

    /// Every cell the cohort names when its industries are explicit, so an empty cell and a
    /// small one are reported alike; with any industry, only cells that exist can be listed.
    /// In the cells' order (industries, bands and tiers each ascending).
    pub(crate) fn named_cells(&self) -> Vec<Cell> {
        let Some(industries) = &self.industries else {
            return Vec::new();
        };
        let bands: Vec<SeatBand> = match &self.bands {
            Some(b) => b.iter().copied().collect(),
            None => SeatBand::ALL.to_vec(),
        };
        let tiers: Vec<LicenseTier> = match &self.tiers {
            Some(t) => t.iter().copied().collect(),
            None => LicenseTier::ALL.to_vec(),
        };
        let mut out = Vec::new();
        for industry in industries {
            for band in &bands {
                for tier in &tiers {
                    out.push(Cell {
                        industry: industry.clone(),
                        band: *band,
                        tier: *tier,
                    });
                }
            }
        }
        out
    }
}

/// The cohort key of a spec, e.g. `ALL`, `BAND:SEATS_101_500`, `CUSTOM:INDUSTRY:finance`.
pub(crate) fn key_of_spec(spec: &CohortSpec, asker: &tenant::Model) -> String {
    match spec {
        CohortSpec::AllTenants => "ALL".to_string(),
        CohortSpec::SimilarSize => format!("BAND:{}", SeatBand::of(asker.seat_count)),
        CohortSpec::SameIndustry => format!("INDUSTRY:{}", asker.industry),
        CohortSpec::Custom {
            industries,
            seat_bands,
            license_tiers,
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
            if !license_tiers.is_empty() {
                let tiers: Vec<&str> = license_tiers.iter().map(|t| t.as_str()).collect();
                parts.push(format!("TIER:{}", tiers.join(",")));
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

/// `Tenant.comparisons` (READER): per day of `from..=to` up to today, the asker's percentage,
/// each cohort's noisy figures without the tenants the caller can read (or why not) and the
/// cells left out, and the vendor's benchmarks.
///
/// Past days come from the history cache ([`cache`]: cells parsed once with their noise, the
/// snapshots of the asker and of the caller's tenants it subtracts in compact form), checked
/// against the days' versions in one query; what depends on the caller is computed here.
#[allow(clippy::too_many_arguments)]
pub async fn compare<C: ConnectionTrait>(
    conn: &C,
    viewer: &Viewer,
    live: &TenantState,
    from: NaiveDate,
    to: NaiveDate,
    specs: Vec<CohortSpec>,
    privacy: &Privacy,
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
    let selectors = specs
        .iter()
        .map(|s| Selector::of(s, asker))
        .collect::<AppResult<Vec<_>>>()?;
    let params = privacy.params;
    let to = to.min(today);
    if from > to {
        return Ok(Vec::new());
    }
    let history = HistoryCache::shared();
    let versions = cache::read_versions(conn, from, to).await?;
    let cells = if versions.is_empty() {
        BTreeMap::new()
    } else {
        let secret = match privacy.configured_secret.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => s.as_bytes().to_vec(),
            None => match versions.stored_secret() {
                Some(s) => s.as_bytes().to_vec(),
                None => noise_secret(conn, None).await?,
            },
        };
        history
            .day_cells(conn, &versions, from, to, &secret, &params)
            .await?
    };

    // The caller's own tenants (the asker among them) are taken out of every cell. Only the
    // members of cells that keep k others are subtracted one by one (a cell left with fewer is
    // suppressed whatever its members scored, so an MSP reading every tenant of a cell reads none
    // of their snapshots); member lists shared between days are counted once.
    let mut readable = viewer.tenant_ids();
    readable.push(asker.id);
    readable.sort_unstable();
    readable.dedup();
    let is_readable = |id: &i64| readable.binary_search(id).is_ok();
    let mut own_counts: IdMap<usize> = IdMap::default();
    let mut subtracted: BTreeSet<i64> = BTreeSet::new();
    for c in cells.values().flat_map(|d| &d.cells) {
        if own_counts.contains_key(&c.members.id) {
            continue;
        }
        let own = c.members.ids.iter().filter(|id| is_readable(id)).count();
        own_counts.insert(c.members.id, own);
        if own > 0 && c.members.ids.len() - own >= params.k {
            subtracted.extend(c.members.ids.iter().copied().filter(is_readable));
        }
    }
    subtracted.insert(asker.id);
    let tenants: Vec<i64> = subtracted.into_iter().collect();
    let stored = history.tenant_days(conn, &versions, &tenants, from, to).await?;
    let stored_day = |tenant: i64, day: NaiveDate| -> Option<&StoredDay> {
        let days = stored.get(&tenant)?;
        days.binary_search_by_key(&day, |d| d.day).ok().map(|i| &days[i])
    };

    // Per request, not per day: cohort keys, which cells each cohort takes (by cell id) and the
    // cells each names explicitly.
    let keys: Vec<String> = specs.iter().map(|s| key_of_spec(s, asker)).collect();
    let named: Vec<Vec<Cell>> = selectors.iter().map(Selector::named_cells).collect();
    let named_ids: Vec<Vec<Option<u32>>> = named.iter().map(|n| history.cell_ids(&versions, n)).collect();
    let mut takes: Vec<IdMap<bool>> = vec![IdMap::default(); selectors.len()];

    let mut days = Vec::new();
    for day in from.iter_days().take_while(|d| *d <= to) {
        let day_cells = cells.get(&day);
        let cell_list = day_cells.map(|d| d.cells.as_slice()).unwrap_or_default();
        let taken: Vec<Vec<bool>> = selectors
            .iter()
            .zip(takes.iter_mut())
            .map(|(selector, memo)| {
                cell_list
                    .iter()
                    .map(|c| {
                        *memo
                            .entry(c.cell_id)
                            .or_insert_with(|| selector.contains(&c.cell))
                    })
                    .collect()
            })
            .collect();
        // Each cell once per day: what is left after the caller's tenants, with its noise, or
        // `None` when fewer than k are left.
        let mut noisy: Vec<Option<Totals>> = Vec::with_capacity(cell_list.len());
        for (j, data) in cell_list.iter().enumerate() {
            let own = own_counts.get(&data.members.id).copied().unwrap_or_default();
            if !taken.iter().any(|t| t[j]) || data.members.ids.len() - own < params.k {
                noisy.push(None);
                continue;
            }
            let mut t = data.totals.clone();
            if own > 0 {
                for id in data.members.ids.iter().filter(|id| is_readable(id)) {
                    if let Some(snapshot) = stored_day(*id, day).and_then(|d| d.snapshot.as_ref()) {
                        t.add(&packed::contribution(snapshot)?, -1.0);
                    }
                }
            }
            t.add(&data.noise, 1.0);
            noisy.push(Some(t));
        }
        let by_cell = day_cells.map(|d| d.by_cell.as_slice()).unwrap_or_default();
        let mut cohorts = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            let mut sum = Totals::default();
            let mut included = 0;
            for (j, t) in noisy.iter().enumerate() {
                if let Some(t) = t.as_ref().filter(|_| taken[i][j]) {
                    sum.add(t, 1.0);
                    included += 1;
                }
            }
            let figures = if cell_list.is_empty() {
                Err(Suppression::NoData)
            } else if included == 0 {
                Err(Suppression::TooFewTenants { k: params.k })
            } else {
                Ok(publish(&sum))
            };
            // Both lists are in the cells' order: the day's cells left out, and the named cells
            // the day does not have.
            let left_out = by_cell
                .iter()
                .filter(|j| taken[i][**j] && noisy[**j].is_none())
                .map(|j| &cell_list[*j].cell);
            let absent: Vec<&Cell> = match day_cells.filter(|_| !cell_list.is_empty()) {
                Some(d) => named[i]
                    .iter()
                    .zip(&named_ids[i])
                    .filter(|(_, id)| !id.is_some_and(|id| d.has(id)))
                    .map(|(cell, _)| cell)
                    .collect(),
                None => Vec::new(),
            };
            let mut absent = absent.into_iter().peekable();
            let mut excluded: Vec<ExcludedCell> = Vec::new();
            let out = |cell: &Cell| ExcludedCell {
                cell: cell.clone(),
                k: params.k,
            };
            for cell in left_out {
                while let Some(a) = absent.next_if(|a| *a < cell) {
                    excluded.push(out(a));
                }
                excluded.push(out(cell));
            }
            excluded.extend(absent.map(out));
            debug_assert!(
                excluded.is_sorted_by(|a, b| a.cell < b.cell),
                "excluded cells are listed in order"
            );
            let mean_noise = figures
                .as_ref()
                .ok()
                .map(|p| mean_noise_std_dev(&params, included, p.size));
            cohorts.push(CohortAnswer {
                spec: spec.clone(),
                key: keys[i].clone(),
                figures,
                excluded,
                included_cells: included,
                params,
                mean_noise_std_dev: mean_noise,
            });
        }
        let own = stored_day(asker.id, day);
        let tenant_percentage = if day == today {
            Some(live.score.overall.percentage(&live.score.overall.current))
        } else {
            match own.and_then(|d| d.snapshot.as_ref()) {
                Some(snapshot) => Some(packed::percentage(snapshot)?),
                None => None,
            }
        };
        days.push(DayComparison {
            day,
            tenant_percentage,
            cohorts,
            vendor_benchmarks: own
                .and_then(|d| d.benchmarks.as_deref())
                .cloned()
                .unwrap_or_default(),
        });
    }
    Ok(days)
}
