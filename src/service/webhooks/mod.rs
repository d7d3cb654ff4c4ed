//! Signed webhooks (issue 19): a tenant ADMIN's endpoints, their delivery log, redelivery and
//! test events. The outbox rows themselves are written by `alerts::raise` in the transaction of
//! the change that caused them; [`deliver`] sends them.
//!
//! - [`secrets`]: endpoint secrets (derived, never stored) and signatures.
//! - [`guard`]: which URLs and addresses a webhook may be sent to.
//! - [`deliver`]: the delivery worker (claims, sends, retries, pauses failing endpoints).
//!
//! Every function here needs ADMIN on the endpoint's tenant; an endpoint or delivery of a tenant
//! the caller has no role on answers `NOT_FOUND` like one that does not exist.

pub mod deliver;
pub mod guard;
pub mod secrets;

use crate::auth::Viewer;
use crate::config::Config;
use crate::domain::enums::Role;
use crate::error::{AppError, AppResult};
use crate::service::alerts::{self, AlertKind};
use chrono::{DateTime, Utc};
use entity::types::StringList;
use entity::{tenant, webhook_delivery, webhook_endpoint};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::json;

/// Audit actions of endpoint changes.
pub mod audit_action {
    pub const CREATED: &str = "WEBHOOK_ENDPOINT_CREATED";
    pub const UPDATED: &str = "WEBHOOK_ENDPOINT_UPDATED";
    pub const DELETED: &str = "WEBHOOK_ENDPOINT_DELETED";
    pub const SECRET_ROTATED: &str = "WEBHOOK_SECRET_ROTATED";
    pub const REDELIVERED: &str = "WEBHOOK_DELIVERY_REQUEUED";
    pub const TEST_SENT: &str = "WEBHOOK_TEST_EVENT_SENT";
}

/// Most endpoints one tenant may register.
pub const MAX_ENDPOINTS_PER_TENANT: u64 = 20;
/// Longest description, in characters.
pub const DESCRIPTION_MAX_CHARS: usize = 200;
/// Largest `score.dropped` threshold, in points.
pub const MAX_SCORE_DROP_POINTS: f64 = 10_000.0;

/// Delivery statuses (`webhook_delivery.status`).
pub mod status {
    pub const PENDING: &str = crate::service::alerts::PENDING;
    pub const DELIVERED: &str = "DELIVERED";
    pub const FAILED: &str = "FAILED";
    pub const CANCELLED: &str = "CANCELLED";
}

/// The webhook settings of the configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    pub signing_key: Option<String>,
    pub allow_private_targets: bool,
    pub poll: std::time::Duration,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    pub retry_window: chrono::Duration,
    pub timeout: std::time::Duration,
    pub pause_after_failures: u32,
    pub pause_after: chrono::Duration,
}

impl Settings {
    pub fn from_config(config: &Config) -> Settings {
        Settings {
            signing_key: config.webhook_signing_key.clone(),
            allow_private_targets: config.webhook_allow_private_targets,
            poll: std::time::Duration::from_millis(config.webhook_poll_ms),
            retry_base_ms: config.webhook_retry_base_ms,
            retry_max_ms: config.webhook_retry_max_ms,
            retry_window: chrono::Duration::seconds(config.webhook_retry_window_secs as i64),
            timeout: std::time::Duration::from_millis(config.webhook_timeout_ms),
            pause_after_failures: config.webhook_pause_after_failures,
            pause_after: chrono::Duration::seconds(config.webhook_pause_after_secs as i64),
        }
    }
}

/// A new endpoint.
#[derive(Clone, Debug)]
pub struct NewEndpoint {
    pub tenant_slug: String,
    pub url: String,
    pub events: Vec<AlertKind>,
    pub description: Option<String>,
    /// `score.dropped` threshold in points.
    pub score_drop_points: Option<f64>,
}

/// Changes to an endpoint; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct EndpointUpdate {
    pub endpoint_id: i64,
    pub url: Option<String>,
    pub events: Option<Vec<AlertKind>>,
    pub description: Option<String>,
    pub score_drop_points: Option<f64>,
    pub enabled: Option<bool>,
}

/// A tenant's endpoints, oldest first (ADMIN).
pub async fn endpoints<C: ConnectionTrait>(
    conn: &C,
    viewer: &Viewer,
    tenant_id: i64,
) -> AppResult<Vec<webhook_endpoint::Model>> {
    viewer.require(tenant_id, Role::Admin)?;
    Ok(webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::TenantId.eq(tenant_id))
        .order_by_asc(webhook_endpoint::Column::Id)
        .all(conn)
        .await?)
}

/// An endpoint's deliveries, newest first: at most `first` (1 to 100) older than the delivery
/// `after`, optionally of one status, with whether older ones follow and how many match in all
/// (ADMIN).
pub async fn deliveries<C: ConnectionTrait>(
    conn: &C,
    viewer: &Viewer,
    endpoint: &webhook_endpoint::Model,
    first: u64,
    after: Option<i64>,
    status: Option<&str>,
) -> AppResult<DeliveryPage> {
    use sea_orm::PaginatorTrait;
    viewer.require(endpoint.tenant_id, Role::Admin)?;
    let mut all =
        webhook_delivery::Entity::find().filter(webhook_delivery::Column::EndpointId.eq(endpoint.id));
    if let Some(status) = status {
        all = all.filter(webhook_delivery::Column::Status.eq(status));
    }
    let total = all.clone().count(conn).await?;
    let mut q = all;
    if let Some(after) = after {
        q = q.filter(webhook_delivery::Column::Id.lt(after));
    }
    let first = first.clamp(1, 100);
    let mut rows = q
        .order_by_desc(webhook_delivery::Column::Id)
        .limit(first + 1)
        .all(conn)
        .await?;
    let more = rows.len() as u64 > first;
    rows.truncate(first as usize);
    Ok(DeliveryPage { rows, more, total })
}

/// A page of an endpoint's delivery log, newest first.
#[derive(Debug)]
pub struct DeliveryPage {
    pub rows: Vec<webhook_delivery::Model>,
    /// Whether older deliveries follow this page.
    pub more: bool,
    /// Deliveries matching the filter, over all pages.
    pub total: u64,
}

/// Registers an endpoint (ADMIN) and returns it with its secret, which is shown this once.
pub async fn create(
    db: &DatabaseConnection,
    viewer: &Viewer,
    settings: &Settings,
    new: &NewEndpoint,
    now: DateTime<Utc>,
) -> AppResult<(webhook_endpoint::Model, String)> {
    let tenant = crate::service::access::tenants::by_slug(db, viewer, &new.tenant_slug).await?;
    viewer.require(tenant.id, Role::Admin)?;
    let url = checked_url(&new.url, settings).await?;
    let events = checked_events(&new.events, new.score_drop_points)?;
    let description = checked_description(new.description.as_deref().unwrap_or(""))?;
    let threshold = checked_threshold(new.score_drop_points)?;
    let key = secrets::server_key(db, settings.signing_key.as_deref()).await?;
    let nonce = secrets::new_nonce();
    let secret = secrets::derive(&key, &nonce);
    let txn = crate::db::begin_write(db).await?;
    let count = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::TenantId.eq(tenant.id))
        .count(&*txn)
        .await?;
    if count >= MAX_ENDPOINTS_PER_TENANT {
        return Err(AppError::bad_input(
            "url",
            format!("a tenant may register at most {MAX_ENDPOINTS_PER_TENANT} webhook endpoints"),
        ));
    }
    let endpoint = webhook_endpoint::ActiveModel {
        tenant_id: Set(tenant.id),
        url: Set(url),
        description: Set(description),
        event_kinds: Set(StringList(events)),
        score_drop_points: Set(threshold),
        secret_nonce: Set(nonce),
        secret_prefix: Set(secrets::display_prefix(&secret)),
        enabled: Set(true),
        paused_reason: Set(None),
        paused_at: Set(None),
        consecutive_failures: Set(0),
        first_failure_at: Set(None),
        created_by: Set(Some(viewer.principal_id)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&*txn)
    .await?;
    audit(&txn, viewer, audit_action::CREATED, &endpoint, now).await?;
    txn.commit().await?;
    Ok((endpoint, secret))
}

/// Changes an endpoint (ADMIN). Enabling a paused endpoint resumes it: its pending deliveries
/// are sent again and its failure count starts over.
pub async fn update(
    db: &DatabaseConnection,
    viewer: &Viewer,
    settings: &Settings,
    change: &EndpointUpdate,
    now: DateTime<Utc>,
) -> AppResult<webhook_endpoint::Model> {
    let endpoint = endpoint_for_admin(db, viewer, change.endpoint_id).await?;
    let url = match &change.url {
        Some(url) => Some(checked_url(url, settings).await?),
        None => None,
    };
    let threshold = match change.score_drop_points {
        Some(p) => checked_threshold(Some(p))?,
        None => endpoint.score_drop_points,
    };
    let events = match &change.events {
        Some(events) => Some(checked_events(events, threshold.map(|t| t as f64 / 10_000.0))?),
        None => {
            let current: Vec<AlertKind> = endpoint
                .event_kinds
                .0
                .iter()
                .filter_map(|k| AlertKind::parse(k))
                .collect();
            checked_events(&current, threshold.map(|t| t as f64 / 10_000.0))?;
            None
        }
    };
    let description = change
        .description
        .as_deref()
        .map(checked_description)
        .transpose()?;
    let txn = crate::db::begin_write(db).await?;
    let mut row: webhook_endpoint::ActiveModel = endpoint.into();
    if let Some(url) = url {
        row.url = Set(url);
    }
    if let Some(events) = events {
        row.event_kinds = Set(StringList(events));
    }
    if let Some(description) = description {
        row.description = Set(description);
    }
    row.score_drop_points = Set(threshold);
    if let Some(enabled) = change.enabled {
        row.enabled = Set(enabled);
        if enabled {
            row.paused_at = Set(None);
            row.paused_reason = Set(None);
            row.consecutive_failures = Set(0);
            row.first_failure_at = Set(None);
        }
    }
    row.updated_at = Set(now);
    let endpoint = row.update(&*txn).await?;
    audit(&txn, viewer, audit_action::UPDATED, &endpoint, now).await?;
    txn.commit().await?;
    Ok(endpoint)
}

/// Deletes an endpoint and its delivery log (ADMIN); returns its id.
pub async fn delete(
    db: &DatabaseConnection,
    viewer: &Viewer,
    endpoint_id: i64,
    now: DateTime<Utc>,
) -> AppResult<i64> {
    let endpoint = endpoint_for_admin(db, viewer, endpoint_id).await?;
    let txn = crate::db::begin_write(db).await?;
    webhook_delivery::Entity::delete_many()
        .filter(webhook_delivery::Column::EndpointId.eq(endpoint.id))
        .exec(&*txn)
        .await?;
    webhook_endpoint::Entity::delete_by_id(endpoint.id)
        .exec(&*txn)
        .await?;
    audit(&txn, viewer, audit_action::DELETED, &endpoint, now).await?;
    txn.commit().await?;
    Ok(endpoint.id)
}

/// Gives an endpoint a new secret (ADMIN), shown this once; the old one stops signing at once
/// (deliveries in flight may still carry it).
pub async fn rotate_secret(
    db: &DatabaseConnection,
    viewer: &Viewer,
    settings: &Settings,
    endpoint_id: i64,
    now: DateTime<Utc>,
) -> AppResult<(webhook_endpoint::Model, String)> {
    let endpoint = endpoint_for_admin(db, viewer, endpoint_id).await?;
    let key = secrets::server_key(db, settings.signing_key.as_deref()).await?;
    let nonce = secrets::new_nonce();
    let secret = secrets::derive(&key, &nonce);
    let txn = crate::db::begin_write(db).await?;
    let mut row: webhook_endpoint::ActiveModel = endpoint.into();
    row.secret_nonce = Set(nonce);
    row.secret_prefix = Set(secrets::display_prefix(&secret));
    row.updated_at = Set(now);
    let endpoint = row.update(&*txn).await?;
    audit(&txn, viewer, audit_action::SECRET_ROTATED, &endpoint, now).await?;
    txn.commit().await?;
    Ok((endpoint, secret))
}

/// Queues a copy of a delivery (ADMIN): the same event id and body, attempts from zero, due now.
pub async fn redeliver(
    db: &DatabaseConnection,
    viewer: &Viewer,
    delivery_id: i64,
    now: DateTime<Utc>,
) -> AppResult<webhook_delivery::Model> {
    let original = webhook_delivery::Entity::find_by_id(delivery_id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound("webhook delivery"))?;
    if viewer.role_on(original.tenant_id).is_none() {
        return Err(AppError::NotFound("webhook delivery"));
    }
    let endpoint = endpoint_for_admin(db, viewer, original.endpoint_id).await?;
    let txn = crate::db::begin_write(db).await?;
    let kind = AlertKind::parse(&original.kind).unwrap_or(AlertKind::Test);
    let mut copy = alerts::outbox_row(&endpoint, &original.event_id, kind, &original.payload, now);
    copy.redelivery_of = Set(Some(original.redelivery_of.unwrap_or(original.id)));
    let copy = copy.insert(&*txn).await?;
    audit_detail(
        &txn,
        viewer,
        audit_action::REDELIVERED,
        &endpoint,
        json!({ "eventId": original.event_id, "type": original.kind }),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(copy)
}

/// Queues a `test` event to one endpoint (ADMIN), whatever it subscribed to.
pub async fn send_test(
    db: &DatabaseConnection,
    viewer: &Viewer,
    endpoint_id: i64,
    now: DateTime<Utc>,
) -> AppResult<webhook_delivery::Model> {
    let endpoint = endpoint_for_admin(db, viewer, endpoint_id).await?;
    let tenant = tenant::Entity::find_by_id(endpoint.tenant_id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound("tenant"))?;
    let event_id = uuid::Uuid::new_v4().to_string();
    let data = json!({
        "message": "A test event sent with sendTestWebhookEvent.",
        "endpointId": alerts::global_id("WebhookEndpoint", endpoint.id),
    });
    let body = alerts::payload(&event_id, AlertKind::Test, now, tenant.id, &tenant.slug, &data);
    let txn = crate::db::begin_write(db).await?;
    let row = alerts::outbox_row(&endpoint, &event_id, AlertKind::Test, &body, now)
        .insert(&*txn)
        .await?;
    audit_detail(
        &txn,
        viewer,
        audit_action::TEST_SENT,
        &endpoint,
        json!({ "eventId": event_id }),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(row)
}

/// An endpoint the caller may manage: `NOT_FOUND` when it does not exist or belongs to a tenant
/// the caller has no role on, `FORBIDDEN` below ADMIN.
pub async fn endpoint_for_admin<C: ConnectionTrait>(
    conn: &C,
    viewer: &Viewer,
    endpoint_id: i64,
) -> AppResult<webhook_endpoint::Model> {
    let endpoint = webhook_endpoint::Entity::find_by_id(endpoint_id)
        .one(conn)
        .await?
        .filter(|e| viewer.role_on(e.tenant_id).is_some())
        .ok_or(AppError::NotFound("webhook endpoint"))?;
    viewer.require(endpoint.tenant_id, Role::Admin)?;
    Ok(endpoint)
}

async fn checked_url(url: &str, settings: &Settings) -> AppResult<String> {
    guard::check(url.trim(), settings.allow_private_targets)
        .await
        .map(|target| target.url.to_string())
        .map_err(|refused| AppError::bad_input("url", refused.0))
}

fn checked_events(events: &[AlertKind], threshold: Option<f64>) -> AppResult<Vec<String>> {
    if events.is_empty() {
        return Err(AppError::bad_input(
            "events",
            "events must name at least one event type",
        ));
    }
    if events.contains(&AlertKind::ScoreDropped) && threshold.is_none() {
        return Err(AppError::bad_input(
            "scoreDropPoints",
            "scoreDropPoints is required for the score.dropped event",
        ));
    }
    let set: std::collections::BTreeSet<AlertKind> = events.iter().copied().collect();
    Ok(set.into_iter().map(|k| k.name().to_string()).collect())
}

fn checked_description(description: &str) -> AppResult<String> {
    if description.is_empty() {
        return Ok(String::new());
    }
    crate::service::check_text("description", description, false)?;
    if description.chars().count() > DESCRIPTION_MAX_CHARS {
        return Err(AppError::bad_input(
            "description",
            format!("description must be at most {DESCRIPTION_MAX_CHARS} characters"),
        ));
    }
    Ok(description.to_string())
}

/// Points → ten-thousandths of a point, checked to be positive and at most
/// [`MAX_SCORE_DROP_POINTS`].
fn checked_threshold(points: Option<f64>) -> AppResult<Option<i64>> {
    match points {
        None => Ok(None),
        Some(p) if p.is_finite() && p > 0.0 && p <= MAX_SCORE_DROP_POINTS => {
            Ok(Some((p * 10_000.0).round() as i64))
        }
        Some(_) => Err(AppError::bad_input(
            "scoreDropPoints",
            format!("scoreDropPoints must be more than 0 and at most {MAX_SCORE_DROP_POINTS}"),
        )),
    }
}

async fn audit<C: ConnectionTrait>(
    conn: &C,
    viewer: &Viewer,
    action: &str,
    endpoint: &webhook_endpoint::Model,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let detail = json!({
        "url": endpoint.url,
        "events": endpoint.event_kinds.0,
        "description": endpoint.description,
        "scoreDropPoints": endpoint.score_drop_points.map(|p| p as f64 / 10_000.0),
        "enabled": endpoint.enabled,
    });
    audit_detail(conn, viewer, action, endpoint, detail, now).await
}

async fn audit_detail<C: ConnectionTrait>(
    conn: &C,
    viewer: &Viewer,
    action: &str,
    endpoint: &webhook_endpoint::Model,
    detail: serde_json::Value,
    now: DateTime<Utc>,
) -> AppResult<()> {
    crate::service::audit::record(
        conn,
        Some(endpoint.tenant_id),
        Some(viewer.principal_id),
        action,
        format!("WebhookEndpoint:{}", endpoint.id),
        detail,
        now,
    )
    .await
}
