//! The scored state of one tenant: its actions joined with their controls, licensing, points,
//! ranks and the score views. Everything is computed from this one tenant's rows (about one row
//! per catalog control), so the cost of reading a tenant does not grow with the number of tenants.
//!
//! Expiry is applied before anything is computed ([`ExpireDue`], the workflow's expiry write that
//! `app` hands to [`States::new`]), so an answer never depends on when the background sweep last
//! ran.

use crate::domain::licensing::{HeldLicense, Licensing, licensing};
use crate::domain::points::Points;
use crate::domain::ranking::{RankInput, rank};
use crate::domain::scoring::{ScoredAction, TenantScore, compute_score, score_impact};
use crate::error::{AppError, AppResult};
use chrono::{DateTime, Utc};
use entity::{control, improvement_action, license_plan, tag, tenant, tenant_license};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use std::collections::HashMap;
use std::sync::Arc;

pub mod actions;
pub mod cache;
pub mod catalog;
pub mod controls;
pub mod persisted;
pub mod summary;
#[cfg(test)]
pub(crate) mod test_support;

/// **The one entrance to tenant states.** Every reader of a tenant's current scored state (the
/// GraphQL resolvers, mutation payloads, subscriptions, exports) gets it here, for a viewer whose
/// read permission is checked here; one per server process, cheap to clone.
///
/// A state comes from the process's bounded cache when it is still valid for the tenant row
/// just read, else is computed from the tenant's persisted state (`persisted`, one indexed
/// read, written in every change's transaction) or, when that is missing or older, from its
/// rows (see `state::cache::StateCache::get_or_load`). Writers keep their own transaction's
/// view: `load` computes a state on a connection or transaction, for the few writers that
/// compare with it before they commit (imports), and `snapshots::state_at_end_of` replays a
/// past day's.
/// The write a read makes first when some of a tenant's actions passed their review date: expire
/// them (with their events, bumping the tenant's version) and return how many expired. It is
/// `workflow::expire_due_for_tenant`; the state layer sits below `workflow` (which changes
/// actions and reads states), so `app` hands it in instead of `state` calling up.
pub type ExpireDue = Arc<
    dyn Fn(
            sea_orm::DatabaseConnection,
            i64,
            DateTime<Utc>,
        ) -> futures::future::BoxFuture<'static, AppResult<usize>>
        + Send
        + Sync,
>;

#[derive(Clone)]
pub struct States {
    db: sea_orm::DatabaseConnection,
    cache: Arc<crate::service::state::cache::StateCache>,
}

impl States {
    /// The entrance of a server process on `db`, caching up to `cache_bytes` of states and
    /// expiring due actions with `expire` before it computes a state.
    pub fn new(db: sea_orm::DatabaseConnection, cache_bytes: usize, expire: ExpireDue) -> Self {
        States {
            db,
            cache: Arc::new(crate::service::state::cache::StateCache::new(cache_bytes).with_expiry(expire)),
        }
    }

    /// The current scored state of `tenant` (a row just read from the database) for `viewer`,
    /// who needs READER or more on it. `catalog` is the service catalog's fingerprint when it
    /// was read with the tenant row (`state::cache::tenant_by_slug`, `ReadAlong`).
    pub async fn for_viewer(
        &self,
        viewer: &crate::auth::Viewer,
        tenant: &tenant::Model,
        catalog: Option<&crate::service::state::cache::Fingerprint>,
    ) -> AppResult<Arc<TenantState>> {
        viewer.require(tenant.id, crate::domain::enums::Role::Reader)?;
        self.cache
            .get_or_load(&self.db, tenant, catalog, Utc::now())
            .await
    }

    /// The tenant's overview for `viewer` (READER or more): its complete state when this process
    /// has it, otherwise its persisted overview (`summary`, one small indexed read, no scoring)
    /// as a partial state, or the complete state when that is missing or stale (and then the
    /// overview is repaired). Answers `secureScore` and the first page of the default list.
    pub async fn overview_for_viewer(
        &self,
        viewer: &crate::auth::Viewer,
        tenant: &tenant::Model,
        along: Option<&crate::service::state::cache::ReadAlong>,
    ) -> AppResult<Arc<TenantState>> {
        viewer.require(tenant.id, crate::domain::enums::Role::Reader)?;
        self.cache.overview(&self.db, tenant, along, Utc::now()).await
    }

    /// The state after a committed change, for the change's payload. When the change recorded
    /// the tenant row it started from (`before`), `after` is the row its version bump returned
    /// and `changed` the action rows it wrote: the state is then derived in memory from the
    /// cached state at `before` when that is safe (`StateCache::derive`), else read for `after`.
    /// Without `before`, `after` may be a row read before the change, so the tenant is read again.
    pub async fn after_change(
        &self,
        viewer: &crate::auth::Viewer,
        before: Option<&tenant::Model>,
        after: &tenant::Model,
        changed: &[improvement_action::Model],
    ) -> AppResult<Arc<TenantState>> {
        use sea_orm::EntityTrait;
        viewer.require(after.id, crate::domain::enums::Role::Reader)?;
        let now = Utc::now();
        let Some(before) = before else {
            let current = tenant::Entity::find_by_id(after.id)
                .one(&self.db)
                .await?
                .ok_or(AppError::NotFound("tenant"))?;
            return self.cache.get_or_load(&self.db, &current, None, now).await;
        };
        if let Some(state) = self.cache.derive(before, after, changed, now)? {
            return Ok(state);
        }
        let loaded = self.cache.get_or_load(&self.db, after, None, now).await?;
        // Loaded from the tables when another change to the tenant committed after this one
        // (its persisted state replaced this change's): the payload still shows the changed
        // actions exactly as this change wrote them, so a client passing their `version` as
        // `expectedVersion` next gets CONFLICT instead of silently overwriting the other change.
        let overtaken = changed.iter().any(|r| {
            loaded
                .position_of(r.id)
                .is_some_and(|i| loaded.actions[i].row.version != r.version)
        });
        if overtaken && let Some(state) = cache::with_rows(&loaded, &loaded.tenant, changed, now)? {
            return Ok(Arc::new(state));
        }
        Ok(loaded)
    }
}

/// The parts of an action's row a state keeps. Its control id and category are the shared
/// control's and its status is `ScoredAction::status`, so a cached state holds no copy of those
/// strings per action (they were a quarter of a cached state's memory).
#[derive(Clone, Debug, PartialEq)]
pub struct ActionRow {
    pub id: i64,
    pub tenant_id: i64,
    pub implemented: i64,
    pub total: i64,
    pub implementation_status: Option<Box<str>>,
    pub users_affected: i64,
    pub review_by: Option<DateTime<Utc>>,
    pub version: i64,
    pub origin: Box<str>,
    pub status_changed_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ActionRow {
    fn of(m: improvement_action::Model) -> ActionRow {
        ActionRow {
            id: m.id,
            tenant_id: m.tenant_id,
            implemented: m.implemented,
            total: m.total,
            implementation_status: m.implementation_status.map(String::into_boxed_str),
            users_affected: m.users_affected,
            review_by: m.review_by,
            version: m.version,
            origin: m.origin.into_boxed_str(),
            status_changed_at: m.status_changed_at,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

impl ActionState {
    /// The action's row again, for rebuilding a state with changes (the category is the
    /// control's, which is the one scoring uses).
    pub fn model(&self) -> improvement_action::Model {
        let r = &self.row;
        improvement_action::Model {
            id: r.id,
            tenant_id: r.tenant_id,
            control_id: self.control.id.clone(),
            category: self.control.category,
            status: self.scored.status,
            implemented: r.implemented,
            total: r.total,
            implementation_status: r.implementation_status.as_deref().map(str::to_string),
            users_affected: r.users_affected,
            review_by: r.review_by,
            version: r.version,
            origin: r.origin.to_string(),
            status_changed_at: r.status_changed_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// One action as the API sees it: the row, its control and everything derived.
#[derive(Clone, Debug)]
pub struct ActionState {
    pub row: ActionRow,
    /// Shared with every other state built from the same catalog (see `service::state::cache`),
    /// so cached states hold one copy of each control, not one per tenant.
    pub control: Arc<control::Model>,
    pub scored: ScoredAction,
    pub licensing: Licensing,
    /// Points achieved (exact).
    pub achieved: Points,
    pub points_remaining: Points,
    /// Percentage points of the tenant's maximum this action would add when finished (exact).
    pub score_impact: Points,
    /// 1 = do this first; `None` for actions that are not ranked.
    pub rank: Option<u32>,
}

/// A tenant's actions and score, computed together.
#[derive(Clone, Debug)]
pub struct TenantState {
    pub tenant: tenant::Model,
    /// In the tenant's rank order: ranked actions first by rank, then the rest by control id.
    pub actions: Vec<ActionState>,
    pub score: TenantScore,
    /// The licences the state was computed with, so a what-if can rebuild it without the database.
    pub held: Vec<HeldLicense>,
    /// The time licence expiry was judged at.
    pub computed_at: DateTime<Utc>,
    /// Tags on the actions, by action id, when loaded with the state (tag changes bump the
    /// tenant's version like any other change, so they stay as current as the rest); `None` for
    /// states built without them (what-ifs), whose readers load tags separately.
    pub tags: Option<Arc<HashMap<i64, Vec<tag::Model>>>>,
    /// The latest `updated_at` of the tenant's actions (of all of them, in a partial state too).
    pub actions_updated_at: DateTime<Utc>,
    /// `Some` for a partial state (a tenant's overview, `summary`): the score is complete, but
    /// `actions` holds only the first actions of the default list and `held` is empty. Only
    /// [`States::overview_for_viewer`] returns one; every other reader gets a complete state.
    pub partial: Option<Partial>,
    /// Whether the tenant has control profiles of its own (its overview reads them).
    pub own_profiles: bool,
}

/// What a partial state knows of the actions it does not hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partial {
    /// How many actions the default list (no filter, ranked order) holds.
    pub listed_total: usize,
}

impl TenantState {
    /// An action by control id.
    pub fn action(&self, control_id: &str) -> Option<&ActionState> {
        self.actions.iter().find(|a| a.control.id == control_id)
    }

    /// Position of an action (by row id) in [`TenantState::actions`].
    pub fn position_of(&self, id: i64) -> Option<usize> {
        self.actions.iter().position(|a| a.row.id == id)
    }

    /// When anything in this state last changed: the tenant or any of its action rows.
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.tenant.updated_at.max(self.actions_updated_at)
    }

    /// The rows this state was built from, for rebuilding it with hypothetical changes.
    pub fn rows(&self) -> Vec<(improvement_action::Model, control::Model)> {
        self.actions
            .iter()
            .map(|a| (a.model(), control::Model::clone(&a.control)))
            .collect()
    }
}

/// Parses a stored enum spelling; a bad value in the database is an internal error.
pub fn parse<T: std::str::FromStr>(value: &str, what: &str) -> AppResult<T> {
    value
        .parse()
        .map_err(|_| AppError::Internal(anyhow::anyhow!("unknown {what} {value:?} in the database")))
}

/// The scoring input of one action row and its control.
pub fn scored_action(row: &improvement_action::Model, c: &control::Model, licensed: bool) -> ScoredAction {
    ScoredAction {
        category: c.category,
        max_points: Points::from_storage(c.max_points),
        deprecated: c.deprecated,
        status: row.status,
        implemented: row.implemented,
        total: row.total,
        licensed,
        tier: c.tier,
        user_impact: c.user_impact,
        implementation_cost: c.implementation_cost,
    }
}

/// The licences a tenant holds, with the plans they grant.
pub async fn held_licenses<C: ConnectionTrait>(conn: &C, tenant_id: i64) -> AppResult<Vec<HeldLicense>> {
    held_licenses_bought_before(conn, tenant_id, None).await
}

/// The licences a tenant holds, with the plans they grant; only those bought before `before`
/// when given (expiry is judged by whoever uses them).
pub async fn held_licenses_bought_before<C: ConnectionTrait>(
    conn: &C,
    tenant_id: i64,
    before: Option<DateTime<Utc>>,
) -> AppResult<Vec<HeldLicense>> {
    let mut query = tenant_license::Entity::find().filter(tenant_license::Column::TenantId.eq(tenant_id));
    if let Some(at) = before {
        query = query.filter(tenant_license::Column::CreatedAt.lt(at));
    }
    let held = query.all(conn).await?;
    if held.is_empty() {
        return Ok(Vec::new());
    }
    let skus: Vec<String> = held.iter().map(|h| h.license_sku.clone()).collect();
    let mut plans: HashMap<String, Vec<String>> = HashMap::new();
    for p in license_plan::Entity::find()
        .filter(license_plan::Column::LicenseSku.is_in(skus))
        .all(conn)
        .await?
    {
        plans.entry(p.license_sku).or_default().push(p.plan);
    }
    Ok(held
        .into_iter()
        .map(|h| HeldLicense {
            plans: plans.get(&h.license_sku).cloned().unwrap_or_default(),
            seats_purchased: h.seats_purchased,
            expires_at: h.expires_at,
        })
        .collect())
}

/// Loads and scores one tenant on `conn` (e.g. inside a transaction), from its persisted state
/// when that is current, else from its rows, reading the controls it needs (no authorisation
/// here: callers check the viewer first). Readers outside a transaction go through
/// `state::cache::StateCache::get_or_load`, which shares the catalog between states.
pub async fn load<C: ConnectionTrait>(
    conn: &C,
    tenant: tenant::Model,
    now: DateTime<Utc>,
) -> AppResult<TenantState> {
    let inputs = match persisted::load(conn, &tenant).await? {
        Some(inputs) => inputs,
        None => persisted::read_inputs(conn, tenant.id).await?,
    };
    let rows = crate::service::state::controls::with_controls(conn, &tenant, inputs.rows).await?;
    let mut state = build_shared(tenant, rows, &inputs.held, now)?;
    state.tags = Some(Arc::new(inputs.tags));
    state.own_profiles = inputs.own_profiles;
    Ok(state)
}

/// Computes a tenant's state from its rows (pure; shared by reads, what-if and snapshots).
pub fn build(
    tenant: tenant::Model,
    rows: Vec<(improvement_action::Model, control::Model)>,
    held: &[HeldLicense],
    now: DateTime<Utc>,
) -> AppResult<TenantState> {
    build_shared(
        tenant,
        rows.into_iter().map(|(row, c)| (row, Arc::new(c))).collect(),
        held,
        now,
    )
}

/// [`build`] with controls shared between states (the cached read path).
pub fn build_shared(
    tenant: tenant::Model,
    rows: Vec<(improvement_action::Model, Arc<control::Model>)>,
    held: &[HeldLicense],
    now: DateTime<Utc>,
) -> AppResult<TenantState> {
    let mut actions = Vec::with_capacity(rows.len());
    let mut actions_updated_at = DateTime::<Utc>::MIN_UTC;
    for (row, control) in rows {
        actions_updated_at = actions_updated_at.max(row.updated_at);
        let lic = licensing(&control.required_license_plans.0, held, row.users_affected, now);
        let scored = scored_action(&row, &control, lic.licensed);
        let achieved = scored.achieved();
        let points_remaining = scored.points_remaining();
        actions.push(ActionState {
            row: ActionRow::of(row),
            control,
            scored,
            licensing: lic,
            achieved,
            points_remaining,
            score_impact: Points::ZERO,
            rank: None,
        });
    }
    let score = compute_score(&actions.iter().map(|a| a.scored.clone()).collect::<Vec<_>>());
    let ranks = rank(
        &actions
            .iter()
            .map(|a| RankInput {
                control_id: &a.control.id,
                status: a.scored.status,
                points_remaining: a.points_remaining.clone(),
                tier: a.scored.tier,
                user_impact: a.scored.user_impact,
                implementation_cost: a.scored.implementation_cost,
            })
            .collect::<Vec<_>>(),
    );
    for (a, r) in actions.iter_mut().zip(ranks) {
        a.rank = r;
        a.score_impact = score_impact(&a.points_remaining, &score.overall.max_score);
    }
    actions.sort_by(|a, b| match (a.rank, b.rank) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.control.id.cmp(&b.control.id),
    });
    Ok(TenantState {
        tenant,
        actions,
        score,
        held: held.to_vec(),
        computed_at: now,
        tags: None,
        actions_updated_at,
        partial: None,
        own_profiles: false,
    })
}
