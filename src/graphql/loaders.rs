//! Per-request batching and caching: DataLoaders for what hangs off an improvement action (tags,
//! notes), so a page of actions costs one query per kind instead of one per action, and the
//! per-request cache of tenant states, so `secureScore`, `improvementActions` and the rest of one
//! query share a single load of the tenant.
//!
//! Everything here is created per request (`RequestContext::attach`) and dropped with it. Across
//! requests only computed tenant states are reused, through `service::state::cache`, which
//! validates each against the database in the request, so every request sees every committed
//! change. The loaders are only given action ids taken from a tenant state the viewer was
//! allowed to load.
//!
//! The loaders cache within the request, and a list resolver primes them with all the ids of its
//! page at once ([`RequestLoaders::prime`]). Batching by the loader's short delay alone depends on
//! timing: a slow poll of a 100-item page can split it into several queries. Priming makes "one
//! query per page" hold by construction.

use crate::auth::Viewer;
use crate::error::AppError;
use crate::service::history::adoption::AdoptionAnswer;
use crate::service::history::comparisons::CohortSpec;
use crate::service::state::actions::{self, NoteWithAuthor};
use crate::service::state::cache::ReadAlong;
use crate::service::state::{States, TenantState};
use async_graphql::Context;
use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use chrono::NaiveDate;
use entity::{score_snapshot, tag, tenant};
use sea_orm::DatabaseConnection;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Mutex;

/// Loader errors are shared between the waiting fields, so they must be `Clone`.
#[derive(Clone, Debug)]
pub struct LoadError(Arc<AppError>);

impl From<LoadError> for async_graphql::Error {
    fn from(err: LoadError) -> Self {
        async_graphql::ErrorExtensions::extend(err.0.as_ref())
    }
}

fn shared(err: AppError) -> LoadError {
    LoadError(Arc::new(err))
}

/// Tags of actions, by action id.
pub struct TagLoader(DatabaseConnection);

impl Loader<i64> for TagLoader {
    type Value = Vec<tag::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        actions::tags_of_actions(&self.0, keys).await.map_err(shared)
    }
}

/// Notes of actions (newest first, with author names), by action id.
pub struct NoteLoader(DatabaseConnection);

impl Loader<i64> for NoteLoader {
    type Value = Vec<NoteWithAuthor>;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        actions::notes_of_actions(&self.0, keys).await.map_err(shared)
    }
}

/// Scored tenant states loaded during one request, by tenant id. An entry is reused only when it
/// is at least as new as the tenant model asked about (`state_version`), so a tenant read after
/// a change (e.g. in a mutation payload) loads afresh instead of seeing the state from before
/// it, while a state whose load itself applied an expiry is still reused.
#[derive(Default)]
pub struct TenantStateCache {
    states: Mutex<HashMap<i64, Arc<TenantState>>>,
    /// What was read together with tenant rows in this request (the catalog's fingerprint, the
    /// persisted overview), by tenant id (see `state::cache::tenant_by_slug`), so a state load
    /// need not read them again.
    along: std::sync::Mutex<HashMap<i64, (tenant::Model, ReadAlong)>>,
}

impl TenantStateCache {
    /// The request's complete state of a tenant, or gets it from the entrance
    /// (`service::state::States`, which checks the viewer may read it). The lock is held while
    /// loading, so concurrent resolvers of one request wait for the one load instead of
    /// repeating it.
    pub async fn get_or_load(
        &self,
        states: &States,
        viewer: &Viewer,
        tenant: &tenant::Model,
    ) -> Result<Arc<TenantState>, AppError> {
        self.get(states, viewer, tenant, false).await
    }

    /// The request's overview of a tenant: the state already loaded in this request (complete
    /// or partial), or the overview from the entrance (`States::overview_for_viewer`, which
    /// checks the viewer may read it), a partial state when the process has not cached the
    /// tenant.
    pub async fn get_overview(
        &self,
        states: &States,
        viewer: &Viewer,
        tenant: &tenant::Model,
    ) -> Result<Arc<TenantState>, AppError> {
        self.get(states, viewer, tenant, true).await
    }

    /// A state at least as new as `tenant`, from the memo or the entrance: any state when an
    /// `overview` will do, else a complete one.
    async fn get(
        &self,
        states: &States,
        viewer: &Viewer,
        tenant: &tenant::Model,
        overview: bool,
    ) -> Result<Arc<TenantState>, AppError> {
        let mut memo = self.states.lock().await;
        if let Some(s) = memo.get(&tenant.id)
            && (overview || s.partial.is_none())
            && s.tenant.state_version >= tenant.state_version
        {
            viewer.require(tenant.id, crate::domain::enums::Role::Reader)?;
            return Ok(s.clone());
        }
        let along = self.read_with(tenant);
        let state = if overview {
            states.overview_for_viewer(viewer, tenant, along.as_ref()).await?
        } else {
            let catalog = along.as_ref().map(|a| &a.catalog);
            states.for_viewer(viewer, tenant, catalog).await?
        };
        memo.insert(tenant.id, state.clone());
        Ok(state)
    }

    /// What was read in the same statement as `tenant`, if it was.
    fn read_with(&self, tenant: &tenant::Model) -> Option<ReadAlong> {
        self.along
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&tenant.id)
            .filter(|(read, _)| read == tenant)
            .map(|(_, a)| a.clone())
    }

    /// Records what was read in the same statement as `tenant`.
    pub fn remember_read_along(&self, tenant: &tenant::Model, along: ReadAlong) {
        // A poisoned lock only means a panic elsewhere while it was held; the map is still valid.
        self.along
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(tenant.id, (tenant.clone(), along));
    }
}

/// The loaders and caches of one request.
pub struct RequestLoaders {
    pub tags: DataLoader<TagLoader, HashMapCache>,
    pub notes: DataLoader<NoteLoader, HashMapCache>,
    pub states: TenantStateCache,
    /// Stored snapshots by (tenant, from, to), read once for `scoreHistory` and `comparisons`
    /// of the same range.
    snapshots: Mutex<HashMap<SnapshotRange, Arc<Vec<score_snapshot::Model>>>>,
    /// Peer adoption by (tenant, cohort): one answer covers every action of the tenant, so a
    /// page of actions with their `peerAdoption` computes it once.
    adoption: Mutex<HashMap<(i64, String), Arc<AdoptionAnswer>>>,
}

/// A tenant id and a range of days.
type SnapshotRange = (i64, NaiveDate, NaiveDate);

impl RequestLoaders {
    /// Fresh loaders for one request.
    pub fn new(db: &DatabaseConnection) -> Self {
        RequestLoaders {
            tags: DataLoader::with_cache(TagLoader(db.clone()), tokio::spawn, HashMapCache::default()),
            notes: DataLoader::with_cache(NoteLoader(db.clone()), tokio::spawn, HashMapCache::default()),
            states: TenantStateCache::default(),
            snapshots: Mutex::default(),
            adoption: Mutex::default(),
        }
    }

    /// A tenant's stored snapshots of `from..=to` (a valid range), read at most once per request.
    /// No authorisation here: callers have loaded the tenant's state for the viewer first.
    pub async fn snapshots(
        &self,
        db: &DatabaseConnection,
        tenant_id: i64,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Arc<Vec<score_snapshot::Model>>, AppError> {
        crate::service::history::snapshots::validate_range(from, to)?;
        let mut memo = self.snapshots.lock().await;
        if let Some(rows) = memo.get(&(tenant_id, from, to)) {
            return Ok(rows.clone());
        }
        let rows = Arc::new(crate::service::history::snapshots::of_tenant(db, tenant_id, from, to).await?);
        memo.insert((tenant_id, from, to), rows.clone());
        Ok(rows)
    }

    /// The peer adoption answer for a tenant and cohort, computed by `compute` at most once per
    /// request (the lock is held while computing, so concurrent resolvers wait for the one
    /// computation). No authorisation here: `compute` is the service call, which checks it.
    pub async fn adoption<F, Fut>(
        &self,
        tenant_id: i64,
        spec: &CohortSpec,
        compute: F,
    ) -> Result<Arc<AdoptionAnswer>, AppError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<AdoptionAnswer, AppError>>,
    {
        let key = (tenant_id, format!("{spec:?}"));
        let mut memo = self.adoption.lock().await;
        if let Some(a) = memo.get(&key) {
            return Ok(a.clone());
        }
        let a = Arc::new(compute().await?);
        memo.insert(key, a.clone());
        Ok(a)
    }

    /// Loads the tags and/or notes of a page of actions in one query each, so the page's items
    /// find them cached.
    pub async fn prime(&self, action_ids: &[i64], tags: bool, notes: bool) -> Result<(), LoadError> {
        if tags && !action_ids.is_empty() {
            self.tags.load_many(action_ids.iter().copied()).await?;
        }
        if notes && !action_ids.is_empty() {
            self.notes.load_many(action_ids.iter().copied()).await?;
        }
        Ok(())
    }
}

/// The request's loaders (an internal error if the request was not attached to a context).
pub fn loaders<'a>(ctx: &'a Context<'_>) -> Result<&'a RequestLoaders, AppError> {
    ctx.data_opt::<super::RequestData>()
        .map(|d| &d.loaders)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("request data missing from the GraphQL context")))
}

/// The process's entrance to tenant states (an internal error if the schema was built without).
pub fn states<'a>(ctx: &'a Context<'_>) -> Result<&'a States, AppError> {
    ctx.data_opt::<States>()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("tenant states missing from the schema data")))
}

/// The overview of a tenant the viewer may read (see `TenantStateCache::get_overview`): a state
/// whose score is complete but which may hold only the first page of the default list.
pub async fn tenant_overview(
    ctx: &Context<'_>,
    tenant: &tenant::Model,
) -> Result<Arc<TenantState>, AppError> {
    let viewer = super::viewer(ctx)?;
    loaders(ctx)?
        .states
        .get_overview(states(ctx)?, viewer, tenant)
        .await
}

/// The complete scored state of a tenant the viewer may read, loaded at most once per request.
pub async fn tenant_state(ctx: &Context<'_>, tenant: &tenant::Model) -> Result<Arc<TenantState>, AppError> {
    let viewer = super::viewer(ctx)?;
    loaders(ctx)?
        .states
        .get_or_load(states(ctx)?, viewer, tenant)
        .await
}
