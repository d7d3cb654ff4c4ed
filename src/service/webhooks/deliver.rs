//! The delivery worker: every `WEBHOOK_POLL_MS` it claims due outbox rows with a lease and POSTs
//! them, signed, to their endpoints; records the outcome; retries failures with exponential
//! backoff and equal jitter until the retry window ends; pauses endpoints that keep failing.
//!
//! Claiming is one statement that sets a lease (`claimed_until`, `claimed_by`) on at most
//! [`BATCH`] due rows and returns them. On PostgreSQL the rows are chosen with
//! `FOR UPDATE SKIP LOCKED`, so several processes on one database never claim the same row; on
//! SQLite the statement runs in a write transaction (one writer at a time). A row is delivered
//! once unless an attempt fails or its process dies mid-send: then the lease expires and a worker
//! tries again (at least once; receivers deduplicate on the event id). Outcomes are written only
//! by the lease holder. The worker runs beside the request handlers and never holds a lock a
//! mutation needs while it sends.

use super::{Settings, guard, secrets, status};
use crate::error::AppResult;
use chrono::{DateTime, Utc};
use entity::{webhook_delivery, webhook_endpoint};
use rand::Rng;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, FromQueryResult, QueryFilter,
    Statement,
};
use std::collections::HashMap;

/// Most rows one worker claims per look.
pub const BATCH: u64 = 16;
/// Longest response excerpt kept, in bytes.
pub const EXCERPT_BYTES: usize = 512;
/// Longest connect phase of an attempt.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A running delivery worker (see [`spawn`]).
pub struct Worker {
    task: tokio::task::JoinHandle<()>,
    db: DatabaseConnection,
    id: String,
}

impl Worker {
    /// Stops the worker and gives up the leases it holds, so another process (or this one after
    /// a restart) retries their rows at once instead of when the leases expire. An attempt that
    /// was in flight may have reached its endpoint: it is sent again (at least once).
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
        let released = webhook_delivery::Entity::update_many()
            .col_expr(
                webhook_delivery::Column::ClaimedUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(
                webhook_delivery::Column::ClaimedBy,
                Expr::value(Option::<String>::None),
            )
            .filter(webhook_delivery::Column::ClaimedBy.eq(self.id.as_str()))
            .filter(webhook_delivery::Column::Status.eq(status::PENDING))
            .exec(&self.db)
            .await;
        if let Err(err) = released {
            tracing::warn!(error = ?err, "releasing webhook delivery leases failed; they expire on their own");
        }
    }
}

/// Spawns the worker.
pub fn spawn(db: DatabaseConnection, settings: Settings) -> Worker {
    let id = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4());
    let worker = id.clone();
    let conn = db.clone();
    let task = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(settings.poll);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            // Keep going while full batches come back, so a backlog drains faster than one batch
            // per poll.
            loop {
                match run_once(&conn, &settings, &worker).await {
                    Ok(n) if n as u64 == BATCH => continue,
                    Ok(_) => break,
                    Err(err) => {
                        tracing::warn!(error = ?err, "webhook delivery round failed");
                        break;
                    }
                }
            }
        }
    });
    Worker { task, db, id }
}

/// Claims due rows and delivers them concurrently; the number claimed.
pub async fn run_once(db: &DatabaseConnection, settings: &Settings, worker: &str) -> AppResult<usize> {
    let now = Utc::now();
    let lease = now
        + chrono::Duration::from_std(settings.timeout).unwrap_or_default()
        + chrono::Duration::seconds(30);
    let claimed = claim(db, worker, now, lease).await?;
    if claimed.is_empty() {
        return Ok(0);
    }
    let endpoints: HashMap<i64, webhook_endpoint::Model> = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::Id.is_in(claimed.iter().map(|d| d.endpoint_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|e| (e.id, e))
        .collect();
    let key = secrets::server_key(db, settings.signing_key.as_deref()).await?;
    let n = claimed.len();
    let sends = claimed.into_iter().filter_map(|d| {
        let endpoint = endpoints.get(&d.endpoint_id)?.clone();
        let key = key.clone();
        Some(async move {
            let secret = secrets::derive(&key, &endpoint.secret_nonce);
            let outcome = send(&endpoint, &d, &secret, settings).await;
            if let Err(err) = record(db, settings, worker, &endpoint, &d, outcome).await {
                tracing::warn!(error = ?err, delivery = d.id, "recording a webhook delivery failed");
            }
        })
    });
    futures::future::join_all(sends).await;
    Ok(n)
}

/// Sets a lease on at most [`BATCH`] due rows of enabled, unpaused endpoints and returns them.
async fn claim(
    db: &DatabaseConnection,
    worker: &str,
    now: DateTime<Utc>,
    lease: DateTime<Utc>,
) -> AppResult<Vec<webhook_delivery::Model>> {
    let backend = db.get_database_backend();
    let (p, lock) = match backend {
        DbBackend::Postgres => (["$1", "$2", "$3", "$4"], " FOR UPDATE OF d SKIP LOCKED"),
        _ => (["?", "?", "?", "?"], ""),
    };
    let sql = format!(
        "UPDATE webhook_delivery SET claimed_until = {lease}, claimed_by = {worker} WHERE id IN (\
         SELECT d.id FROM webhook_delivery d JOIN webhook_endpoint e ON e.id = d.endpoint_id \
         WHERE d.status = '{pending}' AND d.next_attempt_at <= {now} \
         AND (d.claimed_until IS NULL OR d.claimed_until < {now2}) \
         AND e.enabled = {t} AND e.paused_at IS NULL \
         ORDER BY d.next_attempt_at LIMIT {BATCH}{lock}) RETURNING *",
        lease = p[0],
        worker = p[1],
        now = p[2],
        now2 = p[3],
        pending = status::PENDING,
        t = if backend == DbBackend::Postgres {
            "TRUE"
        } else {
            "1"
        },
    );
    let stmt = Statement::from_sql_and_values(
        backend,
        sql,
        [lease.into(), worker.to_string().into(), now.into(), now.into()],
    );
    let txn = crate::db::begin_write(db).await?;
    let rows = txn.query_all_raw(stmt).await?;
    txn.commit().await?;
    Ok(rows
        .iter()
        .map(|r| webhook_delivery::Model::from_query_result(r, ""))
        .collect::<Result<_, _>>()?)
}

/// What one attempt got.
#[derive(Debug)]
pub struct Outcome {
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub excerpt: Option<String>,
}

impl Outcome {
    fn delivered(&self) -> bool {
        self.error.is_none() && self.status_code.is_some_and(|c| (200..300).contains(&c))
    }
    fn failed(error: impl Into<String>) -> Outcome {
        Outcome {
            status_code: None,
            error: Some(error.into()),
            excerpt: None,
        }
    }
}

/// One attempt: checks the URL again, pins the connection to the checked address and POSTs the
/// stored body with its signature.
async fn send(
    endpoint: &webhook_endpoint::Model,
    delivery: &webhook_delivery::Model,
    secret: &str,
    settings: &Settings,
) -> Outcome {
    let target = match guard::check(&endpoint.url, settings.allow_private_targets).await {
        Ok(target) => target,
        Err(refused) => return Outcome::failed(refused.0),
    };
    let client = match reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT.min(settings.timeout))
        .timeout(settings.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .resolve(&target.host, target.addr)
        .user_agent("securescore-webhooks/1")
        .build()
    {
        Ok(client) => client,
        Err(err) => return Outcome::failed(format!("cannot build the HTTP client: {err}")),
    };
    let t = Utc::now().timestamp();
    let response = client
        .post(target.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Securescore-Event", &delivery.kind)
        .header("X-Securescore-Delivery", &delivery.event_id)
        .header(
            "X-Securescore-Signature",
            secrets::signature_header(secret, t, &delivery.payload),
        )
        .body(delivery.payload.clone())
        .send()
        .await;
    let mut response = match response {
        Ok(r) => r,
        Err(err) => return Outcome::failed(describe(err)),
    };
    let code = response.status().as_u16();
    let mut excerpt = Vec::new();
    let mut read_error = None;
    while excerpt.len() < EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(err) => {
                read_error = Some(describe(err));
                break;
            }
        }
    }
    excerpt.truncate(EXCERPT_BYTES);
    let mut excerpt = String::from_utf8_lossy(&excerpt).into_owned();
    while excerpt.len() > EXCERPT_BYTES {
        excerpt.pop();
    }
    let error = if (300..400).contains(&code) {
        Some(format!("HTTP {code}: redirects are not followed"))
    } else if !(200..300).contains(&code) {
        Some(format!("HTTP {code}"))
    } else {
        // A 2xx whose body broke off was still received.
        let _ = read_error;
        None
    };
    Outcome {
        status_code: Some(code),
        error,
        excerpt: Some(excerpt),
    }
}

/// A short description of a request error (no URL: the log shows the endpoint).
fn describe(err: reqwest::Error) -> String {
    if err.is_timeout() {
        "timed out".into()
    } else if err.is_connect() {
        "connection failed".into()
    } else {
        let mut text = err.without_url().to_string();
        text.truncate(200);
        text
    }
}

/// The wait before attempt `attempts + 1`: a random duration between half of and all of
/// min(max, base × 2^(attempts − 1)) ("equal jitter": spread out like full jitter, but never an
/// immediate retry that hits a failing receiver again at once).
pub fn backoff(settings: &Settings, attempts: i32) -> chrono::Duration {
    let exp = settings
        .retry_base_ms
        .saturating_mul(1_u64 << (attempts.clamp(1, 40) - 1))
        .min(settings.retry_max_ms);
    chrono::Duration::milliseconds(rand::rng().random_range(exp / 2..=exp) as i64)
}

/// Writes an attempt's outcome (only while this worker holds the lease) and the endpoint's
/// failure count, pausing it when it keeps failing, in one transaction.
async fn record(
    db: &DatabaseConnection,
    settings: &Settings,
    worker: &str,
    endpoint: &webhook_endpoint::Model,
    delivery: &webhook_delivery::Model,
    outcome: Outcome,
) -> AppResult<()> {
    use sea_orm::sea_query::ExprTrait;
    use webhook_delivery::Column as D;
    use webhook_endpoint::Column as E;
    let now = Utc::now();
    let attempts = delivery.attempts + 1;
    let delivered = outcome.delivered();
    let (next_status, next_at) = if delivered {
        (status::DELIVERED, delivery.next_attempt_at)
    } else if now >= delivery.created_at + settings.retry_window {
        (status::FAILED, delivery.next_attempt_at)
    } else {
        (status::PENDING, now + backoff(settings, attempts))
    };
    let txn = crate::db::begin_write(db).await?;
    let updated = webhook_delivery::Entity::update_many()
        .col_expr(D::Status, Expr::value(next_status))
        .col_expr(D::Attempts, Expr::value(attempts))
        .col_expr(D::NextAttemptAt, Expr::value(next_at))
        .col_expr(D::ClaimedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(D::ClaimedBy, Expr::value(Option::<String>::None))
        .col_expr(D::LastStatusCode, Expr::value(outcome.status_code.map(i32::from)))
        .col_expr(D::LastError, Expr::value(outcome.error.clone()))
        .col_expr(D::ResponseExcerpt, Expr::value(outcome.excerpt.clone()))
        .col_expr(D::DeliveredAt, Expr::value(delivered.then_some(now)))
        .filter(D::Id.eq(delivery.id))
        .filter(D::ClaimedBy.eq(worker))
        .filter(D::Status.eq(status::PENDING))
        .exec(&*txn)
        .await?;
    if updated.rows_affected == 0 {
        // The lease expired and another worker took the row over; its outcome counts.
        return Ok(());
    }
    if delivered {
        webhook_endpoint::Entity::update_many()
            .col_expr(E::ConsecutiveFailures, Expr::value(0))
            .col_expr(E::FirstFailureAt, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(E::Id.eq(endpoint.id))
            .filter(E::ConsecutiveFailures.gt(0))
            .exec(&*txn)
            .await?;
    } else {
        webhook_endpoint::Entity::update_many()
            .col_expr(E::ConsecutiveFailures, Expr::col(E::ConsecutiveFailures).add(1))
            .col_expr(
                E::FirstFailureAt,
                Expr::col(E::FirstFailureAt).if_null(Expr::value(now)),
            )
            .filter(E::Id.eq(endpoint.id))
            .exec(&*txn)
            .await?;
        let current = webhook_endpoint::Entity::find_by_id(endpoint.id)
            .one(&*txn)
            .await?;
        if let Some(current) = current.filter(|e| e.paused_at.is_none())
            && let Some(reason) = pause_reason(settings, &current, outcome.status_code, now)
        {
            webhook_endpoint::Entity::update_many()
                .col_expr(E::PausedAt, Expr::value(now))
                .col_expr(E::PausedReason, Expr::value(reason.clone()))
                .col_expr(E::UpdatedAt, Expr::value(now))
                .filter(E::Id.eq(endpoint.id))
                .exec(&*txn)
                .await?;
            tracing::warn!(endpoint = endpoint.id, tenant = endpoint.tenant_id, %reason, "webhook endpoint paused");
        }
    }
    txn.commit().await?;
    if !delivered {
        tracing::info!(
            delivery = delivery.id,
            endpoint = endpoint.id,
            attempts,
            status = next_status,
            error = outcome.error.as_deref().unwrap_or(""),
            "webhook delivery attempt failed"
        );
    }
    Ok(())
}

/// Why an endpoint should be paused after a failure, if it should: a `410 Gone`, or
/// `WEBHOOK_PAUSE_AFTER_FAILURES` failures in a row spanning `WEBHOOK_PAUSE_AFTER_SECS`.
fn pause_reason(
    settings: &Settings,
    endpoint: &webhook_endpoint::Model,
    status_code: Option<u16>,
    now: DateTime<Utc>,
) -> Option<String> {
    if status_code == Some(410) {
        return Some("the endpoint answered 410 Gone".into());
    }
    let failures = u32::try_from(endpoint.consecutive_failures).unwrap_or(0);
    let since = endpoint.first_failure_at.unwrap_or(now);
    (failures >= settings.pause_after_failures && now - since >= settings.pause_after).then(|| {
        format!(
            "{failures} deliveries failed in a row since {}",
            since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::from_config(&crate::config::Config::for_database("sqlite::memory:"))
    }

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_cap_with_equal_jitter() {
        let s = settings();
        for attempts in 1..30 {
            let cap = (10_000_u64 << (attempts - 1).min(20)).min(3_600_000) as i64;
            for _ in 0..20 {
                let wait = backoff(&s, attempts).num_milliseconds();
                assert!(
                    (cap / 2..=cap).contains(&wait),
                    "attempt {attempts}: {wait} ms outside {}..={cap}",
                    cap / 2
                );
            }
        }
        let waits: std::collections::BTreeSet<i64> =
            (0..50).map(|_| backoff(&s, 12).num_milliseconds()).collect();
        assert!(waits.len() > 10, "jittered, not fixed: {waits:?}");
    }
}
