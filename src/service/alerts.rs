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
use sea_orm::ConnectionTrait;

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

/// Writes `alert` to the outbox of every endpoint of its tenant that wants it, in the caller's
/// transaction. Cheap when the tenant has no endpoints (one indexed read).
pub async fn raise<C: ConnectionTrait>(conn: &C, alert: Alert, now: DateTime<Utc>) -> AppResult<()> {
    // Filled in with the outbox (issue 19).
    let _ = (conn, alert, now);
    Ok(())
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
}
