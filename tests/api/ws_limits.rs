//! The bounds on a GraphQL WebSocket (`http::ws_guard`): a socket that sends no
//! `connection_init` in time is closed with 4408, in both protocols, while an initialised one
//! stays open; a client that stops reading is closed (1008, or the connection dropped) and
//! counted, and the server and other clients carry on; a shutdown closes every socket with 1001.

use crate::helpers::{TenantFixture, TestApp, set_status_at};
use crate::realtime::{Received, SCORE_SUBSCRIPTION, WAIT, Ws};
use securescore::app::App;
use securescore::config::Config;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpSocket;

/// `WS_INIT_TIMEOUT_MS` of the init-timeout tests.
const INIT_TIMEOUT_MS: u64 = 300;

/// `WS_SEND_TIMEOUT_MS` of the slow-subscriber test.
const SEND_TIMEOUT_MS: u64 = 500;

/// Both subprotocols: graphql-transport-ws, and `graphql-ws`, the legacy
/// subscriptions-transport-ws.
const PROTOCOLS: [&str; 2] = ["graphql-transport-ws", "graphql-ws"];

/// Initialises `ws` with the tenant's reader token in `protocol`; panics unless acknowledged.
async fn init(ws: &mut Ws, t: &TenantFixture) {
    let ack = ws.init(json!({ "token": t.reader })).await;
    assert!(
        matches!(&ack, Received::Json(v) if v["type"] == "connection_ack"),
        "{ack:?}"
    );
}

/// Starts subscription `id` in `protocol` (`subscribe` in graphql-transport-ws, `start` in the
/// legacy protocol).
async fn start(ws: &mut Ws, protocol: &str, id: &str, query: &str, t: &TenantFixture) {
    let kind = if protocol == "graphql-ws" {
        "start"
    } else {
        "subscribe"
    };
    ws.send(
        json!({ "id": id, "type": kind, "payload": { "query": query, "variables": { "slug": t.slug } } }),
    )
    .await;
}

/// The payload of the next data message of `id` (`next`, or `data` in the legacy protocol).
async fn data(ws: &mut Ws, id: &str) -> Value {
    match ws.recv().await {
        Received::Json(v) if (v["type"] == "next" || v["type"] == "data") && v["id"] == id => {
            v["payload"].clone()
        }
        other => panic!("expected data for {id}, got {other:?}"),
    }
}

/// Alternates an action's status between PLANNED and TO_ADDRESS; returns the score it answered.
async fn flip(app: &TestApp, t: &TenantFixture, round: usize) -> Value {
    let status = if round.is_multiple_of(2) {
        "PLANNED"
    } else {
        "TO_ADDRESS"
    };
    set_status_at(
        app,
        &app.address,
        t,
        "AdminMFAV2",
        status,
        "{ planned { points } }",
    )
    .await
}

crate::db_test!(
    a_socket_that_sends_no_connection_init_is_closed_with_4408_in_both_protocols,
    config: |c: &mut Config| c.ws_init_timeout_ms = INIT_TIMEOUT_MS,
    |app| {
        for protocol in PROTOCOLS {
            let opened = Instant::now();
            let mut ws = Ws::open_with(&app.address, "/graphql/ws", protocol).await;
            match ws.recv().await {
                Received::Closed(code, reason) => assert_eq!(
                    (code, reason.as_str()),
                    (4408, "Connection initialisation timeout"),
                    "{protocol}"
                ),
                other => panic!("{protocol}: expected a close frame, got {other:?}"),
            }
            assert!(
                opened.elapsed() >= Duration::from_millis(INIT_TIMEOUT_MS),
                "{protocol}: not before the timeout"
            );
        }
    }
);

crate::db_test!(
    an_initialised_socket_outlives_the_init_timeout_and_receives_its_subscription,
    config: |c: &mut Config| c.ws_init_timeout_ms = INIT_TIMEOUT_MS,
    |app| {
        let t = app.tenant().create().await;
        for (round, protocol) in PROTOCOLS.into_iter().enumerate() {
            let mut ws = Ws::open_with(&app.address, "/graphql/ws", protocol).await;
            init(&mut ws, &t).await;
            start(&mut ws, protocol, "s", SCORE_SUBSCRIPTION, &t).await;
            let first = data(&mut ws, "s").await;
            assert!(first.get("errors").is_none(), "{protocol}: {first:#}");
            tokio::time::sleep(Duration::from_millis(3 * INIT_TIMEOUT_MS)).await;

            let after = flip(&app, &t, round).await;
            let pushed = data(&mut ws, "s").await;
            assert_eq!(
                pushed["data"]["scoreUpdated"]["planned"], after["planned"],
                "{protocol}: {pushed:#}"
            );
        }
    }
);

/// One slow-subscriber test at a time: they read the process-wide slow-close counter.
static ONE_SLOW_CLIENT_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Subscriptions the slow client opens: with a large selection each, one change makes the server
/// send far more than a small receive buffer holds.
const SLOW_SUBSCRIPTIONS: usize = 40;

/// `scoreUpdated` with every view of the score and of each category (about 4 kB a message).
fn large_score_subscription() -> String {
    let view = "{ points pointsExact max percentage }";
    let views = format!(
        "maxScore {view} current {view} planned {view} currentLicense {view} achievable {view} verified {view}"
    );
    format!(
        "subscription($slug: String!) {{ scoreUpdated(tenantSlug: $slug) {{ id {views} \
         categories {{ category {views} }} updatedAt }} }}"
    )
}

/// `securescore_ws_closed_slow_total` now.
async fn slow_closes(app: &TestApp) -> f64 {
    let text = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .expect("metrics response")
        .text()
        .await
        .expect("metrics body");
    text.lines()
        .find_map(|l| l.strip_prefix("securescore_ws_closed_slow_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// A WebSocket over a TCP connection whose receive buffer is small, so that the kernel holds
/// little of what the server sends while the client does not read.
async fn open_with_small_receive_buffer(app: &TestApp) -> Ws {
    let addr: SocketAddr = app
        .address
        .trim_start_matches("http://")
        .parse()
        .expect("socket address");
    let socket = TcpSocket::new_v4().expect("TCP socket");
    socket.set_recv_buffer_size(4096).expect("receive buffer size");
    let tcp = socket.connect(addr).await.expect("TCP connection");
    Ws::open_on(tcp, &app.address, "/graphql/ws", "graphql-transport-ws").await
}

crate::db_test!(
    a_client_that_stops_reading_is_closed_and_the_others_carry_on,
    config: |c: &mut Config| {
        c.ws_send_timeout_ms = SEND_TIMEOUT_MS;
        c.rate_limit_per_minute = 100_000;
        c.rate_limit_burst = 10_000;
    },
    |app| {
        let _alone = ONE_SLOW_CLIENT_AT_A_TIME.lock().await;
        let t = app.tenant().create().await;
        let closed_before = slow_closes(&app).await;

        // A subscriber that reads everything, throughout.
        let mut good = Ws::connect(&app.address, &t.reader).await;
        good.subscribe("g", SCORE_SUBSCRIPTION, json!({ "slug": t.slug }))
            .await;
        good.next_payload("g").await;
        let stop = Arc::new(AtomicBool::new(false));
        let reading = tokio::spawn({
            let stop = stop.clone();
            async move {
                let mut received = 0;
                while !stop.load(Ordering::Relaxed) {
                    if good
                        .try_next_payload("g", Duration::from_millis(200))
                        .await
                        .is_some()
                    {
                        received += 1;
                    }
                }
                (good, received)
            }
        });

        // The slow client: many large subscriptions, all started, then no more reading.
        let mut slow = open_with_small_receive_buffer(&app).await;
        init(&mut slow, &t).await;
        let query = large_score_subscription();
        for i in 0..SLOW_SUBSCRIPTIONS {
            slow.subscribe(&format!("s{i}"), &query, json!({ "slug": t.slug }))
                .await;
        }
        for _ in 0..SLOW_SUBSCRIPTIONS {
            match slow.recv().await {
                Received::Json(v) if v["type"] == "next" && v["payload"].get("errors").is_none() => {}
                other => panic!("expected a first score, got {other:?}"),
            }
        }
        let flooding = Instant::now();
        let mut round = 0;
        while slow_closes(&app).await <= closed_before {
            assert!(
                flooding.elapsed() < Duration::from_secs(15),
                "the server gave up on the client that does not read within 15 s of changes"
            );
            flip(&app, &t, round).await;
            round += 1;
        }

        // Reading again, the client finds the close frame after what the buffers held, or the
        // connection ends (when the close frame could not be written in time).
        let end = tokio::time::timeout(WAIT, async {
            loop {
                if let Received::Closed(code, reason) = slow.recv().await {
                    return (code, reason);
                }
            }
        })
        .await
        .expect("the connection ends once the client reads");
        match end {
            (1008, reason) => assert_eq!(
                reason,
                format!("client too slow: messages not read within {SEND_TIMEOUT_MS} ms")
            ),
            (1006, _) => {}
            other => panic!("expected a close with 1008 or the connection ended, got {other:?}"),
        }

        // The server goes on: the reading subscriber is still served, and a new one works.
        stop.store(true, Ordering::Relaxed);
        let (mut good, received) = reading.await.expect("the reading client's task");
        assert!(received >= 1, "the reading subscriber received changes");
        let mut fresh = Ws::connect(&app.address, &t.reader).await;
        fresh
            .subscribe("f", SCORE_SUBSCRIPTION, json!({ "slug": t.slug }))
            .await;
        fresh.next_payload("f").await;
        let after = flip(&app, &t, round).await;
        for (ws, id) in [(&mut fresh, "f"), (&mut good, "g")] {
            let mut latest = ws.next_payload(id).await;
            // The reading subscriber may still have a notification of the flood to deliver.
            while latest["data"]["scoreUpdated"]["planned"] != after["planned"] {
                latest = ws.next_payload(id).await;
            }
        }
    }
);

crate::db_test!(a_shutdown_closes_every_socket_with_1001, |app| {
    let t = app.tenant().create().await;
    // A server process on the test's database whose shutdown the test controls.
    let mut config = Config::for_database(app.database_url.clone());
    config.db_max_connections = Some(5);
    let server = App::build(config).await.expect("the app builds");
    let address = format!("http://{}", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run_until(async move {
        let _ = stopped.await;
    }));

    let mut subscribed = Ws::connect(&address, &t.reader).await;
    subscribed
        .subscribe("s", SCORE_SUBSCRIPTION, json!({ "slug": t.slug }))
        .await;
    subscribed.next_payload("s").await;
    let mut uninitialised = Ws::open_with(&address, "/graphql/ws", "graphql-ws").await;

    stop.send(()).expect("the server is running");
    for (ws, which) in [
        (&mut subscribed, "a socket with a subscription"),
        (&mut uninitialised, "a legacy socket without connection_init"),
    ] {
        match ws.recv().await {
            Received::Closed(code, reason) => {
                assert_eq!((code, reason.as_str()), (1001, "server shutting down"), "{which}")
            }
            other => panic!("{which}: expected a close frame, got {other:?}"),
        }
    }
    running
        .await
        .expect("the server task")
        .expect("the server stopped cleanly");
});
