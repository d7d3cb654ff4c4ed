//! Past days served from a precomputed form (issue 16: "past days are immutable"), so a trends
//! page reads a few index rows instead of every cohort cell of its range with member lists
//! (~3.4 MB of JSON for 90 days at 1,000 tenants) and 90 snapshot rows' JSON columns.
//!
//! **What is cached**, per server process and database:
//! - a day's cohort cells ([`DayCells`]): parsed once, member lists shared between days that
//!   have the same members, each cell's noise computed once (it is fixed per cell and day);
//! - a tenant's stored days ([`StoredDay`]): its snapshot in the compact form of
//!   [`super::packed`] (~150 bytes a day) and its vendor benchmarks.
//!
//! What depends on the caller (which tenants it can read and so takes out of each cell, which
//! cells are left with fewer than *k*, the unions of cells) is computed per request from these,
//! which is cheap; today is never cached (it is served from the live state).
//!
//! **Validation.** Several server processes may share one database, so nothing here is
//! trusted on its own: every request reads the versions of the days of its range
//! ([`read_versions`], one indexed query) and uses an entry only at the version it was read at.
//! Every write of a day's snapshots, cells or vendor benchmarks bumps that day's version in its
//! own transaction, whichever process (or SQL session) makes it: database triggers do it
//! (migration `m20261206_000012_history_versions`), so no writer can forget to. The versions
//! are read before the rows, so a race with a writer makes an entry stale early, never wrong.
//! The noise secret is read in the same query (and a configured one is used as is): noise is
//! cached with the secret and ε it was drawn with.
//!
//! **Why a cache and not stored compact rows**: the exclusion of the caller's tenants needs
//! every cell's member list on every request; an MSP reading every tenant takes all of them out
//! of all cells, so any stored form would still be read whole each time (90 days × ~94 cells).
//! Held in memory with the member lists shared, it costs a few microseconds. A stored compact
//! snapshot form would need every snapshot writer (the job, imports, seeders) to maintain it;
//! the versions need nothing of them.
//!
//! **Memory.** One cache per process ([`HistoryCache::shared`]), bounded to
//! [`DEFAULT_BUDGET_BYTES`] (24 MiB) of estimated memory, least recently used entries evicted:
//! at 1,000 tenants × 90 days the cells take ~3 MB and the tenants ~14 MB. Entries are keyed
//! by the database's random `history_cache_epoch` (set by the migration), so servers of several
//! databases in one process (tests) never share an entry; servers of one database in one
//! process do share them, which is as safe as each having its own, since every use is
//! validated against the database.

use crate::domain::privacy::{CELL_PREFIX, Cell, Params, Totals, cell_seed, noise};
use crate::error::{AppError, AppResult};
use chrono::NaiveDate;
use entity::{cohort_aggregate, history_version, score_snapshot, vendor_benchmark};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, LazyLock, Mutex};

/// Memory the process's history cache may hold, in bytes (estimated).
pub const DEFAULT_BUDGET_BYTES: usize = 24 * 1024 * 1024;

/// The `server_setting` naming the database (written by the migration).
const EPOCH_SETTING: &str = "history_cache_epoch";
/// The `server_setting` holding a generated noise secret (see `comparisons::noise_secret`).
const SECRET_SETTING: &str = "comparison_noise_secret";

/// What one request read about the days of its range: their versions, the database's epoch
/// and the stored noise secret.
#[derive(Debug, Default)]
pub struct Versions {
    epoch: Option<String>,
    secret: Option<String>,
    days: BTreeMap<NaiveDate, i64>,
}

impl Versions {
    /// The days of the range that have stored history, with their versions (a day without a
    /// version has never been written).
    pub fn days(&self) -> impl Iterator<Item = (NaiveDate, i64)> + '_ {
        self.days.iter().map(|(d, v)| (*d, *v))
    }

    /// The database's random epoch (what keys a process's cached entries to one database).
    pub fn epoch(&self) -> Option<&str> {
        self.epoch.as_deref()
    }

    /// The stored noise secret, when one was there (and the range has stored history).
    pub fn stored_secret(&self) -> Option<&str> {
        self.secret.as_deref()
    }

    /// Whether no day of the range has stored history.
    pub fn is_empty(&self) -> bool {
        self.days.is_empty()
    }
}

/// The versions of the days `from..=to`, with the epoch and the stored noise secret, in one
/// query.
pub async fn read_versions<C: ConnectionTrait>(
    conn: &C,
    from: NaiveDate,
    to: NaiveDate,
) -> AppResult<Versions> {
    let select = history_version::Entity::find()
        .filter(history_version::Column::Day.gte(from))
        .filter(history_version::Column::Day.lte(to))
        .column_as(
            Expr::cust(format!(
                "(SELECT value FROM server_setting WHERE name = '{EPOCH_SETTING}')"
            )),
            "cache_epoch",
        )
        .column_as(
            Expr::cust(format!(
                "(SELECT value FROM server_setting WHERE name = '{SECRET_SETTING}')"
            )),
            "noise_secret",
        );
    let rows = conn
        .query_all_raw(select.build(conn.get_database_backend()))
        .await?;
    let mut versions = Versions::default();
    for row in rows {
        let v = history_version::Model::from_query_result(&row, "")?;
        versions.days.insert(v.day, v.version);
        if versions.epoch.is_none() {
            versions.epoch = row.try_get::<Option<String>>("", "cache_epoch")?;
            versions.secret = row.try_get::<Option<String>>("", "noise_secret")?;
        }
    }
    Ok(versions)
}

/// A hasher for small integer ids (cell and member-list ids), which need no protection from
/// chosen collisions.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8 | u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A map keyed by an id.
pub type IdMap<V> = HashMap<u32, V, BuildHasherDefault<IdHasher>>;

/// The member tenants of a cell, shared by the days on which the cell had exactly these
/// members; `id` tells equal lists apart cheaply (one id per shared list).
#[derive(Clone, Debug)]
pub struct Members {
    pub id: u32,
    /// In the order the cell stored them.
    pub ids: Arc<[i64]>,
}

/// A cohort cell of a day.
#[derive(Debug)]
pub struct CachedCell {
    pub cell: Cell,
    /// The same for the same cell on every day (and per database).
    pub cell_id: u32,
    pub members: Members,
    /// Exact sums over the members.
    pub totals: Totals,
    /// The cell's noise that day.
    pub noise: Totals,
}

/// The cohort cells of a day, in the order of their keys (the order their sums are added in).
#[derive(Debug)]
pub struct DayCells {
    version: i64,
    noise_key: [u8; 32],
    pub cells: Vec<CachedCell>,
    /// Indices of `cells` in the order of the cells themselves (`Cell`'s order: industry, seat
    /// band, tier), the order cells are listed in answers.
    pub by_cell: Vec<usize>,
    /// The cells' ids, sorted (to tell whether a cell exists that day).
    cell_ids: Vec<u32>,
}

impl DayCells {
    /// Whether the cell with this id exists that day.
    pub fn has(&self, cell_id: u32) -> bool {
        self.cell_ids.binary_search(&cell_id).is_ok()
    }
}

/// One tenant's stored day.
#[derive(Clone, Debug)]
pub struct StoredDay {
    pub day: NaiveDate,
    version: i64,
    /// The snapshot in [`super::packed`] form, when the tenant has one that day.
    pub snapshot: Option<Arc<[u8]>>,
    /// Vendor benchmarks imported for the tenant and day, by basis and basis value.
    pub benchmarks: Option<Arc<Vec<vendor_benchmark::Model>>>,
}

/// A tenant's stored days, sorted by day.
struct TenantDays {
    days: Vec<StoredDay>,
}

struct Slot<T> {
    value: Arc<T>,
    last_used: u64,
    bytes: usize,
}

#[derive(Default)]
struct Inner {
    clock: u64,
    used: usize,
    /// Database epoch → namespace.
    namespaces: HashMap<String, u32>,
    cells: HashMap<(u32, NaiveDate), Slot<DayCells>>,
    tenants: HashMap<(u32, i64), Slot<TenantDays>>,
    /// Interned cells: an id per (namespace, cell).
    cell_ids: HashMap<(u32, Cell), u32>,
    /// The latest member list seen per cell id, shared by the next day with the same members.
    latest_members: IdMap<Members>,
    next_members_id: u32,
}

/// The process's cache of past days (see the module header).
pub struct HistoryCache {
    budget: usize,
    inner: Mutex<Inner>,
    /// Loads of cohort cells take turns: a cold start's concurrent requests would otherwise each
    /// parse the same megabytes of cells at once; the ones that wait find them cached.
    cell_loads: tokio::sync::Mutex<()>,
}

static SHARED: LazyLock<HistoryCache> = LazyLock::new(|| HistoryCache::new(DEFAULT_BUDGET_BYTES));

fn approx_cells_bytes(cells: &[CachedCell]) -> usize {
    cells
        .iter()
        .map(|c| std::mem::size_of::<CachedCell>() + c.cell.industry.len() + 8 * c.members.ids.len() + 32)
        .sum::<usize>()
        + std::mem::size_of::<DayCells>()
        + 12 * cells.len()
}

fn approx_days_bytes(days: &[StoredDay]) -> usize {
    days.iter()
        .map(|d| {
            std::mem::size_of::<StoredDay>()
                + d.snapshot.as_ref().map_or(0, |s| s.len() + 16)
                + d.benchmarks.as_ref().map_or(0, |b| {
                    b.iter()
                        .map(|m| {
                            std::mem::size_of::<vendor_benchmark::Model>()
                                + m.basis.len()
                                + m.basis_value.len()
                                + m.category_scores.to_string().len() * 2
                        })
                        .sum()
                })
        })
        .sum::<usize>()
        + std::mem::size_of::<TenantDays>()
        + 64
}

/// The key of noise drawn with `secret` and `params.epsilon`.
fn noise_key(secret: &[u8], params: &Params) -> [u8; 32] {
    Sha256::new()
        .chain_update((secret.len() as u64).to_be_bytes())
        .chain_update(secret)
        .chain_update(params.epsilon.to_bits().to_be_bytes())
        .finalize()
        .into()
}

/// What `cohort_aggregate.data` holds for a cell (written by `comparisons::write_aggregates`).
#[derive(Deserialize)]
struct StoredCell {
    cell: Cell,
    members: Vec<i64>,
    totals: Totals,
}

impl HistoryCache {
    /// A cache holding at most `budget` bytes (0: nothing is kept; answers are the same).
    pub fn new(budget: usize) -> Self {
        HistoryCache {
            budget,
            inner: Mutex::new(Inner::default()),
            cell_loads: tokio::sync::Mutex::new(()),
        }
    }

    /// The process's cache.
    pub fn shared() -> &'static HistoryCache {
        &SHARED
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means a panic elsewhere while it was held; every update below
        // leaves the maps consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The namespace of the database `versions` were read from; `None` (nothing cached) when
    /// its epoch is missing.
    fn namespace(&self, versions: &Versions) -> Option<u32> {
        let epoch = versions.epoch.as_ref()?;
        let mut inner = self.lock();
        let next = inner.namespaces.len() as u32;
        Some(*inner.namespaces.entry(epoch.clone()).or_insert(next))
    }

    /// Estimated memory held by the entries.
    pub fn used_bytes(&self) -> usize {
        self.lock().used
    }

    /// The ids of `cells` in the database of `versions` (`None`: a cell no day had so far).
    pub fn cell_ids(&self, versions: &Versions, cells: &[Cell]) -> Vec<Option<u32>> {
        let ns = self.namespace(versions).unwrap_or(u32::MAX);
        let inner = self.lock();
        cells
            .iter()
            .map(|c| inner.cell_ids.get(&(ns, c.clone())).copied())
            .collect()
    }

    /// The cohort cells of each day of `from..=to` that has stored history, with their noise
    /// under `secret` and `params`: cached entries at the days' current versions, the others
    /// read (in one query) and cached.
    pub async fn day_cells<C: ConnectionTrait>(
        &self,
        conn: &C,
        versions: &Versions,
        from: NaiveDate,
        to: NaiveDate,
        secret: &[u8],
        params: &Params,
    ) -> AppResult<BTreeMap<NaiveDate, Arc<DayCells>>> {
        let key = noise_key(secret, params);
        let wanted: Vec<(NaiveDate, i64)> =
            versions.days().filter(|(d, _)| (from..=to).contains(d)).collect();
        let mut out = BTreeMap::new();
        if wanted.is_empty() {
            return Ok(out);
        }
        let ns = self.namespace(versions);
        let missing = self.cached_cells(ns, &wanted, &key, &mut out);
        if missing.is_empty() {
            return Ok(out);
        }
        let _turn = self.cell_loads.lock().await;
        // Another request may have loaded them while this one waited.
        let missing = self.cached_cells(ns, &missing, &key, &mut out);
        if missing.is_empty() {
            return Ok(out);
        }
        let (lo, hi) = (missing[0].0, missing[missing.len() - 1].0);
        let rows: Vec<(NaiveDate, String, String)> = cohort_aggregate::Entity::find()
            .select_only()
            .column(cohort_aggregate::Column::Day)
            .column(cohort_aggregate::Column::CohortKey)
            .column_as(Expr::cust("CAST(data AS TEXT)"), "data_text")
            .filter(cohort_aggregate::Column::Day.gte(lo))
            .filter(cohort_aggregate::Column::Day.lte(hi))
            .filter(cohort_aggregate::Column::CohortKey.starts_with(CELL_PREFIX))
            .order_by_asc(cohort_aggregate::Column::Day)
            .order_by_asc(cohort_aggregate::Column::CohortKey)
            .into_tuple()
            .all(conn)
            .await?;
        let mut parsed: BTreeMap<NaiveDate, Vec<StoredCell>> = BTreeMap::new();
        for (day, _, text) in rows {
            let cell: StoredCell = serde_json::from_str(&text)
                .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("unreadable cohort cell")))?;
            parsed.entry(day).or_default().push(cell);
        }
        for (day, version) in missing {
            let stored = parsed.remove(&day).unwrap_or_default();
            let cells = self.build_cells(ns, day, version, key, secret, params, stored);
            out.insert(day, cells);
        }
        Ok(out)
    }

    /// Puts the cached cells of `wanted` days into `out`; returns the days not cached.
    fn cached_cells(
        &self,
        ns: Option<u32>,
        wanted: &[(NaiveDate, i64)],
        key: &[u8; 32],
        out: &mut BTreeMap<NaiveDate, Arc<DayCells>>,
    ) -> Vec<(NaiveDate, i64)> {
        let Some(ns) = ns else {
            return wanted.to_vec();
        };
        let mut inner = self.lock();
        inner.clock += 1;
        let tick = inner.clock;
        let mut missing = Vec::new();
        for (day, version) in wanted {
            match inner.cells.get_mut(&(ns, *day)) {
                Some(slot) if slot.value.version == *version && slot.value.noise_key == *key => {
                    slot.last_used = tick;
                    out.insert(*day, slot.value.clone());
                }
                _ => missing.push((*day, *version)),
            }
        }
        missing
    }

    #[allow(clippy::too_many_arguments)]
    fn build_cells(
        &self,
        ns: Option<u32>,
        day: NaiveDate,
        version: i64,
        key: [u8; 32],
        secret: &[u8],
        params: &Params,
        stored: Vec<StoredCell>,
    ) -> Arc<DayCells> {
        let mut cells = Vec::with_capacity(stored.len());
        {
            let mut inner = self.lock();
            // Ids are interned also when nothing is cached (a database without an epoch), so
            // they tell cells and lists apart within a request all the same.
            let id_space = ns.unwrap_or(u32::MAX);
            for s in stored {
                let next = inner.cell_ids.len() as u32;
                let cell_id = *inner.cell_ids.entry((id_space, s.cell.clone())).or_insert(next);
                let members = match inner.latest_members.get(&cell_id) {
                    Some(m) if *m.ids == *s.members => m.clone(),
                    _ => {
                        inner.next_members_id = inner.next_members_id.wrapping_add(1);
                        let m = Members {
                            id: inner.next_members_id,
                            ids: s.members.into(),
                        };
                        inner.latest_members.insert(cell_id, m.clone());
                        m
                    }
                };
                cells.push(CachedCell {
                    noise: noise(&cell_seed(secret, &s.cell, day), params),
                    cell: s.cell,
                    cell_id,
                    members,
                    totals: s.totals,
                });
            }
        }
        let mut cell_ids: Vec<u32> = cells.iter().map(|c| c.cell_id).collect();
        cell_ids.sort_unstable();
        let mut by_cell: Vec<usize> = (0..cells.len()).collect();
        by_cell.sort_by(|a, b| cells[*a].cell.cmp(&cells[*b].cell));
        let bytes = approx_cells_bytes(&cells);
        let value = Arc::new(DayCells {
            version,
            noise_key: key,
            cells,
            by_cell,
            cell_ids,
        });
        if let Some(ns) = ns {
            let mut inner = self.lock();
            inner.clock += 1;
            let slot = Slot {
                value: value.clone(),
                last_used: inner.clock,
                bytes,
            };
            if let Some(old) = inner.cells.insert((ns, day), slot) {
                inner.used -= old.bytes;
            }
            inner.used += bytes;
            self.evict(&mut inner);
        }
        value
    }

    /// Each of `tenant_ids`' stored days among the days of `from..=to` that have stored
    /// history (a day with a version but without the tenant's rows has no `snapshot` and no
    /// `benchmarks`), sorted by day: cached entries at the days' current versions, the others
    /// read (one query for all of them per table) and cached.
    pub async fn tenant_days<C: ConnectionTrait>(
        &self,
        conn: &C,
        versions: &Versions,
        tenant_ids: &[i64],
        from: NaiveDate,
        to: NaiveDate,
    ) -> AppResult<HashMap<i64, Vec<StoredDay>>> {
        let wanted: Vec<(NaiveDate, i64)> =
            versions.days().filter(|(d, _)| (from..=to).contains(d)).collect();
        let mut out: HashMap<i64, Vec<StoredDay>> = HashMap::with_capacity(tenant_ids.len());
        if wanted.is_empty() {
            return Ok(out);
        }
        let ns = self.namespace(versions);
        let mut missing: BTreeMap<i64, Vec<(NaiveDate, i64)>> = BTreeMap::new();
        {
            let mut inner = self.lock();
            inner.clock += 1;
            let tick = inner.clock;
            for id in tenant_ids {
                let slot = ns.and_then(|ns| inner.tenants.get_mut(&(ns, *id)));
                let cached = slot.map(|s| {
                    s.last_used = tick;
                    s.value.clone()
                });
                let mut hits = Vec::with_capacity(wanted.len());
                for (day, version) in &wanted {
                    let hit = cached.as_ref().and_then(|c| {
                        c.days
                            .binary_search_by_key(day, |d| d.day)
                            .ok()
                            .map(|i| &c.days[i])
                            .filter(|d| d.version == *version)
                    });
                    match hit {
                        Some(d) => hits.push(d.clone()),
                        None => missing.entry(*id).or_default().push((*day, *version)),
                    }
                }
                out.insert(*id, hits);
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let lo = missing.values().flatten().map(|(d, _)| *d).min().unwrap_or(from);
        let hi = missing.values().flatten().map(|(d, _)| *d).max().unwrap_or(to);
        let ids: Vec<i64> = missing.keys().copied().collect();
        let mut snapshots: HashMap<(i64, NaiveDate), Arc<[u8]>> = HashMap::new();
        let mut benchmarks: HashMap<(i64, NaiveDate), Vec<vendor_benchmark::Model>> = HashMap::new();
        for chunk in ids.chunks(500) {
            for row in score_snapshot::Entity::find()
                .filter(score_snapshot::Column::TenantId.is_in(chunk.to_vec()))
                .filter(score_snapshot::Column::Day.gte(lo))
                .filter(score_snapshot::Column::Day.lte(hi))
                .all(conn)
                .await?
            {
                snapshots.insert((row.tenant_id, row.day), super::packed::pack(&row)?.into());
            }
            for b in vendor_benchmark::Entity::find()
                .filter(vendor_benchmark::Column::TenantId.is_in(chunk.to_vec()))
                .filter(vendor_benchmark::Column::Day.gte(lo))
                .filter(vendor_benchmark::Column::Day.lte(hi))
                .order_by_asc(vendor_benchmark::Column::Basis)
                .order_by_asc(vendor_benchmark::Column::BasisValue)
                .all(conn)
                .await?
            {
                benchmarks.entry((b.tenant_id, b.day)).or_default().push(b);
            }
        }
        let mut inner = self.lock();
        inner.clock += 1;
        let tick = inner.clock;
        for (id, days) in missing {
            let loaded: Vec<StoredDay> = days
                .iter()
                .map(|(day, version)| StoredDay {
                    day: *day,
                    version: *version,
                    snapshot: snapshots.remove(&(id, *day)),
                    benchmarks: benchmarks.remove(&(id, *day)).map(Arc::new),
                })
                .collect();
            let hits = out.entry(id).or_default();
            hits.extend(loaded.iter().cloned());
            hits.sort_by_key(|d| d.day);
            let Some(ns) = ns else {
                continue;
            };
            // The entry keeps its other days (at their versions) beside the loaded ones.
            let mut merged: Vec<StoredDay> = inner
                .tenants
                .get(&(ns, id))
                .map(|s| {
                    s.value
                        .days
                        .iter()
                        .filter(|d| loaded.binary_search_by_key(&d.day, |l| l.day).is_err())
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            merged.extend(loaded);
            merged.sort_by_key(|d| d.day);
            let bytes = approx_days_bytes(&merged);
            let slot = Slot {
                value: Arc::new(TenantDays { days: merged }),
                last_used: tick,
                bytes,
            };
            if let Some(old) = inner.tenants.insert((ns, id), slot) {
                inner.used -= old.bytes;
            }
            inner.used += bytes;
        }
        self.evict(&mut inner);
        Ok(out)
    }

    /// Evicts the least recently used entries while the budget is exceeded, down to 90 % of it
    /// (so a full cache does not scan its entries on every insert).
    fn evict(&self, inner: &mut Inner) {
        if inner.used <= self.budget {
            return;
        }
        enum Key {
            Cells((u32, NaiveDate)),
            Tenant((u32, i64)),
        }
        let mut all: Vec<(u64, usize, Key)> = inner
            .cells
            .iter()
            .map(|(k, s)| (s.last_used, s.bytes, Key::Cells(*k)))
            .chain(
                inner
                    .tenants
                    .iter()
                    .map(|(k, s)| (s.last_used, s.bytes, Key::Tenant(*k))),
            )
            .collect();
        all.sort_unstable_by_key(|(last_used, _, _)| *last_used);
        let target = self.budget / 10 * 9;
        for (_, bytes, key) in all {
            if inner.used <= target {
                break;
            }
            match key {
                Key::Cells(k) => {
                    inner.cells.remove(&k);
                }
                Key::Tenant(k) => {
                    inner.tenants.remove(&k);
                }
            }
            inner.used -= bytes;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::cohort::SeatBand;
    use crate::domain::privacy::LicenseTier;

    fn day(n: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, n).expect("date")
    }

    fn versions(epoch: &str, days: &[(u32, i64)]) -> Versions {
        Versions {
            epoch: Some(epoch.into()),
            secret: None,
            days: days.iter().map(|(d, v)| (day(*d), *v)).collect(),
        }
    }

    fn cell(industry: &str) -> StoredCell {
        StoredCell {
            cell: Cell {
                industry: industry.into(),
                band: SeatBand::B101To500,
                tier: LicenseTier::None,
            },
            members: vec![1, 2, 3, 4, 5, 6],
            totals: Totals::default(),
        }
    }

    fn params() -> Params {
        Params { k: 5, epsilon: 1.0 }
    }

    #[test]
    fn an_entry_is_used_only_at_its_version_and_noise_key_and_within_its_database() {
        let cache = HistoryCache::new(1 << 20);
        let v1 = versions("db-a", &[(1, 3)]);
        let ns = cache.namespace(&v1);
        let key = noise_key(b"s", &params());
        cache.build_cells(ns, day(1), 3, key, b"s", &params(), vec![cell("finance")]);
        let mut out = BTreeMap::new();
        let cases = [
            (
                versions("db-a", &[(1, 3)]),
                key,
                true,
                "same database, version and noise",
            ),
            (
                versions("db-a", &[(1, 4)]),
                key,
                false,
                "the day was written since",
            ),
            (
                versions("db-a", &[(1, 3)]),
                noise_key(b"t", &params()),
                false,
                "another noise secret",
            ),
            (versions("db-b", &[(1, 3)]), key, false, "another database"),
        ];
        for (v, k, hit, why) in cases {
            out.clear();
            let wanted: Vec<_> = v.days().collect();
            let missing = cache.cached_cells(cache.namespace(&v), &wanted, &k, &mut out);
            assert_eq!(missing.is_empty(), hit, "{why}");
        }
    }

    #[test]
    fn days_with_the_same_members_share_one_list() {
        let cache = HistoryCache::new(1 << 20);
        let v = versions("db", &[(1, 1), (2, 1), (3, 1)]);
        let ns = cache.namespace(&v);
        let key = noise_key(b"s", &params());
        let a = cache.build_cells(ns, day(1), 1, key, b"s", &params(), vec![cell("finance")]);
        let b = cache.build_cells(ns, day(2), 1, key, b"s", &params(), vec![cell("finance")]);
        let mut changed = cell("finance");
        changed.members.push(7);
        let c = cache.build_cells(ns, day(3), 1, key, b"s", &params(), vec![changed]);
        assert_eq!(a.cells[0].members.id, b.cells[0].members.id, "same members");
        assert!(Arc::ptr_eq(&a.cells[0].members.ids, &b.cells[0].members.ids));
        assert_ne!(b.cells[0].members.id, c.cells[0].members.id, "a member joined");
        assert_eq!(a.cells[0].cell_id, c.cells[0].cell_id, "one id per cell");
        assert_ne!(a.cells[0].noise, b.cells[0].noise, "noise is per day");
    }

    #[test]
    fn the_budget_evicts_the_least_recently_used_entries() {
        let one = approx_cells_bytes(&[CachedCell {
            cell: cell("finance").cell,
            cell_id: 0,
            members: Members {
                id: 0,
                ids: vec![1, 2, 3, 4, 5, 6].into(),
            },
            totals: Totals::default(),
            noise: Totals::default(),
        }]);
        let cache = HistoryCache::new(3 * one + one / 2);
        let v = versions("db", &[(1, 1), (2, 1), (3, 1), (4, 1)]);
        let ns = cache.namespace(&v);
        let key = noise_key(b"s", &params());
        for d in 1..=3 {
            cache.build_cells(ns, day(d), 1, key, b"s", &params(), vec![cell("finance")]);
        }
        // Day 1 is used again, so day 2 is now the least recently used.
        let mut out = BTreeMap::new();
        assert!(cache.cached_cells(ns, &[(day(1), 1)], &key, &mut out).is_empty());
        cache.build_cells(ns, day(4), 1, key, b"s", &params(), vec![cell("finance")]);
        assert!(cache.used_bytes() <= 3 * one + one / 2, "within the budget");
        let cached = |d: u32| {
            let mut out = BTreeMap::new();
            cache.cached_cells(ns, &[(day(d), 1)], &key, &mut out).is_empty()
        };
        assert!(cached(1) && cached(4), "recently used days stay");
        assert!(!cached(2), "the least recently used day went first");
    }

    #[test]
    fn a_zero_budget_keeps_nothing() {
        let cache = HistoryCache::new(0);
        let v = versions("db", &[(1, 1)]);
        let ns = cache.namespace(&v);
        let key = noise_key(b"s", &params());
        cache.build_cells(ns, day(1), 1, key, b"s", &params(), vec![cell("finance")]);
        assert_eq!(cache.used_bytes(), 0);
        let mut out = BTreeMap::new();
        assert_eq!(cache.cached_cells(ns, &[(day(1), 1)], &key, &mut out).len(), 1);
    }
}
