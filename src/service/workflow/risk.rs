//! Governed risk acceptance (issue 19): an OPERATOR asks to accept the risk of one action
//! (`request`: justification, owner, review date), an ADMIN who is **not** the requester approves
//! (`approve`: the action becomes `RISK_ACCEPTED` until the review date, through the one status
//! write path) or rejects it (`reject`), and the requester or an ADMIN may withdraw a pending
//! request (`withdraw`). A pending request changes no status and no points.
//!
//! An approved acceptance lasts as long as its action stays `RISK_ACCEPTED` with the approved
//! review date: the workflow's row writer calls [`on_action_written`] on every write, which marks
//! it `EXPIRED` when the review date passed (the expiry, an `EXPIRED` event) or `ENDED` when
//! another change (a status change, an undo, completion by progress, an import) moved the action
//! away first.
//!
//! The tenant setting `risk_acceptance_requires_approval` ([`check_direct`]) makes this the only
//! way to `RISK_ACCEPTED`: a direct status change to it is refused with `APPROVAL_REQUIRED`.
//!
//! Reminders ([`send_reminders`], run hourly by [`start_reminder_sweep`]): when an approved
//! acceptance's review date comes within one of the tenant's reminder thresholds (`reminderDays`,
//! default 30, 7 and 1 days), one `risk_acceptance.expiring` alert per threshold, recorded with
//! the acceptance (`last_reminder_days`, guarded by its old value) in the alert's transaction, so
//! several processes send each reminder once.
//!
//! Device exceptions are reminded of the same way (`exception.expiring`, recorded in
//! `device_exception.last_reminder_days`). A `GLOBAL` exception ends with its action's expiry
//! (`expire_row`, which raises its alert from the `EXPIRED` event); a `DEVICE_GROUP` one changes
//! no status, so [`end_lapsed_group_exceptions`] (run by the expiry sweep) marks it ended when its
//! `expiresAt` passes and raises `exception.expired` for it, once.

use super::{ActionRef, Resolved, check_comment, expire_row, resolve, rule, touch_for, write_status};
use crate::auth::Viewer;
use crate::domain::enums::{Category, EventKind, Role, Status};
use crate::domain::rules::{
    DEFAULT_REMINDER_DAYS, MAX_REMINDER_DAYS, RuleViolation, is_expired, reminder_threshold,
};
use crate::error::{AppError, AppResult};
use crate::service::alerts::{self, Alert, AlertKind};
use crate::service::workflow::events::Actor;
use chrono::{DateTime, Duration, Utc};
use entity::risk_acceptance::{self, RiskAcceptanceState as State};
use entity::{control, improvement_action, tenant};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    Set,
};
use serde_json::json;

/// The user error code of a direct `RISK_ACCEPTED` when the tenant requires approval.
pub const APPROVAL_REQUIRED: &str = "APPROVAL_REQUIRED";
/// The user error code of a requester deciding their own request.
pub const SELF_APPROVAL: &str = "SELF_APPROVAL";
/// How often the reminder sweep runs in a server.
pub const REMINDER_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);
/// Longest owner text, in characters.
pub const OWNER_MAX_CHARS: usize = 200;

/// Refuses a direct change to `RISK_ACCEPTED` (a status change, a bulk item, an undo) when the
/// tenant requires approval; asking for what already holds stays a no-op. Called by the workflow
/// where it validates such changes.
pub fn check_direct(tenant: &tenant::Model, requested: Status, holds: bool) -> AppResult<()> {
    if tenant.risk_acceptance_requires_approval && requested == Status::RiskAccepted && !holds {
        return Err(AppError::Rule {
            code: APPROVAL_REQUIRED,
            message: format!(
                "tenant {} requires approval to accept a risk: use requestRiskAcceptance, which an ADMIN \
                 other than the requester approves",
                tenant.slug
            ),
        });
    }
    Ok(())
}

/// Ends the approved acceptance of an action whose row was just written away from it (status no
/// longer `RISK_ACCEPTED`, or another review date): `EXPIRED` when the review date had passed,
/// `ENDED` otherwise. A no-op (no query) for every write of an action that was not
/// `RISK_ACCEPTED`. Called by the workflow's row writer in the write's transaction.
pub async fn on_action_written<C: ConnectionTrait>(
    conn: &C,
    before: &improvement_action::Model,
    after: &improvement_action::Model,
    now: DateTime<Utc>,
) -> AppResult<()> {
    if before.status != Status::RiskAccepted
        || (after.status == Status::RiskAccepted && after.review_by == before.review_by)
    {
        return Ok(());
    }
    let state = if is_expired(before.review_by, now) {
        State::Expired
    } else {
        State::Ended
    };
    risk_acceptance::Entity::update_many()
        .col_expr(risk_acceptance::Column::State, Expr::value(state))
        .col_expr(risk_acceptance::Column::EndedAt, Expr::value(now))
        .col_expr(risk_acceptance::Column::UpdatedAt, Expr::value(now))
        .filter(risk_acceptance::Column::ActionId.eq(before.id))
        .filter(risk_acceptance::Column::State.eq(State::Approved))
        .exec(conn)
        .await?;
    Ok(())
}

/// Input of `requestRiskAcceptance`.
#[derive(Clone, Debug)]
pub struct RequestInput {
    pub action: ActionRef,
    pub justification: String,
    pub owner: String,
    pub review_by: DateTime<Utc>,
}

fn required_text(field: &str, text: &str, max: usize, multiline: bool) -> AppResult<String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(AppError::bad_input(field, format!("{field} is required")));
    }
    crate::service::check_text(field, trimmed, multiline)?;
    if trimmed.chars().count() > max {
        return Err(AppError::bad_input(
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
    Ok(trimmed.to_string())
}

/// Checks a review date: in the future and at most `max_days` ahead.
pub fn check_review_by(review_by: DateTime<Utc>, max_days: u32, now: DateTime<Utc>) -> AppResult<()> {
    if review_by <= now {
        return Err(AppError::bad_input("reviewBy", "reviewBy must be in the future"));
    }
    if review_by > now + Duration::days(i64::from(max_days)) {
        return Err(AppError::bad_input(
            "reviewBy",
            format!("reviewBy must be at most {max_days} days ahead (RISK_ACCEPTANCE_MAX_DAYS)"),
        ));
    }
    Ok(())
}

/// The acceptances of an action that are open (`REQUESTED`) or active (`APPROVED`): at most one.
async fn open_of<C: ConnectionTrait>(conn: &C, action_id: i64) -> AppResult<Option<risk_acceptance::Model>> {
    Ok(risk_acceptance::Entity::find()
        .filter(risk_acceptance::Column::ActionId.eq(action_id))
        .filter(risk_acceptance::Column::State.is_in([State::Requested, State::Approved]))
        .one(conn)
        .await?)
}

/// Why an action cannot take a risk acceptance now (shared by request and approval).
fn check_acceptable(r: &Resolved) -> AppResult<()> {
    match r.status() {
        Status::Completed => return Err(rule(RuleViolation::StatusLocked)),
        Status::RiskAccepted => {
            return Err(AppError::Conflict(format!(
                "action {} is already RISK_ACCEPTED",
                r.control.id
            )));
        }
        _ => {}
    }
    if r.category() == Category::Device {
        return Err(rule(RuleViolation::DeviceStatusManagedExternally));
    }
    Ok(())
}

/// `requestRiskAcceptance` (OPERATOR): records a `REQUESTED` acceptance and raises
/// `risk_acceptance.requested`. Changes no status and no points.
pub async fn request(
    db: &DatabaseConnection,
    viewer: &Viewer,
    input: RequestInput,
    max_days: u32,
    now: DateTime<Utc>,
) -> AppResult<Entry> {
    let justification = required_text(
        "justification",
        &input.justification,
        crate::service::NOTE_MAX_CHARS,
        true,
    )?;
    let owner = required_text("owner", &input.owner, OWNER_MAX_CHARS, false)?;
    check_review_by(input.review_by, max_days, now)?;
    let txn = crate::db::begin_write(db).await?;
    let mut r = resolve(&txn, viewer, &input.action, Role::Operator).await?;
    let expired = expire_row(&txn, &mut r, now).await?;
    check_acceptable(&r)?;
    if let Some(open) = open_of(&txn, r.action.id).await? {
        return Err(AppError::Conflict(format!(
            "action {} already has a {} risk acceptance (id {}); withdraw or decide it first",
            r.control.id,
            open.state.as_str(),
            open.id
        )));
    }
    let row = risk_acceptance::ActiveModel {
        tenant_id: Set(r.tenant.id),
        action_id: Set(r.action.id),
        requested_by: Set(Some(viewer.principal_id)),
        requested_by_name: Set(viewer.name.clone()),
        justification: Set(justification),
        owner: Set(owner),
        review_by: Set(input.review_by),
        state: Set(State::Requested),
        reminders_sent: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|e| match e.sql_err() {
        // Another request for the action committed between the check and the insert.
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => AppError::Conflict(format!(
            "action {} already has a pending or active risk acceptance",
            r.control.id
        )),
        _ => e.into(),
    })?;
    alerts::raise(
        &txn,
        Alert {
            tenant_id: r.tenant.id,
            kind: AlertKind::RiskAcceptanceRequested,
            data: alert_data(&row, &r.control.id),
        },
        now,
    )
    .await?;
    if expired {
        touch_for(&txn, &mut r, now).await?;
    }
    txn.commit().await?;
    Ok(Entry {
        row,
        control: r.control,
    })
}

/// What an alert about an acceptance says.
fn alert_data(row: &risk_acceptance::Model, control_id: &str) -> serde_json::Value {
    json!({
        "riskAcceptanceId": row.id,
        "actionId": row.action_id,
        "controlId": control_id,
        "state": row.state.as_str(),
        "owner": row.owner,
        "requestedBy": row.requested_by_name,
        "approvedBy": row.decided_by_name,
        "reviewBy": row.review_by,
        "justification": row.justification,
    })
}

/// The acceptance `id` for a caller who holds `needed` on its tenant; another tenant's (or a
/// missing) one is `NOT_FOUND`, a lower role `FORBIDDEN`.
async fn find<C: ConnectionTrait>(
    conn: &C,
    viewer: &Viewer,
    id: i64,
    needed: Role,
) -> AppResult<risk_acceptance::Model> {
    let row = risk_acceptance::Entity::find_by_id(id)
        .one(conn)
        .await?
        .filter(|row| viewer.role_on(row.tenant_id).is_some())
        .ok_or(AppError::NotFound("risk acceptance"))?;
    viewer.require(row.tenant_id, needed)?;
    Ok(row)
}

fn not_own(row: &risk_acceptance::Model, viewer: &Viewer, what: &str) -> AppResult<()> {
    if row.requested_by == Some(viewer.principal_id) {
        return Err(AppError::Rule {
            code: SELF_APPROVAL,
            message: format!(
                "you requested risk acceptance {}: another ADMIN must {what} it (withdraw it with \
                 withdrawRiskAcceptance)",
                row.id
            ),
        });
    }
    Ok(())
}

fn must_be_requested(row: &risk_acceptance::Model) -> AppResult<()> {
    if row.state != State::Requested {
        return Err(AppError::Conflict(format!(
            "risk acceptance {} is {}: only a REQUESTED one can be decided or withdrawn",
            row.id,
            row.state.as_str()
        )));
    }
    Ok(())
}

/// Records a decision on a `REQUESTED` acceptance, guarded by its state (a concurrent decision
/// makes this one a `CONFLICT`).
async fn decide<C: ConnectionTrait>(
    conn: &C,
    viewer: &Viewer,
    row: &risk_acceptance::Model,
    state: State,
    comment: Option<String>,
    now: DateTime<Utc>,
) -> AppResult<risk_acceptance::Model> {
    let mut am: risk_acceptance::ActiveModel = row.clone().into();
    am.state = Set(state);
    am.decided_by = Set(Some(viewer.principal_id));
    am.decided_by_name = Set(Some(viewer.name.clone()));
    am.decided_at = Set(Some(now));
    am.decision_comment = Set(comment);
    am.updated_at = Set(now);
    risk_acceptance::Entity::update_many()
        .set(am)
        .filter(risk_acceptance::Column::Id.eq(row.id))
        .filter(risk_acceptance::Column::State.eq(State::Requested))
        .exec_with_returning(conn)
        .await?
        .pop()
        .ok_or_else(|| AppError::Conflict(format!("risk acceptance {} was decided meanwhile", row.id)))
}

fn optional_comment(comment: Option<String>) -> AppResult<Option<String>> {
    check_comment(comment.as_deref())?;
    Ok(comment.map(|c| c.trim().to_string()).filter(|c| !c.is_empty()))
}

/// `approveRiskAcceptance` (ADMIN, not the requester): the action becomes `RISK_ACCEPTED` until
/// the request's review date (a `STATUS_CHANGED` event whose data names the acceptance and the
/// approver), and the acceptance `APPROVED`. Returns it with the changed action.
pub async fn approve(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: i64,
    comment: Option<String>,
    now: DateTime<Utc>,
) -> AppResult<(Entry, Resolved)> {
    let comment = optional_comment(comment)?;
    let txn = crate::db::begin_write(db).await?;
    let row = find(&txn, viewer, id, Role::Admin).await?;
    not_own(&row, viewer, "approve")?;
    must_be_requested(&row)?;
    if row.review_by <= now {
        return Err(AppError::bad_input(
            "requestId",
            format!(
                "the review date of risk acceptance {} ({}) has passed: reject it and request again",
                row.id, row.review_by
            ),
        ));
    }
    let mut r = resolve(&txn, viewer, &ActionRef::Id(row.action_id), Role::Admin).await?;
    expire_row(&txn, &mut r, now).await?;
    check_acceptable(&r)?;
    let approved = decide(&txn, viewer, &row, State::Approved, comment, now).await?;
    let mut data = serde_json::Map::new();
    data.insert("reviewBy".into(), json!(row.review_by));
    if let Some(at) = r.action.review_by {
        data.insert("reviewByBefore".into(), json!(at));
    }
    data.insert("riskAcceptanceId".into(), json!(row.id));
    data.insert("requestedBy".into(), json!(row.requested_by_name));
    data.insert("approvedBy".into(), json!(viewer.name));
    data.insert("owner".into(), json!(row.owner));
    r.action = write_status(
        &txn,
        &Actor::of(viewer),
        &r,
        Status::RiskAccepted,
        Some(row.review_by),
        Some(row.justification.clone()),
        EventKind::StatusChanged,
        Some(serde_json::Value::Object(data)),
        now,
    )
    .await?;
    touch_for(&txn, &mut r, now).await?;
    txn.commit().await?;
    let entry = Entry {
        row: approved,
        control: r.control.clone(),
    };
    Ok((entry, r))
}

/// `rejectRiskAcceptance` (ADMIN, not the requester): `REJECTED` with the required comment;
/// nothing else changes.
pub async fn reject(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: i64,
    comment: String,
    now: DateTime<Utc>,
) -> AppResult<Entry> {
    let comment = required_text("comment", &comment, crate::service::NOTE_MAX_CHARS, true)?;
    let txn = crate::db::begin_write(db).await?;
    let row = find(&txn, viewer, id, Role::Admin).await?;
    not_own(&row, viewer, "reject")?;
    must_be_requested(&row)?;
    let rejected = decide(&txn, viewer, &row, State::Rejected, Some(comment), now).await?;
    let entry = entry_of(&txn, rejected).await?;
    txn.commit().await?;
    Ok(entry)
}

/// `withdrawRiskAcceptance` (the requester, still an OPERATOR of the tenant, or an ADMIN): a
/// `REQUESTED` acceptance becomes `WITHDRAWN`.
pub async fn withdraw(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: i64,
    now: DateTime<Utc>,
) -> AppResult<Entry> {
    let txn = crate::db::begin_write(db).await?;
    let row = find(&txn, viewer, id, Role::Operator).await?;
    if row.requested_by != Some(viewer.principal_id) {
        viewer.require(row.tenant_id, Role::Admin)?;
    }
    must_be_requested(&row)?;
    let withdrawn = decide(&txn, viewer, &row, State::Withdrawn, None, now).await?;
    let entry = entry_of(&txn, withdrawn).await?;
    txn.commit().await?;
    Ok(entry)
}

/// An acceptance with the control of its action.
#[derive(Clone, Debug)]
pub struct Entry {
    pub row: risk_acceptance::Model,
    pub control: control::Model,
}

/// Filter of the risk register.
#[derive(Clone, Debug, Default)]
pub struct RegisterFilter {
    /// Any of these states; default: `APPROVED` (or `EXPIRED` with `expired: true`).
    pub states: Option<Vec<State>>,
    /// Only `APPROVED` ones whose review date is at most this many days ahead.
    pub expiring_within_days: Option<i64>,
    /// `true`: only `EXPIRED` ones; `false`: none of them.
    pub expired: Option<bool>,
}

/// `Tenant.riskRegister` (READER): the tenant's acceptances by the filter, soonest review date
/// first. Read after the tenant's state was loaded, so due expiries are already applied.
pub async fn register<C: ConnectionTrait>(
    conn: &C,
    viewer: &Viewer,
    tenant_id: i64,
    filter: &RegisterFilter,
    now: DateTime<Utc>,
) -> AppResult<Vec<Entry>> {
    viewer.require(tenant_id, Role::Reader)?;
    if filter
        .expiring_within_days
        .is_some_and(|d| !(0..=3650).contains(&d))
    {
        return Err(AppError::bad_input(
            "filter.expiringWithinDays",
            "expiringWithinDays must be 0 to 3650",
        ));
    }
    let mut q = risk_acceptance::Entity::find().filter(risk_acceptance::Column::TenantId.eq(tenant_id));
    let states = match (&filter.states, filter.expired) {
        (Some(states), _) => states.clone(),
        (None, Some(true)) => vec![State::Expired],
        (None, _) => vec![State::Approved],
    };
    q = q.filter(risk_acceptance::Column::State.is_in(states));
    match filter.expired {
        Some(true) => q = q.filter(risk_acceptance::Column::State.eq(State::Expired)),
        Some(false) => q = q.filter(risk_acceptance::Column::State.ne(State::Expired)),
        None => {}
    }
    if let Some(days) = filter.expiring_within_days {
        q = q
            .filter(risk_acceptance::Column::State.eq(State::Approved))
            .filter(risk_acceptance::Column::ReviewBy.lte(now + Duration::days(days)));
    }
    let rows = q
        .order_by_asc(risk_acceptance::Column::ReviewBy)
        .order_by_asc(risk_acceptance::Column::Id)
        .all(conn)
        .await?;
    entries(conn, rows).await
}

/// The acceptances among `ids` the caller may read (READER of their tenant); another tenant's
/// is left out exactly like an id that does not exist.
pub async fn by_ids<C: ConnectionTrait>(conn: &C, viewer: &Viewer, ids: &[i64]) -> AppResult<Vec<Entry>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = risk_acceptance::Entity::find()
        .filter(risk_acceptance::Column::Id.is_in(ids.iter().copied()))
        .all(conn)
        .await?
        .into_iter()
        .filter(|row| viewer.role_on(row.tenant_id).is_some())
        .collect();
    entries(conn, rows).await
}

/// One acceptance with its control.
async fn entry_of<C: ConnectionTrait>(conn: &C, row: risk_acceptance::Model) -> AppResult<Entry> {
    entries(conn, vec![row])
        .await?
        .pop()
        .ok_or(AppError::NotFound("risk acceptance"))
}

/// Joins each acceptance with its action's control as its tenant sees it (one query for the
/// actions, one catalog read per tenant).
async fn entries<C: ConnectionTrait>(conn: &C, rows: Vec<risk_acceptance::Model>) -> AppResult<Vec<Entry>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let actions: std::collections::HashMap<i64, improvement_action::Model> =
        improvement_action::Entity::find()
            .filter(improvement_action::Column::Id.is_in(rows.iter().map(|r| r.action_id)))
            .all(conn)
            .await?
            .into_iter()
            .map(|a| (a.id, a))
            .collect();
    let mut wanted: std::collections::BTreeMap<i64, Vec<String>> = Default::default();
    for a in actions.values() {
        wanted.entry(a.tenant_id).or_default().push(a.control_id.clone());
    }
    let mut controls = std::collections::HashMap::new();
    for (tenant_id, ids) in wanted {
        for (id, c) in crate::service::state::controls::controls_of(conn, tenant_id, ids).await? {
            controls.insert((tenant_id, id), c);
        }
    }
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let action = actions.get(&row.action_id)?;
            let control = controls.get(&(action.tenant_id, action.control_id.clone()))?;
            Some(Entry {
                control: control::Model::clone(control),
                row,
            })
        })
        .collect())
}

/// A tenant's reminder thresholds in days, largest first: its `reminderDays`, or the default
/// (30, 7, 1).
pub fn reminder_days(tenant: &tenant::Model) -> Vec<i32> {
    tenant
        .reminder_days
        .as_ref()
        .map(|d| d.0.clone())
        .unwrap_or_else(|| DEFAULT_REMINDER_DAYS.to_vec())
}

/// The reminder thresholds of the tenants among `tenant_ids` (one read).
async fn reminder_days_of(
    db: &DatabaseConnection,
    tenant_ids: impl IntoIterator<Item = i64>,
) -> AppResult<std::collections::HashMap<i64, Vec<i32>>> {
    let ids: std::collections::BTreeSet<i64> = tenant_ids.into_iter().collect();
    if ids.is_empty() {
        return Ok(Default::default());
    }
    Ok(tenant::Entity::find()
        .filter(tenant::Column::Id.is_in(ids))
        .all(db)
        .await?
        .iter()
        .map(|t| (t.id, reminder_days(t)))
        .collect())
}

/// Whole days until `review_by`, rounded up (a review date 6.5 days ahead is 7 days left);
/// negative once passed.
pub fn days_left(review_by: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    let secs = (review_by - now).num_seconds();
    secs.div_euclid(86_400) + i64::from(secs.rem_euclid(86_400) > 0)
}

/// Sends the reminders due at `now`: for every `APPROVED` acceptance whose review date came
/// within a threshold smaller than the last one reminded of, one `risk_acceptance.expiring` alert
/// (for the smallest threshold crossed: a sweep that was down sends one reminder, not one per
/// missed threshold), in a transaction that records it guarded by the previous value, so
/// concurrent sweeps send it once. Returns how many reminders were sent.
pub async fn send_reminders(db: &DatabaseConnection, now: DateTime<Utc>) -> AppResult<usize> {
    let horizon = now + Duration::days(i64::from(MAX_REMINDER_DAYS));
    let due = risk_acceptance::Entity::find()
        .filter(risk_acceptance::Column::State.eq(State::Approved))
        .filter(risk_acceptance::Column::ReviewBy.gt(now))
        .filter(risk_acceptance::Column::ReviewBy.lte(horizon))
        .all(db)
        .await?;
    let thresholds = reminder_days_of(db, due.iter().map(|r| r.tenant_id)).await?;
    let mut sent = 0;
    for row in due {
        let Some(days) = thresholds
            .get(&row.tenant_id)
            .and_then(|t| reminder_threshold(row.review_by - now, t))
        else {
            continue;
        };
        if row.last_reminder_days.is_some_and(|last| last <= days) {
            continue;
        }
        let txn = crate::db::begin_write(db).await?;
        let mut update = risk_acceptance::Entity::update_many()
            .col_expr(risk_acceptance::Column::LastReminderDays, Expr::value(days))
            .col_expr(
                risk_acceptance::Column::RemindersSent,
                Expr::col(risk_acceptance::Column::RemindersSent).add(1),
            )
            .col_expr(risk_acceptance::Column::UpdatedAt, Expr::value(now))
            .filter(risk_acceptance::Column::Id.eq(row.id))
            .filter(risk_acceptance::Column::State.eq(State::Approved));
        update = match row.last_reminder_days {
            Some(last) => update.filter(risk_acceptance::Column::LastReminderDays.eq(last)),
            None => update.filter(risk_acceptance::Column::LastReminderDays.is_null()),
        };
        if update.exec(&txn).await?.rows_affected != 1 {
            // Another process sent it (or the acceptance ended) meanwhile.
            continue;
        }
        let control_id = improvement_action::Entity::find_by_id(row.action_id)
            .one(&txn)
            .await?
            .map(|a| a.control_id)
            .unwrap_or_default();
        let mut data = alert_data(&row, &control_id);
        data["daysLeft"] = json!(days_left(row.review_by, now));
        data["thresholdDays"] = json!(days);
        alerts::raise(
            &txn,
            Alert {
                tenant_id: row.tenant_id,
                kind: AlertKind::RiskAcceptanceExpiring,
                data,
            },
            now,
        )
        .await?;
        txn.commit().await?;
        sent += 1;
    }
    Ok(sent + send_exception_reminders(db, now).await?)
}

/// The reminders of device exceptions that end within a threshold smaller than the last one
/// reminded of: one `exception.expiring` alert each, sent once like those of risk acceptances.
async fn send_exception_reminders(db: &DatabaseConnection, now: DateTime<Utc>) -> AppResult<usize> {
    use entity::device_exception;
    let horizon = now + Duration::days(i64::from(MAX_REMINDER_DAYS));
    let due = device_exception::Entity::find()
        .filter(device_exception::Column::EndedAt.is_null())
        .filter(device_exception::Column::ExpiresAt.gt(now))
        .filter(device_exception::Column::ExpiresAt.lte(horizon))
        .all(db)
        .await?;
    let thresholds = reminder_days_of(db, due.iter().map(|r| r.tenant_id)).await?;
    let mut sent = 0;
    for row in due {
        let Some(expires_at) = row.expires_at else {
            continue;
        };
        let Some(days) = thresholds
            .get(&row.tenant_id)
            .and_then(|t| reminder_threshold(expires_at - now, t))
        else {
            continue;
        };
        if row.last_reminder_days.is_some_and(|last| last <= days) {
            continue;
        }
        let txn = crate::db::begin_write(db).await?;
        let update = device_exception::Entity::update_many()
            .col_expr(device_exception::Column::LastReminderDays, Expr::value(days))
            .filter(device_exception::Column::Id.eq(row.id))
            .filter(device_exception::Column::EndedAt.is_null());
        let update = match row.last_reminder_days {
            Some(last) => update.filter(device_exception::Column::LastReminderDays.eq(last)),
            None => update.filter(device_exception::Column::LastReminderDays.is_null()),
        };
        if update.exec(&txn).await?.rows_affected != 1 {
            // Another process sent it (or the exception ended) meanwhile.
            continue;
        }
        let mut data = exception_data(&txn, &row).await?;
        data["daysLeft"] = json!(days_left(expires_at, now));
        data["thresholdDays"] = json!(days);
        let alert = Alert {
            tenant_id: row.tenant_id,
            kind: AlertKind::ExceptionExpiring,
            data,
        };
        alerts::raise(&txn, alert, now).await?;
        txn.commit().await?;
        sent += 1;
    }
    Ok(sent)
}

/// What an `exception.*` alert says of a device exception: its id, action, control, scope,
/// justification, comment and end.
async fn exception_data<C: ConnectionTrait>(
    conn: &C,
    row: &entity::device_exception::Model,
) -> AppResult<serde_json::Value> {
    let control_id = improvement_action::Entity::find_by_id(row.action_id)
        .one(conn)
        .await?
        .map(|a| a.control_id)
        .unwrap_or_default();
    Ok(json!({
        "exceptionId": alerts::global_id("DeviceException", row.id),
        "actionId": alerts::global_id("ImprovementAction", row.action_id),
        "controlId": control_id,
        "scope": row.scope.as_str(),
        "justification": row.justification.as_str(),
        "comment": row.comment,
        "expiresAt": row.expires_at,
    }))
}

/// Ends the `DEVICE_GROUP` exceptions whose `expiresAt` passed by `now` (`endedAt` = their
/// `expiresAt`) and raises one `exception.expired` alert for each, in a transaction guarded by
/// `endedAt` still being empty, so concurrent sweeps announce each once. A `DEVICE_GROUP`
/// exception sets no status, so nothing else changes: no event, no points. Returns how many
/// ended.
pub async fn end_lapsed_group_exceptions(db: &DatabaseConnection, now: DateTime<Utc>) -> AppResult<usize> {
    use entity::device_exception::{self, Column as E};
    use entity::enums::ExceptionScope;
    let due = device_exception::Entity::find()
        .filter(E::EndedAt.is_null())
        .filter(E::Scope.eq(ExceptionScope::DeviceGroup))
        .filter(E::ExpiresAt.lte(now))
        .all(db)
        .await?;
    let mut ended = 0;
    for row in due {
        let Some(expires_at) = row.expires_at else {
            continue;
        };
        let txn = crate::db::begin_write(db).await?;
        let update = device_exception::Entity::update_many()
            .col_expr(E::EndedAt, Expr::value(expires_at))
            .filter(E::Id.eq(row.id))
            .filter(E::EndedAt.is_null())
            .exec(&txn)
            .await?;
        if update.rows_affected != 1 {
            // Another process ended it meanwhile.
            continue;
        }
        let mut data = exception_data(&txn, &row).await?;
        data["endedAt"] = json!(expires_at);
        let alert = Alert {
            tenant_id: row.tenant_id,
            kind: AlertKind::ExceptionExpired,
            data,
        };
        alerts::raise(&txn, alert, now).await?;
        txn.commit().await?;
        ended += 1;
    }
    Ok(ended)
}

/// Runs [`send_reminders`] once now, before the server accepts its first request (a sweep
/// racing the first requests could send a reminder between their steps), then every `every`
/// until the process stops.
pub async fn start_reminder_sweep(
    db: DatabaseConnection,
    every: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    async fn once(db: &DatabaseConnection) {
        match send_reminders(db, Utc::now()).await {
            Ok(n) if n > 0 => tracing::info!(reminders = n, "risk acceptance reminders sent"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = ?e, "risk acceptance reminder sweep failed"),
        }
    }
    once(&db).await;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tick.tick().await;
            once(&db).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_left_round_up_and_go_negative_once_passed() {
        let now = Utc::now();
        assert_eq!(days_left(now + Duration::days(6), now), 6);
        assert_eq!(days_left(now + Duration::days(6) + Duration::hours(1), now), 7);
        assert_eq!(days_left(now, now), 0);
        assert_eq!(days_left(now - Duration::hours(1), now), 0);
        assert_eq!(days_left(now - Duration::days(2), now), -2);
    }
}
