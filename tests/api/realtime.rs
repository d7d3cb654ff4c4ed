//! Subscriptions over WebSocket (`graphql-transport-ws`) and `/metrics`: a subscriber sees
//! changes committed through another server process on the same PostgreSQL database, and within
//! one app on SQLite; connections and subscriptions are refused without a valid token or a role
//! on the tenant; the Prometheus exposition has the documented series.

use crate::helpers::{
    Backend, TenantFixture, TestApp, postgres_enabled, set_status_at, spawn_another_process, spawn_app,
};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Longest wait for one server message.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

pub(crate) const SCORE_SUBSCRIPTION: &str = "subscription($slug: String!) { scoreUpdated(tenantSlug: $slug) { \
     current { points } planned { points } updatedAt } }";

/// What the server sent.
#[derive(Debug)]
pub(crate) enum Received {
    Json(Value),
    Closed(u16, String),
}

/// A `graphql-transport-ws` client connection.
pub(crate) struct Ws(WebSocketStream<MaybeTlsStream<TcpStream>>);

impl Ws {
    pub(crate) async fn open(address: &str, path: &str) -> Ws {
        Ws::open_with(address, path, "graphql-transport-ws").await
    }

    /// Opens a connection speaking `protocol`: `graphql-transport-ws`, or `graphql-ws` (the
    /// legacy subscriptions-transport-ws protocol).
    pub(crate) async fn open_with(address: &str, path: &str, protocol: &'static str) -> Ws {
        let host = address.trim_start_matches("http://");
        let tcp = TcpStream::connect(host).await.expect("TCP connection");
        Ws::open_on(tcp, address, path, protocol).await
    }

    /// Like [`Ws::open_with`], over a TCP connection to `address` the caller made (e.g. one with
    /// a small receive buffer).
    pub(crate) async fn open_on(tcp: TcpStream, address: &str, path: &str, protocol: &'static str) -> Ws {
        let url = format!("{}{path}", address.replacen("http://", "ws://", 1));
        let mut request = url.into_client_request().expect("ws request");
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(protocol));
        let (ws, response) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(tcp))
            .await
            .expect("WebSocket handshake");
        assert_eq!(
            response
                .headers()
                .get("sec-websocket-protocol")
                .map(|v| v.as_bytes()),
            Some(protocol.as_bytes()),
            "the server speaks the protocol asked for"
        );
        Ws(ws)
    }

    /// Opens a connection and authenticates it; panics unless acknowledged.
    pub(crate) async fn connect(address: &str, token: &str) -> Ws {
        let mut ws = Ws::open(address, "/graphql/ws").await;
        let reply = ws
            .init(json!({ "Authorization": format!("Bearer {token}") }))
            .await;
        match reply {
            Received::Json(v) if v["type"] == "connection_ack" => ws,
            other => panic!("connection not acknowledged: {other:?}"),
        }
    }

    pub(crate) async fn init(&mut self, payload: Value) -> Received {
        self.send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        self.recv().await
    }

    pub(crate) async fn send(&mut self, message: Value) {
        self.0
            .send(Message::text(message.to_string()))
            .await
            .expect("message sent");
    }

    pub(crate) async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(
            json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } }),
        )
        .await;
    }

    /// The next protocol message (pings are answered, not returned).
    pub(crate) async fn recv(&mut self) -> Received {
        loop {
            let message = tokio::time::timeout(WAIT, self.0.next())
                .await
                .expect("a server message within the wait");
            match message {
                Some(Ok(Message::Text(text))) => {
                    let v: Value = serde_json::from_str(&text).expect("JSON message");
                    if v["type"] == "ping" {
                        self.send(json!({ "type": "pong" })).await;
                        continue;
                    }
                    return Received::Json(v);
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame
                        .map(|f| (u16::from(f.code), f.reason.to_string()))
                        .unwrap_or((1005, String::new()));
                    return Received::Closed(code, reason);
                }
                Some(Ok(_)) => continue,
                Some(Err(err)) => return Received::Closed(1006, err.to_string()),
                None => return Received::Closed(1006, "stream ended".into()),
            }
        }
    }

    /// The payload of the next `next` message of subscription `id`.
    pub(crate) async fn next_payload(&mut self, id: &str) -> Value {
        match self.recv().await {
            Received::Json(v) if v["type"] == "next" && v["id"] == id => v["payload"].clone(),
            other => panic!("expected `next` for {id}, got {other:?}"),
        }
    }

    /// The next `next` payload of `id`, or `None` when nothing comes within `wait`.
    pub(crate) async fn try_next_payload(&mut self, id: &str, wait: Duration) -> Option<Value> {
        let message = tokio::time::timeout(wait, self.recv()).await.ok()?;
        match message {
            Received::Json(v) if v["type"] == "next" && v["id"] == id => Some(v["payload"].clone()),
            other => panic!("expected `next` for {id}, got {other:?}"),
        }
    }
}

/// A second server process on the same database: its own App, pool and change listener;
/// returns its base URL.
async fn spawn_second_process(app: &TestApp) -> String {
    spawn_another_process(app, |_| {}).await
}

/// Sets a status through the server at `address`; returns the score it answered with.
async fn set_status(app: &TestApp, address: &str, t: &TenantFixture, control: &str, status: &str) -> Value {
    set_status_at(
        app,
        address,
        t,
        control,
        status,
        "{ current { points } planned { points } }",
    )
    .await
}

/// Subscribes on `subscriber`, changes a status through `writer` and checks the subscriber
/// receives the score the change produced.
async fn subscriber_receives_the_new_score(app: &TestApp, subscriber: &str, writer: &str, t: &TenantFixture) {
    let mut ws = Ws::connect(subscriber, &t.reader).await;
    ws.subscribe("s1", SCORE_SUBSCRIPTION, json!({ "slug": t.slug }))
        .await;
    let initial = ws.next_payload("s1").await;
    assert!(initial.get("errors").is_none(), "{initial:#}");
    let before = initial["data"]["scoreUpdated"].clone();

    let after = set_status(app, writer, t, "AdminMFAV2", "PLANNED").await;
    assert_ne!(
        after["planned"], before["planned"],
        "planning an action changes the planned view"
    );
    let pushed = ws.next_payload("s1").await;
    assert_eq!(
        pushed["data"]["scoreUpdated"]["planned"], after["planned"],
        "{pushed:#}"
    );
    assert_eq!(pushed["data"]["scoreUpdated"]["current"], after["current"]);

    // And again for a second change, then the subscription ends when the client completes it.
    let after = set_status(app, writer, t, "AdminMFAV2", "TO_ADDRESS").await;
    let pushed = ws.next_payload("s1").await;
    assert_eq!(pushed["data"]["scoreUpdated"]["planned"], after["planned"]);
    ws.send(json!({ "id": "s1", "type": "complete" })).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs TEST_DATABASE_URL (a PostgreSQL database)"
)]
async fn a_subscriber_receives_the_new_score_after_a_change_through_another_server_process_on_postgres() {
    assert!(
        postgres_enabled(),
        "TEST_DATABASE_URL is not set: this PostgreSQL test cannot run"
    );
    let first = spawn_app(Backend::Postgres).await;
    let second = spawn_second_process(&first).await;
    let t = first.tenant().create().await;
    subscriber_receives_the_new_score(&first, &first.address, &second, &t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_over_the_websocket_answers_a_failed_field_as_null() {
    let app = spawn_app(Backend::Sqlite).await;
    let t = app.tenant().create().await;
    let mut ws = Ws::connect(&app.address, &t.reader).await;
    ws.subscribe(
        "q1",
        r#"query($slug: String!) { missing: tenant(slug: "nope") { slug } tenant(slug: $slug) { slug } }"#,
        json!({ "slug": t.slug }),
    )
    .await;
    let payload = ws.next_payload("q1").await;
    assert_eq!(
        payload["data"],
        json!({ "missing": null, "tenant": { "slug": t.slug } }),
        "{payload:#}"
    );
    assert_eq!(payload["errors"][0]["path"], json!(["missing"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_receives_the_new_score_after_a_change_on_sqlite_within_one_app() {
    let app = spawn_app(Backend::Sqlite).await;
    let t = app.tenant().create().await;
    subscriber_receives_the_new_score(&app, &app.address, &app.address, &t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_receives_changes_made_by_another_process_on_the_same_sqlite_file() {
    let first = spawn_app(Backend::Sqlite).await;
    let second = spawn_second_process(&first).await;
    let t = first.tenant().create().await;
    subscriber_receives_the_new_score(&first, &first.address, &second, &t).await;
}

crate::db_test!(subscriptions_are_also_served_on_the_graphql_url, |app| {
    let t = app.tenant().create().await;
    let mut ws = Ws::open(&app.address, "/graphql").await;
    let ack = ws.init(json!({ "token": t.reader })).await;
    assert!(
        matches!(&ack, Received::Json(v) if v["type"] == "connection_ack"),
        "{ack:?}"
    );
    ws.subscribe("a", SCORE_SUBSCRIPTION, json!({ "slug": t.slug }))
        .await;
    let first = ws.next_payload("a").await;
    assert!(
        first["data"]["scoreUpdated"]["current"]["points"].is_number(),
        "{first:#}"
    );
    // Plain HTTP on the same URL still works.
    let body = app.query_viewer(&t.reader, "name").await;
    assert!(body.get("errors").is_none(), "{body:#}");
});

crate::db_test!(a_connection_without_a_valid_token_is_refused, |app| {
    let t = app.tenant().create().await;
    for (payload, why) in [
        (json!({}), "no token"),
        (
            json!({ "Authorization": "Bearer ssk_not-a-real-token" }),
            "unknown token",
        ),
        (json!({ "Authorization": t.reader.clone() }), "no Bearer scheme"),
    ] {
        let mut ws = Ws::open(&app.address, "/graphql/ws").await;
        match ws.init(payload).await {
            Received::Closed(code, reason) => {
                assert_ne!(code, 1000, "{why}: refused, not a normal close");
                assert!(reason.contains("authentication"), "{why}: {reason}");
            }
            other => panic!("{why}: expected the connection to be closed, got {other:?}"),
        }
    }
    // Subscribing without connection_init is refused too.
    let mut ws = Ws::open(&app.address, "/graphql/ws").await;
    ws.subscribe("x", SCORE_SUBSCRIPTION, json!({ "slug": t.slug }))
        .await;
    assert!(matches!(ws.recv().await, Received::Closed(..)));
});

crate::db_test!(another_tenants_slug_is_not_found, |app| {
    let mine = app.tenant().create().await;
    let theirs = app.tenant().create().await;
    let mut ws = Ws::connect(&app.address, &mine.reader).await;
    for (id, query, slug) in [
        ("score", SCORE_SUBSCRIPTION, theirs.slug.as_str()),
        (
            "events",
            "subscription($slug: String!) { actionEvents(tenantSlug: $slug) { kind } }",
            theirs.slug.as_str(),
        ),
        ("missing", SCORE_SUBSCRIPTION, "no-such-tenant"),
    ] {
        ws.subscribe(id, query, json!({ "slug": slug })).await;
        let errors = match ws.recv().await {
            Received::Json(v) if v["type"] == "next" => v["payload"]["errors"].clone(),
            Received::Json(v) if v["type"] == "error" => v["payload"].clone(),
            other => panic!("{id}: expected an error, got {other:?}"),
        };
        assert_eq!(errors[0]["extensions"]["code"], "NOT_FOUND", "{id}: {errors:#}");
        let end = ws.recv().await;
        assert!(
            matches!(&end, Received::Json(v) if v["type"] == "complete" && v["id"] == id),
            "{id}: the refused subscription completes: {end:?}"
        );
    }
    // The connection stays usable for the caller's own tenant.
    ws.subscribe("own", SCORE_SUBSCRIPTION, json!({ "slug": mine.slug }))
        .await;
    let own = ws.next_payload("own").await;
    assert!(own["data"]["scoreUpdated"]["current"].is_object(), "{own:#}");
});

crate::db_test!(action_events_stream_the_kinds_asked_for, |app| {
    let t = app.tenant().create().await;
    let mut ws = Ws::connect(&app.address, &t.reader).await;
    ws.subscribe(
        "ev",
        "subscription($slug: String!) { actionEvents(tenantSlug: $slug, kinds: [STATUS_CHANGED]) { \
         kind controlId actor statusBefore statusAfter } }",
        json!({ "slug": t.slug }),
    )
    .await;
    // The stream has no first item to show it is live, so change until something arrives; a
    // note (NOTE_ADDED, not asked for) goes first each time and must not be sent.
    let mut received = None;
    for (round, status) in ["PLANNED", "TO_ADDRESS"].iter().cycle().take(20).enumerate() {
        let note =
            json!({ "tenantSlug": t.slug, "controlId": "AdminMFAV2", "body": format!("round {round}") });
        app.add_action_note(&t.operator, note, "userErrors { code }")
            .data()
            .await;
        set_status(&app, &app.address, &t, "AdminMFAV2", status).await;
        if let Some(p) = ws.try_next_payload("ev", Duration::from_millis(500)).await {
            received = Some((p, *status));
            break;
        }
    }
    let (payload, status) = received.expect("an event within 20 changes");
    let event = &payload["data"]["actionEvents"];
    assert_eq!(event["kind"], "STATUS_CHANGED", "{payload:#}");
    assert_eq!(event["controlId"], "AdminMFAV2");
    assert_eq!(event["statusAfter"], status);
    // The next change arrives too, in order.
    let next_status = if status == "PLANNED" {
        "TO_ADDRESS"
    } else {
        "PLANNED"
    };
    set_status(&app, &app.address, &t, "AdminMFAV2", next_status).await;
    let payload = ws.next_payload("ev").await;
    assert_eq!(
        payload["data"]["actionEvents"]["statusAfter"], next_status,
        "{payload:#}"
    );
});

/// The value of a series in a Prometheus text exposition (the sum over series whose name and
/// labels start with `prefix`).
fn metric(text: &str, prefix: &str) -> Option<f64> {
    let values: Vec<f64> = text
        .lines()
        .filter(|l| !l.starts_with('#') && l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

crate::db_test!(
    metrics_expose_requests_latency_errors_pool_subscriptions_and_jobs,
    |app| {
        let t = app.tenant().create().await;
        let get_metrics = || async {
            let resp = app
                .client
                .get(format!("{}/metrics", app.address))
                .send()
                .await
                .expect("metrics response");
            assert_eq!(resp.status(), 200);
            assert!(
                resp.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/plain")
            );
            resp.text().await.expect("metrics body")
        };
        // Per backend: the recorder is shared by the tests running at the same time.
        let probe = format!("RealtimeMetricsProbe{:?}", app.backend);
        let ok_series = format!("securescore_graphql_requests_total{{operation=\"{probe}\",outcome=\"ok\"}}");
        let before = metric(&get_metrics().await, &ok_series).unwrap_or(0.0);

        for _ in 0..3 {
            app.gql_ok(
                &t.reader,
                &format!("query {probe} {{ viewer {{ name }} }}"),
                json!({}),
            )
            .await;
        }
        let denied = app
            .gql(None, "query RealtimeMetricsDenied { viewer { name } }", json!({}))
            .await;
        assert_eq!(
            crate::helpers::error_code(&denied).as_deref(),
            Some("UNAUTHENTICATED")
        );
        let mut ws = Ws::connect(&app.address, &t.reader).await;
        ws.subscribe("m", SCORE_SUBSCRIPTION, json!({ "slug": t.slug }))
            .await;
        ws.next_payload("m").await;

        let text = get_metrics().await;
        assert_eq!(
            metric(&text, &ok_series),
            Some(before + 3.0),
            "requests by operation and outcome"
        );
        assert!(
        metric(
            &text,
            "securescore_graphql_requests_total{operation=\"RealtimeMetricsDenied\",outcome=\"UNAUTHENTICATED\"}"
        )
        .is_some_and(|n| n >= 1.0),
        "failed requests are labelled with their code"
    );
        assert!(
            metric(
                &text,
                &format!(
                    "securescore_graphql_request_duration_seconds_bucket{{operation=\"{probe}\",le=\"+Inf\"}}"
                )
            )
            .is_some_and(|n| n >= 3.0),
            "latency histogram"
        );
        assert!(metric(&text, "securescore_graphql_request_duration_seconds_count").is_some());
        assert!(
            metric(
                &text,
                "securescore_graphql_errors_total{code=\"UNAUTHENTICATED\"}"
            )
            .is_some_and(|n| n >= 1.0),
            "errors by code"
        );
        for series in [
            "securescore_db_pool_connections",
            "securescore_db_pool_idle_connections",
            "securescore_db_pool_max_connections",
        ] {
            assert!(metric(&text, series).is_some(), "{series} in\n{text}");
        }
        assert_eq!(
            metric(&text, "securescore_db_pool_max_connections "),
            Some(5.0),
            "this app's pool"
        );
        assert!(
            metric(&text, "securescore_subscriptions_active{field=\"scoreUpdated\"}")
                .is_some_and(|n| n >= 1.0),
            "open subscriptions"
        );
        for series in [
            "securescore_snapshot_job_runs_total",
            "securescore_expiry_sweep_runs_total",
            "securescore_expired_actions_total",
        ] {
            assert!(metric(&text, series).is_some(), "{series} in\n{text}");
        }
        assert!(
            metric(&text, "securescore_expiry_sweep_runs_total{outcome=\"ok\"}").is_some_and(|n| n >= 1.0),
            "the sweep ran once at start"
        );
        assert!(text.contains("# TYPE securescore_graphql_request_duration_seconds histogram"));
    }
);
