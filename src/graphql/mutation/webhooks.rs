//! Webhook mutations (tenant ADMIN): `createWebhookEndpoint`, `updateWebhookEndpoint`,
//! `deleteWebhookEndpoint`, `rotateWebhookSecret`, `redeliverWebhookDelivery`,
//! `sendTestWebhookEvent`.

use crate::error::AppError;
use crate::graphql::types::UserError;
use crate::graphql::types::user_error::split;
use crate::graphql::types::webhooks::{WebhookDelivery, WebhookEndpoint, WebhookEventType};
use crate::graphql::{config, db, ids, viewer};
use crate::service::alerts::AlertKind;
use crate::service::webhooks::{self, EndpointUpdate, NewEndpoint, Settings};
use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::Utc;

#[derive(Default)]
pub struct WebhookMutation;

/// A new webhook endpoint.
#[derive(InputObject)]
pub struct CreateWebhookEndpointInput {
    /// The tenant (ADMIN).
    pub tenant_slug: String,
    /// Where to POST deliveries: an `https:` URL whose host resolves to public addresses only.
    pub url: String,
    /// The event types to receive (at least one).
    pub events: Vec<WebhookEventType>,
    /// What the endpoint is for (at most 200 characters).
    pub description: Option<String>,
    /// Threshold of `score.dropped`, in points (required with it): the event is sent when the
    /// score's drop since the start of the UTC day exceeds it.
    pub score_drop_points: Option<f64>,
}

/// The result of `createWebhookEndpoint`.
#[derive(SimpleObject)]
pub struct CreateWebhookEndpointPayload {
    /// The endpoint registered.
    pub endpoint: Option<WebhookEndpoint>,
    /// Its signing secret (`whsec_…`), shown this once: keep it to verify
    /// `X-Securescore-Signature`.
    pub secret: Option<String>,
    /// Why nothing was written, when something was refused.
    pub user_errors: Vec<UserError>,
}

/// Changes to a webhook endpoint; omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateWebhookEndpointInput {
    /// The endpoint.
    pub endpoint_id: ID,
    /// New URL (checked like at registration).
    pub url: Option<String>,
    /// The full new list of event types.
    pub events: Option<Vec<WebhookEventType>>,
    /// New description.
    pub description: Option<String>,
    /// New `score.dropped` threshold, in points.
    pub score_drop_points: Option<f64>,
    /// Stop (`false`) or resume (`true`) deliveries; `true` also resumes a paused endpoint.
    pub enabled: Option<bool>,
}

/// The result of `updateWebhookEndpoint`.
#[derive(SimpleObject)]
pub struct UpdateWebhookEndpointPayload {
    /// The endpoint, after the change.
    pub endpoint: Option<WebhookEndpoint>,
    /// Why nothing was written, when something was refused.
    pub user_errors: Vec<UserError>,
}

/// Which endpoint.
#[derive(InputObject)]
pub struct WebhookEndpointIdInput {
    /// The endpoint.
    pub endpoint_id: ID,
}

/// The result of `deleteWebhookEndpoint`.
#[derive(SimpleObject)]
pub struct DeleteWebhookEndpointPayload {
    /// The id of the endpoint deleted (with its delivery log).
    pub deleted_endpoint_id: Option<ID>,
    /// Why nothing was written, when something was refused.
    pub user_errors: Vec<UserError>,
}

/// The result of `rotateWebhookSecret`.
#[derive(SimpleObject)]
pub struct RotateWebhookSecretPayload {
    /// The endpoint.
    pub endpoint: Option<WebhookEndpoint>,
    /// Its new signing secret, shown this once; the old one no longer signs.
    pub secret: Option<String>,
    /// Why nothing was written, when something was refused.
    pub user_errors: Vec<UserError>,
}

/// Which delivery to send again.
#[derive(InputObject)]
pub struct RedeliverWebhookDeliveryInput {
    /// The delivery.
    pub delivery_id: ID,
}

/// The result of `redeliverWebhookDelivery` and `sendTestWebhookEvent`.
#[derive(SimpleObject)]
pub struct QueueWebhookDeliveryPayload {
    /// The delivery queued (due now).
    pub delivery: Option<WebhookDelivery>,
    /// Why nothing was written, when something was refused.
    pub user_errors: Vec<UserError>,
}

fn endpoint_id(id: &ID) -> Result<i64, AppError> {
    ids::decode_i64(id, "WebhookEndpoint").ok_or(AppError::NotFound("webhook endpoint"))
}

fn kinds(events: Vec<WebhookEventType>) -> Vec<AlertKind> {
    events.into_iter().map(Into::into).collect()
}

#[Object]
impl WebhookMutation {
    /// Registers a webhook endpoint (ADMIN) and shows its signing secret once.
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `CreateWebhookEndpointInput`.")] input: CreateWebhookEndpointInput,
    ) -> Result<CreateWebhookEndpointPayload> {
        let new = NewEndpoint {
            tenant_slug: input.tenant_slug,
            url: input.url,
            events: kinds(input.events),
            description: input.description,
            score_drop_points: input.score_drop_points,
        };
        let settings = Settings::from_config(config(ctx));
        let result = webhooks::create(db(ctx), viewer(ctx)?, &settings, &new, Utc::now()).await;
        let (created, user_errors) = split(result)?;
        let (endpoint, secret) = created.map_or((None, None), |(e, s)| (Some(WebhookEndpoint(e)), Some(s)));
        Ok(CreateWebhookEndpointPayload {
            endpoint,
            secret,
            user_errors,
        })
    }

    /// Changes a webhook endpoint (ADMIN); `enabled: true` resumes a paused one.
    async fn update_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `UpdateWebhookEndpointInput`.")] input: UpdateWebhookEndpointInput,
    ) -> Result<UpdateWebhookEndpointPayload> {
        let settings = Settings::from_config(config(ctx));
        let result = async {
            let change = EndpointUpdate {
                endpoint_id: endpoint_id(&input.endpoint_id)?,
                url: input.url,
                events: input.events.map(kinds),
                description: input.description,
                score_drop_points: input.score_drop_points,
                enabled: input.enabled,
            };
            webhooks::update(db(ctx), viewer(ctx)?, &settings, &change, Utc::now()).await
        }
        .await;
        let (endpoint, user_errors) = split(result)?;
        Ok(UpdateWebhookEndpointPayload {
            endpoint: endpoint.map(WebhookEndpoint),
            user_errors,
        })
    }

    /// Deletes a webhook endpoint and its delivery log (ADMIN); pending deliveries are dropped.
    async fn delete_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `WebhookEndpointIdInput`.")] input: WebhookEndpointIdInput,
    ) -> Result<DeleteWebhookEndpointPayload> {
        let result = async {
            webhooks::delete(
                db(ctx),
                viewer(ctx)?,
                endpoint_id(&input.endpoint_id)?,
                Utc::now(),
            )
            .await
        }
        .await;
        let (deleted, user_errors) = split(result)?;
        Ok(DeleteWebhookEndpointPayload {
            deleted_endpoint_id: deleted.map(|id| ids::encode("WebhookEndpoint", id)),
            user_errors,
        })
    }

    /// Gives a webhook endpoint a new signing secret (ADMIN), shown once.
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `WebhookEndpointIdInput`.")] input: WebhookEndpointIdInput,
    ) -> Result<RotateWebhookSecretPayload> {
        let settings = Settings::from_config(config(ctx));
        let result = async {
            webhooks::rotate_secret(
                db(ctx),
                viewer(ctx)?,
                &settings,
                endpoint_id(&input.endpoint_id)?,
                Utc::now(),
            )
            .await
        }
        .await;
        let (rotated, user_errors) = split(result)?;
        let (endpoint, secret) = rotated.map_or((None, None), |(e, s)| (Some(WebhookEndpoint(e)), Some(s)));
        Ok(RotateWebhookSecretPayload {
            endpoint,
            secret,
            user_errors,
        })
    }

    /// Queues a copy of a delivery (ADMIN): the same event id and body, attempts from zero.
    async fn redeliver_webhook_delivery(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `RedeliverWebhookDeliveryInput`.")]
        input: RedeliverWebhookDeliveryInput,
    ) -> Result<QueueWebhookDeliveryPayload> {
        let result = async {
            let id = ids::decode_i64(&input.delivery_id, "WebhookDelivery")
                .ok_or(AppError::NotFound("webhook delivery"))?;
            webhooks::redeliver(db(ctx), viewer(ctx)?, id, Utc::now()).await
        }
        .await;
        let (delivery, user_errors) = split(result)?;
        Ok(QueueWebhookDeliveryPayload {
            delivery: delivery.map(WebhookDelivery),
            user_errors,
        })
    }

    /// Queues a `test` event to a webhook endpoint (ADMIN), whatever events it subscribed to.
    async fn send_test_webhook_event(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `WebhookEndpointIdInput`.")] input: WebhookEndpointIdInput,
    ) -> Result<QueueWebhookDeliveryPayload> {
        let result = async {
            webhooks::send_test(
                db(ctx),
                viewer(ctx)?,
                endpoint_id(&input.endpoint_id)?,
                Utc::now(),
            )
            .await
        }
        .await;
        let (delivery, user_errors) = split(result)?;
        Ok(QueueWebhookDeliveryPayload {
            delivery: delivery.map(WebhookDelivery),
            user_errors,
        })
    }
}
