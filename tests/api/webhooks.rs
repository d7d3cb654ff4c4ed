//! Signed webhooks from the durable outbox (issue 19): a local receiver on 127.0.0.1 (allowed by
//! `WEBHOOK_ALLOW_PRIVATE_TARGETS`, which production leaves off) records what the server sends,
//! verifies signatures with the secret `createWebhookEndpoint` showed, and answers as each test
//! tells it (500, 410, or too slowly). Retries use short backoffs through
//! `WEBHOOK_RETRY_BASE_MS` / `WEBHOOK_RETRY_MAX_MS`, and the worker polls every 25 ms.

use crate::helpers::*;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use securescore::app::App;
use securescore::config::Config;
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the receiver answers one request.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Status(u16),
    /// Sleeps this long, then answers 200.
    Sleep(u64),
}

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: String,
}

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    /// Answers for the next requests, in order; then `otherwise`.
    script: Arc<Mutex<VecDeque<Answer>>>,
    otherwise: Arc<Mutex<Option<Answer>>>,
}

impl Receiver {
    async fn start() -> (Receiver, String) {
        let receiver = Receiver::default();
        let router = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        (receiver, url)
    }
    fn then(&self, answers: &[Answer]) {
        self.script.lock().unwrap().extend(answers.iter().copied());
    }
    fn always(&self, answer: Answer) {
        *self.otherwise.lock().unwrap() = Some(answer);
    }
    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
    /// Requests per `X-Securescore-Delivery` (event id).
    fn per_event(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for r in self.received() {
            *counts.entry(header(&r, "x-securescore-delivery")).or_default() += 1;
        }
        counts
    }
    async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "expected {n} requests, got {}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: String) -> (StatusCode, String) {
    r.got.lock().unwrap().push(Received { headers, body });
    let answer = r
        .script
        .lock()
        .unwrap()
        .pop_front()
        .or(*r.otherwise.lock().unwrap())
        .unwrap_or(Answer::Status(200));
    match answer {
        Answer::Status(code) => (StatusCode::from_u16(code).unwrap(), format!("answered {code}")),
        Answer::Sleep(ms) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            (StatusCode::OK, "late".into())
        }
    }
}

fn header(r: &Received, name: &str) -> String {
    r.headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// Checks `X-Securescore-Signature: t=…,v1=…` as a receiver would: HMAC-SHA256 with the secret
/// over `<t>.<body>`, and a timestamp within 5 minutes.
fn verify(r: &Received, secret: &str) -> bool {
    let sig = header(r, "x-securescore-signature");
    let mut t = None;
    let mut v1 = None;
    for part in sig.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1 = Some(value.to_string()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    if (chrono::Utc::now().timestamp() - t).abs() > 300 {
        return false;
    }
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", r.body).as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    expected == v1
}

/// The test configuration: private targets allowed, fast polls and short backoffs.
fn fast(config: &mut Config) {
    config.webhook_allow_private_targets = true;
    config.webhook_poll_ms = 25;
    config.webhook_retry_base_ms = 40;
    config.webhook_retry_max_ms = 200;
    config.webhook_timeout_ms = 2_000;
}

/// Runs a test function of the backend on SQLite, and on PostgreSQL when `TEST_DATABASE_URL`
/// is set.
macro_rules! hooks_test {
    ($name:ident) => {
        crate::each_backend!($name, $name, |()| {});
    };
}

const ENDPOINT: &str = "id url description events scoreDropPoints enabled pausedReason pausedAt consecutiveFailures secretPrefix";
const DELIVERY: &str = "id eventId type status attempts lastStatusCode lastError responseExcerpt nextAttemptAt createdAt deliveredAt redelivery payload";

async fn create_endpoint(app: &TestApp, token: &str, input: Value) -> Value {
    app.gql(
        Some(token),
        &format!(
            "mutation($input: CreateWebhookEndpointInput!) {{ createWebhookEndpoint(input: $input) {{ \
             endpoint {{ {ENDPOINT} }} secret userErrors {{ field message code }} }} }}"
        ),
        json!({ "input": input }),
    )
    .await
}

/// Registers an endpoint for `events` at `url`; returns (endpoint id, secret).
async fn endpoint(app: &TestApp, t: &TenantFixture, url: &str, events: &[&str]) -> (String, String) {
    let body = create_endpoint(
        app,
        &t.admin,
        json!({ "tenantSlug": t.slug, "url": url, "events": events, "description": "test receiver" }),
    )
    .await;
    let p = &data_of(body)["createWebhookEndpoint"];
    assert_eq!(p["userErrors"], json!([]), "{p:#}");
    (
        p["endpoint"]["id"].as_str().unwrap().to_string(),
        p["secret"].as_str().unwrap().to_string(),
    )
}

async fn mutate(
    app: &TestApp,
    token: &str,
    field: &str,
    input_type: &str,
    input: Value,
    fields: &str,
) -> Value {
    app.gql(
        Some(token),
        &format!("mutation($input: {input_type}!) {{ {field}(input: $input) {{ {fields} }} }}"),
        json!({ "input": input }),
    )
    .await
}

async fn send_test(app: &TestApp, t: &TenantFixture, endpoint_id: &str) -> Value {
    let body = mutate(
        app,
        &t.admin,
        "sendTestWebhookEvent",
        "WebhookEndpointIdInput",
        json!({ "endpointId": endpoint_id }),
        &format!("delivery {{ {DELIVERY} }} userErrors {{ code message }}"),
    )
    .await;
    let p = data_of(body)["sendTestWebhookEvent"].clone();
    assert_eq!(p["userErrors"], json!([]), "{p:#}");
    p["delivery"].clone()
}

/// The tenant's endpoints with their deliveries (newest first), as its ADMIN.
async fn endpoints(app: &TestApp, t: &TenantFixture) -> Vec<Value> {
    let data = app
        .gql_ok(
            &t.admin,
            &format!(
                "query($slug: String!) {{ tenant(slug: $slug) {{ webhookEndpoints {{ {ENDPOINT} \
                 deliveries(first: 100) {{ nodes {{ {DELIVERY} }} }} }} }} }}"
            ),
            json!({ "slug": t.slug }),
        )
        .await;
    let mut all = data["tenant"]["webhookEndpoints"].as_array().unwrap().clone();
    for e in &mut all {
        e["deliveries"] = e["deliveries"]["nodes"].take();
    }
    all
}

/// Waits until the endpoint's newest delivery satisfies `done`; returns it.
async fn wait_delivery(app: &TestApp, t: &TenantFixture, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let all = endpoints(app, t).await;
        let newest = all[0]["deliveries"][0].clone();
        if done(&newest) {
            return newest;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "delivery never got there: {newest:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

hooks_test!(a_regression_is_delivered_signed_with_the_documented_payload_and_headers);
async fn a_regression_is_delivered_signed_with_the_documented_payload_and_headers(backend: Backend) {
    let app = spawn_app_with(backend, fast).await;
    let t = app.tenant().create().await;
    let (receiver, url) = Receiver::start().await;
    let (endpoint_id, secret) = endpoint(&app, &t, &url, &["ACTION_REGRESSED"]).await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    progress(&app, &t, "AdminMFAV2", 4, 4).await;
    progress(&app, &t, "AdminMFAV2", 1, 4).await;
    let got = receiver.wait_for(1, Duration::from_secs(20)).await;
    let r = &got[0];
    assert!(
        verify(r, &secret),
        "signature verifies with the secret shown once: {:?}",
        r.headers
    );
    assert!(!verify(r, "whsec_wrong"), "and not with another");
    assert_eq!(header(r, "content-type"), "application/json");
    assert_eq!(header(r, "user-agent"), "securescore-webhooks/1");
    assert_eq!(header(r, "x-securescore-event"), "action.regressed");
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        header(r, "x-securescore-delivery"),
        body["id"].as_str().unwrap(),
        "event id header = payload id"
    );
    assert_eq!(body["type"], "action.regressed");
    assert_eq!(body["version"], 1);
    assert_eq!(body["tenant"]["slug"], t.slug.as_str());
    assert!(body["tenant"]["id"].is_string());
    assert!(body["createdAt"].as_str().unwrap().ends_with('Z'));
    let data = &body["data"];
    assert_eq!(data["action"]["controlId"], "AdminMFAV2");
    assert!(
        data["action"]["title"].as_str().is_some_and(|s| !s.is_empty()),
        "{data:#}"
    );
    assert_eq!(data["statusBefore"], "COMPLETED");
    assert_eq!(data["statusAfter"], "TO_ADDRESS");
    assert!(
        data["pointsBefore"].as_f64().unwrap() > data["pointsAfter"].as_f64().unwrap(),
        "{data:#}"
    );
    // The delivery log shows it delivered, with the exact body sent.
    let d = wait_delivery(&app, &t, |d| d["status"] == "DELIVERED").await;
    assert_eq!(d["payload"].as_str().unwrap(), r.body);
    assert_eq!(d["eventId"], body["id"]);
    assert_eq!(d["type"], "ACTION_REGRESSED");
    assert_eq!(d["attempts"], 1);
    assert_eq!(d["lastStatusCode"], 200);
    assert_eq!(d["responseExcerpt"], "answered 200");
    assert_eq!(d["nextAttemptAt"], Value::Null);
    // The completion before it was no regression: only one request came.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 1);
    let _ = endpoint_id;
}

hooks_test!(a_tenant_without_endpoints_or_subscriptions_gets_nothing_queued);
async fn a_tenant_without_endpoints_or_subscriptions_gets_nothing_queued(backend: Backend) {
    use sea_orm::{EntityTrait, PaginatorTrait};
    let app = spawn_app_with(backend, fast).await;
    let t = app.tenant().create().await;
    progress(&app, &t, "AdminMFAV2", 4, 4).await;
    progress(&app, &t, "AdminMFAV2", 1, 4).await;
    let (receiver, url) = Receiver::start().await;
    endpoint(&app, &t, &url, &["IMPORT_FINISHED"]).await;
    progress(&app, &t, "AdminMFAV2", 4, 4).await;
    progress(&app, &t, "AdminMFAV2", 1, 4).await;
    let queued = entity::webhook_delivery::Entity::find()
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(
        queued, 0,
        "no endpoint, then one that wants other events: nothing queued"
    );
    assert!(receiver.received().is_empty());
}

hooks_test!(failures_are_retried_with_the_same_event_id_until_the_endpoint_accepts);
async fn failures_are_retried_with_the_same_event_id_until_the_endpoint_accepts(backend: Backend) {
    let app = spawn_app_with(backend, fast).await;
    let t = app.tenant().create().await;
    let (receiver, url) = Receiver::start().await;
    receiver.then(&[Answer::Status(500), Answer::Status(503), Answer::Status(500)]);
    let (endpoint_id, secret) = endpoint(&app, &t, &url, &["TEST"]).await;
    let queued = send_test(&app, &t, &endpoint_id).await;
    assert_eq!(queued["status"], "PENDING");
    let got = receiver.wait_for(4, Duration::from_secs(20)).await;
    let ids: Vec<String> = got.iter().map(|r| header(r, "x-securescore-delivery")).collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "one event id across attempts: {ids:?}"
    );
    assert_eq!(ids[0], queued["eventId"].as_str().unwrap());
    assert!(
        got.iter().all(|r| verify(r, &secret) && r.body == got[0].body),
        "same body, each signed"
    );
    let d = wait_delivery(&app, &t, |d| d["status"] == "DELIVERED").await;
    assert_eq!(d["attempts"], 4);
    assert_eq!(d["lastStatusCode"], 200);
    assert_eq!(d["lastError"], Value::Null);
    let e = &endpoints(&app, &t).await[0];
    assert_eq!(e["consecutiveFailures"], 0, "a success resets the count");
    assert_eq!(e["pausedReason"], Value::Null);
}

hooks_test!(a_timeout_counts_as_a_failed_attempt);
async fn a_timeout_counts_as_a_failed_attempt(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        fast(c);
        c.webhook_timeout_ms = 300;
        c.webhook_retry_base_ms = 1_500;
        c.webhook_retry_max_ms = 1_500;
    })
    .await;
    let t = app.tenant().create().await;
    let (receiver, url) = Receiver::start().await;
    receiver.then(&[Answer::Sleep(2_000)]);
    let (endpoint_id, _) = endpoint(&app, &t, &url, &["TEST"]).await;
    send_test(&app, &t, &endpoint_id).await;
    let failed = wait_delivery(&app, &t, |d| d["attempts"] == 1).await;
    assert_eq!(failed["status"], "PENDING");
    assert_eq!(failed["lastError"], "timed out");
    assert_eq!(failed["lastStatusCode"], Value::Null);
    assert!(failed["nextAttemptAt"].is_string());
    let d = wait_delivery(&app, &t, |d| d["status"] == "DELIVERED").await;
    assert_eq!(d["attempts"], 2);
    assert_eq!(receiver.per_event().values().copied().collect::<Vec<_>>(), [2]);
}

/// Builds a server on `database_url` that stops when the returned sender fires.
async fn stoppable(
    database_url: &str,
    adjust: impl FnOnce(&mut Config),
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let mut config = Config::for_database(database_url.to_string());
    config.db_max_connections = Some(5);
    adjust(&mut config);
    let app = App::build(config).await.expect("app builds");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    (stop, task)
}

/// An API-only process (`BACKGROUND_JOBS=false`): it serves the test's GraphQL requests and
/// delivers nothing.
fn api_only(config: &mut Config) {
    config.webhook_allow_private_targets = true;
    config.background_jobs = false;
}

hooks_test!(a_delivery_pending_when_the_server_stops_is_delivered_by_the_next_one);
async fn a_delivery_pending_when_the_server_stops_is_delivered_by_the_next_one(backend: Backend) {
    let app = spawn_app_with(backend, api_only).await;
    let t = app.tenant().create().await;
    let (receiver, url) = Receiver::start().await;
    receiver.always(Answer::Status(500));
    let (endpoint_id, secret) = endpoint(&app, &t, &url, &["TEST"]).await;
    let queued = send_test(&app, &t, &endpoint_id).await;
    let (stop, first) = stoppable(&app.database_url, fast).await;
    receiver.wait_for(2, Duration::from_secs(20)).await;
    stop.send(()).unwrap();
    first.await.unwrap().unwrap();
    let before = wait_delivery(&app, &t, |d| d["status"] == "PENDING").await;
    // The receiver saw two attempts; the second may have been cut by the stop before its
    // outcome was recorded (its lease is given up, and it is tried again).
    let attempts = before["attempts"].as_i64().unwrap();
    assert!(attempts >= 1, "{before:#}");
    // Stopped: nobody sends any more.
    let seen = receiver.received().len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), seen, "no worker runs while stopped");
    receiver.always(Answer::Status(200));
    let (stop, second) = stoppable(&app.database_url, fast).await;
    let d = wait_delivery(&app, &t, |d| d["status"] == "DELIVERED").await;
    assert_eq!(d["eventId"], queued["eventId"]);
    assert!(d["attempts"].as_i64().unwrap() > attempts);
    let last = receiver.received().pop().unwrap();
    assert_eq!(
        header(&last, "x-securescore-delivery"),
        queued["eventId"].as_str().unwrap()
    );
    assert!(verify(&last, &secret));
    stop.send(()).unwrap();
    second.await.unwrap().unwrap();
}

hooks_test!(an_api_only_process_leaves_deliveries_to_a_process_that_runs_the_jobs);
async fn an_api_only_process_leaves_deliveries_to_a_process_that_runs_the_jobs(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        fast(c);
        c.background_jobs = false;
    })
    .await;
    let t = app.tenant().create().await;
    let (receiver, url) = Receiver::start().await;
    let (endpoint_id, secret) = endpoint(&app, &t, &url, &["TEST"]).await;
    let queued = send_test(&app, &t, &endpoint_id).await;
    // Forty of the fast worker's polls: a process with its jobs on would have delivered by now.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert!(
        receiver.received().is_empty(),
        "the API-only process sent nothing"
    );
    let pending = wait_delivery(&app, &t, |_| true).await;
    assert_eq!(pending["status"], "PENDING", "{pending:#}");
    assert_eq!(pending["attempts"], 0, "{pending:#}");
    spawn_another_process(&app, fast).await;
    let delivered = wait_delivery(&app, &t, |d| d["status"] == "DELIVERED").await;
    assert_eq!(delivered["eventId"], queued["eventId"]);
    let got = receiver.received();
    assert_eq!(got.len(), 1, "delivered once");
    assert!(verify(&got[0], &secret));
}

hooks_test!(two_processes_on_one_database_deliver_each_event_once);
async fn two_processes_on_one_database_deliver_each_event_once(backend: Backend) {
    let app = spawn_app_with(backend, fast).await;
    spawn_another_process(&app, fast).await;
    let t = app.tenant().create().await;
    let (receiver, url) = Receiver::start().await;
    // A little latency so both workers are busy at once.
    receiver.always(Answer::Sleep(20));
    let (endpoint_id, _) = endpoint(&app, &t, &url, &["TEST"]).await;
    const N: usize = 40;
    for _ in 0..N {
        send_test(&app, &t, &endpoint_id).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while receiver.per_event().len() < N {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {N} delivered",
            receiver.per_event().len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let counts = receiver.per_event();
    assert_eq!(counts.len(), N);
    assert!(counts.values().all(|n| *n == 1), "each event once: {counts:?}");
}

hooks_test!(endpoint_urls_must_be_https_and_public_unless_configured_otherwise);
async fn endpoint_urls_must_be_https_and_public_unless_configured_otherwise(backend: Backend) {
    let app = spawn_app(backend).await;
    let t = app.tenant().create().await;
    for url in [
        "http://127.0.0.1:9/hook",
        "https://10.0.0.1/",
        "https://[::ffff:127.0.0.1]/",
        "https://169.254.169.254/",
    ] {
        let body = create_endpoint(
            &app,
            &t.admin,
            json!({ "tenantSlug": t.slug, "url": url, "events": ["TEST"] }),
        )
        .await;
        let p = &data_of(body)["createWebhookEndpoint"];
        assert_eq!(p["endpoint"], Value::Null, "{url}");
        assert_eq!(p["secret"], Value::Null, "{url}");
        assert_eq!(p["userErrors"][0]["code"], "BAD_USER_INPUT", "{url}: {p:#}");
        assert_eq!(p["userErrors"][0]["field"], json!(["input", "url"]), "{url}");
    }
    let body = create_endpoint(
        &app,
        &t.admin,
        json!({ "tenantSlug": t.slug, "url": "https://93.184.216.34/hook", "events": ["SCORE_DROPPED"] }),
    )
    .await;
    let p = &data_of(body)["createWebhookEndpoint"];
    assert_eq!(
        p["userErrors"][0]["field"],
        json!(["input", "scoreDropPoints"]),
        "{p:#}"
    );
    let body = create_endpoint(
        &app,
        &t.admin,
        json!({ "tenantSlug": t.slug, "url": "https://93.184.216.34/hook", "events": ["SCORE_DROPPED"], "scoreDropPoints": 5 }),
    )
    .await;
    let p = &data_of(body)["createWebhookEndpoint"];
    assert_eq!(p["userErrors"], json!([]), "a public https address passes: {p:#}");
    assert_eq!(p["endpoint"]["scoreDropPoints"], 5.0);
}

hooks_test!(only_the_tenants_admin_manages_endpoints);
async fn only_the_tenants_admin_manages_endpoints(backend: Backend) {
    let app = spawn_app_with(backend, api_only).await;
    let t = app.tenant().create().await;
    let other = app.tenant().create().await;
    let (_receiver, url) = Receiver::start().await;
    for token in [&t.reader, &t.operator] {
        let body = create_endpoint(
            &app,
            token,
            json!({ "tenantSlug": t.slug, "url": url, "events": ["TEST"] }),
        )
        .await;
        assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{body:#}");
        let body = app
            .gql(
                Some(token),
                "query($slug: String!) { tenant(slug: $slug) { webhookEndpoints { id } } }",
                json!({ "slug": t.slug }),
            )
            .await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("FORBIDDEN"),
            "READER/OPERATOR cannot list: {body:#}"
        );
    }
    // Another tenant's ADMIN: its slug and its ids are NOT_FOUND.
    let body = create_endpoint(
        &app,
        &other.admin,
        json!({ "tenantSlug": t.slug, "url": url, "events": ["TEST"] }),
    )
    .await;
    assert_eq!(
        data_of(body)["createWebhookEndpoint"]["userErrors"][0]["code"],
        "NOT_FOUND"
    );
    let (endpoint_id, _) = endpoint(&app, &t, &url, &["TEST"]).await;
    let delivery = send_test(&app, &t, &endpoint_id).await;
    for (field, input_type, input) in [
        (
            "sendTestWebhookEvent",
            "WebhookEndpointIdInput",
            json!({ "endpointId": endpoint_id }),
        ),
        (
            "rotateWebhookSecret",
            "WebhookEndpointIdInput",
            json!({ "endpointId": endpoint_id }),
        ),
        (
            "deleteWebhookEndpoint",
            "WebhookEndpointIdInput",
            json!({ "endpointId": endpoint_id }),
        ),
        (
            "updateWebhookEndpoint",
            "UpdateWebhookEndpointInput",
            json!({ "endpointId": endpoint_id, "enabled": false }),
        ),
        (
            "redeliverWebhookDelivery",
            "RedeliverWebhookDeliveryInput",
            json!({ "deliveryId": delivery["id"] }),
        ),
    ] {
        let body = mutate(
            &app,
            &other.admin,
            field,
            input_type,
            input.clone(),
            "userErrors { code }",
        )
        .await;
        assert_eq!(
            data_of(body)[field]["userErrors"][0]["code"],
            "NOT_FOUND",
            "{field} by another tenant's ADMIN"
        );
        let body = mutate(&app, &t.operator, field, input_type, input, "userErrors { code }").await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("FORBIDDEN"),
            "{field} by the OPERATOR: {body:#}"
        );
    }
    let still = endpoints(&app, &t).await;
    assert_eq!(still.len(), 1);
    assert_eq!(still[0]["enabled"], true);
}

hooks_test!(redeliver_and_rotate_and_delete_do_what_they_say);
async fn redeliver_and_rotate_and_delete_do_what_they_say(backend: Backend) {
    let app = spawn_app_with(backend, fast).await;
    let t = app.tenant().create().await;
    let (receiver, url) = Receiver::start().await;
    let (endpoint_id, secret) = endpoint(&app, &t, &url, &["TEST"]).await;
    let first = send_test(&app, &t, &endpoint_id).await;
    let delivered = wait_delivery(&app, &t, |d| d["status"] == "DELIVERED").await;
    let body: Value = serde_json::from_str(delivered["payload"].as_str().unwrap()).unwrap();
    assert_eq!(body["type"], "test");
    let rotated = mutate(
        &app,
        &t.admin,
        "rotateWebhookSecret",
        "WebhookEndpointIdInput",
        json!({ "endpointId": endpoint_id }),
        "endpoint { secretPrefix } secret userErrors { code }",
    )
    .await;
    let new_secret = data_of(rotated)["rotateWebhookSecret"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new_secret, secret);
    let again = mutate(
        &app,
        &t.admin,
        "redeliverWebhookDelivery",
        "RedeliverWebhookDeliveryInput",
        json!({ "deliveryId": first["id"] }),
        &format!("delivery {{ {DELIVERY} }} userErrors {{ code }}"),
    )
    .await;
    let copy = data_of(again)["redeliverWebhookDelivery"]["delivery"].clone();
    assert_eq!(copy["eventId"], first["eventId"], "same event id");
    assert_eq!(copy["payload"], delivered["payload"], "same body");
    assert_eq!(copy["attempts"], 0);
    assert_eq!(copy["redelivery"], true);
    let got = receiver.wait_for(2, Duration::from_secs(20)).await;
    assert_eq!(got[1].body, got[0].body);
    assert!(verify(&got[1], &new_secret), "signed with the rotated secret");
    assert!(!verify(&got[1], &secret));
    let log = &endpoints(&app, &t).await[0]["deliveries"];
    assert_eq!(log.as_array().unwrap().len(), 2, "the log keeps both: {log:#}");
    let deleted = mutate(
        &app,
        &t.admin,
        "deleteWebhookEndpoint",
        "WebhookEndpointIdInput",
        json!({ "endpointId": endpoint_id }),
        "deletedEndpointId userErrors { code }",
    )
    .await;
    assert_eq!(
        data_of(deleted)["deleteWebhookEndpoint"]["deletedEndpointId"],
        endpoint_id.as_str()
    );
    assert!(endpoints(&app, &t).await.is_empty());
    let audit = app
        .gql_ok(
            &t.admin,
            "query($slug: String!) { tenant(slug: $slug) { auditLog(first: 20) { nodes { action } } } }",
            json!({ "slug": t.slug }),
        )
        .await;
    let actions: Vec<&str> = audit["tenant"]["auditLog"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in [
        "WEBHOOK_ENDPOINT_CREATED",
        "WEBHOOK_SECRET_ROTATED",
        "WEBHOOK_DELIVERY_REQUEUED",
        "WEBHOOK_ENDPOINT_DELETED",
    ] {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }
}

hooks_test!(an_endpoint_that_keeps_failing_is_paused_and_resumes_when_enabled);
async fn an_endpoint_that_keeps_failing_is_paused_and_resumes_when_enabled(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        fast(c);
        c.webhook_pause_after_failures = 3;
        c.webhook_pause_after_secs = 0;
    })
    .await;
    let t = app.tenant().create().await;
    let (receiver, url) = Receiver::start().await;
    receiver.always(Answer::Status(500));
    let (endpoint_id, _) = endpoint(&app, &t, &url, &["TEST"]).await;
    send_test(&app, &t, &endpoint_id).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let paused = loop {
        let e = endpoints(&app, &t).await[0].clone();
        if e["pausedAt"].is_string() {
            break e;
        }
        assert!(tokio::time::Instant::now() < deadline, "never paused: {e:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        paused["pausedReason"]
            .as_str()
            .unwrap()
            .contains("3 deliveries failed in a row"),
        "{paused:#}"
    );
    assert_eq!(
        paused["deliveries"][0]["status"], "PENDING",
        "its deliveries wait"
    );
    let seen = receiver.received().len();
    assert_eq!(seen, 3);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), seen, "nothing is sent while paused");
    receiver.always(Answer::Status(200));
    let resumed = mutate(
        &app,
        &t.admin,
        "updateWebhookEndpoint",
        "UpdateWebhookEndpointInput",
        json!({ "endpointId": endpoint_id, "enabled": true }),
        &format!("endpoint {{ {ENDPOINT} }} userErrors {{ code }}"),
    )
    .await;
    let e = data_of(resumed)["updateWebhookEndpoint"]["endpoint"].clone();
    assert_eq!(e["pausedAt"], Value::Null);
    assert_eq!(e["consecutiveFailures"], 0);
    wait_delivery(&app, &t, |d| d["status"] == "DELIVERED").await;

    // A 410 Gone pauses at once.
    receiver.always(Answer::Status(410));
    send_test(&app, &t, &endpoint_id).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let e = endpoints(&app, &t).await[0].clone();
        if e["pausedAt"].is_string() {
            assert!(e["pausedReason"].as_str().unwrap().contains("410"), "{e:#}");
            assert_eq!(e["consecutiveFailures"], 1);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "410 never paused: {e:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The tenant's current score (points and percentage) as the API answers it.
async fn score_now(app: &TestApp, t: &TenantFixture) -> (f64, f64) {
    let data = app
        .gql_ok(
            &t.reader,
            "query($slug: String!) { tenant(slug: $slug) { secureScore { current { points percentage } } } }",
            json!({ "slug": t.slug }),
        )
        .await;
    let current = &data["tenant"]["secureScore"]["current"];
    (
        current["points"].as_f64().unwrap(),
        current["percentage"].as_f64().unwrap(),
    )
}

hooks_test!(a_score_drop_past_the_threshold_and_into_a_worse_zone_alerts_once);
async fn a_score_drop_past_the_threshold_and_into_a_worse_zone_alerts_once(backend: Backend) {
    let app = spawn_app_with(backend, fast).await;
    let t = app.tenant().create().await;
    let (receiver, url) = Receiver::start().await;
    progress(&app, &t, "AdminMFAV2", 4, 4).await;
    let (points, percentage) = score_now(&app, &t).await;
    // The day started where the score is now; the zone is GOOD from just below it.
    let yesterday = chrono::Utc::now().date_naive() - chrono::Days::new(1);
    insert_flat_snapshot(
        &app,
        t.id,
        yesterday,
        (points * 10_000.0).round() as i64,
        1_000 * 10_000,
        "COMPUTED",
    )
    .await;
    let good_from = (percentage * 100.0).floor() / 100.0;
    let zones = app
        .set_score_zones(
            &t.operator,
            json!({ "tenantSlug": t.slug, "okayFrom": 0.0, "goodFrom": good_from }),
            "userErrors { code }",
        )
        .payload()
        .await;
    assert_eq!(zones["userErrors"], json!([]), "{zones:#}");
    let input = json!({ "tenantSlug": t.slug, "url": url, "events": ["SCORE_DROPPED", "SCORE_ZONE_DROPPED"],
                        "description": "drops", "scoreDropPoints": 1.0 });
    let created = data_of(create_endpoint(&app, &t.admin, input).await)["createWebhookEndpoint"].clone();
    assert_eq!(created["userErrors"], json!([]), "{created:#}");

    // A small regression (a quarter of the control) drops the score past 1 point and below GOOD.
    progress(&app, &t, "AdminMFAV2", 1, 4).await;
    let (after, _) = score_now(&app, &t).await;
    assert!(
        points - after > 1.0,
        "the regression costs more than the threshold: {points} → {after}"
    );
    let got = receiver.wait_for(2, Duration::from_secs(20)).await;
    let mut kinds: Vec<String> = got.iter().map(|r| header(r, "x-securescore-event")).collect();
    kinds.sort();
    assert_eq!(kinds, ["score.dropped", "score.zone_dropped"]);
    for r in &got {
        let body: Value = serde_json::from_str(&r.body).unwrap();
        let data = &body["data"];
        match body["type"].as_str().unwrap() {
            "score.dropped" => {
                assert!(
                    (data["pointsAtDayStart"].as_f64().unwrap() - points).abs() < 1e-6,
                    "{data:#}"
                );
                assert!(
                    (data["pointsAfter"].as_f64().unwrap() - after).abs() < 1e-6,
                    "{data:#}"
                );
                assert!(
                    (data["dropPoints"].as_f64().unwrap() - (points - after)).abs() < 1e-6,
                    "{data:#}"
                );
            }
            _ => {
                assert_eq!(data["zoneBefore"], "GOOD", "{data:#}");
                assert_eq!(data["zoneAfter"], "OKAY", "{data:#}");
            }
        }
    }
    // A further drop the same day: the threshold was crossed already, and the zone stays OKAY.
    progress(&app, &t, "AdminMFAV2", 0, 4).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 2, "nothing new");
}

hooks_test!(imports_that_finish_and_imports_that_fail_are_announced);
async fn imports_that_finish_and_imports_that_fail_are_announced(backend: Backend) {
    let app = spawn_app_with(backend, fast).await;
    let t = app.tenant().create().await;
    let (receiver, url) = Receiver::start().await;
    endpoint(&app, &t, &url, &["IMPORT_FINISHED", "IMPORT_FAILED"]).await;
    let (scores, profiles) = crate::graph_import::realistic();
    let done = crate::graph_import::import(&app, &t.admin, &t.slug, &scores, Some(&profiles)).await;
    assert_eq!(done["userErrors"], json!([]), "{done:#}");
    let refused =
        crate::graph_import::import(&app, &t.admin, &t.slug, &json!({ "value": "not a list" }), None).await;
    assert_ne!(refused["userErrors"], json!([]), "{refused:#}");
    let got = receiver.wait_for(2, Duration::from_secs(20)).await;
    // Deliveries are not ordered: find each by its type.
    let of = |kind: &str| -> Value {
        let found: Vec<&Received> = got
            .iter()
            .filter(|r| header(r, "x-securescore-event") == kind)
            .collect();
        assert_eq!(found.len(), 1, "one {kind}");
        serde_json::from_str(&found[0].body).unwrap()
    };
    let finished = of("import.finished");
    assert!(finished["data"]["records"].as_u64().unwrap() > 0, "{finished:#}");
    let failed = of("import.failed");
    assert_eq!(failed["data"]["code"], "BAD_USER_INPUT", "{failed:#}");
    // Another tenant's admin cannot make this tenant's endpoints hear of a failure.
    let other = app.tenant().create().await;
    let refused =
        crate::graph_import::import(&app, &other.admin, &t.slug, &json!({ "value": [] }), None).await;
    assert!(
        refused.is_null() || refused["userErrors"] != json!([]),
        "{refused:#}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        receiver.received().len(),
        2,
        "nothing for an import the caller may not run"
    );
}

/// Records a DEVICE_GROUP exception on `scid_2010` that ends at `ends`; returns its id.
async fn group_exception(app: &TestApp, t: &TenantFixture, ends: chrono::DateTime<chrono::Utc>) -> String {
    let recorded = app
        .record_device_exception(
            &t.operator,
            json!({
                "tenantSlug": t.slug, "controlId": "scid_2010", "scope": "DEVICE_GROUP",
                "justification": "PLANNED_REMEDIATION", "comment": "next sprint", "expiresAt": ends,
            }),
            "exception { id } userErrors { code message }",
        )
        .payload()
        .await;
    assert_eq!(recorded["userErrors"], json!([]), "{recorded:#}");
    recorded["exception"]["id"].as_str().unwrap().to_string()
}

hooks_test!(a_device_exception_ending_soon_is_reminded_of_once_per_threshold);
async fn a_device_exception_ending_soon_is_reminded_of_once_per_threshold(backend: Backend) {
    use securescore::service::workflow::risk::send_reminders;
    let app = spawn_app_with(backend, fast).await;
    let t = app.tenant().services(&["AzureAD", "MDATP"]).create().await;
    let (receiver, url) = Receiver::start().await;
    endpoint(&app, &t, &url, &["EXCEPTION_EXPIRING"]).await;
    let now = chrono::Utc::now();
    let ends = now + chrono::Duration::days(20);
    group_exception(&app, &t, ends).await;
    // 20 days before its end: within 30 days, once however often the sweep runs.
    assert_eq!(send_reminders(&app.db, now).await.unwrap(), 1);
    assert_eq!(send_reminders(&app.db, now).await.unwrap(), 0);
    // 6 days before: the 7-day reminder.
    let later = ends - chrono::Duration::days(6);
    assert_eq!(send_reminders(&app.db, later).await.unwrap(), 1);
    assert_eq!(send_reminders(&app.db, later).await.unwrap(), 0);
    // The first is delivered now; the second was raised at a later "now", so it is due then:
    // both are in the endpoint's log.
    let got = receiver.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(header(&got[0], "x-securescore-event"), "exception.expiring");
    let logged = endpoints(&app, &t).await[0]["deliveries"]
        .as_array()
        .unwrap()
        .clone();
    let mut days: Vec<i64> = logged
        .iter()
        .map(|d| {
            assert_eq!(d["type"], "EXCEPTION_EXPIRING");
            let body: Value = serde_json::from_str(d["payload"].as_str().unwrap()).unwrap();
            assert_eq!(body["data"]["controlId"], "scid_2010", "{body:#}");
            assert_eq!(body["data"]["scope"], "DEVICE_GROUP", "{body:#}");
            body["data"]["thresholdDays"].as_i64().unwrap()
        })
        .collect();
    days.sort();
    assert_eq!(days, [7, 30]);
}

hooks_test!(a_device_group_exception_that_ends_is_announced_once_and_changes_no_points);
async fn a_device_group_exception_that_ends_is_announced_once_and_changes_no_points(backend: Backend) {
    use securescore::service::workflow::risk::end_lapsed_group_exceptions;
    let app = spawn_app_with(backend, fast).await;
    let t = app.tenant().services(&["AzureAD", "MDATP"]).create().await;
    let other = app.tenant().services(&["AzureAD", "MDATP"]).create().await;
    let (receiver, url) = Receiver::start().await;
    endpoint(&app, &t, &url, &["EXCEPTION_EXPIRED"]).await;
    let (other_receiver, other_url) = Receiver::start().await;
    endpoint(&app, &other, &other_url, &["EXCEPTION_EXPIRED"]).await;
    let ends = chrono::Utc::now() + chrono::Duration::days(2);
    let exception_id = group_exception(&app, &t, ends).await;
    async fn score(app: &TestApp, t: &TenantFixture) -> Value {
        app.gql_ok(
            &t.reader,
            "query($slug: String!) { tenant(slug: $slug) { secureScore { current { pointsExact percentage } } } }",
            json!({ "slug": t.slug }),
        )
        .await["tenant"]["secureScore"]
            .clone()
    }
    async fn ended_at(app: &TestApp, t: &TenantFixture, id: &str) -> Value {
        app.gql_ok(
            &t.reader,
            "query($id: ID!) { node(id: $id) { ... on DeviceException { endedAt } } }",
            json!({ "id": id }),
        )
        .await["node"]["endedAt"]
            .clone()
    }
    let before = score(&app, &t).await;
    // Not before its end; once after it, however often the sweep runs.
    let just_before = ends - chrono::Duration::seconds(1);
    assert_eq!(
        end_lapsed_group_exceptions(&app.db, just_before).await.unwrap(),
        0
    );
    assert_eq!(ended_at(&app, &t, &exception_id).await, Value::Null);
    let after = ends + chrono::Duration::seconds(30);
    assert_eq!(end_lapsed_group_exceptions(&app.db, after).await.unwrap(), 1);
    assert_eq!(end_lapsed_group_exceptions(&app.db, after).await.unwrap(), 0);
    assert!(ended_at(&app, &t, &exception_id).await.is_string());
    assert_eq!(
        score(&app, &t).await,
        before,
        "a DEVICE_GROUP exception sets no points"
    );
    let logged = endpoints(&app, &t).await[0]["deliveries"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(logged.len(), 1, "{logged:#?}");
    assert_eq!(logged[0]["type"], "EXCEPTION_EXPIRED");
    let body: Value = serde_json::from_str(logged[0]["payload"].as_str().unwrap()).unwrap();
    assert_eq!(body["type"], "exception.expired");
    assert_eq!(body["data"]["exceptionId"], exception_id.as_str(), "{body:#}");
    assert_eq!(body["data"]["scope"], "DEVICE_GROUP", "{body:#}");
    assert_eq!(body["data"]["controlId"], "scid_2010", "{body:#}");
    assert!(body["data"]["endedAt"].is_string(), "{body:#}");
    // The other tenant hears nothing, and cannot read the exception.
    assert!(
        endpoints(&app, &other).await[0]["deliveries"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(other_receiver.received().is_empty());
    assert_eq!(ended_at(&app, &other, &exception_id).await, Value::Null);
    drop(receiver);
}

hooks_test!(the_delivery_log_pages_by_key_while_new_deliveries_arrive);
async fn the_delivery_log_pages_by_key_while_new_deliveries_arrive(backend: Backend) {
    let app = spawn_app_with(backend, fast).await;
    let t = app.tenant().create().await;
    let other = app.tenant().create().await;
    let (receiver, url) = Receiver::start().await;
    let (endpoint_id, _) = endpoint(&app, &t, &url, &["TEST"]).await;
    let mut sent = Vec::new();
    for _ in 0..5 {
        sent.push(send_test(&app, &t, &endpoint_id).await["id"].clone());
    }
    receiver.wait_for(5, Duration::from_secs(20)).await;
    let page = |token: &str, args: Value| {
        let query = "query($slug: String!, $first: Int, $after: String, $status: WebhookDeliveryStatus) { \
                     tenant(slug: $slug) { webhookEndpoints { deliveries(first: $first, after: $after, \
                     status: $status) { totalCount pageInfo { hasNextPage hasPreviousPage endCursor } \
                     nodes { id } } } } }";
        let vars = merged(json!({ "slug": t.slug }), args);
        let app = &app;
        let token = token.to_string();
        async move { app.gql(Some(&token), query, vars).await }
    };
    let ids = |body: &Value| -> Vec<Value> {
        body["data"]["tenant"]["webhookEndpoints"][0]["deliveries"]["nodes"]
            .as_array()
            .unwrap_or_else(|| panic!("{body:#}"))
            .iter()
            .map(|n| n["id"].clone())
            .collect()
    };
    // Newest first, two at a time.
    let first = page(&t.admin, json!({ "first": 2 })).await;
    let conn = &first["data"]["tenant"]["webhookEndpoints"][0]["deliveries"];
    assert_eq!(conn["totalCount"], 5, "{first:#}");
    assert_eq!(conn["pageInfo"]["hasNextPage"], true);
    assert_eq!(conn["pageInfo"]["hasPreviousPage"], false);
    assert_eq!(ids(&first), [sent[4].clone(), sent[3].clone()]);
    let cursor = conn["pageInfo"]["endCursor"].clone();
    // A delivery arriving meanwhile does not move the next page.
    let newer = send_test(&app, &t, &endpoint_id).await["id"].clone();
    let second = page(&t.admin, json!({ "first": 2, "after": cursor })).await;
    assert_eq!(ids(&second), [sent[2].clone(), sent[1].clone()]);
    let conn = &second["data"]["tenant"]["webhookEndpoints"][0]["deliveries"];
    assert_eq!(conn["totalCount"], 6);
    assert_eq!(conn["pageInfo"]["hasPreviousPage"], true);
    let third = page(
        &t.admin,
        json!({ "first": 2, "after": conn["pageInfo"]["endCursor"] }),
    )
    .await;
    assert_eq!(ids(&third), [sent[0].clone()]);
    assert_eq!(
        third["data"]["tenant"]["webhookEndpoints"][0]["deliveries"]["pageInfo"]["hasNextPage"],
        false
    );
    let fresh = page(&t.admin, json!({ "first": 1 })).await;
    assert_eq!(ids(&fresh), [newer]);
    // The status filter counts what it keeps.
    receiver.wait_for(6, Duration::from_secs(20)).await;
    let _ = wait_delivery(&app, &t, |d| d["status"] == "DELIVERED").await;
    let failed = page(&t.admin, json!({ "status": "FAILED" })).await;
    assert_eq!(
        failed["data"]["tenant"]["webhookEndpoints"][0]["deliveries"]["totalCount"], 0,
        "{failed:#}"
    );
    // Bad sizes and cursors are refused; only the tenant's ADMIN reads the log.
    for bad in [
        json!({ "first": 0 }),
        json!({ "first": 101 }),
        json!({ "after": "nonsense" }),
    ] {
        let body = page(&t.admin, bad.clone()).await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("BAD_USER_INPUT"),
            "{bad}: {body:#}"
        );
    }
    let body = page(&t.operator, json!({})).await;
    assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{body:#}");
    let body = page(&other.admin, json!({})).await;
    assert_eq!(error_code(&body).as_deref(), Some("NOT_FOUND"), "{body:#}");
    assert_eq!(body["data"]["tenant"], Value::Null, "{body:#}");
}
