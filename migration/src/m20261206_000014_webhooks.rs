//! Signed webhooks (issue 19): a tenant's endpoints and the durable outbox of deliveries.
//!
//! `webhook_endpoint` keeps no usable secret: only a random `secret_nonce`, from which the server
//! derives the signing secret with its own key (`service::webhooks::secrets`), and a display
//! prefix. `webhook_delivery` is the outbox: one row per (event, endpoint), written in the
//! transaction of the change that caused the event, claimed by one worker at a time through a
//! lease (`claimed_until`). Its indexes serve the two hot queries: the workers' "due rows"
//! (`status, next_attempt_at`) and `alerts::raise`'s "enabled endpoints of this tenant"
//! (`tenant_id, enabled`). An event id is unique per endpoint, except for the copies a
//! redelivery queues (`redelivery_of` set), which reuse it on purpose (a partial unique index,
//! which both SQLite and PostgreSQL support).

use crate::m20261127_000002_tenants_and_access::Tenant;
use crate::util::*;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookEndpoint {
    Table,
    Id,
    TenantId,
    Url,
    Description,
    EventKinds,
    ScoreDropPoints,
    SecretNonce,
    SecretPrefix,
    Enabled,
    PausedReason,
    PausedAt,
    ConsecutiveFailures,
    FirstFailureAt,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookDelivery {
    Table,
    Id,
    EndpointId,
    TenantId,
    EventId,
    Kind,
    Payload,
    Status,
    Attempts,
    NextAttemptAt,
    ClaimedUntil,
    ClaimedBy,
    LastStatusCode,
    LastError,
    ResponseExcerpt,
    RedeliveryOf,
    CreatedAt,
    DeliveredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookEndpoint::Table)
                    .col(big_pk_auto(WebhookEndpoint::Id))
                    .col(big_integer(WebhookEndpoint::TenantId))
                    .col(text(WebhookEndpoint::Url))
                    .col(string(WebhookEndpoint::Description))
                    .col(json(WebhookEndpoint::EventKinds))
                    .col(big_integer_null(WebhookEndpoint::ScoreDropPoints))
                    .col(string(WebhookEndpoint::SecretNonce))
                    .col(string(WebhookEndpoint::SecretPrefix))
                    .col(boolean(WebhookEndpoint::Enabled))
                    .col(text_null(WebhookEndpoint::PausedReason))
                    .col(ts_null(WebhookEndpoint::PausedAt))
                    .col(integer(WebhookEndpoint::ConsecutiveFailures))
                    .col(ts_null(WebhookEndpoint::FirstFailureAt))
                    .col(big_integer_null(WebhookEndpoint::CreatedBy))
                    .col(ts(WebhookEndpoint::CreatedAt))
                    .col(ts(WebhookEndpoint::UpdatedAt))
                    .foreign_key(&mut fk_cascade(
                        WebhookEndpoint::Table,
                        WebhookEndpoint::TenantId,
                        Tenant::Table,
                        Tenant::Id,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "idx_webhook_endpoint_tenant_enabled",
            WebhookEndpoint::Table,
            [WebhookEndpoint::TenantId, WebhookEndpoint::Enabled],
            false,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDelivery::Table)
                    .col(big_pk_auto(WebhookDelivery::Id))
                    .col(big_integer(WebhookDelivery::EndpointId))
                    .col(big_integer(WebhookDelivery::TenantId))
                    .col(string(WebhookDelivery::EventId))
                    .col(string(WebhookDelivery::Kind))
                    .col(text(WebhookDelivery::Payload))
                    .col(string(WebhookDelivery::Status))
                    .col(integer(WebhookDelivery::Attempts))
                    .col(ts(WebhookDelivery::NextAttemptAt))
                    .col(ts_null(WebhookDelivery::ClaimedUntil))
                    .col(string_null(WebhookDelivery::ClaimedBy))
                    .col(integer_null(WebhookDelivery::LastStatusCode))
                    .col(text_null(WebhookDelivery::LastError))
                    .col(text_null(WebhookDelivery::ResponseExcerpt))
                    .col(big_integer_null(WebhookDelivery::RedeliveryOf))
                    .col(ts(WebhookDelivery::CreatedAt))
                    .col(ts_null(WebhookDelivery::DeliveredAt))
                    .foreign_key(&mut fk_cascade(
                        WebhookDelivery::Table,
                        WebhookDelivery::EndpointId,
                        WebhookEndpoint::Table,
                        WebhookEndpoint::Id,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "idx_webhook_delivery_due",
            WebhookDelivery::Table,
            [WebhookDelivery::Status, WebhookDelivery::NextAttemptAt],
            false,
        )
        .await?;
        index(
            manager,
            "idx_webhook_delivery_endpoint",
            WebhookDelivery::Table,
            [WebhookDelivery::EndpointId, WebhookDelivery::Id],
            false,
        )
        .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX idx_webhook_delivery_event ON webhook_delivery (endpoint_id, event_id) \
                 WHERE redelivery_of IS NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebhookDelivery::Table).take())
            .await?;
        manager
            .drop_table(Table::drop().table(WebhookEndpoint::Table).take())
            .await
    }
}
