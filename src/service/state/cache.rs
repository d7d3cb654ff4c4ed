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
use crate::service::catalog::tenant_controls;
use crate::service::state::{self, TenantState, persisted};
use chrono::{DateTime, Utc};
use entity::{control, improvement_action, tenant};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, FromQueryResult, QueryFilter, QuerySelect,
    QueryTrait, Statement,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Identifies a version of the control catalog: (number of controls, latest `updated_at`).
pub type Fingerprint = (i64, Option<String>);

struct Catalog {
    fingerprint: Fingerprint,
    controls: HashMap<String, Arc<control::Model>>,
}

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
    catalog: Option<Arc<Catalog>>,
    entries: HashMap<i64, Entry>,
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
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means a panic elsewhere while it was held; every update below
        // leaves the maps consistent, so the data is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The service catalog's controls at `fingerprint`, read once per catalog version.
    async fn catalog(&self, db: &DatabaseConnection, fingerprint: &Fingerprint) -> AppResult<Arc<Catalog>> {
        if let Some(c) = self
            .lock()
            .catalog
            .clone()
            .filter(|c| c.fingerprint == *fingerprint)
        {
            return Ok(c);
        }
        let controls = control::Entity::find()
            .all(db)
            .await?
            .into_iter()
            .map(|c| (c.id.clone(), Arc::new(c)))
            .collect();
        let c = Arc::new(Catalog {
            fingerprint: fingerprint.clone(),
            controls,
        });
        self.lock().catalog = Some(c.clone());
        Ok(c)
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
            None => catalog_fingerprint(db).await?,
        };
        {
            let mut inner = self.lock();
            inner.clock += 1;
            let tick = inner.clock;
            if let Some(e) = inner.entries.get_mut(&tenant.id)
                && e.state.tenant == *tenant
                && e.catalog == fingerprint
                && e.valid_until.is_none_or(|until| now < until)
            {
                e.last_used = tick;
                return Ok(e.state.clone());
            }
        }
        let catalog = self.catalog(db, &fingerprint).await?;
        let inputs = match persisted::load(db, tenant).await? {
            Some(inputs) => inputs,
            None => {
                let inputs = persisted::read_inputs(db, tenant.id).await?;
                if !inputs.rows.iter().any(|r| is_expired(r.review_by, now)) {
                    persisted::repair(db, tenant.id, tenant.state_version, &inputs, now).await?;
                }
                inputs
            }
        };
        if inputs.rows.iter().any(|r| is_expired(r.review_by, now)) {
            // The one write a read makes: actions past their review date expire (with their
            // events, bumping the tenant's version) before anything is computed, so an answer
            // never depends on when the background sweep last ran. The next read caches the
            // state under the new version.
            crate::service::workflow::expire_due_for_tenant(db, tenant.id, now).await?;
            let tenant = tenant::Entity::find_by_id(tenant.id)
                .one(db)
                .await?
                .ok_or(AppError::NotFound("tenant"))?;
            return Ok(Arc::new(state::load(db, tenant, now).await?));
        }
        // The tenant's own profiles change only through its imports, which bump its version.
        let own = if inputs.own_profiles {
            tenant_controls::own_profiles(db, tenant.id).await?
        } else {
            tenant_controls::OwnProfiles::default()
        };
        let rows = tenant_controls::applicable_rows(tenant, inputs.rows, &own, |id| {
            catalog.controls.get(id).cloned()
        })?;
        let mut built = state::build_shared(tenant.clone(), rows, &inputs.held, now)?;
        built.tags = Some(Arc::new(inputs.tags));
        let built = Arc::new(built);
        self.insert(built.clone(), fingerprint, now);
        Ok(built)
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
            match inner.entries.get(&before.id) {
                Some(e) if e.state.tenant == *before && e.valid_until.is_none_or(|until| now < until) => {
                    (e.state.clone(), e.catalog.clone())
                }
                _ => return Ok(None),
            }
        };
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
            // A row the cached state does not hold (a new action): load instead.
            return Ok(None);
        }
        let mut built = state::build_shared(after.clone(), rows, &previous.held, now)?;
        // A change of actions' statuses or progress leaves their tags as they were.
        built.tags = previous.tags.clone();
        let built = Arc::new(built);
        self.insert(built.clone(), catalog, now);
        Ok(Some(built))
    }

    /// Caches a state computed under `catalog`, evicting the least recently used ones while the
    /// budget would be exceeded (a state larger than the whole budget is not cached).
    fn insert(&self, state: Arc<TenantState>, catalog: Fingerprint, now: DateTime<Utc>) {
        let bytes = approx_bytes(&state);
        if bytes > self.budget {
            return;
        }
        let valid_until = state
            .actions
            .iter()
            .filter_map(|a| a.row.review_by)
            .chain(
                state
                    .held
                    .iter()
                    .filter_map(|h| h.expires_at)
                    .filter(|at| *at > now),
            )
            .min();
        let tenant_id = state.tenant.id;
        let mut inner = self.lock();
        inner.clock += 1;
        let tick = inner.clock;
        if let Some(old) = inner.entries.remove(&tenant_id) {
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
            tenant_id,
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

/// The catalog fingerprint's two subqueries, answered from `idx_control_updated_at` (two
/// subqueries because SQLite only uses an index for MAX when it is the query's one aggregate).
const FINGERPRINT_COLUMNS: [(&str, &str); 2] = [
    ("catalog_controls", "(SELECT COUNT(*) FROM control)"),
    (
        "catalog_updated_at",
        "(SELECT CAST(MAX(updated_at) AS TEXT) FROM control)",
    ),
];

fn fingerprint_of(row: &sea_orm::QueryResult) -> AppResult<Fingerprint> {
    Ok((
        row.try_get::<i64>("", FINGERPRINT_COLUMNS[0].0)?,
        row.try_get::<Option<String>>("", FINGERPRINT_COLUMNS[1].0)?,
    ))
}

/// The catalog's current fingerprint (one small query over an index of the control table).
async fn catalog_fingerprint(db: &DatabaseConnection) -> AppResult<Fingerprint> {
    let sql = format!(
        "SELECT {} AS {}, {} AS {}",
        FINGERPRINT_COLUMNS[0].1,
        FINGERPRINT_COLUMNS[0].0,
        FINGERPRINT_COLUMNS[1].1,
        FINGERPRINT_COLUMNS[1].0
    );
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?
        .ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!("the catalog fingerprint query returned no row"))
        })?;
    fingerprint_of(&row)
}

/// A tenant by slug, if the caller may read it, with the catalog's fingerprint read in the same
/// statement: the read path's tenant lookup and the cache's catalog check in one round trip.
pub async fn tenant_by_slug(
    db: &DatabaseConnection,
    viewer: &Viewer,
    slug: &str,
) -> AppResult<(tenant::Model, Fingerprint)> {
    let mut select = tenant::Entity::find().filter(tenant::Column::Slug.eq(slug));
    for (alias, subquery) in FINGERPRINT_COLUMNS {
        select = select.column_as(Expr::cust(subquery), alias);
    }
    let row = db.query_one_raw(select.build(db.get_database_backend())).await?;
    let found = match row {
        Some(row) => Some((tenant::Model::from_query_result(&row, "")?, fingerprint_of(&row)?)),
        None => None,
    };
    match found {
        Some((t, fingerprint)) if viewer.role_on(t.id).is_some() => Ok((t, fingerprint)),
        _ => Err(AppError::NotFound("tenant")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::enums::{ActionType, CatalogSource, Category, Level, Status, Tier};
    use chrono::TimeZone;
    use entity::types::StringList;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0)
            .single()
            .expect("valid time")
    }

    /// A tenant `id` with `n` actions on controls of its own (not shared between states).
    fn state(id: i64, n: usize) -> Arc<TenantState> {
        let tenant = tenant::Model {
            id,
            slug: format!("t{id}"),
            name: format!("T{id}"),
            industry: "technology".into(),
            seat_count: 10,
            active_user_count: 10,
            enabled_services: StringList(vec![]),
            azure_tenant_id: None,
            state_version: 0,
            catalog_source: CatalogSource::ServiceCatalog,
            created_at: t0(),
            updated_at: t0(),
        };
        let rows = (0..n)
            .map(|i| {
                let c = control::Model {
                    id: format!("C{i:03}"),
                    title: format!("Control {i}"),
                    category: Category::Identity,
                    service: "AzureAD".into(),
                    max_points: (1 + i as i64 % 9) * 10_000,
                    tier: Tier::Core,
                    user_impact: Level::Low,
                    implementation_cost: Level::Moderate,
                    threats: StringList(vec![]),
                    action_type: ActionType::Config,
                    remediation: String::new(),
                    user_impact_description: String::new(),
                    prerequisites: String::new(),
                    action_url: None,
                    learn_more_urls: StringList(vec![]),
                    required_license_plans: StringList(vec![]),
                    vendor_rank: None,
                    deprecated: false,
                    origin: "CATALOG".into(),
                    shipped_digest: None,
                    created_at: t0(),
                    updated_at: t0(),
                };
                let row = improvement_action::Model {
                    id: id * 1000 + i as i64,
                    tenant_id: id,
                    control_id: c.id.clone(),
                    category: Category::Identity,
                    status: Status::ToAddress,
                    implemented: 0,
                    total: 0,
                    implementation_status: None,
                    users_affected: 0,
                    review_by: None,
                    version: 1,
                    origin: "CATALOG".into(),
                    status_changed_at: t0(),
                    created_at: t0(),
                    updated_at: t0(),
                };
                (row, c)
            })
            .collect();
        Arc::new(state::build(tenant, rows, &[], t0()).expect("state builds"))
    }

    fn fingerprint() -> Fingerprint {
        (250, None)
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
            cache.insert(state(id, 250), fingerprint(), t0());
        }
        let inner = cache.lock();
        let mut kept: Vec<i64> = inner.entries.keys().copied().collect();
        kept.sort();
        assert_eq!(kept, vec![3, 4, 5], "the three most recent fit");
        assert!(inner.used <= cache.budget);
        assert_eq!(inner.used, inner.entries.values().map(|e| e.bytes).sum::<usize>());
    }

    #[test]
    fn a_zero_budget_caches_nothing_and_a_state_larger_than_the_budget_is_not_cached() {
        let off = StateCache::new(0);
        off.insert(state(1, 10), fingerprint(), t0());
        assert!(off.lock().entries.is_empty());
        let small = StateCache::new(approx_bytes(&state(1, 10)));
        small.insert(state(2, 250), fingerprint(), t0());
        assert!(small.lock().entries.is_empty());
        small.insert(state(3, 10), fingerprint(), t0());
        assert_eq!(small.lock().entries.len(), 1);
    }
}
