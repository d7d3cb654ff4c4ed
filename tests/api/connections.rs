//! The connection layer (issue 22, `src/http/serve.rs`), over raw TCP against the real server:
//! the header-read timeout cuts a request head sent too slowly but not an idle connection; the
//! idle timeout closes new and keep-alive connections with no request in progress, never one
//! whose request is in progress; a response the client does not read is cut after the idle
//! timeout, one it reads slowly but steadily never is; `MAX_CONNECTIONS` (WebSockets included) is
//! answered with 503 and `Retry-After`; a shutdown finishes the requests in progress and cuts
//! what outlives `SHUTDOWN_DRAIN_MS`. These are transport tests: they run on SQLite only.

use crate::helpers::{Backend, TenantFixture, TestApp, fresh_database, spawn_app_with};
use crate::realtime::Ws;
use chrono::{Days, NaiveDate, Utc};
use securescore::app::App;
use securescore::config::Config;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
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

/// More than the socket buffers at both ends can hold (Linux grows a send buffer to 4 MiB at most
/// by default): a client that does not read this much leaves the server's writes blocked.
const LARGE: usize = 8 * 1024 * 1024;

/// The playground's largest asset, about 1 MB: a body hyper holds whole, so its request is over
/// (and the connection has no request in progress) while the bytes are still being sent.
const LARGE_ASSET: &str = "/graphql/assets/graphiql@3.9.0/graphiql.min.js";

/// Days of snapshots that make a tenant's `history.json` larger than [`LARGE`] (a day is about
/// 500 bytes of it; the tests check the size).
const HISTORY_DAYS: u64 = 20_000;

/// The slow reader's pace: this many bytes every [`SLOW_PAUSE`], 40 KiB/s.
const SLOW_READ: usize = 4 * 1024;
const SLOW_PAUSE: Duration = Duration::from_millis(100);

/// Connects with a small receive buffer (4 KiB asked; Linux doubles it), so that what the client
/// does not read backs up into the server's socket rather than into the client's.
async fn connect_small_window(address: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF set");
    let address = address
        .trim_start_matches("http://")
        .parse()
        .expect("a socket address");
    socket.connect(address).await.expect("TCP connect")
}

/// A tenant with [`HISTORY_DAYS`] daily snapshots from 1970 on, written straight into the
/// database (in batches: one by one would take most of a minute).
async fn tenant_with_long_history(app: &TestApp) -> TenantFixture {
    use entity::score_snapshot;
    use entity::types::{CategoryFigure, CategoryFigures, StatusCounts};
    use sea_orm::{EntityTrait, Set};
    let tenant = app.tenant().create().await;
    let first = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a day");
    let rows: Vec<_> = (0..HISTORY_DAYS)
        .map(|i| {
            let current = 500_000 + (i % 1_000) as i64;
            score_snapshot::ActiveModel {
                tenant_id: Set(tenant.id),
                day: Set(first + Days::new(i)),
                max_score: Set(1_000_000),
                current: Set(current),
                planned: Set(current),
                current_license: Set(1_000_000),
                achievable: Set(1_000_000),
                verified: Set(current),
                categories: Set(CategoryFigures(vec![CategoryFigure {
                    category: "IDENTITY".into(),
                    max_score: 1_000_000,
                    current,
                    planned: current,
                    current_license: 1_000_000,
                    achievable: 1_000_000,
                    verified: current,
                }])),
                status_counts: Set(StatusCounts::default()),
                source: Set("COMPUTED".into()),
                vendor_current_score: Set(None),
                vendor_max_score: Set(None),
                created_at: Set(Utc::now()),
                ..Default::default()
            }
        })
        .collect();
    for batch in rows.chunks(1_000) {
        score_snapshot::Entity::insert_many(batch.to_vec())
            .exec(&app.db)
            .await
            .expect("snapshots inserted");
    }
    tenant
}

/// The head of a `GET` of the tenant's `history.json` (a streamed body, so its request is in
/// progress for as long as it is being sent), with `extra` header lines.
fn history_head(tenant: &TenantFixture, extra: &str) -> String {
    format!(
        "GET /export/{}/history.json HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {}\r\n{extra}\r\n",
        tenant.slug, tenant.reader
    )
}

/// A whole response body fetched by an HTTP client that reads at full speed: what the tests'
/// raw clients must receive.
async fn fetch(app: &TestApp, path: &str, token: Option<&str>) -> Vec<u8> {
    let mut request = app.client.get(format!("{}{path}", app.address));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("an answer");
    assert_eq!(response.status(), reqwest::StatusCode::OK, "{path}");
    response.bytes().await.expect("the whole body").to_vec()
}

/// Reads what a connection has left until the server ends it (end of file or a reset), and
/// returns how many bytes that was; panics if that takes longer than [`PATIENCE`].
async fn drain(stream: &mut TcpStream) -> usize {
    timeout(PATIENCE, async {
        let mut total = 0;
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) => return total,
                Ok(n) => total += n,
                Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => return total,
                Err(err) => panic!("reading the rest failed: {err}"),
            }
        }
    })
    .await
    .expect("the connection ends within PATIENCE")
}

/// A client reading responses off a raw connection, at full speed or slowly.
struct Reader {
    stream: TcpStream,
    /// Bytes read but not consumed yet.
    buf: Vec<u8>,
}

impl Reader {
    /// One read into the buffer; panics if the server ended the connection.
    async fn read_some(&mut self, at_most: usize) {
        let mut chunk = vec![0u8; at_most];
        let n = timeout(PATIENCE, self.stream.read(&mut chunk))
            .await
            .expect("data within PATIENCE")
            .expect("the connection is still open");
        assert!(n > 0, "the server closed the connection");
        self.buf.extend_from_slice(&chunk[..n]);
    }

    /// Reads [`SLOW_READ`] bytes every [`SLOW_PAUSE`] for `duration`.
    async fn read_slowly_for(&mut self, duration: Duration) {
        let start = Instant::now();
        while start.elapsed() < duration {
            self.read_some(SLOW_READ).await;
            tokio::time::sleep(SLOW_PAUSE).await;
        }
    }

    /// The next `n` bytes.
    async fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            self.read_some(64 * 1024).await;
        }
        self.buf.drain(..n).collect()
    }

    /// The next line, without its CRLF.
    async fn line(&mut self) -> String {
        loop {
            if let Some(at) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.take(at + 2).await;
                return String::from_utf8(line[..at].to_vec()).expect("an ASCII line");
            }
            self.read_some(64 * 1024).await;
        }
    }

    /// The next response: its status line, header names in lower case, and its body, either
    /// `Content-Length` long or chunked.
    async fn response(&mut self) -> (String, Vec<(String, String)>, Vec<u8>) {
        let status_line = self.line().await;
        let mut headers = Vec::new();
        loop {
            let line = self.line().await;
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').expect("a header line");
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
        let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        let body = if let Some(length) = header("content-length") {
            self.take(length.parse().expect("a numeric Content-Length")).await
        } else {
            assert_eq!(header("transfer-encoding").as_deref(), Some("chunked"));
            let mut body = Vec::new();
            loop {
                let size = usize::from_str_radix(&self.line().await, 16).expect("a chunk size");
                if size == 0 {
                    assert_eq!(self.line().await, "", "no trailers");
                    break body;
                }
                body.extend(self.take(size).await);
                assert_eq!(self.line().await, "", "a chunk ends with CRLF");
            }
        };
        (status_line, headers, body)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_the_client_does_not_read_is_cut_after_the_idle_timeout() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.idle_timeout_ms = 1_000;
        c.max_connections = 1;
    })
    .await;
    let tenant = tenant_with_long_history(&app).await;

    // A client that asks for the export and reads none of it: the server's writes block with
    // its request in progress.
    let mut stalled = connect_small_window(&app.address).await;
    stalled
        .write_all(history_head(&tenant, "").as_bytes())
        .await
        .expect("request sent");
    let sent = Instant::now();

    // It holds the server's only connection slot, so another connection is refused until the
    // server cuts it.
    let (cut_after, probe) = loop {
        let mut probe = connect(&app.address).await;
        probe.write_all(HEALTHZ.as_bytes()).await.expect("sent");
        let response = read_response(&mut probe).await;
        if response.status_line == "HTTP/1.1 200 OK" {
            break (sent.elapsed(), probe);
        }
        assert_eq!(
            response.status_line, "HTTP/1.1 503 Service Unavailable",
            "{response:?}"
        );
        assert!(
            sent.elapsed() < PATIENCE,
            "the connection that does not read was not cut"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        cut_after >= Duration::from_millis(800),
        "cut after {cut_after:?}, before the idle timeout"
    );

    // The client got a part of the export, then end of file or a reset. (The whole export is
    // read on the connection that now has the slot.)
    let mut reader = Reader {
        stream: probe,
        buf: Vec::new(),
    };
    reader
        .stream
        .write_all(history_head(&tenant, "").as_bytes())
        .await
        .expect("request sent");
    let (status_line, _, whole) = reader.response().await;
    assert_eq!(status_line, "HTTP/1.1 200 OK");
    assert!(whole.len() > LARGE, "the export is only {} bytes", whole.len());
    let received = drain(&mut stalled).await;
    assert!(
        received < whole.len(),
        "received {received} of {} bytes",
        whole.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_reading_large_responses_slowly_but_steadily_receives_them_whole() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.idle_timeout_ms = 1_000).await;
    let tenant = tenant_with_long_history(&app).await;
    let asset = fetch(&app, LARGE_ASSET, None).await;
    let export = fetch(
        &app,
        &format!("/export/{}/history.json", tenant.slug),
        Some(&tenant.reader),
    )
    .await;
    assert!(
        asset.len() + export.len() > LARGE,
        "{} + {} bytes",
        asset.len(),
        export.len()
    );

    // Both requests at once on one keep-alive connection: the export (its request is in
    // progress while it is sent), then the asset (its request is over once hyper holds the whole
    // body, while the bytes are still being sent). Each response is read slowly for several
    // idle timeouts, then at full speed.
    let mut stream = connect_small_window(&app.address).await;
    let requests = format!(
        "{}GET {LARGE_ASSET} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
        history_head(&tenant, "")
    );
    stream
        .write_all(requests.as_bytes())
        .await
        .expect("requests sent");
    let mut reader = Reader {
        stream,
        buf: Vec::new(),
    };

    reader.read_slowly_for(Duration::from_millis(2_500)).await;
    let (status_line, _, body) = reader.response().await;
    assert_eq!(status_line, "HTTP/1.1 200 OK");
    assert_eq!(body.len(), export.len());
    assert!(body == export, "the export arrived altered");

    reader.read_slowly_for(Duration::from_millis(2_500)).await;
    let (status_line, _, body) = reader.response().await;
    assert_eq!(status_line, "HTTP/1.1 200 OK");
    assert_eq!(body.len(), asset.len());
    assert!(body == asset, "the asset arrived altered");
    assert_eq!(drain(&mut reader.stream).await, 0, "nothing after the asset");
}
