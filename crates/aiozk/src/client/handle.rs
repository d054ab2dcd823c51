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
///
/// # Examples
/// ```no_run
/// # async fn example() -> aiozk::Result<()> {
/// let zk = aiozk::Client::connect("127.0.0.1:2181").await?;
/// // Both requests are queued here, in this order, before either future is awaited.
/// let create = zk.create("/job", b"queued");
/// let read = zk.get_data("/job");
/// create.await?;
/// let (data, _stat) = read.await?; // sees the create: the server answers in call order
/// assert_eq!(&data[..], b"queued");
/// zk.close().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(super) inner: Arc<Inner>,
    pub(super) retry: RetryPolicy,
    pub(super) call_timeout: Option<Duration>,
    pub(super) connect_timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("servers", &self.inner.servers())
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
            retry: policy,
            ..self.clone()
        }
    }

    /// A handle to the same session whose calls fail with [`Error::RequestTimeout`] once
    /// `timeout` has passed since they were made, retries included (see
    /// [`crate::ClientBuilder::call_timeout`]).
    pub fn with_call_timeout(&self, timeout: Duration) -> Self {
        Self {
            call_timeout: Some(timeout),
            ..self.clone()
        }
    }

    /// When this handle's calls made now must be done, if they have a call timeout.
    pub(super) fn deadline(&self) -> Option<tokio::time::Instant> {
        self.call_timeout.map(|d| tokio::time::Instant::now() + d)
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
    ///
    /// # Examples
    /// ```no_run
    /// # async fn example() -> aiozk::Result<()> {
    /// # let zk = aiozk::Client::connect("127.0.0.1:2181").await?;
    /// use aiozk::{SessionEvent, SessionState};
    ///
    /// let mut changes = zk.state_changes();
    /// while let Ok(event) = changes.recv().await {
    ///     match event {
    ///         SessionEvent::State(SessionState::Disconnected, cause) => eprintln!("lost: {cause:?}"),
    ///         SessionEvent::State(state, _) if state.is_connected() => eprintln!("connected"),
    ///         SessionEvent::NewSession { session_id } => eprintln!("new session {session_id:#x}"),
    ///         _ => {}
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
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

    /// The latest moment a server is known to have heard from this session: when the last
    /// request it answered was sent (a call, a ping, or the handshake). `None` before the
    /// first handshake and after an expiry.
    ///
    /// The server cannot expire the session earlier than one session timeout after this,
    /// and while it is recent the session is alive. The time since it is what an ownership
    /// check ("do I still hold the lock?") compares with the session timeout: a process
    /// that was paused, or whose server went silent, sees it grow even before the client
    /// has noticed anything. Read from tokio's clock (the same as `std`'s outside tests).
    pub fn last_heard(&self) -> Option<std::time::Instant> {
        self.lock_shared().heard_at
    }

    /// Why calls fail at once right now, if they do: every server answered the handshake
    /// with garbage in two whole rounds ([`Error::ProtocolViolation`]), or, with
    /// [`crate::ClientBuilder::fail_eagerly`] and before the first session, every server
    /// refused the connection in two whole rounds ([`Error::NoHosts`]). Cleared by the
    /// next successful handshake.
    pub fn connect_failure(&self) -> Option<Error> {
        self.lock_shared().connect_failure.clone()
    }

    /// Why the session ended with [`SessionState::AuthFailed`]: [`Error::AuthFailed`] when
    /// the server refused the credentials, [`Error::SaslFailed`] (with the reason) when this
    /// side's SASL mechanism could not go on (no Kerberos ticket, say). `None` otherwise.
    pub fn auth_failure(&self) -> Option<Error> {
        self.lock_shared().auth_failure.clone()
    }

    fn lock_shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        // A poisoned lock only means a reader panicked; the data is plain values.
        self.inner.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops the current connection and reconnects (to the next server) with the same
    /// session, as after a network failure: calls in flight fail with
    /// [`Error::ConnectionLoss`], watches are re-registered. Does nothing unless connected.
    /// Useful to move off a server, and to test how an application copes with a reconnect.
    pub fn reconnect(&self) {
        let _ = self.inner.tx.send(Command::Reconnect);
    }

    /// Replaces the server list at run time, keeping the session (ZOOKEEPER-1355's
    /// rebalancing). `connect_string` is a server list as given to [`Client::builder`]; its
    /// chroot, if any, must be the client's own.
    ///
    /// The client moves to another server only when that evens out the load: when its
    /// server is no longer listed, or, as the list grows, with the probability
    /// `1 - old_size / new_size` (to one of the added servers). Otherwise it keeps its
    /// connection. A move keeps the session and fails no call: the client waits for the
    /// replies to the calls already sent (at most the read timeout, after which they fail
    /// with [`Error::ConnectionLoss`] as on any lost connection), holds the calls made
    /// meanwhile, then reconnects and sends them to the new server; watches are
    /// re-registered. Servers are the same when host (without regard to case) and port
    /// are; a name and its address are not.
    ///
    /// Returns whether the client decided to move.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] or [`Error::InvalidPath`] for a bad connect string, one
    /// whose chroot differs from the client's, or `tls://` servers on a client built without
    /// TLS; [`Error::Closed`] when the client is closed.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn example() -> aiozk::Result<()> {
    /// let zk = aiozk::Client::connect("zk1:2181,zk2:2181,zk3:2181").await?;
    /// // Two servers joined the ensemble: about two fifths of the clients move to them.
    /// let moved = zk.update_servers("zk1:2181,zk2:2181,zk3:2181,zk4:2181,zk5:2181").await?;
    /// println!("moved: {moved}");
    /// # Ok(()) }
    /// ```
    pub async fn update_servers(&self, connect_string: &str) -> Result<bool> {
        let mut parsed = crate::hosts::ConnectString::parse(connect_string)?;
        if parsed.chroot.is_some() && parsed.chroot.as_deref() != self.chroot() {
            return Err(Error::InvalidArgument(format!(
                "the chroot of {connect_string:?} is not the client's ({:?})",
                self.chroot().unwrap_or("/")
            )));
        }
        if self.inner.tls_all {
            for host in &mut parsed.hosts {
                host.tls = true;
            }
        }
        if !self.inner.tls_ready {
            if let Some(host) = parsed.hosts.iter().find(|h| h.tls) {
                return Err(Error::InvalidArgument(format!(
                    "{host} asks for TLS but the client was built without TLS"
                )));
            }
        }
        let (reply, rx) = oneshot::channel();
        let hosts = parsed.hosts.clone();
        self.inner
            .tx
            .send(Command::UpdateServers { hosts, reply })
            .map_err(|_| Error::Closed)?;
        let moved = rx.await.map_err(|_| Error::Closed)?;
        parsed.chroot = None;
        *self.inner.servers.lock().unwrap_or_else(|e| e.into_inner()) = parsed.to_string();
        Ok(moved)
    }

    /// The server list as last set (by the builder or [`Client::update_servers`]), without
    /// the chroot.
    pub fn servers(&self) -> String {
        self.inner.servers()
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
            coalesced_reads: s.coalesced_reads,
            multi_read_batches: s.multi_read_batches,
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
    ///
    /// # Examples
    /// ```no_run
    /// # async fn example() -> aiozk::Result<()> {
    /// # let zk = aiozk::Client::connect("127.0.0.1:2181").await?;
    /// zk.create("/scratch", b"").await?;
    /// // The session's ephemeral nodes go at once; later calls fail with Error::Closed.
    /// zk.close().await;
    /// assert_eq!(zk.exists("/").await, Err(aiozk::Error::Closed));
    /// # Ok(()) }
    /// ```
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
        bounded(self.deadline(), async move {
            sent?;
            recv(rx, limit).await.map(|_| ())
        })
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
    /// Reads sent inside MultiRead batches (see [`crate::ClientBuilder::coalesce_reads`]).
    pub coalesced_reads: u64,
    /// MultiRead batches sent by read coalescing; each carries two reads or more.
    pub multi_read_batches: u64,
    /// Live local watchers.
    pub live_watches: usize,
    /// Bytes written to servers.
    pub bytes_sent: u64,
    /// Bytes read from servers.
    pub bytes_received: u64,
}

impl Inner {
    /// The server list as last set.
    pub(super) fn servers(&self) -> String {
        self.servers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
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
    /// The connect string's server list, as last set.
    pub(super) servers: Mutex<String>,
    /// Every server is a TLS server (the builder was given TLS options).
    pub(super) tls_all: bool,
    /// The connector has a TLS configuration.
    pub(super) tls_ready: bool,
    pub(super) request_timeout: Option<Duration>,
    /// Where the driver leaves one-shot watch events.
    pub(super) slots: Arc<WatchSlots>,
}

pub(super) type ReplyRx = oneshot::Receiver<Result<Response>>;

/// Fails `fut` with [`Error::RequestTimeout`] at `deadline` (a call timeout).
pub(super) async fn bounded<T>(
    deadline: Option<tokio::time::Instant>,
    fut: impl Future<Output = Result<T>>,
) -> Result<T> {
    match deadline {
        Some(at) => tokio::time::timeout_at(at, fut)
            .await
            .unwrap_or(Err(Error::RequestTimeout)),
        None => fut.await,
    }
}

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
