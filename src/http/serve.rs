//! The HTTP server loop: accepts TCP connections, serves each one with hyper's HTTP/1.1
//! connection (with upgrades, for the WebSocket endpoints), and bounds what a client can hold
//! open. It replaces `axum::serve`, which has no timeouts, no connection bound and no drain
//! limit. Like `axum::serve` as this crate builds it (without axum's `http2` feature), it speaks
//! HTTP/1.1 only; the router sees the same requests, with `ConnectInfo<SocketAddr>` in their
//! extensions.
//!
//! # The state of a connection
//!
//! A connection has a *request in progress* from the moment hyper hands a parsed request head to
//! the router until the response body has been sent completely (or dropped): a counter in the
//! connection, raised by the service and lowered by a guard that travels in the response body.
//! With no request in progress, the connection is either *reading a head*, from the first byte a
//! read returns until the head is complete, or *idle*, from the moment it was accepted or its
//! last response ended. The socket wrapper ([`TrackedIo`]) notices the first byte. (Bytes that
//! arrive while a request is in progress, such as a pipelined next request, start no head: if
//! they are not a complete head when the response ends, the idle timeout bounds the rest.)
//!
//! Whatever the request state, the connection is *waiting for the client to read* from the
//! moment a write to the socket returns `Pending` (what was sent fills the client's receive
//! window and this socket's send buffer) until a write makes progress again; the socket wrapper
//! notices both. This can outlast the request: hyper holds a body like a static asset or a
//! GraphQL answer whole, so its request is over when it starts sending the bytes.
//!
//! A watchdog in each connection's task acts on that state:
//! - **Idle** for `IDLE_TIMEOUT_MS`: the connection is told to shut down gracefully, which
//!   closes an idle HTTP/1.1 connection at once (the client reads end of file). This covers a
//!   new connection that sent nothing and a keep-alive connection between requests. (Should
//!   hyper not close it, it is dropped when idle for another `IDLE_TIMEOUT_MS`.)
//! - **Reading a head** for `HEADER_READ_TIMEOUT_MS`: the connection is closed without a
//!   response (the client reads end of file), as nginx's `client_header_timeout` and Go's
//!   `ReadHeaderTimeout` do. The clock starts at the head's first byte, so a keep-alive
//!   connection's idle time does not count against it, and its first byte ends the idle time.
//! - **Waiting for the client to read** for `IDLE_TIMEOUT_MS` without a write making
//!   progress: the connection is dropped, with a reset rather than a close (the client reads
//!   what it had received, then gets `ECONNRESET`), so that the kernel does not go on holding the
//!   unsent bytes for a client that does not read, as nginx's `reset_timedout_connection` does.
//!   A connection doing nothing for `IDLE_TIMEOUT_MS` is closed, whether it waits for a request
//!   or for the client to read. Every write that makes progress starts the wait anew, so a client
//!   that reads slowly but steadily is never cut (see `TCP_NOTSENT_LOWAT` below for how much
//!   reading makes progress), and the time spent waiting counts for neither the idle nor the
//!   header timeout: both start again at the last progress.
//! - **A request in progress** whose writes are not blocked is never cut here: the router's
//!   30 s timeout bounds a handler (its reading of the request body included), and a response
//!   body the server is slow to produce (an export reading its pages) is not bounded.
//!
//! hyper's own `header_read_timeout` is switched off: its clock starts whenever the connection
//! is ready for a head, keep-alive idle time included, so it would cut idle connections after
//! the header timeout instead of the idle timeout.
//!
//! A WebSocket leaves this watchdog when it is upgraded (hyper's connection ends there); its
//! timeouts are the WebSocket handler's.
//!
//! # Socket options
//!
//! Each accepted socket gets two options (one that cannot be set is logged at debug level and
//! the connection is served without it):
//! - **TCP keepalive**: after [`KEEPALIVE_TIME`] (60 s) without traffic the kernel probes the
//!   peer every [`KEEPALIVE_INTERVAL`] (10 s) and ends the connection after
//!   [`KEEPALIVE_RETRIES`] (5) unanswered probes, about 110 s after a peer vanished without a
//!   FIN or a reset (its machine died, its network went away). Reads then fail, so the
//!   connection ends and frees its slot. This matters for WebSockets, which are quiet for long
//!   times by design and outside the watchdog.
//! - **`TCP_NOTSENT_LOWAT`** (Linux only), [`NOTSENT_LOWAT`] (16 KiB): the socket takes a write
//!   only while it holds less than that which it has not sent yet. Without it, a write can fill a
//!   send buffer the kernel grows to several MB, and the next write stays blocked until about a
//!   third of that has been sent: a client would have to read MBs within `IDLE_TIMEOUT_MS` for
//!   the watchdog to see progress (a client reading 40 KiB/s was cut in the tests). With it, a
//!   write makes progress each time the client has read about 16 KiB (a little more when the
//!   kernel sends large segments), so with the default 75 s a client reading a couple of
//!   kilobytes a second is never cut. It limits only the bytes not sent yet, not those in
//!   flight, so it does not limit throughput; the price is more, smaller writes.
//!
//! # The connection bound
//!
//! Each connection holds one of `MAX_CONNECTIONS` slots for as long as it is open. The slot lives
//! in the socket wrapper, which hyper hands over on a WebSocket upgrade, so an upgraded
//! connection keeps its slot until the WebSocket closes. A connection accepted while every slot
//! is taken is answered `503 Service Unavailable` with `Retry-After: 1` and closed: the answer
//! is written once the request head arrived (or after a second without one), and what the client
//! sends after it is read for up to a second, so that closing does not reset the connection
//! before the client read the answer. At most [`REFUSALS_IN_FLIGHT`] such answers are in
//! progress at once; beyond that a connection is closed without one. The open connections are
//! the gauge `securescore_http_connections_open`; the refused ones are counted in
//! `securescore_http_connections_refused_total`.
//!
//! # Shutdown
//!
//! When the shutdown future completes, the loop stops accepting (the listener is closed, so new
//! connections are refused by the operating system), sets the shutdown flag that WebSockets
//! watch (they close with 1001), and tells every connection to shut down gracefully: idle ones
//! close at once; one with a request in progress finishes it, answered with `Connection: close`,
//! and closes; a new connection in the middle of its first head is served that one request (the
//! header timeout still applies). It waits up to `SHUTDOWN_DRAIN_MS` for all connections,
//! WebSockets included, to close; then it closes the HTTP connections left (logging how many)
//! and returns. WebSockets still open then are not its tasks: they end with the process.
//!
//! An accept error that concerns one connection is ignored; any other (such as running out of
//! file descriptors) is logged and accepting pauses for [`ACCEPT_BACKOFF`], so the loop neither
//! ends nor spins.

use crate::config::Config;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use socket2::{SockRef, TcpKeepalive};
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::ServiceExt;

/// How long accepting pauses after an accept error such as `EMFILE` (the pause hyper 0.14 and
/// `axum::serve` use): long enough for connections to close and free descriptors.
pub const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Refusals (503 answers to connections beyond the bound) in progress at once; each holds a
/// socket for up to [`REFUSAL_HEAD_WAIT`] plus [`REFUSAL_LINGER`], so a flood of connections
/// cannot turn them into the unbounded resource the bound exists to prevent.
pub const REFUSALS_IN_FLIGHT: usize = 64;

/// The longest a refused connection waits for the client's request head before the 503.
const REFUSAL_HEAD_WAIT: Duration = Duration::from_secs(1);

/// The longest a refused connection is kept to write the 503 and read what the client sent.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// Bytes of a refused client's request read (and discarded) in each of the two phases.
const REFUSAL_READ_LIMIT: usize = 64 * 1024;

/// The body of the answer to a connection beyond the bound.
const REFUSAL_BODY: &str = "Too many open connections; retry in a second.\n";

/// TCP keepalive on accepted sockets: the first probe after this long without traffic, then one
/// every [`KEEPALIVE_INTERVAL`]; after [`KEEPALIVE_RETRIES`] unanswered probes the kernel ends the
/// connection (about 110 s after its peer vanished).
pub const KEEPALIVE_TIME: Duration = Duration::from_secs(60);

/// The time between two unanswered keepalive probes.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);

/// Unanswered keepalive probes after which the kernel ends the connection.
pub const KEEPALIVE_RETRIES: u32 = 5;

/// `TCP_NOTSENT_LOWAT` on accepted sockets: the most bytes a socket takes that it has not sent
/// yet, so that a write makes progress whenever the client has read about this much (see the
/// module docs).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub const NOTSENT_LOWAT: u32 = 16 * 1024;

/// The whole answer to a connection beyond the bound, written straight to the socket.
static REFUSAL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "HTTP/1.1 503 Service Unavailable\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Retry-After: 1\r\n\
         Connection: close\r\n\
         Content-Length: {}\r\n\
         \r\n\
         {REFUSAL_BODY}",
        REFUSAL_BODY.len()
    )
});

/// What the loop enforces, from the configuration (see the module docs).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// `HEADER_READ_TIMEOUT_MS`.
    pub header_read_timeout: Duration,
    /// `IDLE_TIMEOUT_MS`.
    pub idle_timeout: Duration,
    /// `MAX_CONNECTIONS`, capped at `u32::MAX` (the most a drain can wait for at once).
    pub max_connections: u32,
    /// `SHUTDOWN_DRAIN_MS`.
    pub shutdown_drain: Duration,
}

impl Limits {
    pub fn from_config(config: &Config) -> Limits {
        Limits {
            header_read_timeout: Duration::from_millis(config.header_read_timeout_ms),
            idle_timeout: Duration::from_millis(config.idle_timeout_ms),
            max_connections: u32::try_from(config.max_connections).unwrap_or(u32::MAX),
            shutdown_drain: Duration::from_millis(config.shutdown_drain_ms),
        }
    }
}

/// Serves `router` on `listener` until `signal` completes, then shuts down as the module docs
/// describe: sets `shutdown` to `true`, drains for at most `limits.shutdown_drain` and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: watch::Sender<bool>,
    signal: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections as usize));
    let refusals = Arc::new(Semaphore::new(REFUSALS_IN_FLIGHT));
    let mut connections = JoinSet::new();
    // Refusals are logged once per episode of a full server, not once per connection.
    let mut refusing = false;
    let mut signal = pin!(signal);
    loop {
        tokio::select! {
            biased;
            () = &mut signal => break,
            Some(done) = connections.join_next() => report_panic(done),
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => match slots.clone().try_acquire_owned() {
                    Ok(permit) => {
                        refusing = false;
                        let slot = Slot { _permit: permit, _gauge: crate::metrics::ConnectionGauge::open() };
                        connections.spawn(serve_connection(stream, peer, slot, router.clone(), limits, shutdown.subscribe()));
                    }
                    Err(_) => {
                        crate::metrics::record_connection_refused();
                        if !refusing {
                            refusing = true;
                            tracing::warn!(
                                max_connections = limits.max_connections,
                                "MAX_CONNECTIONS connections are open; refusing new ones with 503"
                            );
                        }
                        if let Ok(permit) = refusals.clone().try_acquire_owned() {
                            tokio::spawn(async move {
                                refuse(stream).await;
                                drop(permit);
                            });
                        }
                    }
                },
                Err(err) if is_connection_error(&err) => {}
                Err(err) => {
                    tracing::error!(error = %err, "accepting a connection failed; pausing accepts");
                    tokio::select! {
                        () = &mut signal => break,
                        () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                    }
                }
            },
        }
    }

    // New connections now fail at the operating system instead of waiting in the backlog.
    drop(listener);
    shutdown.send_replace(true);
    tracing::info!(
        connections = connections.len(),
        drain_ms = limits.shutdown_drain.as_millis() as u64,
        "shutting down: finishing the requests in progress"
    );
    let drained = tokio::time::timeout(limits.shutdown_drain, async {
        while let Some(done) = connections.join_next().await {
            report_panic(done);
        }
        // Upgraded connections (WebSockets) are not tasks here, but hold their slot until they
        // close: every slot free means every connection closed.
        let _all = slots.acquire_many(limits.max_connections).await;
    })
    .await
    .is_ok();
    if drained {
        tracing::info!("shutdown: all connections closed");
    } else {
        let http = connections.len();
        let open = (limits.max_connections as usize).saturating_sub(slots.available_permits());
        tracing::warn!(
            cut = http,
            websockets_left = open.saturating_sub(http),
            "shutdown: SHUTDOWN_DRAIN_MS is over; closing the HTTP connections left"
        );
        connections.shutdown().await;
    }
}

/// Accept errors that concern one connection (which the client already gave up), not the
/// listener.
fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// Logs a connection task that panicked (a handler panic ends only its connection).
fn report_panic(done: Result<(), tokio::task::JoinError>) {
    if let Err(err) = done
        && err.is_panic()
    {
        tracing::error!(error = %err, "a connection task panicked");
    }
}

/// Answers a connection beyond the bound with 503 and closes it. The answer waits for the
/// request head (for at most [`REFUSAL_HEAD_WAIT`]): a client that gets a response before it sent
/// its request takes it for a protocol error (hyper's client does). After the answer, what the
/// client sends is read and discarded (for at most [`REFUSAL_LINGER`]): closing a socket with
/// unread data resets the connection, and the client may then lose the answer unread.
async fn refuse(mut stream: TcpStream) {
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(REFUSAL_HEAD_WAIT, async {
        // The last bytes read, enough to see the blank line that ends a head across reads.
        let mut tail = Vec::with_capacity(buf.len() + 3);
        let mut read = 0;
        while read < REFUSAL_READ_LIMIT {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            read += n;
            tail.extend_from_slice(&buf[..n]);
            if tail.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
            tail.drain(..tail.len().saturating_sub(3));
        }
        Ok::<(), io::Error>(())
    })
    .await;
    let answered = tokio::time::timeout(REFUSAL_LINGER, async {
        stream.write_all(REFUSAL.as_bytes()).await?;
        stream.shutdown().await?;
        let mut read = 0;
        while read < REFUSAL_READ_LIMIT {
            match stream.read(&mut buf).await? {
                0 => break,
                n => read += n,
            }
        }
        Ok::<(), io::Error>(())
    })
    .await;
    if let Ok(Err(err)) = answered {
        tracing::debug!(error = %err, "answering a refused connection failed");
    }
}

/// Sets the options of an accepted socket (see the module docs). One that cannot be set is logged
/// at debug level and the connection served without it: it is a safeguard, not a requirement.
fn configure_socket(stream: &TcpStream) {
    let socket = SockRef::from(stream);
    let keepalive = TcpKeepalive::new()
        .with_time(KEEPALIVE_TIME)
        .with_interval(KEEPALIVE_INTERVAL)
        .with_retries(KEEPALIVE_RETRIES);
    if let Err(err) = socket.set_tcp_keepalive(&keepalive) {
        tracing::debug!(error = %err, "setting TCP keepalive on a connection failed");
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Err(err) = socket.set_tcp_notsent_lowat(NOTSENT_LOWAT) {
        tracing::debug!(error = %err, "setting TCP_NOTSENT_LOWAT on a connection failed");
    }
}

/// One of the `MAX_CONNECTIONS` places, held by a connection for as long as it is open.
struct Slot {
    _permit: OwnedSemaphorePermit,
    _gauge: crate::metrics::ConnectionGauge,
}

/// Serves one connection until it closes, is upgraded, or the watchdog closes it (see the module
/// docs).
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    slot: Slot,
    router: Router,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) {
    configure_socket(&stream);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(TrackedIo {
        stream,
        activity: activity.clone(),
        write_blocked: false,
        _slot: slot,
    });
    let service = hyper::service::service_fn({
        let activity = activity.clone();
        move |mut request: hyper::Request<Incoming>| {
            let in_progress = RequestInProgress::start(activity.clone());
            request.extensions_mut().insert(ConnectInfo(peer));
            let response = router.clone().oneshot(request);
            async move {
                let response = response.await?;
                Ok::<_, Infallible>(response.map(|body| TrackedBody {
                    body,
                    _in_progress: in_progress,
                }))
            }
        }
    });
    let mut builder = http1::Builder::new();
    // Enforced by the watchdog below instead (see the module docs).
    builder.header_read_timeout(None);
    let mut conn = pin!(builder.serve_connection(io, service).with_upgrades());

    // Whether the connection was told to shut down gracefully because the server is stopping.
    let mut stopping = false;
    // Whether it was told to because it was idle; idle again after that, it is dropped (hyper
    // closes an idle connection as soon as it is told, so this is only a safety net).
    let mut idle_closing = false;
    loop {
        let due = activity.due(&limits);
        let deadline = match due {
            Due::Nothing => None,
            Due::Head(at) | Due::Idle(at) | Due::Stalled(at) => Some(at),
        };
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(%peer, error = %err, "connection ended with an error");
                }
                return;
            }
            () = activity.changed.notified() => {}
            _ = shutdown.wait_for(|stop| *stop), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            () = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                // The state may have changed since the deadline was computed.
                match activity.due(&limits) {
                    Due::Head(at) if at <= Instant::now() => {
                        tracing::debug!(%peer, "request head not complete within HEADER_READ_TIMEOUT_MS; closing");
                        return;
                    }
                    Due::Stalled(at) if at <= Instant::now() => {
                        tracing::debug!(%peer, "no write progress for IDLE_TIMEOUT_MS (the client does not read); resetting the connection");
                        activity.lock().reset_on_close = true;
                        return;
                    }
                    Due::Idle(at) if at <= Instant::now() => {
                        if idle_closing {
                            return;
                        }
                        tracing::debug!(%peer, "connection idle for IDLE_TIMEOUT_MS; closing");
                        idle_closing = true;
                        activity.lock().idle_since = Instant::now();
                        conn.as_mut().graceful_shutdown();
                    }
                    _ => {}
                }
            }
        }
    }
}

/// What a connection is doing, shared by its socket wrapper, its service and its watchdog.
struct Activity {
    state: Mutex<ActivityState>,
    /// Wakes the watchdog when a head starts or the last request in progress ends.
    changed: Notify,
}

struct ActivityState {
    /// Requests whose response has not been sent completely yet.
    in_progress: usize,
    /// When the connection was accepted or its last response ended.
    idle_since: Instant,
    /// When the first byte of the next request head arrived, if it did.
    head_started: Option<Instant>,
    /// Since when writes are blocked (a write returned `Pending` and none made progress since).
    write_blocked_since: Option<Instant>,
    /// Set when the watchdog drops the connection because the client does not read: the socket
    /// is then reset rather than closed (see [`TrackedIo`]'s `Drop`).
    reset_on_close: bool,
}

/// The next deadline of a connection.
#[derive(Clone, Copy, Debug)]
enum Due {
    /// A request is in progress: no deadline here.
    Nothing,
    /// The head being read must be complete by then.
    Head(Instant),
    /// The idle connection is closed then.
    Idle(Instant),
    /// Writes are blocked: unless one makes progress by then, the connection is dropped.
    Stalled(Instant),
}

impl Activity {
    fn new() -> Activity {
        Activity {
            state: Mutex::new(ActivityState {
                in_progress: 0,
                idle_since: Instant::now(),
                head_started: None,
                write_blocked_since: None,
                reset_on_close: false,
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ActivityState> {
        // A poisoned lock only means a panic while holding it; the state is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn due(&self, limits: &Limits) -> Due {
        let state = self.lock();
        if let Some(blocked) = state.write_blocked_since {
            Due::Stalled(blocked + limits.idle_timeout)
        } else if state.in_progress > 0 {
            Due::Nothing
        } else if let Some(started) = state.head_started {
            Due::Head(started + limits.header_read_timeout)
        } else {
            Due::Idle(state.idle_since + limits.idle_timeout)
        }
    }

    /// Bytes arrived: with no request in progress, they start the next request head.
    fn bytes_read(&self) {
        let mut state = self.lock();
        if state.in_progress == 0 && state.head_started.is_none() {
            state.head_started = Some(Instant::now());
            drop(state);
            self.changed.notify_one();
        }
    }

    /// A write would block: the client has not read what was sent yet.
    fn write_blocked(&self) {
        self.lock().write_blocked_since = Some(Instant::now());
        self.changed.notify_one();
    }

    /// A write made progress after being blocked: the client reads. The time spent waiting for
    /// it counts for neither the idle nor the header timeout, so both start again now.
    fn write_progressed(&self) {
        let mut state = self.lock();
        let now = Instant::now();
        state.write_blocked_since = None;
        if state.in_progress == 0 {
            state.idle_since = now;
            if state.head_started.is_some() {
                state.head_started = Some(now);
            }
        }
    }
}

/// A request in progress on its connection, from its parsed head until its response body is
/// sent or dropped.
struct RequestInProgress(Arc<Activity>);

impl RequestInProgress {
    fn start(activity: Arc<Activity>) -> RequestInProgress {
        {
            let mut state = activity.lock();
            state.in_progress += 1;
            state.head_started = None;
        }
        RequestInProgress(activity)
    }
}

impl Drop for RequestInProgress {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.in_progress = state.in_progress.saturating_sub(1);
        if state.in_progress == 0 {
            state.idle_since = Instant::now();
            state.head_started = None;
            drop(state);
            self.0.changed.notify_one();
        }
    }
}

/// A response body that keeps its request in progress until hyper has sent it (or dropped it).
struct TrackedBody {
    body: Body,
    _in_progress: RequestInProgress,
}

impl hyper::body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The client socket as hyper sees it: notes arriving bytes for the watchdog, and holds the
/// connection's slot, which an upgrade carries along with the socket.
struct TrackedIo {
    stream: TcpStream,
    activity: Arc<Activity>,
    /// Whether the last write returned `Pending`: the activity's `write_blocked_since`, kept
    /// here too so that a write locks the activity only when this changes.
    write_blocked: bool,
    _slot: Slot,
}

impl TrackedIo {
    /// Notes a write's outcome for the watchdog: blocked, or progress after being blocked.
    fn wrote(&mut self, polled: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        match &polled {
            Poll::Pending if !self.write_blocked => {
                self.write_blocked = true;
                self.activity.write_blocked();
            }
            Poll::Ready(Ok(n)) if *n > 0 && self.write_blocked => {
                self.write_blocked = false;
                self.activity.write_progressed();
            }
            _ => {}
        }
        polled
    }
}

impl Drop for TrackedIo {
    fn drop(&mut self) {
        // Closed normally, the socket would keep the bytes the client did not read, and the
        // kernel would go on trying to deliver them (in FIN-WAIT-1, for as long as the client
        // keeps its window shut and answers probes). A reset frees them at once, as nginx's
        // `reset_timedout_connection` does.
        if self.activity.lock().reset_on_close
            && let Err(err) = SockRef::from(&self.stream).set_linger(Some(Duration::ZERO))
        {
            tracing::debug!(error = %err, "setting SO_LINGER to reset a connection failed");
        }
    }
}

impl AsyncRead for TrackedIo {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for TrackedIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.wrote(polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.wrote(polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_a_complete_http_response() {
        let (head, body) = REFUSAL.split_once("\r\n\r\n").expect("a head and a body");
        assert!(head.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(
            head.contains(&format!("\r\nContent-Length: {}", body.len())),
            "{head}"
        );
        assert_eq!(body, REFUSAL_BODY);
    }

    #[tokio::test]
    async fn an_accepted_socket_gets_tcp_keepalive_and_a_small_unsent_limit() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bound");
        let address = listener.local_addr().expect("a local address");
        let _client = TcpStream::connect(address).await.expect("connected");
        let (accepted, _) = listener.accept().await.expect("accepted");
        let socket = SockRef::from(&accepted);
        assert!(!socket.keepalive().expect("SO_KEEPALIVE read"), "off by default");

        configure_socket(&accepted);
        assert!(socket.keepalive().expect("SO_KEEPALIVE read"));
        assert_eq!(
            socket.tcp_keepalive_time().expect("TCP_KEEPIDLE read"),
            KEEPALIVE_TIME
        );
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            assert_eq!(
                socket.tcp_keepalive_interval().expect("TCP_KEEPINTVL read"),
                KEEPALIVE_INTERVAL
            );
            assert_eq!(
                socket.tcp_keepalive_retries().expect("TCP_KEEPCNT read"),
                KEEPALIVE_RETRIES
            );
            assert_eq!(
                socket.tcp_notsent_lowat().expect("TCP_NOTSENT_LOWAT read"),
                NOTSENT_LOWAT
            );
        }
    }
}
