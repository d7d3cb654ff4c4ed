//! Bounds on a GraphQL WebSocket that the protocol library does not enforce itself:
//! async-graphql 7 has no connection-init timeout, and it writes to a socket with back-pressure
//! only, however long the client takes to read. [`Guard::serve`] stands between the socket and
//! the protocol (see `http::ws`): it owns the socket, gives the protocol the client's messages
//! and a short queue for its own, and closes the socket itself in three cases.
//!
//! - **No `connection_init`** within `WS_INIT_TIMEOUT_MS` of the socket opening: close code 4408
//!   with reason `Connection initialisation timeout`, as the graphql-transport-ws protocol
//!   specifies; the legacy subscriptions-transport-ws protocol, which specifies nothing, gets the
//!   same. The protocol reports the init through [`Initialised`]; a socket that sent one is no
//!   longer timed, whether or not its token was accepted (a refused one is closed by the protocol).
//! - **A client that does not read**: a message that cannot be handed to the socket within
//!   `WS_SEND_TIMEOUT_MS` (the kernel's buffers are full because the client stopped reading)
//!   closes the connection with code 1008 and reason `client too slow: messages not read within
//!   N ms`, counted in `securescore_ws_closed_slow_total`. Until then at most [`OUTGOING_QUEUE`]
//!   messages wait in the queue and one in the socket's write buffer; while the queue is full the
//!   protocol stops producing, and the subscriptions' change feeds bound what they hold themselves
//!   (a broadcast channel: a stream that lags behind resyncs).
//! - **Shutdown** (`AppState::shutdown` becomes true, or the app that owns it is gone): close code
//!   1001 with reason `server shutting down`; clients such as graphql-ws then reconnect.
//!
//! Every close frame the guard writes gets [`CLOSE_WRITE_TIMEOUT`] to reach the socket, or the
//! connection is dropped without one (a client that does not read gets no more time for its
//! close frame than it had for its data). After a close frame, the client's closing handshake is
//! awaited for as long again, so that the TCP connection ends with the client having read the
//! frame rather than with a reset that may discard it.
//!
//! Everything else stays with the protocol: authentication in `connection_init`, the
//! protocol's own closes (a refused token, a second init, a malformed message), ping/pong and
//! operations. When the protocol ends without a close frame (the client went away or sent
//! `connection_terminate`, or the legacy protocol refused the connection with
//! `connection_error`), the guard closes the socket with 1000.

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::channel::{mpsc, oneshot};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::timeout;

/// Messages the protocol may have waiting for the socket: enough to absorb a burst (every
/// subscription on the socket answering one change), few enough that a client that stops reading
/// costs little memory before the send timeout closes it.
pub const OUTGOING_QUEUE: usize = 32;

/// Client messages read ahead of the protocol.
const INCOMING_QUEUE: usize = 8;

/// Longest wait for a close frame to reach the socket, and then for the client's reply to it.
pub const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// Close code and reason when `connection_init` did not come in time (graphql-transport-ws).
pub const INIT_TIMEOUT: (u16, &str) = (4408, "Connection initialisation timeout");

/// Close code and reason on shutdown ("going away").
pub const SHUTTING_DOWN: (u16, &str) = (1001, "server shutting down");

/// Close code of a client that does not read ("policy violation").
pub const TOO_SLOW: u16 = 1008;

/// The bounds one socket is served with.
pub struct Guard {
    /// Time from opening to `connection_init`.
    pub init_timeout: Duration,
    /// Time one message may take to reach the socket.
    pub send_timeout: Duration,
    /// Becomes true when the server shuts down.
    pub shutdown: watch::Receiver<bool>,
}

/// What the protocol gets to work with: the client's messages, a bounded queue for its own, and
/// the means to report `connection_init`.
pub struct Endpoint {
    /// The client's messages in order; ends when the client closes or the connection fails.
    pub incoming: mpsc::Receiver<Result<Message, axum::Error>>,
    /// Messages for the client; a full queue makes the protocol wait. Dropping it (the protocol
    /// ended) lets the guard write what is queued and close the socket.
    pub outgoing: mpsc::Sender<Message>,
    /// To be marked when the client's `connection_init` arrives.
    pub initialised: Initialised,
}

/// Reports that the client sent `connection_init`, which stops the init timeout.
pub struct Initialised(oneshot::Sender<()>);

impl Initialised {
    pub fn mark(self) {
        // The guard stopped listening only if the socket is closing anyway.
        let _ = self.0.send(());
    }
}

/// Why the guard stopped serving a socket.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    InitTimeout,
    TooSlow,
    Shutdown,
    /// The protocol wrote its own close frame.
    ProtocolClosed,
    /// The protocol ended without a close frame.
    ProtocolEnded,
    /// Writing failed: the connection is gone.
    Broken,
}

impl Guard {
    /// Serves `socket` with the protocol that `protocol` starts on an [`Endpoint`], until the
    /// protocol ends or one of the bounds (see the module docs) closes the socket.
    pub async fn serve<P, F>(self, socket: WebSocket, protocol: P)
    where
        P: FnOnce(Endpoint) -> F,
        F: Future<Output = ()>,
    {
        let Guard {
            init_timeout,
            send_timeout,
            mut shutdown,
        } = self;
        let (mut sink, mut stream) = socket.split();
        let (incoming_tx, incoming) = mpsc::channel(INCOMING_QUEUE);
        let (outgoing, mut outgoing_rx) = mpsc::channel(OUTGOING_QUEUE);
        let (init_tx, init_rx) = oneshot::channel();
        let ending = {
            let protocol = protocol(Endpoint {
                incoming,
                outgoing,
                initialised: Initialised(init_tx),
            });
            tokio::select! {
                biased;
                () = shut_down(&mut shutdown) => Ending::Shutdown,
                () = init_deadline(init_rx, init_timeout) => Ending::InitTimeout,
                ending = write(&mut sink, &mut outgoing_rx, send_timeout) => ending,
                never = forever_after(protocol) => match never {},
                never = forever_after(read(&mut stream, incoming_tx)) => match never {},
            }
        };
        let close = match ending {
            Ending::InitTimeout => Some((INIT_TIMEOUT.0, INIT_TIMEOUT.1.to_string())),
            Ending::Shutdown => Some((SHUTTING_DOWN.0, SHUTTING_DOWN.1.to_string())),
            Ending::TooSlow => {
                crate::metrics::record_ws_closed_slow();
                let ms = send_timeout.as_millis();
                tracing::warn!(
                    send_timeout_ms = ms,
                    "closing a WebSocket whose client does not read its messages"
                );
                Some((
                    TOO_SLOW,
                    format!("client too slow: messages not read within {ms} ms"),
                ))
            }
            Ending::ProtocolEnded => Some((1000, String::new())),
            Ending::ProtocolClosed => None,
            Ending::Broken => return,
        };
        if let Some((code, reason)) = close {
            tracing::debug!(code, %reason, "closing a WebSocket");
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            let written = timeout(CLOSE_WRITE_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
            if !matches!(written, Ok(Ok(()))) {
                return;
            }
        }
        // The client answers the close frame with its own and then ends the stream.
        let _ = timeout(CLOSE_WRITE_TIMEOUT, async {
            while let Some(Ok(_)) = stream.next().await {}
        })
        .await;
    }
}

/// Completes when the server starts shutting down, or when the app that would say so is gone.
async fn shut_down(shutdown: &mut watch::Receiver<bool>) {
    // An error means the sender was dropped: the app is gone, which is a shutdown too.
    let _ = shutdown.wait_for(|down| *down).await;
}

/// Completes when `connection_init` has not come within `limit`; never once it has (or once the
/// protocol ended without one, which the other branches see to).
async fn init_deadline(initialised: oneshot::Receiver<()>, limit: Duration) {
    if timeout(limit, initialised).await.is_ok() {
        std::future::pending::<()>().await;
    }
}

/// Writes the protocol's messages to the socket, each within `send_timeout`, until the protocol
/// ends, writes its own close frame, or a write fails or takes too long.
async fn write(
    sink: &mut SplitSink<WebSocket, Message>,
    outgoing: &mut mpsc::Receiver<Message>,
    send_timeout: Duration,
) -> Ending {
    while let Some(message) = outgoing.next().await {
        let closing = matches!(message, Message::Close(_));
        match timeout(send_timeout, sink.send(message)).await {
            Err(_elapsed) => return Ending::TooSlow,
            Ok(Err(_)) => return Ending::Broken,
            Ok(Ok(())) if closing => return Ending::ProtocolClosed,
            Ok(Ok(())) => {}
        }
    }
    Ending::ProtocolEnded
}

/// Hands the client's messages to the protocol until the client's stream ends or the protocol
/// stops taking them; dropping the sender then ends the protocol's input.
async fn read(stream: &mut SplitStream<WebSocket>, mut incoming: mpsc::Sender<Result<Message, axum::Error>>) {
    while let Some(message) = stream.next().await {
        if incoming.send(message).await.is_err() {
            break;
        }
    }
}

/// Runs `task`, then waits forever: a branch of the guard's `select!` that must not end the
/// connection by finishing (the writer sees the protocol's end when the queue closes).
async fn forever_after(task: impl Future<Output = ()>) -> Infallible {
    task.await;
    std::future::pending().await
}
