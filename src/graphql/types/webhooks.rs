//! Webhook endpoints and their delivery log (tenant ADMIN only).

use crate::graphql::{db, ids, pagination, viewer};
use crate::service::alerts::AlertKind;
use crate::service::webhooks::{self, status};
use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, ID, Object, Result};
use chrono::{DateTime, Utc};
use entity::{webhook_delivery, webhook_endpoint};

/// What a webhook delivery is about: the payload's `type` and what an endpoint subscribes to.
/// Each value's wire name (the payload's `type` and the `X-Securescore-Event` header) is given
/// first; it never changes once published.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::service::alerts::AlertKind")]
pub enum WebhookEventType {
    /// `score.zone_dropped`: the tenant's score fell into a worse zone.
    ScoreZoneDropped,
    /// `score.dropped`: the score dropped by more than the endpoint's `scoreDropPoints` since the
    /// start of the UTC day (sent once a day per endpoint, when the drop crosses the threshold).
    ScoreDropped,
    /// `action.regressed`: an action's implementation progress fell back.
    ActionRegressed,
    /// `risk_acceptance.expiring`: a risk acceptance reaches its review date soon.
    RiskAcceptanceExpiring,
    /// `risk_acceptance.expired`: a risk acceptance passed its review date (the action is back to
    /// TO_ADDRESS).
    RiskAcceptanceExpired,
    /// `exception.expiring`: a device exception ends soon.
    ExceptionExpiring,
    /// `exception.expired`: a device exception or a third-party / alternate-mitigation resolution
    /// ended.
    ExceptionExpired,
    /// `risk_acceptance.requested`: a risk acceptance waits for an ADMIN's approval.
    RiskAcceptanceRequested,
    /// `import.finished`: a Microsoft Graph import finished.
    ImportFinished,
    /// `import.failed`: a Microsoft Graph import failed (nothing was written).
    ImportFailed,
    /// `graph_sync.finished`: a Graph sync finished.
    GraphSyncFinished,
    /// `graph_sync.failed`: a Graph sync failed.
    GraphSyncFailed,
    /// `test`: a test event sent with `sendTestWebhookEvent`.
    Test,
}

/// Where a delivery stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum WebhookDeliveryStatus {
    /// Waiting for its next attempt (`nextAttemptAt`), or for its paused endpoint to resume.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Every attempt failed for the retry window (25 hours by default); no more attempts.
    Failed,
    /// Not to be sent any more.
    Cancelled,
}

impl WebhookDeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => status::PENDING,
            Self::Delivered => status::DELIVERED,
            Self::Failed => status::FAILED,
            Self::Cancelled => status::CANCELLED,
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            status::DELIVERED => Self::Delivered,
            status::FAILED => Self::Failed,
            status::CANCELLED => Self::Cancelled,
            _ => Self::Pending,
        }
    }
}

/// An endpoint webhooks are POSTed to.
pub struct WebhookEndpoint(pub webhook_endpoint::Model);

/// A URL of a tenant that receives signed JSON deliveries of the events it subscribed to (see
/// README, "Webhooks"). Its secret is shown only by `createWebhookEndpoint` and
/// `rotateWebhookSecret`.
#[Object]
impl WebhookEndpoint {
    /// Global object id.
    async fn id(&self) -> ID {
        ids::encode("WebhookEndpoint", self.0.id)
    }
    /// Where deliveries are POSTed (`https:`).
    async fn url(&self) -> &str {
        &self.0.url
    }
    /// What the endpoint is for (may be empty).
    async fn description(&self) -> &str {
        &self.0.description
    }
    /// The event types it receives.
    async fn events(&self) -> Vec<WebhookEventType> {
        self.0
            .event_kinds
            .0
            .iter()
            .filter_map(|k| AlertKind::parse(k))
            .map(Into::into)
            .collect()
    }
    /// The `score.dropped` threshold, in points.
    async fn score_drop_points(&self) -> Option<f64> {
        self.0.score_drop_points.map(|p| p as f64 / 10_000.0)
    }
    /// The first characters of its secret, to tell secrets apart (never enough to sign).
    async fn secret_prefix(&self) -> &str {
        &self.0.secret_prefix
    }
    /// Whether it receives new events (an ADMIN's choice; see also `pausedAt`).
    async fn enabled(&self) -> bool {
        self.0.enabled
    }
    /// Why deliveries were paused after repeated failures or a `410 Gone`; `null` when not
    /// paused. Enable the endpoint again (`updateWebhookEndpoint`) to resume.
    async fn paused_reason(&self) -> Option<&str> {
        self.0.paused_reason.as_deref()
    }
    /// When deliveries were paused.
    async fn paused_at(&self) -> Option<DateTime<Utc>> {
        self.0.paused_at
    }
    /// Failed attempts in a row (0 after a success).
    async fn consecutive_failures(&self) -> i32 {
        self.0.consecutive_failures
    }
    /// When it was registered.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When its settings last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// Its delivery log, newest first. Paged by key: a page's `endCursor` stays valid while new
    /// deliveries arrive at the top.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity")]
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Number of deliveries to return (1 to 100; default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor (`endCursor` of the previous page) to continue after.")] after: Option<
            String,
        >,
        #[graphql(desc = "Only deliveries with this status.")] status: Option<WebhookDeliveryStatus>,
    ) -> Result<Connection<String, WebhookDelivery, pagination::TotalCount>> {
        let first = pagination::page_size(first)?;
        let after = match after {
            Some(cursor) => Some(ids::decode_i64(&ID(cursor), "WebhookDelivery").ok_or(
                crate::error::AppError::bad_input("after", "after is not a valid cursor"),
            )?),
            None => None,
        };
        let page = webhooks::deliveries(
            db(ctx),
            viewer(ctx)?,
            &self.0,
            first as u64,
            after,
            status.map(WebhookDeliveryStatus::as_str),
        )
        .await?;
        let mut conn = Connection::with_additional_fields(
            after.is_some(),
            page.more,
            pagination::TotalCount {
                total_count: page.total as usize,
            },
        );
        conn.edges.extend(page.rows.into_iter().map(|row| {
            let cursor = ids::encode("WebhookDelivery", row.id).0;
            Edge::new(cursor, WebhookDelivery(row))
        }));
        Ok(conn)
    }
}

/// One delivery of one event to one endpoint.
pub struct WebhookDelivery(pub webhook_delivery::Model);

/// A delivery in an endpoint's log: the exact body sent and how its attempts went.
#[Object]
impl WebhookDelivery {
    /// Global object id.
    async fn id(&self) -> ID {
        ids::encode("WebhookDelivery", self.0.id)
    }
    /// The event's id (the payload's `id` and the `X-Securescore-Delivery` header): the
    /// idempotency key a receiver deduplicates on. A redelivery keeps it.
    async fn event_id(&self) -> &str {
        &self.0.event_id
    }
    /// The event type.
    #[graphql(name = "type")]
    async fn kind(&self) -> Option<WebhookEventType> {
        AlertKind::parse(&self.0.kind).map(Into::into)
    }
    /// Where it stands.
    async fn status(&self) -> WebhookDeliveryStatus {
        WebhookDeliveryStatus::parse(&self.0.status)
    }
    /// Attempts made so far.
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    /// HTTP status of the last answer (`null` when none came: timeout, connection failure).
    async fn last_status_code(&self) -> Option<i32> {
        self.0.last_status_code
    }
    /// Why the last attempt failed.
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    /// The first 512 bytes of the last answer's body.
    async fn response_excerpt(&self) -> Option<&str> {
        self.0.response_excerpt.as_deref()
    }
    /// When the next attempt is due (pending deliveries only).
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        (self.0.status == status::PENDING).then_some(self.0.next_attempt_at)
    }
    /// When it was queued.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When the endpoint accepted it.
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.0.delivered_at
    }
    /// Whether it was queued by `redeliverWebhookDelivery` (a copy of an earlier delivery).
    async fn redelivery(&self) -> bool {
        self.0.redelivery_of.is_some()
    }
    /// The exact JSON body sent.
    async fn payload(&self) -> &str {
        &self.0.payload
    }
}
