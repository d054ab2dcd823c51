//! The handle: what a [`Client`] holds, and what it tells about its session.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aiozk_proto::{AclRecord, Response};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::driver::{Command, SessionEvent, Shared};
use crate::error::{Error, Result};
use crate::path::Chroot;
use crate::retry::RetryPolicy;
use crate::session::SessionState;
use crate::watcher::slots::WatchSlots;
use crate::watcher::StreamSlots;

/// A handle to a ZooKeeper session. Cloning is cheap; all clones share the session. The
/// session is closed when [`Client::close`] is called or the last handle is dropped.
///
/// # Ordering
/// Every method validates and encodes its request and queues it for the connection
/// **when it is called**, before the returned future is first polled. Requests therefore
/// reach the server in the order the methods were called, whatever order their futures are
/// awaited in, and ZooKeeper answers them in that order. Retries (see
/// [`Client::with_retry`]) are sent later and are not ordered with other calls.
///
/// # Cancellation safety
/// Dropping a returned future does not withdraw the request: it has already been queued and
/// the server will carry it out; only the reply is discarded.
#[derive(Clone)]
pub struct Client {
    pub(super) inner: Arc<Inner>,
    pub(super) retry: RetryPolicy,
    pub(super) connect_timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("servers", &self.inner.servers)
            .field("chroot", &self.inner.chroot)
            .field("state", &self.state())
            .field("session_id", &format_args!("{:#x}", self.session_id()))
            .finish()
    }
}

impl Client {
    /// A handle to the same session that uses `policy` for its calls.
    pub fn with_retry(&self, policy: RetryPolicy) -> Self {
        Self {
            inner: self.inner.clone(),
            retry: policy,
            connect_timeout: self.connect_timeout,
        }
    }

    /// The current session state.
    pub fn state(&self) -> SessionState {
        *self.inner.state_rx.borrow()
    }

    /// A receiver of the current state, to `wait_for` a state or see each change.
    ///
    /// A receiver only sees the latest value: a state that lasts an instant (`Expired`
    /// when a new session follows at once) can be skipped. Use
    /// [`Client::state_changes`] to see every transition.
    pub fn state_watch(&self) -> watch::Receiver<SessionState> {
        self.inner.state_rx.clone()
    }

    /// Every state transition with its cause, and every new session, from now on. A
    /// receiver that falls more than 64 events behind gets `RecvError::Lagged` and skips the
    /// oldest ones.
    pub fn state_changes(&self) -> broadcast::Receiver<SessionEvent> {
        self.inner.events_tx.subscribe()
    }

    pub(super) fn shared(&self) -> Shared {
        self.inner
            .shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The session id (0 before the first handshake).
    pub fn session_id(&self) -> i64 {
        self.shared().session_id
    }

    /// The session password, to resume this session elsewhere with
    /// [`crate::ClientBuilder::resume_session`]. Keep it secret.
    pub fn session_password(&self) -> Vec<u8> {
        self.shared().password
    }

    /// The negotiated session timeout.
    pub fn session_timeout(&self) -> Duration {
        self.shared().timeout
    }

    /// The highest zxid seen in a reply: every change up to it is visible to this session.
    pub fn last_zxid(&self) -> i64 {
        self.shared().last_zxid
    }

    /// Drops the current connection and reconnects (to the next server) with the same
    /// session, as after a network failure: calls in flight fail with
    /// [`Error::ConnectionLoss`], watches are re-registered. Does nothing unless connected.
    /// Useful to move off a server, and to test how an application copes with a reconnect.
    pub fn reconnect(&self) {
        let _ = self.inner.tx.send(Command::Reconnect);
    }

    /// The address of the server currently connected, if any.
    pub fn connected_server(&self) -> Option<String> {
        self.shared().server
    }

    /// Counters of this client.
    pub fn stats(&self) -> ClientStats {
        let shared = self.shared();
        let s = shared.stats;
        ClientStats {
            requests: s.requests,
            errors: s.errors,
            reconnects: s.reconnects,
            disconnects: s.disconnects,
            sessions: s.sessions,
            notifications: s.notifications,
            set_watches_batches: s.set_watches_batches,
            writes: s.writes,
            live_watches: shared.watches,
            bytes_sent: shared.bytes_sent,
            bytes_received: shared.bytes_received,
        }
    }

    /// The chroot of this client, if any.
    pub fn chroot(&self) -> Option<&str> {
        self.inner.chroot.as_str()
    }

    /// Closes the session: sends closeSession (the server deletes the session's ephemeral
    /// nodes at once) and waits for the reply, at most the read timeout. Returns at once
    /// when no server is connected. Calls made afterwards fail with [`Error::Closed`].
    pub async fn close(&self) {
        let (done, rx) = oneshot::channel();
        if self.inner.tx.send(Command::Close { done }).is_ok() {
            let _ = rx.await;
        }
    }

    /// Adds credentials to the session (e.g. `add_auth("digest", b"user:password")`). They
    /// are replayed on every reconnect.
    ///
    /// # Errors
    /// [`Error::AuthFailed`] when the server rejects them (the session then stops), or a
    /// connection error.
    pub fn add_auth(
        &self,
        scheme: &str,
        credentials: &[u8],
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        let (reply, rx) = oneshot::channel();
        let sent = self
            .inner
            .tx
            .send(Command::Auth {
                scheme: scheme.to_owned(),
                auth: credentials.to_vec(),
                reply,
            })
            .map_err(|_| Error::Closed);
        let limit = self.inner.request_timeout;
        async move {
            sent?;
            recv(rx, limit).await.map(|_| ())
        }
    }
}

/// Counters of a client, for monitoring.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Requests sent.
    pub requests: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Reconnections to the same session.
    pub reconnects: u64,
    /// Connections lost.
    pub disconnects: u64,
    /// Sessions established (1 unless a session expired and was replaced).
    pub sessions: u64,
    /// Watch notifications received.
    pub notifications: u64,
    /// Watch re-registration batches sent after reconnects.
    pub set_watches_batches: u64,
    /// Writes to the connection, handshakes and pings included. Under deep pipelining one
    /// write carries many requests (see [`crate::ClientBuilder::max_write_delay`]).
    pub writes: u64,
    /// Live local watchers.
    pub live_watches: usize,
    /// Bytes written to servers.
    pub bytes_sent: u64,
    /// Bytes read from servers.
    pub bytes_received: u64,
}

/// What every clone of a [`Client`] shares.
pub(super) struct Inner {
    pub(super) tx: mpsc::UnboundedSender<Command>,
    pub(super) chroot: Chroot,
    pub(super) default_acl: Vec<AclRecord>,
    pub(super) max_frame: usize,
    pub(super) shared: Arc<Mutex<Shared>>,
    pub(super) state_rx: watch::Receiver<SessionState>,
    pub(super) events_tx: broadcast::Sender<SessionEvent>,
    /// Where the driver leaves the events of persistent watches.
    pub(super) streams: Arc<StreamSlots>,
    pub(super) servers: String,
    pub(super) request_timeout: Option<Duration>,
    /// Where the driver leaves one-shot watch events.
    pub(super) slots: Arc<WatchSlots>,
}

pub(super) type ReplyRx = oneshot::Receiver<Result<Response>>;

/// Waits for a reply, at most `limit` (the builder's request timeout).
pub(super) async fn recv(rx: ReplyRx, limit: Option<Duration>) -> Result<Response> {
    // A dropped sender means the driver stopped: the client is closed.
    match limit {
        Some(limit) => match tokio::time::timeout(limit, rx).await {
            Ok(reply) => reply.unwrap_or(Err(Error::Closed)),
            Err(_) => Err(Error::RequestTimeout),
        },
        None => rx.await.unwrap_or(Err(Error::Closed)),
    }
}
