//! Workflow on improvement actions (SPEC §2): status changes with their rules and optimistic
//! concurrency, bulk changes, undo, device exceptions, implementation progress (completion and
//! regression) and expiry of review dates.
//!
//! Every change is one transaction that updates the action row guarded by its `version`
//! (`UPDATE … WHERE version = ?`), writes its events and bumps the tenant's state version. The
//! version guard is what keeps concurrent writers (also in other server processes) from losing
//! each other's updates. Asking for what already holds (the same status and review date, the same
//! progress) writes nothing at all, not even the tenant's state version, and reports
//! `changed: false`, so scripts can re-apply a desired state.

pub mod events;
pub mod risk;

use crate::auth::Viewer;
use crate::domain::enums::{Category, EventKind, ExceptionJustification, ExceptionScope, Role, Status};
use crate::domain::points::Points;
use crate::domain::rules::{
    NothingToUndo, ProgressTransition, RuleViolation, StatusEvent, already_holds, check_user_status_change,
    exception_status, is_expired, status_accepts_review_by, status_after_progress, undo_target,
};
use crate::domain::scoring::achieved_points;
use crate::error::{AppError, AppResult};
use crate::service::access::tenants;
use crate::service::state::persisted::Change;
use crate::service::workflow::events::{Actor, NewEvent};
use chrono::{DateTime, Utc};
use entity::{action_event, control, device_exception, improvement_action, note, tenant};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    Set,
};

/// How a mutation names an action: by global row id, or by tenant slug and control id.
#[derive(Clone, Debug)]
pub enum ActionRef {
    Id(i64),
    Control { tenant_slug: String, control_id: String },
}

/// An action row with its tenant and control, after the caller's role was checked.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub tenant: tenant::Model,
    pub action: improvement_action::Model,
    pub control: control::Model,
    /// After a committed change of this one action: the tenant row as it was before, when the
    /// change's transaction bumped the tenant's version exactly once (`tenant` is then the row it
    /// left). So the tenant's new state is its state at `before` with `action` replaced, which
    /// `StateCache::derive` computes without reading the database.
    pub before: Option<tenant::Model>,
}

impl Resolved {
    pub fn status(&self) -> Status {
        self.action.status
    }
    pub fn category(&self) -> Category {
        self.control.category
    }
    /// Points the action achieves in a given state.
    pub fn points(&self, status: Status, implemented: i64, total: i64) -> Points {
        if self.control.deprecated {
            return Points::ZERO;
        }
        achieved_points(
            &Points::from_storage(self.control.max_points),
            status,
            implemented,
            total,
        )
    }
    pub fn current_points(&self) -> Points {
        self.points(self.status(), self.action.implemented, self.action.total)
    }
}

/// An action after a request that may have been a no-op.
#[derive(Clone, Debug)]
pub struct Applied {
    pub resolved: Resolved,
    /// Whether the request changed the action; `false` when it asked for what already held, and
    /// then nothing was written for it (no event, no version, no note).
    pub changed: bool,
}

/// Finds an action the caller may act on with `needed`; anything else (missing, another
/// tenant's) is `NOT_FOUND`.
pub async fn resolve<C: ConnectionTrait>(
    conn: &C,
    viewer: &Viewer,
    r: &ActionRef,
    needed: Role,
) -> AppResult<Resolved> {
    let mut by_slug = None;
    let found = match r {
        ActionRef::Id(id) => improvement_action::Entity::find_by_id(*id).one(conn).await?,
        ActionRef::Control {
            tenant_slug,
            control_id,
        } => {
            let Some(t) = tenant::Entity::find()
                .filter(tenant::Column::Slug.eq(tenant_slug))
                .one(conn)
                .await?
            else {
                return Err(AppError::NotFound("improvement action"));
            };
            let found = improvement_action::Entity::find()
                .filter(improvement_action::Column::TenantId.eq(t.id))
                .filter(improvement_action::Column::ControlId.eq(control_id))
                .one(conn)
                .await?;
            by_slug = Some(t);
            found
        }
    };
    let Some(action) = found else {
        return Err(AppError::NotFound("improvement action"));
    };
    if viewer.role_on(action.tenant_id).is_none() {
        return Err(AppError::NotFound("improvement action"));
    }
    viewer.require(action.tenant_id, needed)?;
    let tenant = match by_slug {
        Some(t) => t,
        None => tenant::Entity::find_by_id(action.tenant_id)
            .one(conn)
            .await?
            .ok_or(AppError::NotFound("improvement action"))?,
    };
    // An action whose control does not apply to the tenant (a disabled service, a control not
    // in its latest export) is not in its lists, so it cannot be changed either.
    let control = crate::service::state::controls::applicable_control(conn, &tenant, &action.control_id)
        .await?
        .ok_or(AppError::NotFound("improvement action"))?;
    Ok(Resolved {
        tenant,
        action,
        control,
        before: None,
    })
}

/// Bumps the tenant's version at the end of a change of `r`'s action alone, recording the
/// tenant row before and after (see [`Resolved::before`]).
async fn touch_for<C: ConnectionTrait>(conn: &C, r: &mut Resolved, now: DateTime<Utc>) -> AppResult<()> {
    let after = tenants::touch_with(
        conn,
        r.tenant.id,
        now,
        Change::Rows(std::slice::from_ref(&r.action)),
    )
    .await?;
    r.before = Some(std::mem::replace(&mut r.tenant, after));
    Ok(())
}

fn rule(v: RuleViolation) -> AppError {
    match v.code() {
        "BAD_USER_INPUT" => AppError::bad_input("status", v.message()),
        code => AppError::Rule {
            code,
            message: v.message(),
        },
    }
}

/// Writes a new state of an action guarded by its version. Returns the updated row, or
/// `CONFLICT` when someone changed it since it was read.
#[allow(clippy::too_many_arguments)]
async fn write_action<C: ConnectionTrait>(
    conn: &C,
    row: &improvement_action::Model,
    status: Status,
    implemented: i64,
    total: i64,
    review_by: Option<DateTime<Utc>>,
    extra: impl FnOnce(&mut improvement_action::ActiveModel),
    now: DateTime<Utc>,
) -> AppResult<improvement_action::Model> {
    let mut am: improvement_action::ActiveModel = row.clone().into();
    am.status = Set(status);
    am.implemented = Set(implemented);
    am.total = Set(total);
    am.review_by = Set(review_by);
    am.version = Set(row.version + 1);
    am.updated_at = Set(now);
    if row.status != status {
        am.status_changed_at = Set(now);
    }
    extra(&mut am);
    let updated = improvement_action::Entity::update_many()
        .set(am)
        .filter(improvement_action::Column::Id.eq(row.id))
        .filter(improvement_action::Column::Version.eq(row.version))
        .exec_with_returning(conn)
        .await?
        .pop()
        .ok_or_else(|| {
            AppError::Conflict(format!(
                "action {} was changed by someone else (version {} is stale); reload and retry",
                row.control_id, row.version
            ))
        })?;
    risk::on_action_written(conn, row, &updated, now).await?;
    Ok(updated)
}

/// Input of a status change.
#[derive(Clone, Debug)]
pub struct StatusChange {
    pub action: ActionRef,
    pub status: Status,
    pub comment: Option<String>,
    pub review_by: Option<DateTime<Utc>>,
    pub expected_version: Option<i64>,
}

fn validate_change(c: &StatusChange, r: &Resolved, now: DateTime<Utc>) -> AppResult<()> {
    if let Some(expected) = c.expected_version
        && expected != r.action.version
    {
        return Err(AppError::Conflict(format!(
            "expectedVersion {expected} is stale: action {} is at version {}",
            r.control.id, r.action.version
        )));
    }
    check_user_status_change(r.category(), r.status(), c.status).map_err(rule)?;
    risk::check_direct(&r.tenant, c.status, holds(c, r))?;
    if let Some(at) = c.review_by {
        if !status_accepts_review_by(c.status) {
            return Err(AppError::bad_input(
                "reviewBy",
                "reviewBy applies only to RISK_ACCEPTED, RESOLVED_THIRD_PARTY and RESOLVED_ALTERNATE_MITIGATION",
            ));
        }
        if at <= now {
            return Err(AppError::bad_input("reviewBy", "reviewBy must be in the future"));
        }
    }
    check_comment(c.comment.as_deref())?;
    Ok(())
}

/// Writes a new status of a resolved action (guarded by its version) with its event, inside the
/// caller's transaction: the one status write path of user changes, undo and imports. Rules are
/// the caller's business (imports take the vendor's status as given).
#[allow(clippy::too_many_arguments)]
pub async fn write_status<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    r: &Resolved,
    status: Status,
    review_by: Option<DateTime<Utc>>,
    comment: Option<String>,
    kind: EventKind,
    data: Option<serde_json::Value>,
    now: DateTime<Utc>,
) -> AppResult<improvement_action::Model> {
    let before = r.status();
    let points_before = r.current_points();
    let updated = write_action(
        conn,
        &r.action,
        status,
        r.action.implemented,
        r.action.total,
        review_by,
        |_| {},
        now,
    )
    .await?;
    let mut ev = NewEvent::new(r.tenant.id, r.action.id, kind);
    ev.status_before = Some(before);
    ev.status_after = Some(status);
    ev.points_before = Some(points_before);
    ev.points_after = Some(r.points(status, r.action.implemented, r.action.total));
    ev.comment = comment;
    ev.data = data;
    events::record(conn, actor, ev, now).await?;
    Ok(updated)
}

/// The data of a status change event: the review date it set and the one it replaced (what an
/// undo restores), with `extra` fields; `None` when there is nothing to say.
fn status_data(
    review_by: Option<DateTime<Utc>>,
    review_by_before: Option<DateTime<Utc>>,
    extra: serde_json::Map<String, serde_json::Value>,
) -> Option<serde_json::Value> {
    let mut data = extra;
    if let Some(at) = review_by {
        data.insert("reviewBy".into(), serde_json::json!(at));
    }
    if let Some(at) = review_by_before {
        data.insert("reviewByBefore".into(), serde_json::json!(at));
    }
    (!data.is_empty()).then_some(serde_json::Value::Object(data))
}

async fn apply_change<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    c: &StatusChange,
    r: &Resolved,
    kind: EventKind,
    extra: serde_json::Map<String, serde_json::Value>,
    now: DateTime<Utc>,
) -> AppResult<improvement_action::Model> {
    let updated = write_status(
        conn,
        actor,
        r,
        c.status,
        c.review_by,
        c.comment.clone(),
        kind,
        status_data(c.review_by, r.action.review_by, extra),
        now,
    )
    .await?;
    if let (Some(body), Actor::Principal { id, .. }) =
        (c.comment.as_ref().filter(|b| !b.trim().is_empty()), actor)
    {
        note::ActiveModel {
            tenant_id: Set(r.tenant.id),
            action_id: Set(r.action.id),
            author_id: Set(Some(*id)),
            body: Set(body.clone()),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(conn)
        .await?;
    }
    Ok(updated)
}

/// Whether a valid change asks for what the action already holds (a no-op).
fn holds(c: &StatusChange, r: &Resolved) -> bool {
    already_holds(r.status(), r.action.review_by, c.status, c.review_by)
}

/// `setActionStatus`: one user status change (OPERATOR). The rules apply first; a valid change
/// to what already holds is a no-op that writes nothing.
pub async fn set_status(
    db: &DatabaseConnection,
    viewer: &Viewer,
    c: StatusChange,
    now: DateTime<Utc>,
) -> AppResult<Applied> {
    let txn = crate::db::begin_write(db).await?;
    let mut r = resolve(&txn, viewer, &c.action, Role::Operator).await?;
    let expired = expire_row(&txn, &mut r, now).await?;
    validate_change(&c, &r, now)?;
    let changed = !holds(&c, &r);
    if changed {
        r.action = apply_change(
            &txn,
            &Actor::of(viewer),
            &c,
            &r,
            EventKind::StatusChanged,
            Default::default(),
            now,
        )
        .await?;
    }
    // A review date that passed just now is a change of its own, even when the request is not.
    if changed || expired {
        touch_for(&txn, &mut r, now).await?;
    }
    txn.commit().await?;
    Ok(Applied { resolved: r, changed })
}

/// A failure of one item of a bulk change.
#[derive(Debug)]
pub struct ItemError {
    pub index: usize,
    pub error: AppError,
}

/// `bulkSetActionStatus`: all items or none. Every item is checked before anything is written;
/// the result names each failing item. Items asking for what already holds are no-ops, not
/// failures; the result tells, in input order, which items changed their action.
pub async fn bulk_set_status(
    db: &DatabaseConnection,
    viewer: &Viewer,
    changes: Vec<StatusChange>,
    now: DateTime<Utc>,
) -> AppResult<Result<Vec<Applied>, Vec<ItemError>>> {
    if changes.is_empty() || changes.len() > crate::service::BULK_MAX_ITEMS {
        return Err(AppError::bad_input(
            "items",
            format!("items must hold 1 to {} changes", crate::service::BULK_MAX_ITEMS),
        ));
    }
    let txn = crate::db::begin_write(db).await?;
    let mut resolved = Vec::with_capacity(changes.len());
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut tenants_touched = std::collections::BTreeSet::new();
    for (index, c) in changes.iter().enumerate() {
        match resolve(&txn, viewer, &c.action, Role::Operator).await {
            Ok(mut r) => {
                if !seen.insert(r.action.id) {
                    errors.push(ItemError {
                        index,
                        error: AppError::bad_input(
                            "action",
                            "the same action appears twice in one bulk change",
                        ),
                    });
                    continue;
                }
                if expire_row(&txn, &mut r, now).await? {
                    tenants_touched.insert(r.tenant.id);
                }
                match validate_change(c, &r, now) {
                    Ok(()) => resolved.push(r),
                    Err(e) if e.fails_the_whole_request() => return Err(e),
                    Err(error) => errors.push(ItemError { index, error }),
                }
            }
            // Authorisation failures are top-level errors (SPEC §10), not item errors.
            Err(e) if e.fails_the_whole_request() => return Err(e),
            Err(error) => errors.push(ItemError { index, error }),
        }
    }
    if !errors.is_empty() {
        // Dropping the transaction rolls back the expiries applied while checking, too: a
        // refused bulk change leaves everything as it was.
        return Ok(Err(errors));
    }
    let actor = Actor::of(viewer);
    let mut applied = Vec::with_capacity(resolved.len());
    for (c, mut r) in changes.iter().zip(resolved) {
        let changed = !holds(c, &r);
        if changed {
            r.action = apply_change(
                &txn,
                &actor,
                c,
                &r,
                EventKind::StatusChanged,
                Default::default(),
                now,
            )
            .await?;
            tenants_touched.insert(r.tenant.id);
        }
        applied.push(Applied { resolved: r, changed });
    }
    for t in tenants_touched {
        tenants::touch(&txn, t, now).await?;
    }
    txn.commit().await?;
    Ok(Ok(applied))
}

/// One action of a plan to mark `PLANNED` (`applyPlan`).
#[derive(Clone, Debug)]
pub struct PlanItem {
    pub action: ActionRef,
    /// The action's `version` the plan was made from; a stale one is a `CONFLICT`.
    pub expected_version: Option<i64>,
}

/// The comment of the exceptions `mark_planned` records on DEVICE actions when the caller gave
/// none (an exception needs one).
pub const PLAN_EXCEPTION_COMMENT: &str = "Planned with applyPlan";

/// `applyPlan`: marks the actions of a plan `PLANNED` (OPERATOR), all or none, in one
/// transaction. Every item must name an open action (`TO_ADDRESS` or `PLANNED`) with points
/// remaining, at most once, at its expected version; an item already `PLANNED` is a no-op. A
/// DEVICE action, whose status users can't set (SPEC §2), is planned the way SPEC §2 allows: a
/// `GLOBAL` exception with justification `PLANNED_REMEDIATION` (its comment: `comment`, or
/// [`PLAN_EXCEPTION_COMMENT`]). Other actions get a `STATUS_CHANGED` event, and `comment`
/// becomes a note on each changed one, as in a bulk change. When any item fails nothing is
/// written and each failing item is named.
pub async fn mark_planned(
    db: &DatabaseConnection,
    viewer: &Viewer,
    items: Vec<PlanItem>,
    comment: Option<String>,
    now: DateTime<Utc>,
) -> AppResult<Result<Vec<Applied>, Vec<ItemError>>> {
    if items.len() > crate::service::BULK_MAX_ITEMS {
        return Err(AppError::bad_input(
            "actions",
            format!("a plan holds at most {} actions", crate::service::BULK_MAX_ITEMS),
        ));
    }
    check_comment(comment.as_deref())?;
    if items.is_empty() {
        return Ok(Ok(Vec::new()));
    }
    let comment = comment.filter(|c| !c.trim().is_empty());
    let txn = crate::db::begin_write(db).await?;
    let mut resolved = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut tenants_touched = std::collections::BTreeSet::new();
    for (index, item) in items.iter().enumerate() {
        let mut r = match resolve(&txn, viewer, &item.action, Role::Operator).await {
            Ok(r) => r,
            Err(e) if e.fails_the_whole_request() => return Err(e),
            Err(error) => {
                errors.push(ItemError { index, error });
                continue;
            }
        };
        if !seen.insert(r.action.id) {
            errors.push(ItemError {
                index,
                error: AppError::bad_input("controlId", "the same action appears twice in one plan"),
            });
            continue;
        }
        if expire_row(&txn, &mut r, now).await? {
            tenants_touched.insert(r.tenant.id);
        }
        let change = StatusChange {
            action: item.action.clone(),
            status: Status::Planned,
            comment: comment.clone(),
            review_by: None,
            expected_version: item.expected_version,
        };
        let max = r.points(Status::Completed, r.action.implemented, r.action.total);
        let open = matches!(r.status(), Status::ToAddress | Status::Planned) && r.current_points() < max;
        let checked = if let Some(expected) = item.expected_version.filter(|v| *v != r.action.version) {
            Err(AppError::Conflict(format!(
                "expectedVersion {expected} is stale: action {} is at version {}",
                r.control.id, r.action.version
            )))
        } else if r.status() == Status::Completed {
            Err(rule(RuleViolation::StatusLocked))
        } else if !open {
            Err(AppError::bad_input(
                "controlId",
                format!(
                    "action {} is {} with {} points remaining: only TO_ADDRESS and PLANNED actions with \
                     points remaining can be planned",
                    r.control.id,
                    r.status().as_str(),
                    (&max - &r.current_points()).round2()
                ),
            ))
        } else if r.category() == Category::Device {
            Ok(())
        } else {
            validate_change(&change, &r, now)
        };
        match checked {
            Ok(()) => resolved.push((change, r)),
            Err(e) if e.fails_the_whole_request() => return Err(e),
            Err(error) => errors.push(ItemError { index, error }),
        }
    }
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    let actor = Actor::of(viewer);
    let mut applied = Vec::with_capacity(resolved.len());
    for (change, mut r) in resolved {
        let changed = r.status() != Status::Planned;
        if changed {
            if r.category() == Category::Device {
                let text = change.comment.as_deref().unwrap_or(PLAN_EXCEPTION_COMMENT).trim();
                write_exception(
                    &txn,
                    &actor,
                    &mut r,
                    ExceptionScope::Global,
                    ExceptionJustification::PlannedRemediation,
                    text,
                    None,
                    now,
                )
                .await?;
            } else {
                r.action = apply_change(
                    &txn,
                    &actor,
                    &change,
                    &r,
                    EventKind::StatusChanged,
                    Default::default(),
                    now,
                )
                .await?;
            }
            tenants_touched.insert(r.tenant.id);
        }
        applied.push(Applied { resolved: r, changed });
    }
    for t in tenants_touched {
        tenants::touch(&txn, t, now).await?;
    }
    txn.commit().await?;
    Ok(Ok(applied))
}

/// The kinds of event that change an action's status (or its review date): the history undo
/// reads.
const STATUS_EVENTS: [EventKind; 7] = [
    EventKind::StatusChanged,
    EventKind::Undone,
    EventKind::ExceptionRecorded,
    EventKind::Completed,
    EventKind::Regressed,
    EventKind::Expired,
    EventKind::Imported,
];

/// A status event as undo reads it; `None` for an event without both statuses.
fn status_event(e: &action_event::Model) -> Option<StatusEvent> {
    let (Some(before), Some(after)) = (e.status_before, e.status_after) else {
        return None;
    };
    let data = e.data.as_ref();
    let field = |k: &str| data.and_then(|d| d.get(k)).cloned();
    Some(StatusEvent {
        id: e.id,
        kind: e.kind,
        actor_id: e.actor_id,
        actor: e.actor_name.clone(),
        at: e.occurred_at,
        before,
        after,
        review_by_before: field("reviewByBefore").and_then(|v| serde_json::from_value(v).ok()),
        undoes: field("undoes").and_then(|v| v.as_i64()),
    })
}

/// `undoActionStatus` (OPERATOR): restores the status and review date held before the caller's
/// An optional comment (it becomes a note): at most [`crate::service::NOTE_MAX_CHARS`], and no
/// control characters; an empty one is no comment.
fn check_comment(comment: Option<&str>) -> AppResult<()> {
    let Some(comment) = comment.filter(|c| !c.is_empty()) else {
        return Ok(());
    };
    crate::service::check_text("comment", comment, true)?;
    if comment.chars().count() > crate::service::NOTE_MAX_CHARS {
        return Err(AppError::bad_input(
            "comment",
            "comment must be at most 10000 characters",
        ));
    }
    Ok(())
}

/// last manual change of the action, as an `UNDONE` event whose data names the event undone
/// (`undoes`). Repeated undos walk back through earlier changes; what can't be undone (see
/// [`undo_target`]) is `NOTHING_TO_UNDO`, and nothing is written.
pub async fn undo_status(
    db: &DatabaseConnection,
    viewer: &Viewer,
    action: ActionRef,
    comment: Option<String>,
    now: DateTime<Utc>,
) -> AppResult<Applied> {
    check_comment(comment.as_deref())?;
    let txn = crate::db::begin_write(db).await?;
    let mut r = resolve(&txn, viewer, &action, Role::Operator).await?;
    // A review date that passed is an EXPIRED event first, which is then the last change: the
    // answer is NOTHING_TO_UNDO, and the expiry is written by the next read instead.
    expire_row(&txn, &mut r, now).await?;
    // By id, not time: `now` is taken before the write lock is held, so under concurrent writers
    // the last committed change need not carry the latest timestamp.
    let rows = action_event::Entity::find()
        .filter(action_event::Column::ActionId.eq(r.action.id))
        .filter(action_event::Column::Kind.is_in(STATUS_EVENTS))
        .order_by_asc(action_event::Column::Id)
        .all(&txn)
        .await?;
    let mut events = Vec::with_capacity(rows.len());
    for e in &rows {
        events.extend(status_event(e));
    }
    let target = undo_target(&events, viewer.principal_id, r.category(), r.status(), now).map_err(|why| {
        AppError::Rule {
            code: NothingToUndo::CODE,
            message: format!("nothing to undo on {}: {why}", r.control.id),
        }
    })?;
    risk::check_direct(&r.tenant, target.status, false)?;
    let change = StatusChange {
        action,
        status: target.status,
        comment,
        review_by: target.review_by,
        expected_version: None,
    };
    let mut extra = serde_json::Map::new();
    extra.insert("undoes".into(), serde_json::json!(target.undoes));
    r.action = apply_change(
        &txn,
        &Actor::of(viewer),
        &change,
        &r,
        EventKind::Undone,
        extra,
        now,
    )
    .await?;
    // The exception no longer holds once the status it set is undone.
    if target.exception
        && let Some(id) = rows
            .iter()
            .find(|e| e.id == target.undoes)
            .and_then(|e| e.data.as_ref()?.get("exceptionId")?.as_i64())
    {
        device_exception::Entity::update_many()
            .col_expr(device_exception::Column::EndedAt, Expr::value(now))
            .filter(device_exception::Column::Id.eq(id))
            .filter(device_exception::Column::EndedAt.is_null())
            .exec(&txn)
            .await?;
    }
    touch_for(&txn, &mut r, now).await?;
    txn.commit().await?;
    Ok(Applied {
        resolved: r,
        changed: true,
    })
}

/// Input of a device exception.
#[derive(Clone, Debug)]
pub struct DeviceExceptionInput {
    pub action: ActionRef,
    pub scope: ExceptionScope,
    pub justification: ExceptionJustification,
    pub comment: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// `recordDeviceException`: the only way a DEVICE action's status changes by hand. A GLOBAL
/// exception sets the matching status (until its expiry); a DEVICE_GROUP one is recorded and
/// leaves the status as it is.
pub async fn record_device_exception(
    db: &DatabaseConnection,
    viewer: &Viewer,
    input: DeviceExceptionInput,
    now: DateTime<Utc>,
) -> AppResult<(Resolved, device_exception::Model)> {
    let txn = crate::db::begin_write(db).await?;
    let mut r = resolve(&txn, viewer, &input.action, Role::Operator).await?;
    expire_row(&txn, &mut r, now).await?;
    if r.category() != Category::Device {
        return Err(AppError::bad_input(
            "action",
            "device exceptions apply only to actions of the DEVICE category",
        ));
    }
    crate::service::check_text("comment", &input.comment, true)?;
    let comment = input.comment.trim();
    if comment.is_empty() || comment.chars().count() > crate::service::NOTE_MAX_CHARS {
        return Err(AppError::bad_input(
            "comment",
            "comment must be 1 to 10000 characters",
        ));
    }
    if input.expires_at.is_some_and(|at| at <= now) {
        return Err(AppError::bad_input(
            "expiresAt",
            "expiresAt must be in the future",
        ));
    }
    let exception = write_exception(
        &txn,
        &Actor::of(viewer),
        &mut r,
        input.scope,
        input.justification,
        comment,
        input.expires_at,
        now,
    )
    .await?;
    tenants::touch(&txn, r.tenant.id, now).await?;
    txn.commit().await?;
    Ok((r, exception))
}

/// Records a checked exception on a resolved DEVICE action and sets the status it implies, with
/// its `EXCEPTION_RECORDED` event, in the caller's transaction (`COMPLETED` is `STATUS_LOCKED`).
/// The caller bumps the tenant's version.
#[allow(clippy::too_many_arguments)]
async fn write_exception<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    r: &mut Resolved,
    scope: ExceptionScope,
    justification: ExceptionJustification,
    comment: &str,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> AppResult<device_exception::Model> {
    let current = r.status();
    if current == Status::Completed {
        return Err(rule(RuleViolation::StatusLocked));
    }
    // What an undo of the exception restores along with the status.
    let review_by_before = r.action.review_by;
    let exception = device_exception::ActiveModel {
        tenant_id: Set(r.tenant.id),
        action_id: Set(r.action.id),
        scope: Set(scope),
        justification: Set(justification),
        comment: Set(comment.to_string()),
        expires_at: Set(expires_at),
        created_by: Set(match actor {
            Actor::Principal { id, .. } => Some(*id),
            _ => None,
        }),
        created_at: Set(now),
        ended_at: Set(None),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    let new_status = exception_status(scope, justification).unwrap_or(current);
    let points_before = r.current_points();
    let review_by = if new_status != current {
        expires_at
    } else {
        r.action.review_by
    };
    r.action = write_action(
        conn,
        &r.action,
        new_status,
        r.action.implemented,
        r.action.total,
        review_by,
        |_| {},
        now,
    )
    .await?;
    let mut ev = NewEvent::new(r.tenant.id, r.action.id, EventKind::ExceptionRecorded);
    ev.status_before = Some(current);
    ev.status_after = Some(new_status);
    ev.points_before = Some(points_before);
    ev.points_after = Some(r.points(new_status, r.action.implemented, r.action.total));
    ev.comment = Some(comment.to_string());
    let mut data = serde_json::json!({
        "exceptionId": exception.id,
        "scope": scope.as_str(),
        "justification": justification.as_str(),
        "expiresAt": expires_at,
    });
    if let Some(at) = review_by_before {
        data["reviewByBefore"] = serde_json::json!(at);
    }
    ev.data = Some(data);
    events::record(conn, actor, ev, now).await?;
    Ok(exception)
}

/// The device exceptions among `ids` that the caller may read (READER of their tenant: every
/// role reads the `EXCEPTION_RECORDED` events that carry them). Another tenant's exception is
/// left out exactly like an id that does not exist.
pub async fn device_exceptions_by_ids<C: ConnectionTrait>(
    conn: &C,
    viewer: &Viewer,
    ids: &[i64],
) -> AppResult<Vec<device_exception::Model>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(device_exception::Entity::find()
        .filter(device_exception::Column::Id.is_in(ids.iter().copied()))
        .all(conn)
        .await?
        .into_iter()
        .filter(|e| viewer.role_on(e.tenant_id).is_some())
        .collect())
}

/// Input of `recordImplementationProgress`.
#[derive(Clone, Debug)]
pub struct ProgressInput {
    pub action: ActionRef,
    pub implemented: i64,
    pub total: i64,
    pub implementation_status: Option<String>,
    pub users_affected: Option<i64>,
}

/// Validates progress numbers.
pub fn validate_progress(implemented: i64, total: i64) -> AppResult<()> {
    if total < 0 || implemented < 0 {
        return Err(AppError::bad_input(
            "implemented",
            "implemented and total cannot be negative",
        ));
    }
    if implemented > total {
        return Err(AppError::bad_input(
            "implemented",
            "implemented cannot exceed total",
        ));
    }
    Ok(())
}

/// `recordImplementationProgress`: what scanners and sync jobs send. Reaching the total
/// completes the action; falling back from complete regresses it with a `REGRESSED` event. The
/// same figures again are a no-op.
pub async fn record_progress(
    db: &DatabaseConnection,
    viewer: &Viewer,
    input: ProgressInput,
    now: DateTime<Utc>,
) -> AppResult<Applied> {
    validate_progress(input.implemented, input.total)?;
    if input.users_affected.is_some_and(|u| u < 0) {
        return Err(AppError::bad_input(
            "usersAffected",
            "usersAffected cannot be negative",
        ));
    }
    if let Some(text) = input.implementation_status.as_deref().filter(|t| !t.is_empty()) {
        crate::service::check_text("implementationStatus", text, true)?;
    }
    if input
        .implementation_status
        .as_ref()
        .is_some_and(|s| s.chars().count() > 2000)
    {
        return Err(AppError::bad_input(
            "implementationStatus",
            "implementationStatus must be at most 2000 characters",
        ));
    }
    let txn = crate::db::begin_write(db).await?;
    let mut r = resolve(&txn, viewer, &input.action, Role::Operator).await?;
    let expired = expire_row(&txn, &mut r, now).await?;
    let changed = apply_progress(&txn, &Actor::of(viewer), &mut r, &input, now).await?;
    if changed || expired {
        touch_for(&txn, &mut r, now).await?;
    }
    txn.commit().await?;
    Ok(Applied { resolved: r, changed })
}

/// Applies new progress to a resolved action inside the caller's transaction (also used by
/// imports). Writes nothing when nothing changed (the same figures, text and users affected);
/// returns whether it wrote.
pub async fn apply_progress<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    r: &mut Resolved,
    input: &ProgressInput,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let before = r.status();
    let points_before = r.current_points();
    let (after, transition) = status_after_progress(before, input.implemented, input.total);
    let text = input
        .implementation_status
        .clone()
        .or_else(|| r.action.implementation_status.clone());
    let users = input.users_affected.unwrap_or(r.action.users_affected);
    let unchanged = after == before
        && input.implemented == r.action.implemented
        && input.total == r.action.total
        && text == r.action.implementation_status
        && users == r.action.users_affected;
    if unchanged {
        return Ok(false);
    }
    let review_by = if after == before { r.action.review_by } else { None };
    let (text2, users2) = (text.clone(), users);
    let updated = write_action(
        conn,
        &r.action,
        after,
        input.implemented,
        input.total,
        review_by,
        move |am| {
            am.implementation_status = Set(text2);
            am.users_affected = Set(users2);
        },
        now,
    )
    .await?;
    let points_after = r.points(after, input.implemented, input.total);
    let data = serde_json::json!({
        "implementedBefore": r.action.implemented, "totalBefore": r.action.total,
        "implemented": input.implemented, "total": input.total,
    });
    let mut ev = NewEvent::new(r.tenant.id, r.action.id, EventKind::ProgressChanged);
    ev.status_before = Some(before);
    ev.status_after = Some(after);
    ev.points_before = Some(points_before.clone());
    ev.points_after = Some(points_after.clone());
    ev.data = Some(data.clone());
    ev.comment = input.implementation_status.clone();
    match transition {
        ProgressTransition::Completed => ev.kind = EventKind::Completed,
        ProgressTransition::Regressed => {
            ev.kind = EventKind::Regressed;
            ev.comment = Some(format!(
                "regressed: {} points lost",
                (&points_before - &points_after).round2()
            ));
        }
        ProgressTransition::None => {}
    }
    events::record(conn, actor, ev, now).await?;
    r.action = updated;
    Ok(true)
}

/// Returns an action whose review date has passed to `TO_ADDRESS` with an `EXPIRED` event, in
/// the caller's transaction. A no-op for actions that are not due.
pub async fn expire_row<C: ConnectionTrait>(
    conn: &C,
    r: &mut Resolved,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    if !is_expired(r.action.review_by, now) {
        return Ok(false);
    }
    let before = r.status();
    let points_before = r.current_points();
    let review_by = r.action.review_by;
    let updated = match write_action(
        conn,
        &r.action,
        Status::ToAddress,
        r.action.implemented,
        r.action.total,
        None,
        |_| {},
        now,
    )
    .await
    {
        Ok(row) => row,
        // Someone else (another request or process) changed or expired it first: theirs stands.
        Err(AppError::Conflict(_)) => {
            if let Some(row) = improvement_action::Entity::find_by_id(r.action.id)
                .one(conn)
                .await?
            {
                r.action = row;
            }
            return Ok(false);
        }
        Err(e) => return Err(e),
    };
    let mut ev = NewEvent::new(r.tenant.id, r.action.id, EventKind::Expired);
    ev.status_before = Some(before);
    ev.status_after = Some(Status::ToAddress);
    ev.points_before = Some(points_before);
    ev.points_after = Some(r.points(Status::ToAddress, r.action.implemented, r.action.total));
    ev.comment = Some("review date passed".to_string());
    ev.data = Some(serde_json::json!({ "reviewBy": review_by }));
    events::record(conn, &Actor::System, ev, now).await?;
    device_exception::Entity::update_many()
        .col_expr(device_exception::Column::EndedAt, Expr::value(now))
        .filter(device_exception::Column::ActionId.eq(r.action.id))
        .filter(device_exception::Column::EndedAt.is_null())
        .filter(device_exception::Column::ExpiresAt.lte(now))
        .exec(conn)
        .await?;
    r.action = updated;
    Ok(true)
}

/// Expires every due action of one tenant (each in its own small transaction). Returns how many
/// expired. Called before a tenant's state is read, so answers never depend on the sweep.
pub async fn expire_due_for_tenant(
    db: &DatabaseConnection,
    tenant_id: i64,
    now: DateTime<Utc>,
) -> AppResult<usize> {
    let due = improvement_action::Entity::find()
        .filter(improvement_action::Column::TenantId.eq(tenant_id))
        .filter(improvement_action::Column::ReviewBy.lte(now))
        .all(db)
        .await?;
    expire_rows(db, due, now).await
}

/// The background sweep: expires due actions of all tenants.
pub async fn expire_all_due(db: &DatabaseConnection, now: DateTime<Utc>) -> AppResult<usize> {
    let due = improvement_action::Entity::find()
        .filter(improvement_action::Column::ReviewBy.lte(now))
        .all(db)
        .await?;
    expire_rows(db, due, now).await
}

async fn expire_rows(
    db: &DatabaseConnection,
    due: Vec<improvement_action::Model>,
    now: DateTime<Utc>,
) -> AppResult<usize> {
    let mut count = 0;
    for action in due {
        // Expiry applies whether or not the control applies now: a status is never kept past
        // its review date.
        let Some(control) =
            crate::service::state::controls::controls_of(db, action.tenant_id, [action.control_id.clone()])
                .await?
                .remove(&action.control_id)
        else {
            continue;
        };
        let control = control::Model::clone(&control);
        let txn = crate::db::begin_write(db).await?;
        let Some(tenant) = tenant::Entity::find_by_id(action.tenant_id).one(&txn).await? else {
            continue;
        };
        let tenant_id = tenant.id;
        let mut r = Resolved {
            tenant,
            action,
            control,
            before: None,
        };
        if expire_row(&txn, &mut r, now).await? {
            tenants::touch(&txn, tenant_id, now).await?;
            count += 1;
        }
        txn.commit().await?;
    }
    Ok(count)
}

/// The background sweep: expires due actions of all tenants once now, before the server accepts
/// its first request (a sweep racing the first requests would expire actions between their
/// steps), then every `every`.
pub async fn start_expiry_sweep(
    db: DatabaseConnection,
    every: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    sweep_once(&db).await;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tick.tick().await;
            sweep_once(&db).await;
        }
    })
}

/// One run of the expiry sweep, counted in the metrics: due actions, then lapsed `DEVICE_GROUP`
/// exceptions (`risk::end_lapsed_group_exceptions`).
async fn sweep_once(db: &DatabaseConnection) {
    let now = Utc::now();
    match risk::end_lapsed_group_exceptions(db, now).await {
        Ok(n) if n > 0 => tracing::info!(ended = n, "device group exceptions ended"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = ?e, "ending lapsed device group exceptions failed"),
    }
    match expire_all_due(db, now).await {
        Ok(n) => {
            crate::metrics::record_expiry_sweep_run("ok", n);
            if n > 0 {
                tracing::info!(expired = n, "expiry sweep");
            }
        }
        Err(e) => {
            crate::metrics::record_expiry_sweep_run("error", 0);
            tracing::warn!(error = ?e, "expiry sweep failed");
        }
    }
}
