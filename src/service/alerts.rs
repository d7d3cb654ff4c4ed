//! Alerts an automation can act on without polling (issue 19): what happened to a tenant that a
//! webhook endpoint may have asked for. [`raise`] is called **in the transaction of the change
//! that caused the alert** and writes one outbox row per endpoint of the tenant that wants it
//! (`webhook_delivery`), so an alert exists exactly when its change committed, and is delivered
//! later by `service::webhooks` (at least once, signed, retried), never blocking the change.
//!
//! This group is low in the module map (right above `notify`) so that every writer can raise an
//! alert: `access::tenants::touch` (score alerts), `workflow` (regressions, expiries, risk
//! acceptances), `graph` (imports and syncs) and the reminder sweep.

use crate::error::AppResult;
use chrono::{DateTime, Utc};
use entity::{tenant, webhook_delivery, webhook_endpoint};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set};

/// What happened. The wire name ([`AlertKind::name`]) is the `type` of a webhook delivery's
/// payload and what an endpoint subscribes to; it never changes once published.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlertKind {
    /// The tenant's score fell into a worse zone.
    ScoreZoneDropped,
    /// The tenant's score dropped by more than the endpoint's threshold since the day began.
    ScoreDropped,
    /// An action regressed (implementation progress fell back).
    ActionRegressed,
    /// A risk acceptance reaches its review date within the tenant's reminder days.
    RiskAcceptanceExpiring,
    /// A risk acceptance passed its review date (the action is back to TO_ADDRESS).
    RiskAcceptanceExpired,
    /// A device exception ends within the tenant's reminder days.
    ExceptionExpiring,
    /// A device exception (or a third-party / alternate-mitigation resolution) ended.
    ExceptionExpired,
    /// A risk acceptance was requested and waits for an ADMIN's approval.
    RiskAcceptanceRequested,
    /// A Microsoft Graph import finished.
    ImportFinished,
    /// A Microsoft Graph import failed.
    ImportFailed,
    /// A scheduled (or on-demand) Graph sync finished.
    GraphSyncFinished,
    /// A Graph sync failed.
    GraphSyncFailed,
    /// A test event sent on request (`sendTestWebhookEvent`).
    Test,
}

impl AlertKind {
    /// Every kind, in a stable order.
    pub const ALL: [AlertKind; 13] = [
        AlertKind::ScoreZoneDropped,
        AlertKind::ScoreDropped,
        AlertKind::ActionRegressed,
        AlertKind::RiskAcceptanceExpiring,
        AlertKind::RiskAcceptanceExpired,
        AlertKind::ExceptionExpiring,
        AlertKind::ExceptionExpired,
        AlertKind::RiskAcceptanceRequested,
        AlertKind::ImportFinished,
        AlertKind::ImportFailed,
        AlertKind::GraphSyncFinished,
        AlertKind::GraphSyncFailed,
        AlertKind::Test,
    ];

    /// The stable wire name, e.g. `score.zone_dropped`.
    pub fn name(self) -> &'static str {
        match self {
            AlertKind::ScoreZoneDropped => "score.zone_dropped",
            AlertKind::ScoreDropped => "score.dropped",
            AlertKind::ActionRegressed => "action.regressed",
            AlertKind::RiskAcceptanceExpiring => "risk_acceptance.expiring",
            AlertKind::RiskAcceptanceExpired => "risk_acceptance.expired",
            AlertKind::ExceptionExpiring => "exception.expiring",
            AlertKind::ExceptionExpired => "exception.expired",
            AlertKind::RiskAcceptanceRequested => "risk_acceptance.requested",
            AlertKind::ImportFinished => "import.finished",
            AlertKind::ImportFailed => "import.failed",
            AlertKind::GraphSyncFinished => "graph_sync.finished",
            AlertKind::GraphSyncFailed => "graph_sync.failed",
            AlertKind::Test => "test",
        }
    }

    /// The kind of a wire name.
    pub fn parse(name: &str) -> Option<AlertKind> {
        AlertKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// One alert: its kind, the tenant, and what the payload's `data` says about it (documented per
/// kind in README, "Webhooks").
#[derive(Clone, Debug)]
pub struct Alert {
    pub tenant_id: i64,
    pub kind: AlertKind,
    pub data: serde_json::Value,
}

/// Version of the payload format ([`payload`]); bumped only by a change receivers must know of.
pub const PAYLOAD_VERSION: u32 = 1;

/// A delivery waiting to be sent (`webhook_delivery.status`).
pub const PENDING: &str = "PENDING";

/// Writes `alert` to the outbox of every endpoint of its tenant that wants it, in the caller's
/// transaction. Cheap when the tenant has no endpoints: one read on the
/// `(tenant_id, enabled)` index. Paused and disabled endpoints get nothing; `score.dropped`
/// goes to an endpoint only when this change takes the day's drop past its threshold
/// ([`crosses_drop_threshold`]). Every endpoint gets the same event id and body.
pub async fn raise<C: ConnectionTrait>(conn: &C, alert: Alert, now: DateTime<Utc>) -> AppResult<()> {
    let endpoints = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::TenantId.eq(alert.tenant_id))
        .filter(webhook_endpoint::Column::Enabled.eq(true))
        .filter(webhook_endpoint::Column::PausedAt.is_null())
        .all(conn)
        .await?;
    let wanted: Vec<&webhook_endpoint::Model> = endpoints
        .iter()
        .filter(|e| e.event_kinds.0.iter().any(|k| k == alert.kind.name()))
        .filter(|e| {
            alert.kind != AlertKind::ScoreDropped || crosses_drop_threshold(&alert.data, e.score_drop_points)
        })
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let slug = tenant::Entity::find_by_id(alert.tenant_id)
        .one(conn)
        .await?
        .map(|t| t.slug)
        .unwrap_or_default();
    let event_id = uuid::Uuid::new_v4().to_string();
    let body = payload(&event_id, alert.kind, now, alert.tenant_id, &slug, &alert.data);
    let rows = wanted
        .iter()
        .map(|e| outbox_row(e, &event_id, alert.kind, &body, now));
    webhook_delivery::Entity::insert_many(rows)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Whether an enabled, unpaused endpoint of the tenant wants `kind` (one read on the
/// `(tenant_id, enabled)` index): lets a producer skip building an alert's data (which may need
/// reads of its own) when nobody listens.
pub async fn has_subscribers<C: ConnectionTrait>(
    conn: &C,
    tenant_id: i64,
    kind: AlertKind,
) -> AppResult<bool> {
    Ok(!subscribed(conn, tenant_id, &[kind]).await?.is_empty())
}

/// Which of `kinds` an enabled, unpaused endpoint of the tenant wants (one read on the
/// `(tenant_id, enabled)` index).
pub async fn subscribed<C: ConnectionTrait>(
    conn: &C,
    tenant_id: i64,
    kinds: &[AlertKind],
) -> AppResult<Vec<AlertKind>> {
    let wanted = webhook_endpoint::Entity::find()
        .select_only()
        .column(webhook_endpoint::Column::EventKinds)
        .filter(webhook_endpoint::Column::TenantId.eq(tenant_id))
        .filter(webhook_endpoint::Column::Enabled.eq(true))
        .filter(webhook_endpoint::Column::PausedAt.is_null())
        .into_tuple::<entity::types::StringList>()
        .all(conn)
        .await?;
    Ok(kinds
        .iter()
        .copied()
        .filter(|k| wanted.iter().any(|w| w.0.iter().any(|n| n == k.name())))
        .collect())
}

/// A new PENDING outbox row of `endpoint`, due now.
pub fn outbox_row(
    endpoint: &webhook_endpoint::Model,
    event_id: &str,
    kind: AlertKind,
    body: &str,
    now: DateTime<Utc>,
) -> webhook_delivery::ActiveModel {
    webhook_delivery::ActiveModel {
        endpoint_id: Set(endpoint.id),
        tenant_id: Set(endpoint.tenant_id),
        event_id: Set(event_id.to_string()),
        kind: Set(kind.name().to_string()),
        payload: Set(body.to_string()),
        status: Set(PENDING.to_string()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        claimed_until: Set(None),
        claimed_by: Set(None),
        last_status_code: Set(None),
        last_error: Set(None),
        response_excerpt: Set(None),
        redelivery_of: Set(None),
        created_at: Set(now),
        delivered_at: Set(None),
        ..Default::default()
    }
}

/// The exact body of a delivery (version [`PAYLOAD_VERSION`]):
/// `{"id", "type", "version", "createdAt", "tenant": {"id", "slug"}, "data"}`. `tenant.id` is
/// the tenant's GraphQL global id (the same encoding as `graphql::ids`).
pub fn payload(
    event_id: &str,
    kind: AlertKind,
    now: DateTime<Utc>,
    tenant_id: i64,
    slug: &str,
    data: &serde_json::Value,
) -> String {
    serde_json::json!({
        "id": event_id,
        "type": kind.name(),
        "version": PAYLOAD_VERSION,
        "createdAt": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "tenant": { "id": global_id("Tenant", tenant_id), "slug": slug },
        "data": data,
    })
    .to_string()
}

/// A GraphQL global id (`base64url("Type:key")`, as `graphql::ids::encode`), for payloads.
pub fn global_id(type_name: &str, key: i64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{type_name}:{key}"))
}

/// Whether a `score.dropped` alert's `data` takes the day's drop past `threshold` (ten-thousandths
/// of a point): the drop before the change (`pointsAtDayStart − pointsBefore`) was at most the
/// threshold and the drop after it (`dropPoints`) exceeds it. So an endpoint hears of a day's
/// drop once, when it crosses its threshold, not on every later change of that day. No
/// threshold: never.
pub fn crosses_drop_threshold(data: &serde_json::Value, threshold: Option<i64>) -> bool {
    let Some(threshold) = threshold else {
        return false;
    };
    let get = |k: &str| {
        data.get(k)
            .and_then(serde_json::Value::as_f64)
            .map(|p| (p * 10_000.0).round() as i64)
    };
    match (get("pointsAtDayStart"), get("pointsBefore"), get("dropPoints")) {
        (Some(start), Some(before), Some(drop)) => start - before <= threshold && drop > threshold,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_distinct_wire_name_that_parses_back() {
        let names: std::collections::BTreeSet<_> = AlertKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), AlertKind::ALL.len());
        for kind in AlertKind::ALL {
            assert_eq!(AlertKind::parse(kind.name()), Some(kind));
        }
        assert_eq!(AlertKind::parse("score.unknown"), None);
    }

    #[test]
    fn a_days_drop_is_announced_once_when_it_crosses_the_threshold() {
        let data = |start: f64, before: f64, after: f64| serde_json::json!({"pointsAtDayStart": start, "pointsBefore": before, "pointsAfter": after, "dropPoints": start - after});
        let five = Some(50_000);
        assert!(
            crosses_drop_threshold(&data(100.0, 100.0, 94.0), five),
            "0 → 6 crosses 5"
        );
        assert!(
            crosses_drop_threshold(&data(100.0, 95.0, 94.0), five),
            "5 → 6 crosses 5 (5 is not more than 5)"
        );
        assert!(
            !crosses_drop_threshold(&data(100.0, 100.0, 95.0), five),
            "exactly 5 does not exceed 5"
        );
        assert!(
            !crosses_drop_threshold(&data(100.0, 94.0, 90.0), five),
            "already past: no second alert"
        );
        assert!(!crosses_drop_threshold(&data(100.0, 90.0, 100.0), five), "a rise");
        assert!(
            !crosses_drop_threshold(&data(100.0, 100.0, 0.0), None),
            "no threshold: never"
        );
    }

    #[test]
    fn the_payload_is_versioned_and_names_the_tenant_by_global_id() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-06T10:00:00Z")
            .unwrap()
            .to_utc();
        let body = payload(
            "e1",
            AlertKind::Test,
            now,
            7,
            "contoso",
            &serde_json::json!({"x": 1}),
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["id"], "e1");
        assert_eq!(v["type"], "test");
        assert_eq!(v["version"], 1);
        assert_eq!(v["createdAt"], "2026-12-06T10:00:00.000Z");
        assert_eq!(v["tenant"]["slug"], "contoso");
        assert_eq!(v["tenant"]["id"], global_id("Tenant", 7));
        assert_eq!(v["data"]["x"], 1);
    }
}
