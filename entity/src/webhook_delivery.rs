//! The webhook outbox: one delivery of one event to one endpoint, with its attempts so far.
//! `status` is `PENDING`, `DELIVERED`, `FAILED` (gave up after the retry window) or `CANCELLED`.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_delivery")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub endpoint_id: i64,
    pub tenant_id: i64,
    /// The event's UUID: the idempotency key receivers deduplicate on.
    pub event_id: String,
    pub kind: String,
    /// The exact JSON body sent.
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    pub claimed_until: Option<DateTimeUtc>,
    pub claimed_by: Option<String>,
    pub last_status_code: Option<i32>,
    #[sea_orm(column_type = "Text")]
    pub last_error: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub response_excerpt: Option<String>,
    /// The delivery this one re-sends (`redeliverWebhookDelivery`), which has the same event id.
    pub redelivery_of: Option<i64>,
    pub created_at: DateTimeUtc,
    pub delivered_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
