//! The append-only action event log: every change to an action writes one event in the same
//! transaction as the change.

use crate::auth::Viewer;
use crate::domain::enums::{EventKind, Status};
use crate::domain::to_storage;
use crate::error::AppResult;
use chrono::{DateTime, Utc};
use entity::action_event;
use rust_decimal::Decimal;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};

/// Who made a change: a principal, or the system (expiry sweep, progress from a scanner).
#[derive(Clone, Debug)]
pub enum Actor {
    Principal { id: i64, name: String },
    System,
}

impl Actor {
    pub fn of(viewer: &Viewer) -> Actor {
        Actor::Principal { id: viewer.principal_id, name: viewer.name.clone() }
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
    pub points_before: Option<Decimal>,
    pub points_after: Option<Decimal>,
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
    Ok(action_event::ActiveModel {
        tenant_id: Set(event.tenant_id),
        action_id: Set(event.action_id),
        kind: Set(event.kind.as_str().to_string()),
        actor_id: Set(actor.id()),
        actor_name: Set(actor.name()),
        occurred_at: Set(now),
        status_before: Set(event.status_before.map(|s| s.as_str().to_string())),
        status_after: Set(event.status_after.map(|s| s.as_str().to_string())),
        points_before: Set(event.points_before.map(to_storage)),
        points_after: Set(event.points_after.map(to_storage)),
        comment: Set(event.comment),
        data: Set(event.data),
        ..Default::default()
    }
    .insert(conn)
    .await?)
}
