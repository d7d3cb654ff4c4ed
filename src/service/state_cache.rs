//! A per-process cache of computed tenant states, shared by the requests of one server, so a
//! read of an unchanged tenant costs a few small queries instead of loading and scoring its
//! ~250 actions again.
//!
//! Several stateless server processes may share one database, so nothing here is trusted on its
//! own: every use is **validated against the database** in the request.
//! - The tenant row, read by every request anyway to resolve the slug or id, must equal the one
//!   the state was computed from. Every committed change to a tenant's actions or licences bumps
//!   `tenant.state_version` in its transaction (`tenants::touch`), whichever process made it, so
//!   any change makes the rows differ.
//! - The catalog's fingerprint (number of controls and their latest `updated_at`, one cheap
//!   query) must equal the one the state was computed with, since controls are shared by all
//!   tenants and an import or a catalog refresh in another process changes them without
//!   touching every tenant.
//! - A state is only valid until the earliest `review_by` among its actions (when that action
//!   expires) and the earliest expiry of a licence it holds (when actions become unlicensed):
//!   time alone changes those answers.
//!
//! Reading the tenant row before the action rows means a state can only be computed from rows
//! at least as new as its key, so a race with a writer makes an entry stale early, never wrong.
//! Controls are loaded once per catalog fingerprint and shared via `Arc` by every cached state,
//! and the number of cached tenants is bounded (least recently used evicted), which bounds memory.

use crate::domain::rules::is_expired;
use crate::error::{AppError, AppResult};
use crate::service::state::{self, TenantState};
use chrono::{DateTime, Utc};
use entity::{control, improvement_action, tenant};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Statement};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Identifies a version of the control catalog: (number of controls, latest `updated_at`).
type Fingerprint = (i64, Option<String>);

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
}

#[derive(Default)]
struct Inner {
    catalog: Option<Arc<Catalog>>,
    entries: HashMap<i64, Entry>,
    clock: u64,
}

/// The shared cache; one per server (schema) instance.
pub struct StateCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl StateCache {
    /// A cache holding at most `capacity` tenants' states (0 = caching disabled).
    pub fn new(capacity: usize) -> Self {
        StateCache {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means a panic elsewhere while it was held; every update below
        // leaves the maps consistent, so the data is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The scored state of `tenant` (a row just read from the database), from the cache when it
    /// is still valid, otherwise loaded, scored and cached. No authorisation here: callers check
    /// the viewer first.
    pub async fn get_or_load(
        &self,
        db: &DatabaseConnection,
        tenant: &tenant::Model,
        now: DateTime<Utc>,
    ) -> AppResult<Arc<TenantState>> {
        if self.capacity == 0 {
            return Ok(Arc::new(
                crate::service::workflow::load_state(db, tenant.clone(), now).await?,
            ));
        }
        let fingerprint = catalog_fingerprint(db).await?;
        let cached_catalog = {
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
            inner.catalog.clone().filter(|c| c.fingerprint == fingerprint)
        };
        let catalog = match cached_catalog {
            Some(c) => c,
            None => {
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
                c
            }
        };
        let rows = improvement_action::Entity::find()
            .filter(improvement_action::Column::TenantId.eq(tenant.id))
            .all(db)
            .await?;
        if rows.iter().any(|r| is_expired(r.review_by, now)) {
            // Expiring writes (and bumps the tenant's version): the workflow does it and reloads;
            // the next read caches the result under the new version.
            return Ok(Arc::new(
                crate::service::workflow::load_state(db, tenant.clone(), now).await?,
            ));
        }
        let held = state::held_licenses(db, tenant.id).await?;
        let rows = rows
            .into_iter()
            .filter_map(|r| catalog.controls.get(&r.control_id).map(|c| (r, c.clone())))
            .collect();
        let built = Arc::new(state::build_shared(tenant.clone(), rows, &held, now)?);
        let valid_until = built
            .actions
            .iter()
            .filter_map(|a| a.row.review_by)
            .chain(held.iter().filter_map(|h| h.expires_at).filter(|at| *at > now))
            .min();
        let mut inner = self.lock();
        inner.clock += 1;
        let tick = inner.clock;
        if inner.entries.len() >= self.capacity
            && !inner.entries.contains_key(&tenant.id)
            && let Some(oldest) = inner
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(id, _)| *id)
        {
            inner.entries.remove(&oldest);
        }
        inner.entries.insert(
            tenant.id,
            Entry {
                state: built.clone(),
                catalog: fingerprint,
                valid_until,
                last_used: tick,
            },
        );
        Ok(built)
    }
}

/// The catalog's current fingerprint (one small query over an index of the control table).
async fn catalog_fingerprint(db: &DatabaseConnection) -> AppResult<Fingerprint> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(
            backend,
            // Two subqueries, so both are answered from `idx_control_updated_at` (SQLite
            // only uses an index for MAX when it is the query's one aggregate).
            "SELECT (SELECT COUNT(*) FROM control), (SELECT CAST(MAX(updated_at) AS TEXT) FROM control)",
        ))
        .await?
        .ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!("the catalog fingerprint query returned no row"))
        })?;
    Ok((
        row.try_get_by_index::<i64>(0)?,
        row.try_get_by_index::<Option<String>>(1)?,
    ))
}
