//! The connection layer (issue 22, `src/http/serve.rs`), over raw TCP against the real server:
//! the header-read timeout cuts a request head sent too slowly but not an idle connection; the
//! idle timeout closes new and keep-alive connections with no request in progress, never one
//! whose request is in progress; `MAX_CONNECTIONS` (WebSockets included) is answered with 503 and
//! `Retry-After`; a shutdown finishes the requests in progress and cuts what outlives
//! `SHUTDOWN_DRAIN_MS`. These are transport tests: they run on SQLite only.

use crate::helpers::{Backend, fresh_database, spawn_app_with};
use crate::realtime::Ws;
use securescore::app::App;
use securescore::config::Config;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

/// The longest any step here waits for the server: far above every timeout the tests set, so a
/// slow machine does not fail them, and far below the defaults, so a timeout that does not work
/// fails them.
const PATIENCE: Duration = Duration::from_secs(10);

/// A GraphQL request every role (and no token) may send.
const TYPENAME: &str = r#"{"query":"{ __typename }"}"#;

/// A complete `GET /healthz` head.
const HEALTHZ: &str = "GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n";

/// A response as read off the socket.
#[derive(Debug)]
struct RawResponse {
    status_line: String,
    /// Header names in lower case.
    headers: Vec<(String, String)>,
    body: String,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

async fn connect(address: &str) -> TcpStream {
    TcpStream::connect(address.trim_start_matches("http://"))
        .await
        .expect("TCP connect")
}

/// Reads one response with a `Content-Length` body; panics if the connection ends first or the
/// server takes longer than [`PATIENCE`].
async fn read_response(stream: &mut TcpStream) -> RawResponse {
    timeout(PATIENCE, async {
        let mut buf = Vec::new();
        let head_end = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at;
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.expect("read the response");
            assert!(n > 0, "the connection closed before a complete response head");
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8(buf[..head_end].to_vec()).expect("an ASCII head");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().expect("a status line").to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map(|(_, v)| v.parse().expect("a numeric Content-Length"))
            .expect("a Content-Length");
        let mut body = buf[head_end + 4..].to_vec();
        while body.len() < length {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.expect("read the body");
            assert!(n > 0, "the connection closed in the middle of the body");
            body.extend_from_slice(&chunk[..n]);
        }
        RawResponse {
            status_line,
            headers,
            body: String::from_utf8(body).expect("a UTF-8 body"),
        }
    })
    .await
    .expect("a response within PATIENCE")
}

/// Waits until the server closes the connection (a read returns end of file) and returns how
/// long that took; panics if data arrives instead, or nothing within [`PATIENCE`].
async fn closed_by_server(stream: &mut TcpStream) -> Duration {
    let start = Instant::now();
    let mut chunk = [0u8; 1024];
    let n = timeout(PATIENCE, stream.read(&mut chunk))
        .await
        .expect("the server closes the connection within PATIENCE")
        .expect("end of file, not an error");
    assert_eq!(
        n,
        0,
        "unexpected data: {:?}",
        String::from_utf8_lossy(&chunk[..n])
    );
    start.elapsed()
}

/// Sends `GET /healthz` and expects `200 ok`.
async fn healthz(stream: &mut TcpStream) {
    stream.write_all(HEALTHZ.as_bytes()).await.expect("request sent");
    let response = read_response(stream).await;
    assert_eq!(response.status_line, "HTTP/1.1 200 OK", "{response:?}");
    assert_eq!(response.body, "ok");
}

/// The head of a `POST /graphql` with a body of `length` bytes.
fn post_head(length: usize) -> String {
    format!(
        "POST /graphql HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\n\r\n"
    )
}

/// Starts a `POST /graphql` whose body stops after five bytes; returns once the handler reads
/// the body (hyper answers the `Expect: 100-continue` then), i.e. with the request in progress.
async fn stalled_post(address: &str) -> TcpStream {
    let mut stream = connect(address).await;
    let head = post_head(TYPENAME.len()).replace("\r\n\r\n", "\r\nExpect: 100-continue\r\n\r\n");
    stream.write_all(head.as_bytes()).await.expect("head sent");
    let expected = b"HTTP/1.1 100 Continue\r\n\r\n";
    let mut interim = vec![0u8; expected.len()];
    timeout(PATIENCE, stream.read_exact(&mut interim))
        .await
        .expect("100 Continue within PATIENCE")
        .expect("100 Continue read");
    assert_eq!(
        String::from_utf8_lossy(&interim),
        String::from_utf8_lossy(expected)
    );
    stream.write_all(&TYPENAME.as_bytes()[..5]).await.expect("sent");
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_sent_too_slowly_is_cut_after_the_header_timeout() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.header_read_timeout_ms = 1_000;
        c.idle_timeout_ms = 60_000;
    })
    .await;

    // Half a head, then nothing: closed without a response once the header timeout is over.
    let mut slow = connect(&app.address).await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: te")
        .await
        .expect("sent");
    let waited = closed_by_server(&mut slow).await;
    assert!(
        waited >= Duration::from_millis(800),
        "cut after {waited:?}, before the header timeout"
    );

    // A head sent in pieces that together take less than the header timeout is answered.
    let mut steady = connect(&app.address).await;
    let (first, rest) = HEALTHZ.split_at(10);
    let (second, third) = rest.split_at(10);
    for piece in [first, second, third] {
        steady.write_all(piece.as_bytes()).await.expect("sent");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let response = read_response(&mut steady).await;
    assert_eq!(response.status_line, "HTTP/1.1 200 OK", "{response:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_header_timeout_starts_at_the_first_byte_of_a_head_not_when_the_connection_idles() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.header_read_timeout_ms = 300;
        c.idle_timeout_ms = 60_000;
    })
    .await;

    // New, and keep-alive after a response: silent for several header timeouts, then served.
    let mut stream = connect(&app.address).await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    healthz(&mut stream).await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    healthz(&mut stream).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_with_no_request_in_progress_are_closed_after_the_idle_timeout() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.header_read_timeout_ms = 60_000;
        c.idle_timeout_ms = 1_000;
    })
    .await;

    // A keep-alive connection after one full request and response.
    let mut kept_alive = connect(&app.address).await;
    healthz(&mut kept_alive).await;
    let waited = closed_by_server(&mut kept_alive).await;
    assert!(
        waited >= Duration::from_millis(800),
        "closed after {waited:?}, before the idle timeout"
    );

    // A new connection that never sends anything.
    let mut silent = connect(&app.address).await;
    let waited = closed_by_server(&mut silent).await;
    assert!(
        waited >= Duration::from_millis(800),
        "closed after {waited:?}, before the idle timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_in_use_outlives_several_idle_timeouts() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.header_read_timeout_ms = 600;
        c.idle_timeout_ms = 600;
    })
    .await;

    // Requests more often than the idle timeout keep a keep-alive connection open.
    let mut busy = connect(&app.address).await;
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(3_000) {
        healthz(&mut busy).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }

    // A request in progress (its body trickling in for longer than both timeouts) is not cut.
    let mut slow_body = connect(&app.address).await;
    slow_body
        .write_all(post_head(TYPENAME.len()).as_bytes())
        .await
        .expect("head sent");
    let start = Instant::now();
    for byte in TYPENAME.as_bytes().chunks(4) {
        slow_body.write_all(byte).await.expect("body sent");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let response = read_response(&mut slow_body).await;
    assert!(start.elapsed() > Duration::from_millis(1_200));
    assert_eq!(response.status_line, "HTTP/1.1 200 OK", "{response:?}");
    assert_eq!(response.body, r#"{"data":{"__typename":"Query"}}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_beyond_max_connections_is_answered_503_with_retry_after() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.max_connections = 3).await;

    let mut open = Vec::new();
    for _ in 0..3 {
        let mut stream = connect(&app.address).await;
        healthz(&mut stream).await;
        open.push(stream);
    }

    let mut fourth = connect(&app.address).await;
    fourth.write_all(HEALTHZ.as_bytes()).await.expect("sent");
    let refused = read_response(&mut fourth).await;
    assert_eq!(
        refused.status_line, "HTTP/1.1 503 Service Unavailable",
        "{refused:?}"
    );
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(refused.header("connection"), Some("close"));
    assert_eq!(refused.header("content-type"), Some("text/plain; charset=utf-8"));
    assert!(
        !refused.body.is_empty() && refused.body.ends_with('\n'),
        "{refused:?}"
    );
    closed_by_server(&mut fourth).await;

    // The same through an HTTP client.
    let response = reqwest::Client::new()
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");

    // Once a connection closes, its slot serves a new one (the server notices the close
    // asynchronously, so the new connection may take a few tries).
    drop(open.pop());
    let start = Instant::now();
    let mut metrics = loop {
        let mut stream = connect(&app.address).await;
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n")
            .await
            .expect("sent");
        let response = read_response(&mut stream).await;
        if response.status_line == "HTTP/1.1 200 OK" {
            break response.body;
        }
        assert!(start.elapsed() < PATIENCE, "no slot freed: {response:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    metrics.retain(|c| c != '\r');
    let refused_total: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("securescore_http_connections_refused_total "))
        .expect("the refused counter is exposed")
        .parse()
        .expect("a number");
    // The counter is per process, and other tests' servers share it: at least this test's two.
    assert!(refused_total >= 2.0, "{refused_total}");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("securescore_http_connections_open ")),
        "the open connections gauge is exposed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgraded_websocket_keeps_its_connection_slot() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.max_connections = 2;
        c.ws_init_timeout_ms = 60_000;
    })
    .await;

    let ws = Ws::open(&app.address, "/graphql/ws").await;
    let mut http = connect(&app.address).await;
    healthz(&mut http).await;

    let mut third = connect(&app.address).await;
    third.write_all(HEALTHZ.as_bytes()).await.expect("sent");
    let refused = read_response(&mut third).await;
    assert_eq!(
        refused.status_line, "HTTP/1.1 503 Service Unavailable",
        "{refused:?}"
    );

    // Closing the WebSocket frees its slot.
    drop(ws);
    let start = Instant::now();
    loop {
        let mut stream = connect(&app.address).await;
        stream.write_all(HEALTHZ.as_bytes()).await.expect("sent");
        let response = read_response(&mut stream).await;
        if response.status_line == "HTTP/1.1 200 OK" {
            break;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "the WebSocket's slot was not freed: {response:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A server on its own database whose `run_until` ends when the returned sender fires (or is
/// dropped); the handle resolves when `run_until` has returned.
async fn spawn_stoppable(
    adjust: impl FnOnce(&mut Config),
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
    Option<tempfile::TempDir>,
) {
    securescore::telemetry::init("warn");
    let (database_url, dir) = fresh_database(Backend::Sqlite).await;
    let mut config = Config::for_database(database_url);
    config.db_max_connections = Some(5);
    adjust(&mut config);
    let app = App::build(config).await.expect("app builds");
    let address = format!("http://{}", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        app.run_until(async {
            let _ = stopped.await;
        })
        .await
        .expect("the server stops cleanly");
    });
    (address, stop, server, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_finishes_the_request_in_progress_and_closes_idle_connections() {
    let (address, stop, server, _dir) = spawn_stoppable(|c| c.shutdown_drain_ms = 20_000).await;

    let mut idle = connect(&address).await;
    healthz(&mut idle).await;
    let mut in_progress = stalled_post(&address).await;

    let _ = stop.send(());
    // The idle connection is closed at once, far sooner than the idle timeout (75 s).
    closed_by_server(&mut idle).await;
    // New connections are no longer accepted.
    let start = Instant::now();
    while TcpStream::connect(address.trim_start_matches("http://"))
        .await
        .is_ok()
    {
        assert!(start.elapsed() < PATIENCE, "still accepting after the shutdown");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The request in progress completes, told that the connection closes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    in_progress
        .write_all(&TYPENAME.as_bytes()[5..])
        .await
        .expect("sent");
    let response = read_response(&mut in_progress).await;
    assert_eq!(response.status_line, "HTTP/1.1 200 OK", "{response:?}");
    assert_eq!(response.header("connection"), Some("close"));
    assert_eq!(response.body, r#"{"data":{"__typename":"Query"}}"#);
    closed_by_server(&mut in_progress).await;

    // With nothing left to drain, `run_until` returns well before the drain time.
    timeout(PATIENCE, server)
        .await
        .expect("run_until returned")
        .expect("the server task did not panic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_cuts_what_outlives_the_drain_time() {
    let (address, stop, server, _dir) = spawn_stoppable(|c| c.shutdown_drain_ms = 1_000).await;

    // A request that never completes its body: in progress until the router's 30 s timeout.
    let mut stuck = stalled_post(&address).await;

    let start = Instant::now();
    let _ = stop.send(());
    timeout(PATIENCE, server)
        .await
        .expect("run_until returns within about the drain time")
        .expect("the server task did not panic");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(800),
        "returned after {took:?}, before the drain time"
    );
    closed_by_server(&mut stuck).await;
}
