//! A database outage as clients see it (issue 22): the server sits behind a TCP proxy to
//! PostgreSQL that the test takes down (every connection cut, new ones cut at once, as when
//! PostgreSQL stops or the network between them fails) and brings back. During the outage HTTP
//! answers `SERVICE_UNAVAILABLE` (HTTP 503 with `Retry-After`), `/readyz` says not ready within
//! its timeout, and open subscriptions pause without ending; once the database is back, the
//! subscriptions send the current state and go on with the next change. Also: connections lost
//! without an outage (`pg_terminate_backend`) are replaced without a subscriber noticing.
//!
//! PostgreSQL only: SQLite is a file in the server's own process and has no outage to survive.

use crate::helpers::{Backend, TestApp, fresh_database, postgres_enabled, set_status_at, spawn_app_on};
use crate::realtime::{Received, SCORE_SUBSCRIPTION, Ws};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

/// A TCP proxy to PostgreSQL that can be taken down and brought back.
struct Proxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let addr = listener.local_addr().expect("proxy address");
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = tokio::spawn({
            let (up, links) = (up.clone(), links.clone());
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        // Down: the connection is cut as soon as it is made.
                        drop(client);
                        continue;
                    }
                    let target = target.clone();
                    let link = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(&target).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    links.lock().await.push(link);
                }
            }
        });
        Proxy {
            addr,
            up,
            links,
            accept,
        }
    }

    /// Cuts every connection and every new one until [`Proxy::restore`].
    async fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().await.drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// A server on a fresh PostgreSQL schema reached through `proxy`, with short waits for
/// connections so the test needs no long outage.
async fn app_behind(proxy: &Proxy) -> TestApp {
    let (direct, _) = fresh_database(Backend::Postgres).await;
    let mut url = url::Url::parse(&direct).expect("database URL");
    url.set_host(Some("127.0.0.1")).expect("host");
    url.set_port(Some(proxy.addr.port())).expect("port");
    spawn_app_on(Backend::Postgres, url.to_string(), |c| {
        c.db_acquire_timeout_ms = 1_000;
        c.subscription_recheck_ms = 500;
    })
    .await
}

fn postgres_target() -> String {
    let url = url::Url::parse(&std::env::var("TEST_DATABASE_URL").expect("TEST_DATABASE_URL")).expect("URL");
    format!(
        "{}:{}",
        url.host_str().unwrap_or("127.0.0.1"),
        url.port().unwrap_or(5432)
    )
}

/// Polls `/readyz` until it answers `want`; returns how long the last answer took.
async fn wait_ready(app: &TestApp, want: u16, within: Duration) -> Duration {
    let deadline = Instant::now() + within;
    loop {
        let started = Instant::now();
        let status = app
            .client
            .get(format!("{}/readyz", app.address))
            .send()
            .await
            .expect("readyz answers")
            .status()
            .as_u16();
        let took = started.elapsed();
        if status == want {
            return took;
        }
        assert!(Instant::now() < deadline, "/readyz never answered {want}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The current score of a `scoreUpdated` payload.
fn current(payload: &Value) -> &Value {
    &payload["data"]["scoreUpdated"]["current"]
}

/// Reads subscription `s` until it shows the planned score `planned`.
async fn until_planned(scores: &mut Ws, planned: &Value) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let next = scores
            .try_next_payload("s", Duration::from_secs(20))
            .await
            .expect("the changed score");
        if next["data"]["scoreUpdated"]["planned"] == *planned {
            return;
        }
        assert!(Instant::now() < deadline, "the change never arrived: {next:#}");
    }
}

const EVENTS: &str =
    "subscription($slug: String!) { actionEvents(tenantSlug: $slug) { kind controlId statusAfter } }";

#[cfg_attr(
    not(postgres_tests),
    ignore = "needs TEST_DATABASE_URL (a PostgreSQL database)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_carry_on_by_themselves_across_a_database_outage() {
    assert!(postgres_enabled(), "TEST_DATABASE_URL is not set");
    let proxy = Proxy::start(postgres_target()).await;
    let app = app_behind(&proxy).await;
    let t = app.tenant().create().await;
    let vars = json!({ "slug": t.slug });

    let mut scores = Ws::connect(&app.address, &t.reader).await;
    scores.subscribe("s", SCORE_SUBSCRIPTION, vars.clone()).await;
    scores.next_payload("s").await;
    let mut events = Ws::connect(&app.address, &t.reader).await;
    events.subscribe("e", EVENTS, vars.clone()).await;
    // Both streams are live (a change reaches them) before the database goes away.
    set_status_at(
        &app,
        &app.address,
        &t,
        "AdminMFAV2",
        "PLANNED",
        "{ current { points } }",
    )
    .await;
    let first = scores.next_payload("s").await;
    let event = events.next_payload("e").await;
    assert_eq!(event["data"]["actionEvents"]["statusAfter"], "PLANNED");

    let mut idle = Ws::connect(&app.address, &t.reader).await;
    proxy.cut().await;

    // Readiness says so within its one-second timeout (plus the slow machine's margin).
    let took = wait_ready(&app, 503, Duration::from_secs(10)).await;
    assert!(
        took < Duration::from_millis(2_500),
        "/readyz took {took:?} to say not ready"
    );

    // A query is refused as retryable, not as a defect.
    let response = app
        .post_graphql(
            Some(&t.reader),
            &json!({ "query": "query($slug: String!) { tenant(slug: $slug) { secureScore { current { points } } } }",
                     "variables": vars }),
        )
        .await;
    assert_eq!(response.status().as_u16(), 503);
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!(retry_after >= 1);
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "SERVICE_UNAVAILABLE",
        "{body:#}"
    );
    assert!(body.to_string().contains("retry"), "{body:#}");

    // So is an export.
    let export = app
        .client
        .get(format!("{}/export/{}/actions.csv", app.address, t.slug))
        .bearer_auth(&t.reader)
        .send()
        .await
        .expect("export answers");
    assert_eq!(export.status().as_u16(), 503);
    assert!(export.headers().contains_key("retry-after"));
    let body: Value = export.json().await.expect("JSON error");
    assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE", "{body:#}");

    // The subscriptions pause: no error, no `complete` (try_next_payload fails on either).
    assert_eq!(scores.try_next_payload("s", Duration::from_secs(3)).await, None);
    assert_eq!(
        events.try_next_payload("e", Duration::from_millis(500)).await,
        None
    );

    // A subscription started now, and a connection opened now, wait for the database.
    idle.subscribe("late", SCORE_SUBSCRIPTION, vars.clone()).await;
    let mut late = Ws::open(&app.address, "/graphql/ws").await;
    late.send(
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", t.reader) } }),
    )
    .await;
    assert_eq!(
        idle.try_next_payload("late", Duration::from_millis(500)).await,
        None
    );

    proxy.restore();
    wait_ready(&app, 200, Duration::from_secs(30)).await;

    match late.recv().await {
        Received::Json(v) if v["type"] == "connection_ack" => {}
        other => panic!("the connection opened during the outage is acknowledged after it: {other:?}"),
    }
    late.subscribe("s", SCORE_SUBSCRIPTION, vars.clone()).await;
    let late_first = late.next_payload("s").await;
    assert_eq!(current(&late_first), current(&first));
    let started = idle
        .try_next_payload("late", Duration::from_secs(15))
        .await
        .expect("the subscription started during the outage begins after it");
    assert_eq!(current(&started), current(&first));

    // Back: the score subscription sends the current score without being asked.
    let resumed = scores
        .try_next_payload("s", Duration::from_secs(15))
        .await
        .expect("the current score once the database is back");
    assert_eq!(current(&resumed), current(&first));

    // And goes on: a change made now reaches both subscriptions.
    let after = set_status_at(
        &app,
        &app.address,
        &t,
        "AdminMFAV2",
        "TO_ADDRESS",
        "{ current { points } planned { points } }",
    )
    .await;
    until_planned(&mut scores, &after["planned"]).await;
    let event = events
        .try_next_payload("e", Duration::from_secs(20))
        .await
        .expect("the change's event");
    assert_eq!(event["data"]["actionEvents"]["controlId"], "AdminMFAV2");
    assert_eq!(event["data"]["actionEvents"]["statusAfter"], "TO_ADDRESS");
}

#[cfg_attr(
    not(postgres_tests),
    ignore = "needs TEST_DATABASE_URL (a PostgreSQL database)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mutation_refused_during_an_outage_succeeds_when_retried_after_it() {
    assert!(postgres_enabled(), "TEST_DATABASE_URL is not set");
    let proxy = Proxy::start(postgres_target()).await;
    let app = app_behind(&proxy).await;
    let t = app.tenant().create().await;
    let mutation = json!({
        "query": "mutation($i: SetActionStatusInput!) { setActionStatus(input: $i) { changed action { status } } }",
        "variables": { "i": { "tenantSlug": t.slug, "controlId": "AdminMFAV2", "status": "PLANNED" } },
    });

    proxy.cut().await;
    let refused = app.post_graphql(Some(&t.operator), &mutation).await;
    assert_eq!(refused.status().as_u16(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.expect("JSON");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "SERVICE_UNAVAILABLE",
        "{body:#}"
    );
    assert!(
        body["errors"][0]["extensions"]["retryAfterSeconds"]
            .as_u64()
            .is_some_and(|s| s >= 1)
    );

    proxy.restore();
    wait_ready(&app, 200, Duration::from_secs(30)).await;
    let retried: Value = app
        .post_graphql(Some(&t.operator), &mutation)
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(retried["data"]["setActionStatus"]["changed"], true, "{retried:#}");
    assert_eq!(retried["data"]["setActionStatus"]["action"]["status"], "PLANNED");
    // Retrying once more is the documented safe no-op.
    let again: Value = app
        .post_graphql(Some(&t.operator), &mutation)
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(again["data"]["setActionStatus"]["changed"], false, "{again:#}");
}

#[cfg_attr(
    not(postgres_tests),
    ignore = "needs TEST_DATABASE_URL (a PostgreSQL database)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_does_not_notice_its_servers_database_connections_being_terminated() {
    assert!(postgres_enabled(), "TEST_DATABASE_URL is not set");
    let (direct, _) = fresh_database(Backend::Postgres).await;
    let name = format!("outage_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let url = format!("{direct}&application_name={name}");
    let app = spawn_app_on(Backend::Postgres, url, |c| c.subscription_recheck_ms = 500).await;
    let t = app.tenant().create().await;
    let mut scores = Ws::connect(&app.address, &t.reader).await;
    scores
        .subscribe("s", SCORE_SUBSCRIPTION, json!({ "slug": t.slug }))
        .await;
    scores.next_payload("s").await;

    let admin = Database::connect(std::env::var("TEST_DATABASE_URL").expect("URL"))
        .await
        .expect("admin connection");
    let terminated = admin
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!(
                "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE application_name = '{name}'"
            ),
        ))
        .await
        .expect("terminate")
        .expect("a row")
        .try_get::<i64>("", "n")
        .expect("count");
    assert!(
        terminated >= 2,
        "the pool and the listener were connected ({terminated})"
    );

    // The next change still reaches the subscriber (through a reconnected listener, or the
    // stream's own recovery), and the stream never ended.
    let after = set_status_with_retries(&app, &t).await;
    until_planned(&mut scores, &after).await;
}

/// Sets AdminMFAV2 PLANNED, retrying what the connections' loss refused; the planned score after.
async fn set_status_with_retries(app: &TestApp, t: &crate::helpers::TenantFixture) -> Value {
    let mutation = json!({
        "query": "mutation($i: SetActionStatusInput!) { setActionStatus(input: $i) { score { planned { points } } } }",
        "variables": { "i": { "tenantSlug": t.slug, "controlId": "AdminMFAV2", "status": "PLANNED" } },
    });
    for _ in 0..20 {
        let response = app.post_graphql(Some(&t.operator), &mutation).await;
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("JSON");
        if status == 200 && body.get("errors").is_none() {
            return body["data"]["setActionStatus"]["score"]["planned"].clone();
        }
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "SERVICE_UNAVAILABLE",
            "{body:#}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("the mutation never succeeded");
}
