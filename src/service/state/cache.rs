//! A per-process cache of computed tenant states, shared by the requests of one server, so a
//! read of an unchanged tenant costs the tenant row (read anyway) instead of its persisted state
//! (`persisted`: one row to read and decode, ~250 actions to score). Never needed for
//! correctness: a process with the cache off (`STATE_CACHE_MIB=0`) answers the same.
//!
//! Several stateless server processes may share one database, so nothing here is trusted on its
//! own: every use is **validated against the database** in the request.
//! - The tenant row, read by every request anyway to resolve the slug or id, must equal the one
//!   the state was computed from. Every committed change to a tenant's actions or licences bumps
//!   `tenant.state_version` in its transaction (`tenants::touch`), whichever process made it, so
//!   any change makes the rows differ.
//! - The service catalog's fingerprint (number of controls and their latest `updated_at`, one
//!   cheap query) must equal the one the state was computed with, since the service catalog is
//!   shared by all tenants and a SERVICE_ADMIN's change or a catalog refresh in another process
//!   changes it without touching every tenant. A tenant's own control profiles change only
//!   through its imports, which bump its version like any other change.
//! - A state is only valid until the earliest `review_by` among its actions (when that action
//!   expires) and the earliest expiry of a licence it holds (when actions become unlicensed):
//!   time alone changes those answers.
//!
//! Reading the tenant row before the action rows means a state can only be computed from rows
//! at least as new as its key, so a race with a writer makes an entry stale early, never wrong.
//! Controls are loaded once per catalog fingerprint and shared via `Arc` by every state (cached
//! or not), and the cached states' estimated memory is bounded (`STATE_CACHE_MIB`, default
//! 32 MiB: about 280 tenants of 250 actions, ~116 KiB each; least recently used evicted).

use crate::auth::Viewer;
use crate::domain::rules::is_expired;
use crate::error::{AppError, AppResult};
use crate::service::state::controls;
use crate::service::state::summary::{self, Summary};
use crate::service::state::{self, TenantState, catalog, persisted};
use chrono::{DateTime, Utc};
use entity::{improvement_action, tenant};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, FromQueryResult, QueryFilter, QuerySelect,
    QueryTrait,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub use crate::service::state::catalog::Fingerprint;

struct Entry {
    state: Arc<TenantState>,
    catalog: Fingerprint,
    /// The state answers differently from this moment on (a review date or licence expiry).
    valid_until: Option<DateTime<Utc>>,
    last_used: u64,
    /// Estimated memory the state holds ([`approx_bytes`]).
    bytes: usize,
}

#[derive(Default)]
struct Inner {
    /// By tenant id and whether the state is partial (an overview, `summary`).
    entries: HashMap<(i64, bool), Entry>,
    /// Sum of the entries' `bytes`.
    used: usize,
    clock: u64,
}

/// The shared cache; one per server (schema) instance.
pub struct StateCache {
    /// Most memory the cached states may hold, in bytes (0: no state is cached; the catalog's
    /// controls still are, they are shared by every state).
    budget: usize,
    inner: Mutex<Inner>,
    /// The expiry write a read makes when actions passed their review date (see
    /// [`crate::service::state::ExpireDue`]); `None` only in this module's unit tests.
    expire: Option<crate::service::state::ExpireDue>,
}

/// An estimate of the memory a state holds: its actions, their owned strings and tags (the
/// controls are shared between states and counted once, in the catalog).
pub fn approx_bytes(state: &TenantState) -> usize {
    let actions: usize = state
        .actions
        .iter()
        .map(|a| {
            std::mem::size_of::<crate::service::state::ActionState>()
                + a.row.implementation_status.as_ref().map_or(0, |s| s.len())
                + a.row.origin.len()
        })
        .sum();
    let tags: usize = state.tags.as_ref().map_or(0, |tags| {
        tags.values()
            .flatten()
            .map(|t| std::mem::size_of::<entity::tag::Model>() + t.name.len() + t.color.len() + 16)
            .sum()
    });
    std::mem::size_of::<TenantState>() + actions + tags + 256
}

impl StateCache {
    /// A cache whose states hold at most `budget` bytes (0 = no state caching).
    pub fn new(budget: usize) -> Self {
        StateCache {
            budget,
            inner: Mutex::new(Inner::default()),
            expire: None,
        }
    }

    /// The cache with the expiry write it makes before computing a state whose actions passed
    /// their review date.
    pub fn with_expiry(mut self, expire: crate::service::state::ExpireDue) -> Self {
        self.expire = Some(expire);
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means a panic elsewhere while it was held; every update below
        // leaves the maps consistent, so the data is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The scored state of `tenant` (a row just read from the database), from the cache when it
    /// is still valid, otherwise computed from the tenant's persisted state (one indexed read;
    /// see `state::persisted`), or from its rows when that is missing or older than the tenant
    /// row, and cached. No authorisation here: callers check the viewer first.
    ///
    /// `catalog` is the catalog's fingerprint when the caller read it with the tenant row
    /// ([`tenant_by_slug`]); otherwise it is read here.
    pub async fn get_or_load(
        &self,
        db: &DatabaseConnection,
        tenant: &tenant::Model,
        catalog: Option<&Fingerprint>,
        now: DateTime<Utc>,
    ) -> AppResult<Arc<TenantState>> {
        let fingerprint = match catalog {
            Some(f) => f.clone(),
            None => catalog::fingerprint(db).await?,
        };
        {
            let mut inner = self.lock();
            inner.clock += 1;
            let tick = inner.clock;
            if let Some(e) = inner.entries.get_mut(&(tenant.id, false))
                && e.holds(tenant, &fingerprint, now)
            {
                e.last_used = tick;
                return Ok(e.state.clone());
            }
        }
        let catalog = catalog::at(db, &fingerprint).await?;
        // Inputs read from the tables (none persisted at this version) are persisted below with
        // the overview computed from them.
        let (mut inputs, from_tables) = match persisted::load(db, tenant).await? {
            Some(inputs) => (inputs, false),
            None => (persisted::read_inputs(db, tenant.id).await?, true),
        };
        if let Some(expire) = &self.expire
            && inputs.rows.iter().any(|r| is_expired(r.review_by, now))
        {
            // The one write a read makes: actions past their review date expire (with their
            // events, bumping the tenant's version) before anything is computed, so an answer
            // never depends on when the background sweep last ran. The next read caches the
            // state under the new version.
            expire(db.clone(), tenant.id, now).await?;
            let tenant = tenant::Entity::find_by_id(tenant.id)
                .one(db)
                .await?
                .ok_or(AppError::NotFound("tenant"))?;
            return Ok(Arc::new(state::load(db, tenant, now).await?));
        }
        // The tenant's own profiles change only through its imports, which bump its version.
        let own = if inputs.own_profiles {
            controls::own_profiles(db, tenant.id).await?
        } else {
            controls::OwnProfiles::default()
        };
        // The rows are kept only when they are to be persisted below.
        let rows = if from_tables {
            inputs.rows.clone()
        } else {
            std::mem::take(&mut inputs.rows)
        };
        let rows = controls::applicable_rows(tenant, rows, &own, |id| catalog.controls.get(id).cloned())?;
        let mut built = state::build_shared(tenant.clone(), rows, &inputs.held, now)?;
        built.tags = Some(Arc::new(inputs.tags.clone()));
        built.own_profiles = inputs.own_profiles;
        if from_tables {
            let overview = Summary::of(&built, &fingerprint, inputs.own_profiles).encode()?;
            persisted::repair(db, tenant.id, tenant.state_version, &inputs, Some(overview), now).await?;
        }
        let built = Arc::new(built);
        let valid_until = summary::valid_until(&built, now);
        self.insert(built.clone(), fingerprint, valid_until);
        Ok(built)
    }

    /// The overview of `tenant` (a row just read from the database): its complete state when
    /// cached, else its cached or persisted overview as a partial state (`state::summary`: one
    /// small indexed read, no scoring), else its complete state (`get_or_load`), whose overview
    /// is then persisted for the next process (never over a newer version). No authorisation
    /// here: callers check the viewer first.
    pub async fn overview(
        &self,
        db: &DatabaseConnection,
        tenant: &tenant::Model,
        along: Option<&ReadAlong>,
        now: DateTime<Utc>,
    ) -> AppResult<Arc<TenantState>> {
        let fingerprint = match along {
            Some(a) => a.catalog.clone(),
            None => catalog::fingerprint(db).await?,
        };
        {
            let mut inner = self.lock();
            inner.clock += 1;
            let tick = inner.clock;
            for partial in [false, true] {
                if let Some(e) = inner.entries.get_mut(&(tenant.id, partial))
                    && e.holds(tenant, &fingerprint, now)
                {
                    e.last_used = tick;
                    return Ok(e.state.clone());
                }
            }
        }
        let stored = match along {
            Some(a) => a.overview.as_deref().and_then(Summary::decode),
            None => persisted::load_summary(db, tenant).await?,
        };
        if let Some(stored) = stored
            && stored.usable(&fingerprint, now)
        {
            let catalog = catalog::at(db, &fingerprint).await?;
            let own = if stored.own_profiles() {
                controls::own_profiles(db, tenant.id).await?
            } else {
                controls::OwnProfiles::default()
            };
            let valid_until = stored.valid_until();
            let control = |id: &str| {
                own.by_id
                    .get(id)
                    .cloned()
                    .or_else(|| catalog.controls.get(id).cloned())
            };
            if let Some(state) = stored.into_state(tenant.clone(), control)? {
                let state = Arc::new(state);
                self.insert(state.clone(), fingerprint, valid_until);
                return Ok(state);
            }
        }
        let state = self.get_or_load(db, tenant, Some(&fingerprint), now).await?;
        if state.tenant == *tenant && state.partial.is_none() {
            let bytes = Summary::of(&state, &fingerprint, state.own_profiles).encode()?;
            persisted::repair_summary(db, tenant.id, tenant.state_version, bytes).await?;
        }
        Ok(state)
    }
}

impl Entry {
    /// Whether the entry answers for `tenant` (a row just read) under the catalog at
    /// `fingerprint` at `now`.
    fn holds(&self, tenant: &tenant::Model, fingerprint: &Fingerprint, now: DateTime<Utc>) -> bool {
        self.state.tenant == *tenant
            && self.catalog == *fingerprint
            && self.valid_until.is_none_or(|until| now < until)
    }
}

impl StateCache {
    /// The state of a tenant after a committed change of some of its action rows, derived from
    /// the cached state it had before, without reading the database; `None` when that cannot be
    /// done safely (the caller then loads it).
    ///
    /// `before` and `after` are the tenant rows read in the change's transaction and left by it.
    /// Every change to a tenant's actions or licences bumps `state_version` once, so when `after`
    /// is exactly one version past `before`, the only change between the two is this one, and the
    /// state at `after` is the state at `before` with `changed` rows replaced. The result is
    /// cached under `after` (and the catalog fingerprint of the state it came from, which readers
    /// still check).
    pub fn derive(
        &self,
        before: &tenant::Model,
        after: &tenant::Model,
        changed: &[improvement_action::Model],
        now: DateTime<Utc>,
    ) -> AppResult<Option<Arc<TenantState>>> {
        if self.budget == 0
            || after.id != before.id
            || after.state_version != before.state_version + 1
            || changed
                .iter()
                .any(|r| r.tenant_id != after.id || is_expired(r.review_by, now))
        {
            return Ok(None);
        }
        let (previous, catalog) = {
            let inner = self.lock();
            match inner.entries.get(&(before.id, false)) {
                Some(e) if e.state.tenant == *before && e.valid_until.is_none_or(|until| now < until) => {
                    (e.state.clone(), e.catalog.clone())
                }
                _ => return Ok(None),
            }
        };
        let Some(built) = with_rows(&previous, after, changed, now)? else {
            return Ok(None);
        };
        let built = Arc::new(built);
        let valid_until = summary::valid_until(&built, now);
        self.insert(built.clone(), catalog, valid_until);
        Ok(Some(built))
    }

    /// Caches a state computed under `catalog` that answers until `valid_until`, evicting the
    /// least recently used ones while the budget would be exceeded (a state larger than the
    /// whole budget is not cached). A complete state replaces the tenant's overview.
    fn insert(&self, state: Arc<TenantState>, catalog: Fingerprint, valid_until: Option<DateTime<Utc>>) {
        let bytes = approx_bytes(&state);
        if bytes > self.budget {
            return;
        }
        let key = (state.tenant.id, state.partial.is_some());
        let mut inner = self.lock();
        inner.clock += 1;
        let tick = inner.clock;
        if !key.1
            && let Some(old) = inner.entries.remove(&(key.0, true))
        {
            inner.used -= old.bytes;
        }
        if let Some(old) = inner.entries.remove(&key) {
            inner.used -= old.bytes;
        }
        while inner.used + bytes > self.budget {
            let Some(oldest) = inner
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(id, _)| *id)
            else {
                break;
            };
            if let Some(old) = inner.entries.remove(&oldest) {
                inner.used -= old.bytes;
            }
        }
        inner.used += bytes;
        inner.entries.insert(
            key,
            Entry {
                state,
                catalog,
                valid_until,
                last_used: tick,
                bytes,
            },
        );
    }
}

/// `previous` (a state of the tenant) with the action rows `changed` in place of its own rows of
/// the same actions, recomputed, as the tenant row `tenant`; `None` when `previous` does not hold
/// one of them (a new action). A change of actions' statuses or progress leaves their tags and
/// the tenant's licences as they were.
pub fn with_rows(
    previous: &TenantState,
    tenant: &tenant::Model,
    changed: &[improvement_action::Model],
    now: DateTime<Utc>,
) -> AppResult<Option<TenantState>> {
    let mut rows = Vec::with_capacity(previous.actions.len());
    let mut replaced = 0;
    for a in &previous.actions {
        let row = match changed.iter().find(|r| r.id == a.row.id) {
            Some(r) => {
                replaced += 1;
                r.clone()
            }
            None => a.model(),
        };
        rows.push((row, a.control.clone()));
    }
    if replaced != changed.len() {
        return Ok(None);
    }
    let mut built = state::build_shared(tenant.clone(), rows, &previous.held, now)?;
    built.tags = previous.tags.clone();
    built.own_profiles = previous.own_profiles;
    Ok(Some(built))
}

/// What the read path reads in the same statement as a tenant row: the service catalog's
/// fingerprint, and the tenant's persisted overview at the row's version (`state::summary`), so
/// neither the cache's catalog check nor an overview that is not cached costs another round trip.
#[derive(Clone, Debug)]
pub struct ReadAlong {
    pub catalog: Fingerprint,
    /// The `tenant_state.summary` column at the tenant's `state_version` (`None`: not written).
    pub overview: Option<Vec<u8>>,
}

/// The overview subquery of [`tenant_by_slug`].
const OVERVIEW_COLUMN: (&str, &str) = (
    "state_overview",
    "(SELECT summary FROM tenant_state WHERE tenant_state.tenant_id = tenant.id \
     AND tenant_state.state_version = tenant.state_version)",
);

/// A tenant by slug, if the caller may read it, with what the read path needs of it read in the
/// same statement ([`ReadAlong`]): the lookup, the cache's catalog check and the overview in one
/// round trip.
pub async fn tenant_by_slug(
    db: &DatabaseConnection,
    viewer: &Viewer,
    slug: &str,
) -> AppResult<(tenant::Model, ReadAlong)> {
    let mut select = tenant::Entity::find().filter(tenant::Column::Slug.eq(slug));
    for (alias, subquery) in catalog::FINGERPRINT_COLUMNS.into_iter().chain([OVERVIEW_COLUMN]) {
        select = select.column_as(Expr::cust(subquery), alias);
    }
    let row = db.query_one_raw(select.build(db.get_database_backend())).await?;
    let Some(row) = row else {
        return Err(AppError::NotFound("tenant"));
    };
    let t = tenant::Model::from_query_result(&row, "")?;
    if viewer.role_on(t.id).is_none() {
        return Err(AppError::NotFound("tenant"));
    }
    crate::telemetry::record_tenant(&t.slug);
    let along = ReadAlong {
        catalog: catalog::fingerprint_of(&row)?,
        overview: row.try_get::<Option<Vec<u8>>>("", OVERVIEW_COLUMN.0)?,
    };
    Ok((t, along))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::state::test_support;

    /// A tenant `id` with `n` actions on controls of its own (not shared between states).
    fn state(id: i64, n: usize) -> Arc<TenantState> {
        Arc::new(test_support::state(id, n))
    }

    fn fingerprint() -> Fingerprint {
        (250, None, None)
    }

    #[test]
    fn with_rows_shows_the_changed_rows_as_written_and_rescores() {
        let base = test_support::state(7, 6);
        let mut written = base.actions[2].model();
        written.version += 5;
        written.implemented = written.total;
        let changed = with_rows(
            &base,
            &base.tenant,
            std::slice::from_ref(&written),
            test_support::t0(),
        )
        .expect("builds")
        .expect("the row is held");
        let shown = &changed.actions[changed.position_of(written.id).expect("held")];
        assert_eq!(shown.row.version, written.version, "the version the change wrote");
        assert_eq!(shown.row.implemented, written.total);
        for (a, b) in base.actions.iter().zip(&changed.actions) {
            if a.row.id != written.id {
                assert_eq!(a.row, b.row, "the other actions are as they were");
            }
        }
        let mut unknown = written.clone();
        unknown.id = 999_999;
        assert!(
            with_rows(&base, &base.tenant, &[unknown], test_support::t0())
                .expect("builds")
                .is_none(),
            "a row the state does not hold"
        );
    }

    #[test]
    fn a_state_of_250_actions_is_estimated_at_tens_of_kib() {
        let bytes = approx_bytes(&state(1, 250));
        assert!((20_000..200_000).contains(&bytes), "{bytes} bytes");
    }

    #[test]
    fn the_cache_stays_within_its_budget_evicting_the_least_recently_used() {
        let one = approx_bytes(&state(1, 250));
        let cache = StateCache::new(3 * one + one / 2);
        for id in 1..=5 {
            cache.insert(state(id, 250), fingerprint(), None);
        }
        let inner = cache.lock();
        let mut kept: Vec<i64> = inner.entries.keys().map(|(id, _)| *id).collect();
        kept.sort();
        assert_eq!(kept, vec![3, 4, 5], "the three most recent fit");
        assert!(inner.used <= cache.budget);
        assert_eq!(inner.used, inner.entries.values().map(|e| e.bytes).sum::<usize>());
    }

    #[test]
    fn a_zero_budget_caches_nothing_and_a_state_larger_than_the_budget_is_not_cached() {
        let off = StateCache::new(0);
        off.insert(state(1, 10), fingerprint(), None);
        assert!(off.lock().entries.is_empty());
        let small = StateCache::new(approx_bytes(&state(1, 10)));
        small.insert(state(2, 250), fingerprint(), None);
        assert!(small.lock().entries.is_empty());
        small.insert(state(3, 10), fingerprint(), None);
        assert_eq!(small.lock().entries.len(), 1);
    }
}
