//! Prometheus metrics: the series this service exposes on `GET /metrics`, and the functions the
//! rest of the code records them with. The recorder is process-wide (the `metrics` facade has one
//! global recorder), so it is installed once, on first use; several apps built in one process
//! (the tests) share it, and each scrape sets the pool gauges from the scraped app's own pool.
//!
//! Client-chosen operation names become label values, so they are bounded: names that are not
//! plain GraphQL names, and any new name past [`MAX_OPERATION_NAMES`], are counted as `other`.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sea_orm::{DatabaseConnection, DbBackend};
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub const REQUESTS: &str = "securescore_graphql_requests_total";
pub const REQUEST_DURATION: &str = "securescore_graphql_request_duration_seconds";
pub const ERRORS: &str = "securescore_graphql_errors_total";
pub const SUBSCRIPTIONS: &str = "securescore_subscriptions_active";
pub const POOL_SIZE: &str = "securescore_db_pool_connections";
pub const POOL_IDLE: &str = "securescore_db_pool_idle_connections";
pub const POOL_MAX: &str = "securescore_db_pool_max_connections";
pub const SNAPSHOT_JOB_RUNS: &str = "securescore_snapshot_job_runs_total";
pub const EXPIRY_SWEEP_RUNS: &str = "securescore_expiry_sweep_runs_total";
pub const EXPIRED_ACTIONS: &str = "securescore_expired_actions_total";
pub const CONNECTIONS_OPEN: &str = "securescore_http_connections_open";
pub const CONNECTIONS_REFUSED: &str = "securescore_http_connections_refused_total";
pub const WS_CLOSED_SLOW: &str = "securescore_ws_closed_slow_total";

/// Distinct operation names kept as label values per process.
pub const MAX_OPERATION_NAMES: usize = 200;

/// Latency buckets in seconds: from a cached read to the 30 s request timeout.
const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
static OPERATION_NAMES: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();

/// Installs the recorder (once per process) and returns the handle that renders it; `None` when
/// another recorder was installed first, in which case `/metrics` says so.
pub fn init() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(REQUEST_DURATION.into()), &LATENCY_BUCKETS)
                .map(PrometheusBuilder::install_recorder);
            match builder {
                Ok(Ok(handle)) => {
                    describe();
                    Some(handle)
                }
                Ok(Err(err)) | Err(err) => {
                    tracing::warn!(error = %err, "cannot install the metrics recorder; /metrics stays empty");
                    None
                }
            }
        })
        .as_ref()
}

/// HELP texts, and the job counters at zero so dashboards and alerts find them before the
/// first run.
fn describe() {
    use ::metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        REQUESTS,
        "GraphQL requests by operation name and outcome (ok or error code)."
    );
    describe_histogram!(
        REQUEST_DURATION,
        Unit::Seconds,
        "GraphQL request latency by operation name."
    );
    describe_counter!(ERRORS, "GraphQL errors returned, by extensions.code.");
    describe_gauge!(SUBSCRIPTIONS, "Open GraphQL subscriptions by field.");
    describe_gauge!(POOL_SIZE, "Database connections open in the pool.");
    describe_gauge!(POOL_IDLE, "Database connections idle in the pool.");
    describe_gauge!(POOL_MAX, "Most database connections the pool may open.");
    describe_counter!(
        SNAPSHOT_JOB_RUNS,
        "Runs of the daily score snapshot job by outcome."
    );
    describe_counter!(EXPIRY_SWEEP_RUNS, "Runs of the expiry sweep by outcome.");
    describe_counter!(EXPIRED_ACTIONS, "Actions the expiry sweep expired.");
    describe_gauge!(
        CONNECTIONS_OPEN,
        "Client connections open (HTTP, and WebSockets upgraded from them)."
    );
    describe_counter!(
        CONNECTIONS_REFUSED,
        "Connections answered 503 and closed because MAX_CONNECTIONS were open."
    );
    describe_counter!(
        WS_CLOSED_SLOW,
        "WebSockets closed (code 1008) because the client did not read its messages in time."
    );
    for outcome in ["ok", "error"] {
        ::metrics::counter!(SNAPSHOT_JOB_RUNS, "outcome" => outcome).increment(0);
        ::metrics::counter!(EXPIRY_SWEEP_RUNS, "outcome" => outcome).increment(0);
    }
    ::metrics::counter!(EXPIRED_ACTIONS).increment(0);
    ::metrics::counter!(CONNECTIONS_REFUSED).increment(0);
    ::metrics::gauge!(CONNECTIONS_OPEN).increment(0.0);
    ::metrics::counter!(WS_CLOSED_SLOW).increment(0);
    for field in ["scoreUpdated", "actionEvents"] {
        ::metrics::gauge!(SUBSCRIPTIONS, "field" => field).increment(0.0);
    }
}

/// The Prometheus text exposition, with the pool gauges of `db` as of now.
pub fn render(db: &DatabaseConnection) -> String {
    let Some(handle) = init() else {
        return "# the metrics recorder could not be installed in this process\n".into();
    };
    let (size, idle, max) = match db.get_database_backend() {
        DbBackend::Postgres => {
            let p = db.get_postgres_connection_pool();
            (p.size(), p.num_idle(), p.options().get_max_connections())
        }
        DbBackend::Sqlite => {
            let p = db.get_sqlite_connection_pool();
            (p.size(), p.num_idle(), p.options().get_max_connections())
        }
        _ => (0, 0, 0),
    };
    ::metrics::gauge!(POOL_SIZE).set(f64::from(size));
    ::metrics::gauge!(POOL_IDLE).set(idle as f64);
    ::metrics::gauge!(POOL_MAX).set(f64::from(max));
    handle.run_upkeep();
    handle.render()
}

/// Drains histogram samples into their buckets now and then, so a process nobody scrapes does
/// not accumulate them.
pub fn spawn_upkeep() -> tokio::task::JoinHandle<()> {
    tokio::spawn(async {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            if let Some(handle) = init() {
                handle.run_upkeep();
            }
        }
    })
}

/// One GraphQL request: its operation name, `ok` or the first error's code, and its latency.
pub fn record_request(operation: Option<&str>, outcome: &str, elapsed: Duration) {
    init();
    let operation = operation_label(operation);
    ::metrics::counter!(REQUESTS, "operation" => operation.clone(), "outcome" => outcome.to_string())
        .increment(1);
    ::metrics::histogram!(REQUEST_DURATION, "operation" => operation).record(elapsed.as_secs_f64());
}

/// One error returned to a client.
pub fn record_error(code: &str) {
    init();
    ::metrics::counter!(ERRORS, "code" => code.to_string()).increment(1);
}

/// One run of the daily snapshot job (`outcome`: `ok` or `error`).
pub fn record_snapshot_job_run(outcome: &str) {
    init();
    ::metrics::counter!(SNAPSHOT_JOB_RUNS, "outcome" => outcome.to_string()).increment(1);
}

/// One run of the expiry sweep and how many actions it expired.
pub fn record_expiry_sweep_run(outcome: &str, expired: usize) {
    init();
    ::metrics::counter!(EXPIRY_SWEEP_RUNS, "outcome" => outcome.to_string()).increment(1);
    ::metrics::counter!(EXPIRED_ACTIONS).increment(expired as u64);
}

/// One WebSocket closed because its client did not read (see `http::ws_guard`).
pub fn record_ws_closed_slow() {
    init();
    ::metrics::counter!(WS_CLOSED_SLOW).increment(1);
}

/// Counts an open subscription for as long as it lives.
pub struct SubscriptionGauge(&'static str);

impl SubscriptionGauge {
    pub fn open(field: &'static str) -> SubscriptionGauge {
        init();
        ::metrics::gauge!(SUBSCRIPTIONS, "field" => field).increment(1.0);
        SubscriptionGauge(field)
    }
}

impl Drop for SubscriptionGauge {
    fn drop(&mut self) {
        ::metrics::gauge!(SUBSCRIPTIONS, "field" => self.0).decrement(1.0);
    }
}

/// Counts an open client connection for as long as it lives.
pub struct ConnectionGauge(());

impl ConnectionGauge {
    pub fn open() -> ConnectionGauge {
        init();
        ::metrics::gauge!(CONNECTIONS_OPEN).increment(1.0);
        ConnectionGauge(())
    }
}

impl Drop for ConnectionGauge {
    fn drop(&mut self) {
        ::metrics::gauge!(CONNECTIONS_OPEN).decrement(1.0);
    }
}

/// One connection refused because `MAX_CONNECTIONS` were open.
pub fn record_connection_refused() {
    init();
    ::metrics::counter!(CONNECTIONS_REFUSED).increment(1);
}

/// The label value of an operation name (see the module docs).
fn operation_label(name: Option<&str>) -> String {
    let Some(name) = name else {
        return "anonymous".into();
    };
    let plain = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if !plain {
        return "other".into();
    }
    let names = OPERATION_NAMES.get_or_init(Default::default);
    // A poisoned lock only means a panic while inserting; the set is still a set.
    let mut names = names.lock().unwrap_or_else(|e| e.into_inner());
    if names.contains(name) || names.len() < MAX_OPERATION_NAMES {
        names.insert(name.to_string());
        name.to_string()
    } else {
        "other".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_are_bounded_label_values() {
        assert_eq!(operation_label(None), "anonymous");
        assert_eq!(operation_label(Some("TenantScore")), "TenantScore");
        assert_eq!(operation_label(Some("a b")), "other", "not a GraphQL name");
        assert_eq!(operation_label(Some("1x")), "other", "starts with a digit");
        assert_eq!(operation_label(Some(&"x".repeat(65))), "other", "too long");
    }
}
