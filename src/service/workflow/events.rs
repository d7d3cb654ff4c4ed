//! The append-only action event log: every change to an action writes one event in the same
//! transaction as the change.

use crate::auth::Viewer;
use crate::domain::enums::{EventKind, Status};
use crate::domain::points::Points;
use crate::error::AppResult;
use crate::service::alerts::{self, Alert, AlertKind};
use chrono::{DateTime, Utc};
use entity::action_event;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};

/// Who made a change: a principal, or the system (expiry sweep, progress from a scanner).
#[derive(Clone, Debug)]
pub enum Actor {
    Principal { id: i64, name: String },
    System,
}

impl Actor {
    pub fn of(viewer: &Viewer) -> Actor {
        Actor::Principal {
            id: viewer.principal_id,
            name: viewer.name.clone(),
        }
    }
    fn id(&self) -> Option<i64> {
        match self {
            Actor::Principal { id, .. } => Some(*id),
            Actor::System => None,
        }
    }
    fn name(&self) -> String {
        match self {
            Actor::Principal { name, .. } => name.clone(),
            Actor::System => "system".to_string(),
        }
    }
}

/// One event to write.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub tenant_id: i64,
    pub action_id: i64,
    pub kind: EventKind,
    pub status_before: Option<Status>,
    pub status_after: Option<Status>,
    pub points_before: Option<Points>,
    pub points_after: Option<Points>,
    pub comment: Option<String>,
    pub data: Option<serde_json::Value>,
}

impl NewEvent {
    /// An event with only its kind set.
    pub fn new(tenant_id: i64, action_id: i64, kind: EventKind) -> Self {
        NewEvent {
            tenant_id,
            action_id,
            kind,
            status_before: None,
            status_after: None,
            points_before: None,
            points_after: None,
            comment: None,
            data: None,
        }
    }
}

/// Appends an event.
pub async fn record<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    event: NewEvent,
    now: DateTime<Utc>,
) -> AppResult<action_event::Model> {
    let row = action_event::ActiveModel {
        tenant_id: Set(event.tenant_id),
        action_id: Set(event.action_id),
        kind: Set(event.kind),
        actor_id: Set(actor.id()),
        actor_name: Set(actor.name()),
        occurred_at: Set(now),
        status_before: Set(event.status_before),
        status_after: Set(event.status_after),
        points_before: Set(event.points_before.as_ref().map(Points::to_storage)),
        points_after: Set(event.points_after.as_ref().map(Points::to_storage)),
        points_before_exact: Set(event.points_before.as_ref().map(Points::to_exact_string)),
        points_after_exact: Set(event.points_after.as_ref().map(Points::to_exact_string)),
        comment: Set(event.comment),
        data: Set(event.data),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    // Subscribers of `actionEvents` learn of it once this transaction commits.
    crate::service::notify::event_recorded(conn, row.tenant_id, row.id).await?;
    if let Some(kind) = alert_kind(&row) {
        raise_alert(conn, &row, kind, now).await?;
    }
    Ok(row)
}

/// The webhook alert an event is, if any: a regression, or the end of a risk acceptance or of
/// an exception (a third-party / alternate-mitigation resolution whose review date passed, or a
/// DEVICE exception that ended).
fn alert_kind(event: &action_event::Model) -> Option<AlertKind> {
    match event.kind {
        EventKind::Regressed => Some(AlertKind::ActionRegressed),
        EventKind::Expired => match event.status_before {
            Some(Status::RiskAccepted) => Some(AlertKind::RiskAcceptanceExpired),
            Some(Status::ResolvedThirdParty | Status::ResolvedAlternateMitigation) => {
                Some(AlertKind::ExceptionExpired)
            }
            _ => None,
        },
        _ => None,
    }
}

/// Raises `kind` for `event` in its transaction; reads the action and its control's title only
/// when an endpoint of the tenant listens.
async fn raise_alert<C: ConnectionTrait>(
    conn: &C,
    event: &action_event::Model,
    kind: AlertKind,
    now: DateTime<Utc>,
) -> AppResult<()> {
    use entity::{control, improvement_action, tenant_control};
    use sea_orm::EntityTrait;
    if !alerts::has_subscribers(conn, event.tenant_id, kind).await? {
        return Ok(());
    }
    let Some(action) = improvement_action::Entity::find_by_id(event.action_id)
        .one(conn)
        .await?
    else {
        return Ok(());
    };
    let title = match tenant_control::Entity::find_by_id((event.tenant_id, action.control_id.clone()))
        .one(conn)
        .await?
    {
        Some(profile) => Some(profile.title),
        None => control::Entity::find_by_id(action.control_id.clone())
            .one(conn)
            .await?
            .map(|c| c.title),
    };
    let points = |p: Option<Points>| p.map(|p| p.to_f64());
    let data = serde_json::json!({
        "action": {
            "id": alerts::global_id("ImprovementAction", action.id),
            "controlId": action.control_id,
            "title": title,
        },
        "eventId": alerts::global_id("ActionEvent", event.id),
        "statusBefore": event.status_before.map(|s| s.as_str()),
        "statusAfter": event.status_after.map(|s| s.as_str()),
        "pointsBefore": points(points_before(event)),
        "pointsAfter": points(points_after(event)),
        "comment": event.comment,
        "actor": event.actor_name,
        "occurredAt": event.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    });
    alerts::raise(
        conn,
        Alert {
            tenant_id: event.tenant_id,
            kind,
            data,
        },
        now,
    )
    .await
}

/// Filter of an event listing.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub kinds: Vec<EventKind>,
    pub categories: Vec<crate::domain::enums::Category>,
    pub control_ids: Vec<String>,
    pub action_id: Option<i64>,
}

/// A tenant's events, newest first, with the control id of each (READER).
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    viewer: &Viewer,
    tenant_id: i64,
    filter: &EventFilter,
) -> AppResult<Vec<(action_event::Model, String)>> {
    use entity::improvement_action;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    viewer.require(tenant_id, crate::domain::enums::Role::Reader)?;
    let mut actions =
        improvement_action::Entity::find().filter(improvement_action::Column::TenantId.eq(tenant_id));
    if !filter.categories.is_empty() {
        actions = actions.filter(improvement_action::Column::Category.is_in(filter.categories.clone()));
    }
    if !filter.control_ids.is_empty() {
        actions = actions.filter(improvement_action::Column::ControlId.is_in(filter.control_ids.clone()));
    }
    let controls: std::collections::HashMap<i64, String> = actions
        .all(conn)
        .await?
        .into_iter()
        .map(|a| (a.id, a.control_id))
        .collect();
    let mut q = action_event::Entity::find().filter(action_event::Column::TenantId.eq(tenant_id));
    if let Some(from) = filter.from {
        q = q.filter(action_event::Column::OccurredAt.gte(from));
    }
    if let Some(to) = filter.to {
        q = q.filter(action_event::Column::OccurredAt.lt(to));
    }
    if !filter.kinds.is_empty() {
        q = q.filter(action_event::Column::Kind.is_in(filter.kinds.iter().copied()));
    }
    if let Some(id) = filter.action_id {
        q = q.filter(action_event::Column::ActionId.eq(id));
    }
    let rows = q
        .order_by_desc(action_event::Column::OccurredAt)
        .order_by_desc(action_event::Column::Id)
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|e| controls.get(&e.action_id).cloned().map(|c| (e, c)))
        .collect())
}

/// The events among `ids` that the caller may list (READER of their tenant, as `scoreEvents` and
/// `ImprovementAction.history`), each with its action's control id. Another tenant's event is
/// left out exactly like an id that does not exist.
pub async fn by_ids<C: ConnectionTrait>(
    conn: &C,
    viewer: &Viewer,
    ids: &[i64],
) -> AppResult<Vec<(action_event::Model, String)>> {
    use entity::improvement_action;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let events: Vec<action_event::Model> = action_event::Entity::find()
        .filter(action_event::Column::Id.is_in(ids.iter().copied()))
        .all(conn)
        .await?
        .into_iter()
        .filter(|e| viewer.role_on(e.tenant_id).is_some())
        .collect();
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let controls: std::collections::HashMap<i64, String> = improvement_action::Entity::find()
        .filter(improvement_action::Column::Id.is_in(events.iter().map(|e| e.action_id)))
        .all(conn)
        .await?
        .into_iter()
        .map(|a| (a.id, a.control_id))
        .collect();
    Ok(events
        .into_iter()
        .filter_map(|e| controls.get(&e.action_id).cloned().map(|c| (e, c)))
        .collect())
}

/// An event's points before the change: exact where recorded (events since exact points),
/// otherwise the rounded integer.
pub fn points_before(e: &action_event::Model) -> Option<Points> {
    stored_points(e.points_before_exact.as_deref(), e.points_before)
}

/// An event's points after the change (see [`points_before`]).
pub fn points_after(e: &action_event::Model) -> Option<Points> {
    stored_points(e.points_after_exact.as_deref(), e.points_after)
}

fn stored_points(exact: Option<&str>, rounded: Option<i64>) -> Option<Points> {
    exact
        .and_then(|s| s.parse().ok())
        .or_else(|| rounded.map(Points::from_storage))
}
