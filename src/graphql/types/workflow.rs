//! Types of the workflow: share links, action events and device exceptions.

use crate::graphql::ids;
use crate::graphql::types::enums::{
    Category, EventKind, ExceptionJustification, ExceptionScope, SharePlatform, Status,
};
use crate::graphql::types::present;
use crate::service::collab::share::{LinkInfo, SharedView};
use crate::service::workflow::events;
use async_graphql::{ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{action_event, device_exception};

/// A share link to one action. The token itself is shown only once, on creation.
pub struct ShareLink(pub LinkInfo);

#[Object]
impl ShareLink {
    /// Global object id (pass it to `revokeShareLink`).
    pub async fn id(&self) -> ID {
        ids::encode("ShareLink", self.0.link.id)
    }
    async fn platform(&self) -> SharePlatform {
        self.0.link.platform.into()
    }
    /// Name of the principal who created it.
    async fn created_by(&self) -> Option<&str> {
        self.0.creator.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.link.created_at
    }
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.link.expires_at
    }
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.link.last_used_at
    }
    /// How many times the link was opened.
    async fn use_count(&self) -> i64 {
        self.0.link.use_count
    }
    async fn revoked(&self) -> bool {
        self.0.link.revoked_at.is_some()
    }
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.link.revoked_at
    }
}

/// What a PLANNER share carries: a ready task.
#[derive(SimpleObject)]
pub struct PlannerTask {
    pub title: String,
    pub description: String,
}

/// The read-only, reduced view of an action behind a share link: no notes, tags, other actions
/// or tenant details.
pub struct SharedAction(pub SharedView);

#[Object]
impl SharedAction {
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn category(&self) -> &str {
        self.0.category.as_str()
    }
    async fn service(&self) -> &str {
        &self.0.service
    }
    async fn status(&self) -> Status {
        self.0.status.into()
    }
    async fn points_achieved(&self) -> f64 {
        present(&self.0.points_achieved)
    }
    async fn max_points(&self) -> f64 {
        present(&self.0.max_points)
    }
    async fn remediation(&self) -> &str {
        &self.0.remediation
    }
    async fn action_url(&self) -> Option<&str> {
        self.0.action_url.as_deref()
    }
    async fn learn_more_urls(&self) -> &[String] {
        &self.0.learn_more_urls
    }
    /// When the link stops working.
    async fn link_expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }
}

/// One entry of an action's history.
pub struct ActionEvent {
    pub event: action_event::Model,
    pub control_id: String,
}

#[Object]
impl ActionEvent {
    /// Global object id.
    pub async fn id(&self) -> ID {
        ids::encode("ActionEvent", self.event.id)
    }
    async fn kind(&self) -> EventKind {
        self.event.kind.into()
    }
    /// Control id of the action it concerns.
    async fn control_id(&self) -> &str {
        &self.control_id
    }
    /// Global id of the action it concerns.
    async fn action_id(&self) -> ID {
        ids::encode("ImprovementAction", self.event.action_id)
    }
    /// Who did it (`system` for expiry and automatic transitions).
    async fn actor(&self) -> &str {
        &self.event.actor_name
    }
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.event.occurred_at
    }
    async fn status_before(&self) -> Option<Status> {
        self.event.status_before.map(Into::into)
    }
    async fn status_after(&self) -> Option<Status> {
        self.event.status_after.map(Into::into)
    }
    /// The action's points before the change, rounded to 2 places from the exact value.
    async fn points_before(&self) -> Option<f64> {
        events::points_before(&self.event).map(present)
    }
    /// The action's points after the change, rounded to 2 places from the exact value.
    async fn points_after(&self) -> Option<f64> {
        events::points_after(&self.event).map(present)
    }
    /// `pointsAfter − pointsBefore` (negative for regressions), from the exact values.
    async fn points_delta(&self) -> Option<f64> {
        match (
            events::points_before(&self.event),
            events::points_after(&self.event),
        ) {
            (Some(b), Some(a)) => Some(present(a - b)),
            _ => None,
        }
    }
    async fn comment(&self) -> Option<&str> {
        self.event.comment.as_deref()
    }
    /// Details of the change (e.g. progress numbers, review date, tag or link ids).
    async fn data(&self) -> Option<async_graphql::Json<serde_json::Value>> {
        self.event.data.clone().map(async_graphql::Json)
    }
}

/// A vulnerability-management exception on a DEVICE action.
pub struct DeviceException(pub device_exception::Model);

#[Object]
impl DeviceException {
    /// Global object id.
    pub async fn id(&self) -> ID {
        ids::encode("DeviceException", self.0.id)
    }
    async fn scope(&self) -> ExceptionScope {
        self.0.scope.into()
    }
    async fn justification(&self) -> ExceptionJustification {
        self.0.justification.into()
    }
    async fn comment(&self) -> &str {
        &self.0.comment
    }
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Filter of `scoreEvents`.
#[derive(InputObject, Default)]
pub struct EventFilterInput {
    /// Any of these kinds.
    pub kinds: Option<Vec<EventKind>>,
    /// Actions of any of these categories.
    pub categories: Option<Vec<Category>>,
    /// Actions of any of these controls.
    pub control_ids: Option<Vec<String>>,
}
