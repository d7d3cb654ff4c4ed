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

/// A read-only link to one action, for people without a token. Its token is shown only when it is
/// created.
#[Object]
impl ShareLink {
    /// Global id (pass it to `revokeShareLink`).
    pub async fn id(&self) -> ID {
        ids::encode("ShareLink", self.0.link.id)
    }
    /// Where it was meant to be posted.
    async fn platform(&self) -> SharePlatform {
        self.0.link.platform.into()
    }
    /// Name of the principal who created it.
    async fn created_by(&self) -> Option<&str> {
        self.0.creator.as_deref()
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.link.created_at
    }
    /// When it stops working.
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.link.expires_at
    }
    /// When it was last opened; `null` when never.
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.link.last_used_at
    }
    /// How many times the link was opened.
    async fn use_count(&self) -> i64 {
        self.0.link.use_count
    }
    /// Whether it was revoked.
    async fn revoked(&self) -> bool {
        self.0.link.revoked_at.is_some()
    }
    /// When it was revoked; `null` while not revoked.
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.link.revoked_at
    }
}

/// What a PLANNER share carries: a ready task.
#[derive(SimpleObject)]
pub struct PlannerTask {
    /// Task title.
    pub title: String,
    /// Task description, with the link.
    pub description: String,
}

/// The read-only, reduced view of an action behind a share link: no notes, tags, other actions
/// or tenant details.
pub struct SharedAction(pub SharedView);

/// The reduced, read-only view of an action behind a share link: no tenant, notes, tags or history.
#[Object]
impl SharedAction {
    /// Title of the action.
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// The category it scores in.
    async fn category(&self) -> Category {
        self.0.category.into()
    }
    /// Product family, e.g. `AzureAD`.
    async fn service(&self) -> &str {
        &self.0.service
    }
    /// Where the tenant stands on it.
    async fn status(&self) -> Status {
        self.0.status.into()
    }
    /// Points achieved, rounded to 2 places.
    async fn points_achieved(&self) -> f64 {
        present(&self.0.points_achieved)
    }
    /// Points the action is worth.
    async fn max_points(&self) -> f64 {
        present(&self.0.max_points)
    }
    /// Implementation steps.
    async fn remediation(&self) -> &str {
        &self.0.remediation
    }
    /// The "Manage" deep link.
    async fn action_url(&self) -> Option<&str> {
        self.0.action_url.as_deref()
    }
    /// Documentation links.
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

/// One change to an improvement action (status, progress, note, tag, share link, import…), as
/// recorded in its history. Readable by anyone with a role on the tenant (READER and up).
#[Object]
impl ActionEvent {
    /// Global id of the event.
    pub async fn id(&self) -> ID {
        ids::encode("ActionEvent", self.event.id)
    }
    /// What happened.
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
    /// When it happened.
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.event.occurred_at
    }
    /// The action's status before the change; `null` when the event did not concern the status.
    async fn status_before(&self) -> Option<Status> {
        self.event.status_before.map(Into::into)
    }
    /// The action's status after the change; `null` when the event did not concern the status.
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
    /// The comment given with the change, if any.
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

/// A vulnerability-management exception recorded on a DEVICE action.
#[Object]
impl DeviceException {
    /// Global id of the exception.
    pub async fn id(&self) -> ID {
        ids::encode("DeviceException", self.0.id)
    }
    /// Whether it covers every device or only a device group.
    async fn scope(&self) -> ExceptionScope {
        self.0.scope.into()
    }
    /// Why the exception was made.
    async fn justification(&self) -> ExceptionJustification {
        self.0.justification.into()
    }
    /// The explanation given.
    async fn comment(&self) -> &str {
        &self.0.comment
    }
    /// When the exception ends (a `GLOBAL` one then returns the action to `TO_ADDRESS`); `null` for
    /// never.
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }
    /// When it was recorded.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When it stopped holding: a `GLOBAL` one when its action expired or the status it set was
    /// undone, a `DEVICE_GROUP` one at its `expiresAt` (the expiry sweep marks it within a minute
    /// and raises `exception.expired`); `null` while it holds.
    async fn ended_at(&self) -> Option<DateTime<Utc>> {
        self.0.ended_at
    }
}

/// Filter of `scoreEvents`.
#[derive(InputObject, Default)]
#[graphql(name = "EventFilter")]
pub struct EventFilterInput {
    /// Any of these kinds.
    pub kinds: Option<Vec<EventKind>>,
    /// Actions of any of these categories.
    pub categories: Option<Vec<Category>>,
    /// Actions of any of these controls.
    pub control_ids: Option<Vec<String>>,
}
