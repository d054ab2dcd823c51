//! `Client`: the cheap, cloneable handle to a ZooKeeper session.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use aiozk_proto::{
    AclRecord, AddWatchMode, ClientInfo, CreateMode, Encode, EventType, MultiResult, OpCode,
    Request, Response, Stat,
};
use bytes::{Bytes, BytesMut};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::acl::{Acl, Perms};
use crate::driver::{self, Command, Connector, Driver, ReplyTx, SessionEvent, Shared};
use crate::error::{Error, Result};
use crate::hosts::ConnectString;
use crate::path::{validate_path, validate_sequential_prefix, Chroot};
use crate::retry::RetryPolicy;
use crate::session::{
    Outgoing, SessionConfig, SessionState, SessionStats, WatchKind, WatchRequest,
};
use crate::slots::{SlotId, WatchSlots};

/// A watch event as seen by the application: the path has the chroot removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedEvent {
    /// What happened. [`EventType::None`] means the watch ended with the session (see
    /// `state`).
    pub event_type: EventType,
    /// `Connected` for node events; `Expired`, `Closed` or `AuthFailed` when the watch ended
    /// because the session did.
    pub state: SessionState,
    /// The node's path, relative to the chroot.
    pub path: String,
    /// The zxid of the change, when the server sends it (3.9+).
    pub zxid: Option<i64>,
}

/// Builds and connects a [`Client`].
///
/// ```no_run
/// # async fn f() -> aiozk::Result<()> {
/// let client = aiozk::Client::builder("127.0.0.1:2181/app")
///     .session_timeout(std::time::Duration::from_secs(10))
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientBuilder {
    servers: String,
    session_timeout: Duration,
    connect_timeout: Option<Duration>,
    allow_read_only: bool,
    default_acl: Vec<Acl>,
    max_frame: usize,
    retry: RetryPolicy,
    reconnect_after_expiry: bool,
    resume: Option<(i64, Vec<u8>)>,
    auth: Vec<(String, Vec<u8>)>,
    sasl: Option<crate::session::SaslCredentials>,
    tls: Option<crate::tls::TlsOptions>,
    request_timeout: Option<Duration>,
    call_timeout: Option<Duration>,
    fail_eagerly: bool,
    max_write_delay: Duration,
    connector: Option<Connector>,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("servers", &self.servers)
            .field("session_timeout", &self.session_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("allow_read_only", &self.allow_read_only)
            .field("default_acl", &self.default_acl)
            .field("max_frame", &self.max_frame)
            .field("retry", &self.retry)
            .field("request_timeout", &self.request_timeout)
            .field("call_timeout", &self.call_timeout)
            .field("fail_eagerly", &self.fail_eagerly)
            .field("max_write_delay", &self.max_write_delay)
            .field("reconnect_after_expiry", &self.reconnect_after_expiry)
            .field(
                "resume",
                &self
                    .resume
                    .as_ref()
                    .map(|(id, _)| format!("{id:#x}, <redacted>")),
            )
            .field(
                "auth",
                &self
                    .auth
                    .iter()
                    .map(|(s, _)| format!("{s}:<redacted>"))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl ClientBuilder {
    fn new(servers: &str) -> Self {
        Self {
            servers: servers.to_owned(),
            session_timeout: Duration::from_secs(10),
            connect_timeout: None,
            allow_read_only: false,
            default_acl: crate::acl::open_acl_unsafe(),
            max_frame: aiozk_proto::consts::DEFAULT_MAX_FRAME,
            retry: RetryPolicy::default(),
            reconnect_after_expiry: true,
            resume: None,
            auth: Vec::new(),
            sasl: None,
            tls: None,
            request_timeout: None,
            call_timeout: None,
            fail_eagerly: false,
            max_write_delay: crate::session::DEFAULT_MAX_WRITE_DELAY,
            connector: None,
        }
    }

    /// The session timeout to ask for (the server clamps it to its own bounds, by default
    /// 2 to 20 ticks). Default 10 s.
    pub fn session_timeout(mut self, timeout: Duration) -> Self {
        self.session_timeout = timeout;
        self
    }

    /// How long [`ClientBuilder::connect`] waits for the first session. Default: the
    /// session timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Fail an attempt of a call with [`Error::RequestTimeout`] when its reply takes longer
    /// than `timeout`, counted from when the attempt is queued (waiting for a connection
    /// included). Each retry gets its own `timeout`, and [`Error::RequestTimeout`] is
    /// retryable, so under a policy that retries for ever a call may still wait for ever:
    /// [`ClientBuilder::call_timeout`] bounds the whole call. The request itself is not
    /// withdrawn: it may still be carried out. Default: no limit (an attempt waits while
    /// the session lives, failing on connection loss or expiry).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// Fail a call with [`Error::RequestTimeout`] once `timeout` has passed since it was
    /// made, whatever it is doing: waiting for a connection, for a reply, or between
    /// retries. This bounds the whole call, every retry of the retry policy included. The
    /// request is not withdrawn: it may still be carried out. Calls made of several
    /// requests ([`Client::ensure_path`], [`Client::deleteall`]) bound each request.
    /// [`Client::with_call_timeout`] sets it per handle. Default: no limit.
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = Some(timeout);
        self
    }

    /// Fail at once while every server refuses the connection. Default false: the client
    /// keeps trying, as the Java client does.
    ///
    /// Once every server has refused the connection (or answered the handshake with
    /// garbage) in two whole rounds, calls waiting for a connection fail with
    /// [`Error::NoHosts`] naming the last refusal, [`ClientBuilder::connect`] returns it
    /// at once, and new calls fail with it until a server completes a handshake; the
    /// client keeps trying to connect meanwhile, backing off. A server that does not
    /// answer at all is no refusal: calls wait for it as usual. (Servers that all answer
    /// with garbage fail calls this way even without this option, with the
    /// [`Error::ProtocolViolation`].)
    pub fn fail_eagerly(mut self, fail: bool) -> Self {
        self.fail_eagerly = fail;
        self
    }

    /// How long a request may wait to be written together with others while many are in
    /// flight. Default 1 ms; zero writes every request at the first chance.
    ///
    /// While fewer than 32 requests of this client wait for their reply, requests are
    /// written as soon as the driver runs, so a lone call or a small batch never waits. With
    /// 32 or more on the wire (deep pipelining, where the server has a queue of work), new
    /// requests are written once fewer are on the wire than wait to be written, or after
    /// this delay, whichever comes first (the timer has millisecond resolution). One write
    /// then carries tens of requests, which saves system calls and wake-ups on both sides:
    /// see the README's Performance section for the figures. Order is unchanged: requests
    /// are still written in call order, and ZooKeeper answers a session's requests in that
    /// order, so a held request's reply could not have overtaken the replies it waits
    /// behind. On a long-distance link, where the round trip rather than the server limits a
    /// deep pipeline, zero may give more throughput.
    pub fn max_write_delay(mut self, delay: Duration) -> Self {
        self.max_write_delay = delay;
        self
    }

    /// Accept read-only servers when no majority is reachable. Default false.
    pub fn allow_read_only(mut self, allow: bool) -> Self {
        self.allow_read_only = allow;
        self
    }

    /// The ACL given to created nodes when the call names none. Default: open to everyone
    /// (`world:anyone`, all permissions), as in aiozk.
    pub fn default_acl(mut self, acl: Vec<Acl>) -> Self {
        self.default_acl = acl;
        self
    }

    /// The largest frame sent or accepted, in bytes. Default 1 MiB - 1, the server's
    /// default `jute.maxbuffer`.
    pub fn max_frame(mut self, bytes: usize) -> Self {
        self.max_frame = bytes;
        self
    }

    /// The retry policy for calls that are safe to repeat. Default
    /// [`RetryPolicy::default`].
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// After the session expires, open a new one (true, the default) or stay expired, so
    /// that every later call fails with [`Error::SessionExpired`].
    pub fn reconnect_after_expiry(mut self, reconnect: bool) -> Self {
        self.reconnect_after_expiry = reconnect;
        self
    }

    /// Resume an existing session (from [`Client::session_id`] and
    /// [`Client::session_password`]) instead of creating one.
    pub fn resume_session(mut self, session_id: i64, password: Vec<u8>) -> Self {
        self.resume = Some((session_id, password));
        self
    }

    /// Credentials to send at connect time and after every reconnect, e.g.
    /// `("digest", b"user:password")`.
    pub fn auth(mut self, scheme: &str, credentials: &[u8]) -> Self {
        self.auth.push((scheme.to_owned(), credentials.to_vec()));
        self
    }

    /// Authenticate every connection with SASL DIGEST-MD5 (the server's JAAS
    /// `DigestLoginModule`) before anything else is sent.
    pub fn sasl_digest_md5(mut self, username: &str, password: &str) -> Self {
        self.sasl = Some(crate::session::SaslCredentials {
            username: username.to_owned(),
            password: password.to_owned(),
        });
        self
    }

    /// Use TLS with these options for every server (servers written `tls://host:port` in
    /// the connect string use TLS even without this call, with these options if given, else
    /// the system's certificate authorities).
    pub fn tls(mut self, options: crate::tls::TlsOptions) -> Self {
        self.tls = Some(options);
        self
    }

    #[doc(hidden)]
    #[allow(private_interfaces)]
    pub fn connector(mut self, connector: Connector) -> Self {
        self.connector = Some(connector);
        self
    }

    /// Starts the session and waits until it is connected.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] or [`Error::InvalidPath`] for a bad server list;
    /// [`Error::NoHosts`] when no server answered within the connect timeout;
    /// [`Error::AuthFailed`] when the server rejected the credentials.
    pub async fn connect(self) -> Result<Client> {
        let client = self.start()?;
        let timeout = client.connect_timeout;
        let mut state = client.inner.state_rx.clone();
        let wait = state.wait_for(|s| {
            s.is_connected()
                || matches!(s, SessionState::AuthFailed | SessionState::Closed)
                || client.connect_failure().is_some()
        });
        let outcome = match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(s)) => *s,
            Ok(Err(_)) => SessionState::Closed,
            Err(_) => SessionState::Connecting,
        };
        match outcome {
            s if s.is_connected() => Ok(client),
            SessionState::AuthFailed => Err(Error::AuthFailed),
            _ if client.connect_failure().is_some() => {
                let err = client.connect_failure().unwrap_or(Error::ConnectionLoss);
                client.close().await;
                Err(err)
            }
            _ => {
                let last = client.shared().last_error;
                client.close().await;
                Err(Error::NoHosts(match last {
                    Some(why) => format!(
                        "no server of {} answered within {timeout:?}; last error: {why}",
                        client.inner.servers
                    ),
                    None => format!(
                        "no server of {} answered within {timeout:?}",
                        client.inner.servers
                    ),
                }))
            }
        }
    }

    /// Starts the session without waiting for it to connect: calls made before the
    /// connection is up are queued and sent after the handshake.
    ///
    /// # Errors
    /// As for [`ClientBuilder::connect`], for a bad server list.
    pub fn start(self) -> Result<Client> {
        let mut parsed = ConnectString::parse(&self.servers)?;
        if self.tls.is_some() {
            for host in &mut parsed.hosts {
                host.tls = true;
            }
        }
        let tls_config = if parsed.hosts.iter().any(|h| h.tls) {
            Some(self.tls.clone().unwrap_or_default().client_config()?)
        } else {
            None
        };
        let chroot = Chroot::new(parsed.chroot.as_deref())?;
        if self.default_acl.is_empty() {
            return Err(Error::InvalidArgument("the default ACL is empty".into()));
        }
        let config = SessionConfig {
            session_timeout: self.session_timeout,
            allow_read_only: self.allow_read_only,
            max_frame: self.max_frame,
            host_count: parsed.hosts.len(),
            reconnect_after_expiry: self.reconnect_after_expiry,
            resume: self.resume.clone(),
            seed: rand::random(),
            sasl: self.sasl.clone(),
            max_write_delay: self.max_write_delay,
            fail_eagerly: self.fail_eagerly,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let (state_tx, state_rx) = watch::channel(SessionState::Connecting);
        // 64 transitions of slack for a slow subscriber; 256 slots cost 17 KB per client.
        let (events_tx, _) = broadcast::channel(64);
        let shared = Arc::new(Mutex::new(Shared {
            state: SessionState::Connecting,
            session_id: 0,
            password: Vec::new(),
            timeout: self.session_timeout,
            stats: SessionStats::default(),
            watches: 0,
            server: None,
            last_error: None,
            last_zxid: 0,
            heard_at: None,
            connect_failure: None,
        }));
        let connector = self
            .connector
            .clone()
            .unwrap_or_else(|| driver::tcp_connector(tls_config));
        // Credentials go first so they are replayed before anything else.
        for (scheme, auth) in &self.auth {
            let (reply, _) = oneshot::channel();
            let _ = tx.send(Command::Auth {
                scheme: scheme.clone(),
                auth: auth.clone(),
                reply,
            });
        }
        let slots = Arc::new(WatchSlots::default());
        let streams = Arc::new(StreamSlots {
            slots: WatchSlots::default(),
            tx: tx.downgrade(),
        });
        let driver = Driver::new(
            config,
            parsed.hosts,
            connector,
            rx,
            shared.clone(),
            state_tx,
            events_tx.clone(),
            chroot.clone(),
            slots.clone(),
            streams.clone(),
        );
        tokio::spawn(driver.run());
        let inner = Inner {
            tx,
            chroot,
            default_acl: self.default_acl.iter().map(to_record).collect(),
            max_frame: self.max_frame,
            shared,
            state_rx,
            events_tx,
            streams,
            servers: self.servers.clone(),
            request_timeout: self.request_timeout,
            slots,
        };
        Ok(Client {
            inner: Arc::new(inner),
            retry: self.retry,
            call_timeout: self.call_timeout,
            connect_timeout: self.connect_timeout.unwrap_or(self.session_timeout),
        })
    }
}

struct Inner {
    tx: mpsc::UnboundedSender<Command>,
    chroot: Chroot,
    default_acl: Vec<AclRecord>,
    max_frame: usize,
    shared: Arc<Mutex<Shared>>,
    state_rx: watch::Receiver<SessionState>,
    events_tx: broadcast::Sender<SessionEvent>,
    /// Where the driver leaves the events of persistent watches.
    streams: Arc<StreamSlots>,
    servers: String,
    request_timeout: Option<Duration>,
    /// Where the driver leaves one-shot watch events.
    slots: Arc<WatchSlots>,
}

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
    inner: Arc<Inner>,
    retry: RetryPolicy,
    call_timeout: Option<Duration>,
    connect_timeout: Duration,
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

/// Options of [`Client::create_with`].
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    mode: CreateMode,
    acl: Option<Vec<Acl>>,
    ttl: Option<Duration>,
    protected: bool,
}

impl CreateOptions {
    /// A persistent node with the client's default ACL.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the creation mode.
    pub fn mode(mut self, mode: CreateMode) -> Self {
        self.mode = mode;
        self
    }

    /// The node is deleted when the session ends.
    pub fn ephemeral(mut self) -> Self {
        self.mode = match self.mode {
            CreateMode::PersistentSequential | CreateMode::EphemeralSequential => {
                CreateMode::EphemeralSequential
            }
            _ => CreateMode::Ephemeral,
        };
        self
    }

    /// The server appends a 10-digit sequence number to the name.
    pub fn sequential(mut self) -> Self {
        self.mode = match self.mode {
            CreateMode::Ephemeral | CreateMode::EphemeralSequential => {
                CreateMode::EphemeralSequential
            }
            CreateMode::PersistentWithTtl | CreateMode::PersistentSequentialWithTtl => {
                CreateMode::PersistentSequentialWithTtl
            }
            _ => CreateMode::PersistentSequential,
        };
        self
    }

    /// A container node: the server deletes it some time after its last child goes.
    pub fn container(mut self) -> Self {
        self.mode = CreateMode::Container;
        self
    }

    /// A TTL node: deleted once it has not been modified for `ttl` and has no children.
    /// Needs `extendedTypesEnabled=true` on the server.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self.mode = if self.mode.is_sequential() {
            CreateMode::PersistentSequentialWithTtl
        } else {
            CreateMode::PersistentWithTtl
        };
        self
    }

    /// The ACL of the new node.
    pub fn acl(mut self, acl: Vec<Acl>) -> Self {
        self.acl = Some(acl);
        self
    }

    /// Protected mode for sequential nodes: a unique id is put in the node name, so that
    /// after a connection loss the client can find out whether the create happened (by
    /// looking for the id among the parent's children) instead of creating a duplicate.
    pub fn protected(mut self) -> Self {
        self.protected = true;
        self
    }
}

/// A one-shot watch: resolves once, with the first event on the watched node.
///
/// If the session expires or the client closes first, it resolves with an event of type
/// [`EventType::None`] whose `state` says why. The watch survives reconnects: it is
/// re-registered with the server, which reports any change missed meanwhile.
#[must_use = "a watcher does nothing unless awaited"]
pub struct OneshotWatcher {
    slots: Arc<WatchSlots>,
    slot: SlotId,
}

impl std::fmt::Debug for OneshotWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the whole table of the client's slots.
        f.debug_struct("OneshotWatcher")
            .field("slot", &self.slot)
            .finish()
    }
}

impl Drop for OneshotWatcher {
    fn drop(&mut self) {
        self.slots.drop_watcher(self.slot);
    }
}

impl Future for OneshotWatcher {
    type Output = WatchedEvent;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<WatchedEvent> {
        match self.slots.poll(self.slot, cx) {
            Poll::Ready(Some(ev)) => Poll::Ready(ev),
            // The driver is gone: the client was closed.
            Poll::Ready(None) => Poll::Ready(WatchedEvent {
                event_type: EventType::None,
                state: SessionState::Closed,
                path: String::new(),
                zxid: None,
            }),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The slots of the persistent watchers of one client: their event queues, and the way to
/// the driver for watchers that are dropped.
#[derive(Debug)]
pub(crate) struct StreamSlots {
    pub(crate) slots: WatchSlots,
    // Weak: a watcher must not keep the session open once every Client handle is gone.
    tx: mpsc::WeakUnboundedSender<Command>,
}

/// A persistent or persistent-recursive watch as a stream of events.
///
/// Dropping it unregisters it; when it was the last local watcher of its path and mode, the
/// server watch is removed too. The stream ends after an event of type [`EventType::None`]
/// when the session expires or the client closes.
pub struct PersistentWatcher {
    streams: Arc<StreamSlots>,
    slot: SlotId,
}

impl std::fmt::Debug for PersistentWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the whole table of the client's slots.
        f.debug_struct("PersistentWatcher")
            .field("slot", &self.slot)
            .finish()
    }
}

impl PersistentWatcher {
    /// The next event, or `None` once the watch has ended.
    pub async fn next(&mut self) -> Option<WatchedEvent> {
        std::future::poll_fn(|cx| self.poll_next_event(cx)).await
    }

    fn poll_next_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<WatchedEvent>> {
        self.streams.slots.poll(self.slot, cx)
    }
}

impl futures_core::Stream for PersistentWatcher {
    type Item = WatchedEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<WatchedEvent>> {
        self.poll_next_event(cx)
    }
}

impl Drop for PersistentWatcher {
    fn drop(&mut self) {
        let streams = &self.streams;
        let slot = self.slot;
        // The driver holds the slot until the session has forgotten the watcher; the
        // removal is sent before the slot can be freed and given to another watcher.
        streams.slots.drop_watcher_then(slot, || {
            if let Some(tx) = streams.tx.upgrade() {
                let _ = tx.send(Command::RemoveWatch { stream: slot });
            }
        });
    }
}

pub(crate) fn strip_event(chroot: &Chroot, ev: crate::session::WatchedEvent) -> WatchedEvent {
    WatchedEvent {
        event_type: ev.event_type,
        state: ev.state,
        path: chroot.strip(&ev.path).to_owned(),
        zxid: ev.zxid,
    }
}

fn to_record(acl: &Acl) -> AclRecord {
    AclRecord {
        perms: acl.perms.bits() as i32,
        scheme: acl.id.scheme.clone(),
        id: acl.id.id.clone(),
    }
}

fn from_record(r: AclRecord) -> Acl {
    Acl::new(Perms::from_bits(r.perms as u32), r.scheme, r.id)
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
    /// write carries many requests (see [`ClientBuilder::max_write_delay`]).
    pub writes: u64,
    /// Live local watchers.
    pub live_watches: usize,
}

/// One operation of a [`Transaction`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum TxnOp {
    Create {
        path: String,
        data: Option<Vec<u8>>,
        acl: Vec<AclRecord>,
        mode: CreateMode,
        ttl: Option<i64>,
    },
    Delete {
        path: String,
        version: i32,
    },
    SetData {
        path: String,
        data: Option<Vec<u8>>,
        version: i32,
    },
    Check {
        path: String,
        version: i32,
    },
}

/// The outcome of one operation of a committed transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    /// A node was created at this path (chroot removed); the Stat is present for container
    /// and TTL creates only (the server sends none for the others).
    Created {
        /// The created path.
        path: String,
        /// Its Stat, when the server sent it.
        stat: Option<Stat>,
    },
    /// A node was deleted.
    Deleted,
    /// Data was set; the node's new Stat.
    Updated(Stat),
    /// A version check passed.
    Checked,
}

/// An atomic batch of writes (ZooKeeper's multi): all take effect or none does.
///
/// Build it with [`Client::transaction`] (aiozk: `begin_transaction`), add operations, then
/// [`Transaction::commit`].
#[derive(Debug, Clone)]
#[must_use = "a transaction does nothing until committed"]
pub struct Transaction {
    client: Client,
    ops: Vec<TxnOp>,
    error: Option<Error>,
}

impl Transaction {
    fn path(&mut self, path: &str, sequential: bool) -> Option<String> {
        let checked = if sequential {
            validate_sequential_prefix(path)
        } else {
            validate_path(path)
        };
        match checked {
            Ok(()) => Some(self.client.inner.chroot.prefix(path)),
            Err(e) => {
                self.error.get_or_insert(e);
                None
            }
        }
    }

    /// Checks that the node's version is `version` (-1: that the node exists).
    pub fn check_version(mut self, path: &str, version: i32) -> Self {
        if let Some(path) = self.path(path, false) {
            self.ops.push(TxnOp::Check { path, version });
        }
        self
    }

    /// Creates a node.
    pub fn create(self, path: &str, data: &[u8], options: &CreateOptions) -> Self {
        self.create_opt(path, Some(data), options)
    }

    /// Creates a node whose data may be null: `None` creates it without data (null data,
    /// which [`Client::get_data_opt`] reads as `None`), `Some` as [`Transaction::create`].
    pub fn create_opt(mut self, path: &str, data: Option<&[u8]>, options: &CreateOptions) -> Self {
        let Some(server_path) = self.path(path, options.mode.is_sequential()) else {
            return self;
        };
        match self.client.create_parts(options) {
            Ok((acl, ttl)) => self.ops.push(TxnOp::Create {
                path: server_path,
                data: data.map(<[u8]>::to_vec),
                acl,
                mode: options.mode,
                ttl,
            }),
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }

    /// Deletes a node (`version` -1: any version).
    pub fn delete(mut self, path: &str, version: i32) -> Self {
        // As in Client::delete: "/" goes out as "/" (the server refuses it) instead of
        // deleting the chroot node.
        let server_path = if path == "/" {
            Some(path.to_owned())
        } else {
            self.path(path, false)
        };
        if let Some(path) = server_path {
            self.ops.push(TxnOp::Delete { path, version });
        }
        self
    }

    /// Sets a node's data (`version` -1: any version).
    pub fn set_data(self, path: &str, data: &[u8], version: i32) -> Self {
        self.set_data_opt(path, Some(data), version)
    }

    /// Sets a node's data, which may be null: `None` stores null data (see
    /// [`Client::set_data_opt`]), `Some` as [`Transaction::set_data`].
    pub fn set_data_opt(mut self, path: &str, data: Option<&[u8]>, version: i32) -> Self {
        if let Some(path) = self.path(path, false) {
            self.ops.push(TxnOp::SetData {
                path,
                data: data.map(<[u8]>::to_vec),
                version,
            });
        }
        self
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when no operation was added.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Sends the transaction (queued at once, see [`Client`]'s ordering) and returns each
    /// operation's result.
    ///
    /// # Errors
    /// [`Error::TransactionFailed`] with the failed operation's index and error and every
    /// operation's own outcome; the first argument error met while building; any
    /// connection or session error. An empty transaction succeeds without a round trip.
    /// A transaction is never retried: its outcome after a connection loss is unknown.
    pub fn commit(self) -> impl Future<Output = Result<Vec<OpResult>>> + Send + 'static {
        let chroot = self.client.inner.chroot.clone();
        let sent = match self.error {
            Some(e) => Err(e),
            None if self.ops.is_empty() => Ok(None),
            None => {
                let reqs: Vec<Request<'_>> = self
                    .ops
                    .iter()
                    .map(|op| match op {
                        TxnOp::Create {
                            path,
                            data,
                            acl,
                            mode,
                            ttl,
                        } => Request::Create {
                            path,
                            data: data.as_deref(),
                            acl,
                            mode: *mode,
                            ttl: *ttl,
                        },
                        TxnOp::Delete { path, version } => Request::Delete {
                            path,
                            version: *version,
                        },
                        TxnOp::SetData {
                            path,
                            data,
                            version,
                        } => Request::SetData {
                            path,
                            data: data.as_deref(),
                            version: *version,
                        },
                        TxnOp::Check { path, version } => Request::Check {
                            path,
                            version: *version,
                        },
                    })
                    .collect();
                self.client
                    .encode(&Request::Multi(&reqs))
                    .and_then(|(op, body)| self.client.send(op, body, None))
                    .map(|(rx, _)| Some(rx))
            }
        };
        let limit = self.client.inner.request_timeout;
        let deadline = self.client.deadline();
        bounded(deadline, async move {
            let Some(rx) = sent? else {
                return Ok(Vec::new());
            };
            let Response::Multi(results) = recv(rx, limit).await? else {
                return Err(unexpected());
            };
            multi_outcome(&chroot, results)
        })
    }
}

fn multi_outcome(chroot: &Chroot, results: Vec<MultiResult>) -> Result<Vec<OpResult>> {
    if results.iter().all(|r| matches!(r, MultiResult::Error(_))) && !results.is_empty() {
        let errors: Vec<Error> = results
            .iter()
            .map(|r| match r {
                MultiResult::Error(0) => Error::RolledBack,
                MultiResult::Error(code) => Error::from_code(*code),
                _ => Error::RolledBack,
            })
            .collect();
        let index = results
            .iter()
            .position(|r| !matches!(r, MultiResult::Error(0) | MultiResult::Error(-2)))
            .unwrap_or(0);
        return Err(Error::TransactionFailed {
            index,
            error: Box::new(errors[index].clone()),
            results: errors,
        });
    }
    results
        .into_iter()
        .map(|r| {
            Ok(match r {
                MultiResult::Create { path } => OpResult::Created {
                    path: chroot.strip(&path).to_owned(),
                    stat: None,
                },
                MultiResult::Create2 { path, stat } => OpResult::Created {
                    path: chroot.strip(&path).to_owned(),
                    stat: Some(stat),
                },
                MultiResult::Delete => OpResult::Deleted,
                MultiResult::SetData { stat } => OpResult::Updated(stat),
                MultiResult::Check => OpResult::Checked,
                _ => return Err(unexpected()),
            })
        })
        .collect()
}

/// One read of [`Client::multi_read`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadOp {
    /// getData of a path.
    GetData(String),
    /// getChildren of a path.
    GetChildren(String),
}

/// The result of one [`ReadOp`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadResult {
    /// Data and Stat.
    Data(Bytes, Stat),
    /// Child names.
    Children(Vec<String>),
}

/// Why [`Client::deleteall`] could not delete everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeleteAllReport {
    /// Nodes deleted.
    pub deleted: usize,
    /// Nodes that could not be deleted, with the reason.
    pub failed: Vec<(String, Error)>,
}

fn unexpected() -> Error {
    Error::ProtocolViolation("unexpected response type".into())
}

type ReplyRx = oneshot::Receiver<Result<Response>>;

/// Fails `fut` with [`Error::RequestTimeout`] at `deadline` (a call timeout).
async fn bounded<T>(
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
async fn recv(rx: ReplyRx, limit: Option<Duration>) -> Result<Response> {
    // A dropped sender means the driver stopped: the client is closed.
    match limit {
        Some(limit) => match tokio::time::timeout(limit, rx).await {
            Ok(reply) => reply.unwrap_or(Err(Error::Closed)),
            Err(_) => Err(Error::RequestTimeout),
        },
        None => rx.await.unwrap_or(Err(Error::Closed)),
    }
}

impl Client {
    /// A builder for a client of the servers in `connect_string`
    /// (`host1:2181,host2:2181/optional/chroot`; IPv6 as `[::1]:2181`; `tls://` per host).
    pub fn builder(connect_string: &str) -> ClientBuilder {
        ClientBuilder::new(connect_string)
    }

    /// Connects with default settings. See [`ClientBuilder::connect`].
    ///
    /// # Errors
    /// As for [`ClientBuilder::connect`].
    pub async fn connect(connect_string: &str) -> Result<Self> {
        Self::builder(connect_string).connect().await
    }

    /// A handle to the same session that uses `policy` for its calls.
    pub fn with_retry(&self, policy: RetryPolicy) -> Self {
        Self {
            retry: policy,
            ..self.clone()
        }
    }

    /// A handle to the same session whose calls fail with [`Error::RequestTimeout`] once
    /// `timeout` has passed since they were made, retries included (see
    /// [`ClientBuilder::call_timeout`]).
    pub fn with_call_timeout(&self, timeout: Duration) -> Self {
        Self {
            call_timeout: Some(timeout),
            ..self.clone()
        }
    }

    /// When this handle's calls made now must be done, if they have a call timeout.
    fn deadline(&self) -> Option<tokio::time::Instant> {
        self.call_timeout.map(|d| tokio::time::Instant::now() + d)
    }

    // ------------------------------------------------------------------ plumbing

    fn encode(&self, req: &Request<'_>) -> Result<(OpCode, Bytes)> {
        // Sized up front: growing from empty cost several reallocations per request.
        let mut body = BytesMut::with_capacity(encoded_size_hint(req));
        req.encode(&mut body);
        // 8 bytes of request header travel in the same frame.
        if body.len() + 8 > self.inner.max_frame {
            return Err(Error::FrameTooLarge {
                size: body.len() + 8,
                limit: self.inner.max_frame,
                reply: false,
            });
        }
        Ok((req.opcode(), body.freeze()))
    }

    fn send(
        &self,
        op: OpCode,
        body: Bytes,
        watch: Option<(WatchKind, String)>,
    ) -> Result<(ReplyRx, Option<OneshotWatcher>)> {
        let (tx, rx) = oneshot::channel();
        let (token, watch, watcher) = match watch {
            Some((kind, path)) => {
                let slots = &self.inner.slots;
                let slot = slots.allocate();
                (
                    ReplyTx::watched(tx, Some((slot, op, kind))),
                    Some(WatchRequest {
                        kind,
                        path,
                        token: slot,
                    }),
                    Some(OneshotWatcher {
                        slots: slots.clone(),
                        slot,
                    }),
                )
            }
            None => (ReplyTx::from(tx), None, None),
        };
        let sent = self.inner.tx.send(Command::Request(Outgoing {
            op,
            body,
            token,
            watch,
        }));
        if sent.is_err() {
            // The driver is gone and never saw the slot.
            if let Some(w) = &watcher {
                self.inner.slots.release(w.slot);
            }
            return Err(Error::Closed);
        }
        Ok((rx, watcher))
    }

    /// Validates, encodes and queues `req` now; the future awaits the reply, retrying per
    /// the policy when `idempotent`.
    fn call<T: Send + 'static>(
        &self,
        req: Result<Request<'_>>,
        watch: Option<WatchKind>,
        idempotent: bool,
        map: impl Fn(Result<Response>, &Chroot) -> Result<T> + Send + 'static,
    ) -> impl Future<Output = Result<(T, Option<OneshotWatcher>)>> + Send + 'static {
        let first = req.and_then(|req| {
            let watch_path = watch.map(|k| (k, request_path(&req).to_owned()));
            let (op, body) = self.encode(&req)?;
            let sent = self.send(op, body.clone(), watch_path.clone())?;
            Ok((op, body, watch_path, sent))
        });
        let this = self.clone();
        let limit = self.inner.request_timeout;
        let deadline = self.deadline();
        bounded(deadline, async move {
            let (op, body, watch_path, (rx, mut watcher)) = first?;
            let started = Instant::now();
            let mut attempt = 1u32;
            let mut result = recv(rx, limit).await;
            while let (true, Err(err)) = (idempotent, &result) {
                if !err.is_retryable() {
                    break;
                }
                let Some(delay) =
                    this.retry
                        .delay_before_attempt(attempt + 1, started, Instant::now())
                else {
                    if attempt > 1 {
                        result = Err(Error::RetriesExhausted {
                            attempts: attempt,
                            last: Box::new(err.clone()),
                        });
                    }
                    break;
                };
                tokio::time::sleep(delay).await;
                attempt += 1;
                tracing::debug!(?op, attempt, "retrying");
                let (rx, w) = this.send(op, body.clone(), watch_path.clone())?;
                watcher = w;
                result = recv(rx, limit).await;
            }
            Ok((map(result, &this.inner.chroot)?, watcher))
        })
    }

    /// A getData request for `path` (setting a data watch when `watch`), its reply mapped
    /// by `map`.
    fn read_data<T: Send + 'static>(
        &self,
        path: &str,
        watch: bool,
        map: fn(Result<Response>, &Chroot) -> Result<T>,
    ) -> impl Future<Output = Result<(T, Option<OneshotWatcher>)>> + Send + 'static {
        let req = self.server_path(path);
        self.call(
            path_ref(&req).map(|p| Request::GetData { path: p, watch }),
            watch.then_some(WatchKind::Data),
            true,
            map,
        )
    }

    fn call_plain<T: Send + 'static>(
        &self,
        req: Result<Request<'_>>,
        idempotent: bool,
        map: impl Fn(Result<Response>, &Chroot) -> Result<T> + Send + 'static,
    ) -> impl Future<Output = Result<T>> + Send + 'static {
        let fut = self.call(req, None, idempotent, map);
        async move { fut.await.map(|(v, _)| v) }
    }

    fn server_path(&self, path: &str) -> Result<String> {
        validate_path(path)?;
        Ok(self.inner.chroot.prefix(path))
    }

    fn create_parts(&self, options: &CreateOptions) -> Result<(Vec<AclRecord>, Option<i64>)> {
        let acl = match &options.acl {
            Some(acl) if acl.is_empty() => {
                return Err(Error::InvalidArgument("empty ACL".into()));
            }
            Some(acl) => acl.iter().map(to_record).collect(),
            None => self.inner.default_acl.clone(),
        };
        let ttl = if options.mode.is_ttl() {
            let ttl = options
                .ttl
                .ok_or_else(|| Error::InvalidArgument("a TTL mode needs a TTL".into()))?;
            let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
            if ms <= 0 || ms > aiozk_proto::consts::MAX_TTL_MS {
                return Err(Error::InvalidArgument(format!(
                    "TTL of {ms} ms is outside 1..={} ms",
                    aiozk_proto::consts::MAX_TTL_MS
                )));
            }
            Some(ms)
        } else if options.ttl.is_some() {
            return Err(Error::InvalidArgument(
                "a TTL is only allowed with a TTL mode".into(),
            ));
        } else {
            None
        };
        Ok((acl, ttl))
    }

    // ------------------------------------------------------------------ session

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

    fn shared(&self) -> Shared {
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
    /// [`ClientBuilder::resume_session`]. Keep it secret.
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
        self.shared().heard_at
    }

    /// Why calls fail at once right now, if they do: every server answered the handshake
    /// with garbage in two whole rounds ([`Error::ProtocolViolation`]), or, with
    /// [`ClientBuilder::fail_eagerly`], every server refused the connection in two whole
    /// rounds ([`Error::NoHosts`]). Cleared by the next successful handshake.
    pub fn connect_failure(&self) -> Option<Error> {
        self.inner
            .shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .connect_failure
            .clone()
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
        let deadline = self.deadline();
        bounded(deadline, async move {
            sent?;
            recv(rx, limit).await.map(|_| ())
        })
    }

    // ------------------------------------------------------------------ reads

    /// The node's Stat, or `None` if it does not exist.
    ///
    /// # Errors
    /// Connection and session errors; [`Error::InvalidPath`].
    pub fn exists(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<Option<Stat>>> + Send + 'static {
        let req = self.server_path(path);
        self.call_plain(
            path_ref(&req).map(|p| Request::Exists {
                path: p,
                watch: false,
            }),
            true,
            map_exists,
        )
    }

    /// Like [`Client::exists`], and sets a watch: it fires when the node is created (if it
    /// was missing), changed or deleted.
    ///
    /// # Errors
    /// As for [`Client::exists`].
    pub fn exists_watched(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Option<Stat>, OneshotWatcher)>> + Send + 'static {
        let req = self.server_path(path);
        let fut = self.call(
            path_ref(&req).map(|p| Request::Exists {
                path: p,
                watch: true,
            }),
            Some(WatchKind::Data),
            true,
            map_exists,
        );
        with_watcher(fut)
    }

    /// The node's data and Stat. Null data (a node created without data, see
    /// [`Client::create_opt`]) reads as empty data; [`Client::get_data_opt`] tells them
    /// apart.
    ///
    /// # Errors
    /// [`Error::NoNode`]; [`Error::NoAuth`] without READ permission; connection errors.
    pub fn get_data(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Bytes, Stat)>> + Send + 'static {
        let fut = self.read_data(path, false, map_data);
        async move { fut.await.map(|(v, _)| v) }
    }

    /// Same as [`Client::get_data`] (aiozk's `get`).
    ///
    /// # Errors
    /// As for [`Client::get_data`].
    pub fn get(&self, path: &str) -> impl Future<Output = Result<(Bytes, Stat)>> + Send + 'static {
        self.get_data(path)
    }

    /// Like [`Client::get_data`], and sets a watch that fires when the data changes or the
    /// node is deleted.
    ///
    /// # Errors
    /// As for [`Client::get_data`]; no watch is set when the node does not exist.
    pub fn get_data_watched(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Bytes, Stat, OneshotWatcher)>> + Send + 'static {
        with_watcher_pair(self.read_data(path, true, map_data))
    }

    /// The node's data and Stat, keeping null data apart from empty data: `None` for a node
    /// that holds null data (created or set without data, e.g. by [`Client::create_opt`]
    /// with `None` or by another client), `Some` of an empty buffer for a node holding
    /// empty data. Otherwise the same as [`Client::get_data`].
    ///
    /// # Errors
    /// As for [`Client::get_data`]: [`Error::NoNode`]; [`Error::NoAuth`] without READ
    /// permission; connection errors.
    pub fn get_data_opt(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Option<Bytes>, Stat)>> + Send + 'static {
        let fut = self.read_data(path, false, map_data_opt);
        async move { fut.await.map(|(v, _)| v) }
    }

    /// Like [`Client::get_data_opt`], and sets a watch as [`Client::get_data_watched`]
    /// does: it fires when the data changes or the node is deleted.
    ///
    /// # Errors
    /// As for [`Client::get_data_opt`]; no watch is set when the node does not exist.
    pub fn get_data_opt_watched(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Option<Bytes>, Stat, OneshotWatcher)>> + Send + 'static {
        with_watcher_pair(self.read_data(path, true, map_data_opt))
    }

    /// The names of the node's children, in no particular order.
    ///
    /// # Errors
    /// [`Error::NoNode`]; [`Error::NoAuth`]; connection errors.
    pub fn get_children(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<Vec<String>>> + Send + 'static {
        let req = self.server_path(path);
        self.call_plain(
            path_ref(&req).map(|p| Request::GetChildren {
                path: p,
                watch: false,
            }),
            true,
            |r, _| match r? {
                Response::Strings(c) => Ok(c),
                _ => Err(unexpected()),
            },
        )
    }

    /// The children's names and the node's Stat.
    ///
    /// # Errors
    /// As for [`Client::get_children`].
    pub fn get_children_stat(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Vec<String>, Stat)>> + Send + 'static {
        let req = self.server_path(path);
        self.call_plain(
            path_ref(&req).map(|p| Request::GetChildren2 {
                path: p,
                watch: false,
            }),
            true,
            map_children2,
        )
    }

    /// Like [`Client::get_children_stat`], and sets a watch that fires when a child is
    /// added or removed or the node is deleted.
    ///
    /// # Errors
    /// As for [`Client::get_children`].
    pub fn get_children_watched(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Vec<String>, Stat, OneshotWatcher)>> + Send + 'static {
        let req = self.server_path(path);
        let fut = self.call(
            path_ref(&req).map(|p| Request::GetChildren2 {
                path: p,
                watch: true,
            }),
            Some(WatchKind::Child),
            true,
            map_children2,
        );
        with_watcher_pair(fut)
    }

    /// The node's ACL and Stat.
    ///
    /// # Errors
    /// [`Error::NoNode`]; [`Error::NoAuth`] without READ or ADMIN.
    pub fn get_acl(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Vec<Acl>, Stat)>> + Send + 'static {
        let req = self.server_path(path);
        self.call_plain(
            path_ref(&req).map(|p| Request::GetAcl { path: p }),
            true,
            |r, _| match r? {
                Response::Acl { acl, stat } => {
                    Ok((acl.into_iter().map(from_record).collect(), stat))
                }
                _ => Err(unexpected()),
            },
        )
    }

    /// Waits until the connected server has caught up with the leader for `path`, so the
    /// next reads see every write committed before this call.
    ///
    /// # Errors
    /// Connection errors.
    pub fn sync(&self, path: &str) -> impl Future<Output = Result<()>> + Send + 'static {
        let req = self.server_path(path);
        self.call_plain(
            path_ref(&req).map(|p| Request::Sync { path: p }),
            true,
            |r, _| r.map(|_| ()),
        )
    }

    /// The ephemeral nodes of this session whose paths start with `prefix` (a plain string
    /// prefix, as the server compares; `/` for all), relative to the chroot.
    ///
    /// # Errors
    /// Connection errors; [`Error::Unimplemented`] before ZooKeeper 3.6.
    pub fn get_ephemerals(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<String>>> + Send + 'static {
        let server = if prefix.is_empty() || prefix == "/" {
            Ok(self.inner.chroot.prefix("/"))
        } else if prefix.starts_with('/') {
            Ok(self.inner.chroot.prefix(prefix))
        } else {
            Err(Error::InvalidPath {
                path: prefix.to_owned(),
                reason: "a prefix must start with '/'",
            })
        };
        self.call_plain(
            path_ref(&server).map(|p| Request::GetEphemerals { prefix: p }),
            true,
            |r, chroot| match r? {
                Response::Strings(paths) => Ok(paths
                    .iter()
                    .filter(|p| {
                        chroot.as_str().is_none_or(|c| {
                            p.strip_prefix(c)
                                .is_some_and(|r| r.is_empty() || r.starts_with('/'))
                        })
                    })
                    .map(|p| chroot.strip(p).to_owned())
                    .collect()),
                _ => Err(unexpected()),
            },
        )
    }

    /// The number of all descendants of the node (not counting itself).
    ///
    /// # Errors
    /// [`Error::NoNode`]; connection errors; [`Error::Unimplemented`] before 3.6.
    pub fn get_all_children_number(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<i32>> + Send + 'static {
        let req = self.server_path(path);
        self.call_plain(
            path_ref(&req).map(|p| Request::GetAllChildrenNumber { path: p }),
            true,
            |r, _| match r? {
                Response::Count(n) => Ok(n),
                _ => Err(unexpected()),
            },
        )
    }

    /// The identities the server associates with this connection.
    ///
    /// # Errors
    /// Connection errors; [`Error::Unimplemented`] before 3.7.
    pub fn whoami(&self) -> impl Future<Output = Result<Vec<ClientInfo>>> + Send + 'static {
        self.call_plain(Ok(Request::WhoAmI), true, |r, _| match r? {
            Response::WhoAmI(ids) => Ok(ids),
            _ => Err(unexpected()),
        })
    }

    /// The ensemble's dynamic configuration (`/zookeeper/config`, never chrooted).
    ///
    /// # Errors
    /// Connection errors.
    pub fn get_config(&self) -> impl Future<Output = Result<(Bytes, Stat)>> + Send + 'static {
        self.call_plain(
            Ok(Request::GetData {
                path: "/zookeeper/config",
                watch: false,
            }),
            true,
            map_data,
        )
    }

    /// Like [`Client::get_config`], with a watch on the configuration.
    ///
    /// # Errors
    /// Connection errors.
    pub fn get_config_watched(
        &self,
    ) -> impl Future<Output = Result<(Bytes, Stat, OneshotWatcher)>> + Send + 'static {
        let fut = self.call(
            Ok(Request::GetData {
                path: "/zookeeper/config",
                watch: true,
            }),
            Some(WatchKind::Data),
            true,
            map_data,
        );
        with_watcher_pair(fut)
    }

    /// Changes the ensemble membership: incrementally (`joining`, `leaving`) or as a whole
    /// (`new_members`); `from_config` is the expected config version (-1 for any). Returns
    /// the new configuration.
    ///
    /// # Errors
    /// [`Error::ReconfigDisabled`] unless the server has `reconfigEnabled=true`;
    /// [`Error::NewConfigNoQuorum`], [`Error::ReconfigInProgress`], [`Error::NoAuth`].
    pub fn reconfig(
        &self,
        joining: &str,
        leaving: &str,
        new_members: &str,
        from_config: i64,
    ) -> impl Future<Output = Result<(Bytes, Stat)>> + Send + 'static {
        self.call_plain(
            Ok(Request::Reconfig {
                joining,
                leaving,
                new_members,
                from_config,
            }),
            false,
            map_data,
        )
    }

    /// Reads several nodes in one round trip (not atomic); each read has its own result.
    ///
    /// # Errors
    /// The outer result fails for connection errors; [`Error::Unimplemented`] before 3.6.
    pub fn multi_read(
        &self,
        ops: &[ReadOp],
    ) -> impl Future<Output = Result<Vec<Result<ReadResult>>>> + Send + 'static {
        let paths: Result<Vec<String>> = ops
            .iter()
            .map(|op| match op {
                ReadOp::GetData(p) | ReadOp::GetChildren(p) => self.server_path(p),
            })
            .collect();
        let req = paths.map(|paths| {
            ops.iter()
                .zip(paths)
                .map(|(op, p)| (matches!(op, ReadOp::GetData(_)), p))
                .collect::<Vec<_>>()
        });
        let built: Result<Vec<Request<'_>>> = match &req {
            Ok(list) => Ok(list
                .iter()
                .map(|(data, p)| {
                    if *data {
                        Request::GetData {
                            path: p,
                            watch: false,
                        }
                    } else {
                        Request::GetChildren {
                            path: p,
                            watch: false,
                        }
                    }
                })
                .collect()),
            Err(e) => Err(e.clone()),
        };
        let encoded = built.and_then(|reqs| self.encode(&Request::MultiRead(&reqs)));
        let sent = encoded.and_then(|(op, body)| self.send(op, body, None));
        let limit = self.inner.request_timeout;
        let deadline = self.deadline();
        bounded(deadline, async move {
            let (rx, _) = sent?;
            let Response::Multi(results) = recv(rx, limit).await? else {
                return Err(unexpected());
            };
            Ok(results
                .into_iter()
                .map(|r| match r {
                    MultiResult::GetData { data, stat } => {
                        Ok(ReadResult::Data(data.unwrap_or_default(), stat))
                    }
                    MultiResult::GetChildren { children } => Ok(ReadResult::Children(children)),
                    MultiResult::Error(code) => Err(Error::from_code(code)),
                    _ => Err(unexpected()),
                })
                .collect())
        })
    }

    // ------------------------------------------------------------------ writes

    /// Creates a persistent node with the default ACL; returns its path and Stat.
    ///
    /// # Errors
    /// [`Error::NodeExists`]; [`Error::NoNode`] when the parent is missing;
    /// [`Error::NoChildrenForEphemerals`]; [`Error::NoAuth`]; [`Error::InvalidPath`];
    /// [`Error::FrameTooLarge`] for data over the frame limit.
    pub fn create(
        &self,
        path: &str,
        data: &[u8],
    ) -> impl Future<Output = Result<(String, Stat)>> + Send + 'static {
        self.create_with(path, data, &CreateOptions::new())
    }

    /// Creates a node with `options` (mode, ACL, TTL, protection); returns its path (with the
    /// sequence number for sequential modes) and Stat.
    ///
    /// # Errors
    /// As for [`Client::create`]; [`Error::Unimplemented`] for TTL nodes when the server
    /// lacks `extendedTypesEnabled`.
    ///
    /// # Notable behaviour
    /// A create is retried after a connection loss only when repeating it cannot create a
    /// second node: non-sequential creates (a retry that finds the node reports
    /// [`Error::NodeExists`]) and protected sequential creates (which look for their node
    /// first). Plain sequential creates are never retried.
    pub fn create_with(
        &self,
        path: &str,
        data: &[u8],
        options: &CreateOptions,
    ) -> impl Future<Output = Result<(String, Stat)>> + Send + 'static {
        self.create_opt(path, Some(data), options)
    }

    /// [`Client::create_with`] with data that may be null: `None` creates the node without
    /// data (null data, a buffer of length -1 on the wire, as the Java client's
    /// `create(path, null, ...)` and aiozk's `create(path)` do), `Some` stores the bytes
    /// given, including empty data. [`Client::get_data`] reads null data as empty;
    /// [`Client::get_data_opt`] reads it as `None`.
    ///
    /// # Errors
    /// As for [`Client::create_with`].
    pub fn create_opt(
        &self,
        path: &str,
        data: Option<&[u8]>,
        options: &CreateOptions,
    ) -> impl Future<Output = Result<(String, Stat)>> + Send + 'static {
        let mode = options.mode;
        let protected = options.protected && mode.is_sequential();
        let guid = protected.then(new_guid);
        let prepared = (|| {
            if mode.is_sequential() {
                validate_sequential_prefix(path)?;
            } else {
                validate_path(path)?;
            }
            let client_path = match &guid {
                Some(g) => protected_path(path, g),
                None => path.to_owned(),
            };
            let (acl, ttl) = self.create_parts(options)?;
            Ok((self.inner.chroot.prefix(&client_path), acl, ttl))
        })();
        let req_parts = prepared.clone();
        let req = req_parts
            .as_ref()
            .map_err(Clone::clone)
            .map(|(p, acl, ttl)| Request::Create {
                path: p,
                data,
                acl,
                mode,
                ttl: *ttl,
            });
        let fut = self.call_plain(req, !mode.is_sequential(), map_create);
        let this = self.clone();
        async move {
            match (fut.await, guid, prepared) {
                (Err(e), Some(guid), Ok((server_path, _, _))) if e.is_retryable() => {
                    this.recover_protected(&server_path, &guid, e).await
                }
                (r, _, _) => r,
            }
        }
    }

    /// After a connection loss during a protected create: find the node by its id, or give
    /// up with the original error (the caller may retry; no node with this id exists).
    async fn recover_protected(
        &self,
        server_path: &str,
        guid: &str,
        err: Error,
    ) -> Result<(String, Stat)> {
        let chroot = &self.inner.chroot;
        let client_path = chroot.strip(server_path).to_owned();
        let parent = crate::path::parent(&client_path).unwrap_or("/").to_owned();
        let children = self.get_children(&parent).await?;
        match children.iter().find(|c| c.contains(guid)) {
            Some(name) => {
                let path = crate::path::join(&parent, name);
                let stat = self.exists(&path).await?.ok_or(err)?;
                Ok((path, stat))
            }
            None => Err(err),
        }
    }

    /// Creates `path` and any missing ancestors as persistent nodes (mkdir -p), tolerating
    /// concurrent creators. The nodes are created without data (null data, as aiozk's
    /// `ensure_path` does), which [`Client::get_data`] reads as empty.
    ///
    /// # Errors
    /// [`Error::NoAuth`], [`Error::NoChildrenForEphemerals`], connection errors.
    pub fn ensure_path(&self, path: &str) -> impl Future<Output = Result<()>> + Send + 'static {
        self.ensure_path_with(path, &CreateOptions::new())
    }

    /// [`Client::ensure_path`] with options for the created nodes (ACL, or
    /// [`CreateOptions::container`] for container nodes).
    ///
    /// # Errors
    /// As for [`Client::ensure_path`].
    pub fn ensure_path_with(
        &self,
        path: &str,
        options: &CreateOptions,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        let this = self.clone();
        let options = options.clone();
        let checked = validate_path(path).map(|_| path.to_owned());
        // The first request is queued now, like every other call's (see `Client`'s
        // ordering): the node usually exists already.
        let first = (checked.is_ok() && path != "/").then(|| self.exists(path));
        async move {
            let path = checked?;
            let Some(first) = first else {
                return Ok(());
            };
            if first.await?.is_some() {
                return Ok(());
            }
            let mut prefix = String::new();
            for segment in path.split('/').skip(1) {
                prefix.push('/');
                prefix.push_str(segment);
                match this.create_opt(&prefix, None, &options).await {
                    Ok(_) | Err(Error::NodeExists) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        }
    }

    /// Deletes a node. `version`: the expected data version, `None` for any.
    ///
    /// # Errors
    /// [`Error::NoNode`]; [`Error::BadVersion`]; [`Error::NotEmpty`]; [`Error::NoAuth`].
    pub fn delete(
        &self,
        path: &str,
        version: Option<i32>,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        let req = self.server_path(path);
        // Deleting "/" goes out as "/" so that it fails (BadArguments) instead of deleting
        // the chroot node.
        let req = if path == "/" { Ok("/".to_owned()) } else { req };
        self.call_plain(
            path_ref(&req).map(|p| Request::Delete {
                path: p,
                version: version.unwrap_or(-1),
            }),
            version.is_some(),
            |r, _| r.map(|_| ()),
        )
    }

    /// Deletes `path` and everything below it (deepest first). Deletes what it can and
    /// reports the rest; nodes that vanish meanwhile are not failures.
    ///
    /// # Errors
    /// Only for an invalid path; everything else is in the report.
    pub fn deleteall(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<DeleteAllReport>> + Send + 'static {
        let this = self.clone();
        let checked = validate_path(path).map(|_| path.to_owned());
        // The first listing is queued now, like every other call's (see `Client`'s ordering).
        let mut first = checked
            .as_ref()
            .ok()
            .map(|root| vec![(root.clone(), self.get_children(root))]);
        async move {
            let root = checked?;
            let mut report = DeleteAllReport::default();
            // Collect the subtree breadth-first, one pipelined round trip per level, then
            // delete in reverse (children first).
            let mut order = vec![root.clone()];
            let mut level = vec![root.clone()];
            while !level.is_empty() {
                let listings: Vec<_> = match first.take() {
                    Some(listings) => listings,
                    None => level
                        .iter()
                        .map(|node| (node.clone(), this.get_children(node)))
                        .collect(),
                };
                let mut next = Vec::new();
                for (node, listing) in listings {
                    match listing.await {
                        Ok(children) => {
                            next.extend(children.iter().map(|c| crate::path::join(&node, c)))
                        }
                        Err(Error::NoNode) => {}
                        Err(e) => report.failed.push((node, e)),
                    }
                }
                order.extend(next.iter().cloned());
                level = next;
            }
            // Pipeline the deletes level by level: deepest nodes were listed last.
            let futures: Vec<_> = order
                .iter()
                .rev()
                .map(|p| (p.clone(), this.delete(p, None)))
                .collect();
            for (p, fut) in futures {
                match fut.await {
                    Ok(()) => report.deleted += 1,
                    Err(Error::NoNode) => {}
                    Err(e) => report.failed.push((p, e)),
                }
            }
            Ok(report)
        }
    }

    /// Sets a node's data. `version`: the expected data version, `None` for any. Returns the
    /// new Stat.
    ///
    /// # Errors
    /// [`Error::NoNode`]; [`Error::BadVersion`]; [`Error::NoAuth`];
    /// [`Error::FrameTooLarge`] for data over the frame limit.
    pub fn set_data(
        &self,
        path: &str,
        data: &[u8],
        version: Option<i32>,
    ) -> impl Future<Output = Result<Stat>> + Send + 'static {
        self.set_data_opt(path, Some(data), version)
    }

    /// [`Client::set_data`] with data that may be null: `None` stores null data (as the
    /// Java client's `setData(path, null, version)` and aiozk's `set_data(path, None)` do),
    /// which [`Client::get_data_opt`] then reads as `None`.
    ///
    /// # Errors
    /// As for [`Client::set_data`].
    pub fn set_data_opt(
        &self,
        path: &str,
        data: Option<&[u8]>,
        version: Option<i32>,
    ) -> impl Future<Output = Result<Stat>> + Send + 'static {
        let req = self.server_path(path);
        self.call_plain(
            path_ref(&req).map(|p| Request::SetData {
                path: p,
                data,
                version: version.unwrap_or(-1),
            }),
            version.is_some(),
            map_stat,
        )
    }

    /// aiozk's `set(path, data, version)`: [`Client::set_data`] with a required version.
    ///
    /// # Errors
    /// As for [`Client::set_data`].
    pub fn set(
        &self,
        path: &str,
        data: &[u8],
        version: i32,
    ) -> impl Future<Output = Result<Stat>> + Send + 'static {
        self.set_data(path, data, Some(version))
    }

    /// Sets a node's ACL. `version`: the expected ACL version (`aversion`), `None` for any.
    ///
    /// # Errors
    /// [`Error::NoNode`]; [`Error::BadVersion`]; [`Error::NoAuth`] without ADMIN;
    /// [`Error::InvalidAcl`].
    pub fn set_acl(
        &self,
        path: &str,
        acl: &[Acl],
        version: Option<i32>,
    ) -> impl Future<Output = Result<Stat>> + Send + 'static {
        let records: Vec<AclRecord> = acl.iter().map(to_record).collect();
        let req = if acl.is_empty() {
            Err(Error::InvalidArgument("empty ACL".into()))
        } else {
            self.server_path(path)
        };
        self.call_plain(
            path_ref(&req).map(|p| Request::SetAcl {
                path: p,
                acl: &records,
                version: version.unwrap_or(-1),
            }),
            version.is_some(),
            map_stat,
        )
    }

    /// Starts a transaction (aiozk: `begin_transaction`).
    pub fn transaction(&self) -> Transaction {
        Transaction {
            client: self.clone(),
            ops: Vec::new(),
            error: None,
        }
    }

    /// Same as [`Client::transaction`].
    pub fn begin_transaction(&self) -> Transaction {
        self.transaction()
    }

    // ------------------------------------------------------------------ watches

    /// Adds a persistent watch (`recursive` false: the node and its children list;
    /// true: the node and every descendant, without child events). The node need not exist.
    ///
    /// Local watchers of the same path and mode share one server watch.
    ///
    /// # Errors
    /// Connection errors; [`Error::Unimplemented`] before 3.6.
    ///
    /// # Notable behaviour
    /// On 3.6–3.8 servers a one-shot watch set on the same path by the same session
    /// replaces the server's persistent watch mode for that path (fixed in 3.9,
    /// ZOOKEEPER-4466); avoid mixing both on one path.
    pub fn add_watch(
        &self,
        path: &str,
        recursive: bool,
    ) -> impl Future<Output = Result<PersistentWatcher>> + Send + 'static {
        let mode = if recursive {
            AddWatchMode::PersistentRecursive
        } else {
            AddWatchMode::Persistent
        };
        let streams = &self.inner.streams;
        let slot = streams.slots.allocate();
        let watcher = PersistentWatcher {
            streams: streams.clone(),
            slot,
        };
        let (reply, rx) = oneshot::channel();
        let sent = self.server_path(path).and_then(|path| {
            self.inner
                .tx
                .send(Command::AddWatch {
                    path,
                    mode,
                    stream: slot,
                    reply,
                })
                .map_err(|_| Error::Closed)
        });
        if sent.is_err() {
            // The driver never saw the slot.
            streams.slots.release(slot);
        }
        let limit = self.inner.request_timeout;
        let deadline = self.deadline();
        bounded(deadline, async move {
            sent?;
            recv(rx, limit).await?;
            Ok(watcher)
        })
    }
}

/// [`with_watcher`] for reads whose value is a pair, flattened into a triple.
async fn with_watcher_pair<A, B>(
    fut: impl Future<Output = Result<((A, B), Option<OneshotWatcher>)>>,
) -> Result<(A, B, OneshotWatcher)> {
    let ((a, b), watcher) = with_watcher(fut).await?;
    Ok((a, b, watcher))
}

async fn with_watcher<T>(
    fut: impl Future<Output = Result<(T, Option<OneshotWatcher>)>>,
) -> Result<(T, OneshotWatcher)> {
    let (value, watcher) = fut.await?;
    // `call` returns a watcher whenever a watch kind was passed; the error is unreachable.
    Ok((value, watcher.ok_or_else(unexpected)?))
}

fn path_ref(path: &Result<String>) -> Result<&str> {
    path.as_deref().map_err(Clone::clone)
}

/// Enough bytes for most encodings of `req`: its path and data, plus slack for the
/// length prefixes, versions, flags and a default ACL.
fn encoded_size_hint(req: &Request<'_>) -> usize {
    let (path, data) = match *req {
        Request::Create { path, data, .. } | Request::SetData { path, data, .. } => {
            (path.len(), data.map_or(0, <[u8]>::len))
        }
        Request::Delete { path, .. } => (path.len(), 0),
        _ => (request_path(req).len(), 0),
    };
    64 + path + data
}

fn request_path<'a>(req: &Request<'a>) -> &'a str {
    match *req {
        Request::Exists { path, .. }
        | Request::GetData { path, .. }
        | Request::GetChildren { path, .. }
        | Request::GetChildren2 { path, .. } => path,
        _ => "",
    }
}

fn map_exists(r: Result<Response>, _: &Chroot) -> Result<Option<Stat>> {
    match r {
        Ok(Response::Stat(s)) => Ok(Some(s)),
        Err(Error::NoNode) => Ok(None),
        Err(e) => Err(e),
        Ok(_) => Err(unexpected()),
    }
}

fn map_data(r: Result<Response>, _: &Chroot) -> Result<(Bytes, Stat)> {
    match r? {
        Response::Data { data, stat } => Ok((data.unwrap_or_default(), stat)),
        _ => Err(unexpected()),
    }
}

fn map_data_opt(r: Result<Response>, _: &Chroot) -> Result<(Option<Bytes>, Stat)> {
    match r? {
        Response::Data { data, stat } => Ok((data, stat)),
        _ => Err(unexpected()),
    }
}

fn map_children2(r: Result<Response>, _: &Chroot) -> Result<(Vec<String>, Stat)> {
    match r? {
        Response::Children2 { children, stat } => Ok((children, stat)),
        _ => Err(unexpected()),
    }
}

fn map_stat(r: Result<Response>, _: &Chroot) -> Result<Stat> {
    match r? {
        Response::Stat(s) => Ok(s),
        _ => Err(unexpected()),
    }
}

fn map_create(r: Result<Response>, chroot: &Chroot) -> Result<(String, Stat)> {
    match r? {
        Response::Create2 { path, stat } => Ok((chroot.strip(&path).to_owned(), stat)),
        _ => Err(unexpected()),
    }
}

fn new_guid() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// `/a/b-` with id `g` becomes `/a/_c_g-b-` (Curator's protected-name layout).
fn protected_path(path: &str, guid: &str) -> String {
    let (parent, name) = match path.rfind('/') {
        Some(i) => (&path[..=i], &path[i + 1..]),
        None => ("/", path),
    };
    format!("{parent}_c_{guid}-{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_names_keep_the_parent() {
        assert_eq!(protected_path("/a/lock-", "g"), "/a/_c_g-lock-");
        assert_eq!(protected_path("/q/", "g"), "/q/_c_g-");
        assert_eq!(protected_path("/x", "g"), "/_c_g-x");
    }

    #[test]
    fn failed_multi_reports_every_op() {
        let chroot = Chroot::default();
        let err = multi_outcome(
            &chroot,
            vec![
                MultiResult::Error(0),
                MultiResult::Error(-101),
                MultiResult::Error(-2),
            ],
        )
        .unwrap_err();
        assert_eq!(
            err,
            Error::TransactionFailed {
                index: 1,
                error: Box::new(Error::NoNode),
                results: vec![
                    Error::RolledBack,
                    Error::NoNode,
                    Error::RuntimeInconsistency
                ],
            }
        );
    }

    #[test]
    fn create_options_compose() {
        assert_eq!(
            CreateOptions::new().ephemeral().sequential().mode,
            CreateMode::EphemeralSequential
        );
        assert_eq!(
            CreateOptions::new()
                .sequential()
                .ttl(Duration::from_secs(1))
                .mode,
            CreateMode::PersistentSequentialWithTtl
        );
    }

    /// One-shot slots are given back whatever becomes of their watch: set and fired, set
    /// and abandoned, not set by a failed read, ended by the client's close.
    #[tokio::test]
    async fn oneshot_slots_are_freed() {
        let server = aiozk_testkit::Ensemble::start(1, aiozk_testkit::ServerConfig::new())
            .expect("start ZooKeeper (apt-get install -y zookeeper)");
        let zk = Client::connect(&server.connect_string()).await.unwrap();
        let slots = zk.inner.slots.clone();
        zk.create("/slots", b"").await.unwrap();
        // Failed reads set no watch: their slots go as soon as the reply comes.
        for _ in 0..10 {
            let err = zk.get_data_watched("/missing").await.unwrap_err();
            assert_eq!(err, Error::NoNode);
        }
        assert_eq!(slots.live(), 0);
        // exists on a missing node sets a watch; it fires on creation.
        let (stat, w) = zk.exists_watched("/slots/a").await.unwrap();
        assert!(stat.is_none());
        assert_eq!(slots.live(), 1);
        zk.create("/slots/a", b"").await.unwrap();
        assert_eq!(w.await.event_type, EventType::NodeCreated);
        assert_eq!(slots.live(), 0);
        // A watcher dropped before its event: the slot goes when the event comes.
        let (_, _, w) = zk.get_data_watched("/slots").await.unwrap();
        drop(w);
        assert_eq!(slots.live(), 1);
        zk.set_data("/slots", b"x", None).await.unwrap();
        zk.sync("/slots").await.unwrap();
        assert_eq!(slots.live(), 0);
        // Watches still set when the client closes end with it.
        let (_, _, w) = zk.get_data_watched("/slots").await.unwrap();
        zk.close().await;
        assert_eq!(w.await.state, SessionState::Closed);
        assert_eq!(slots.live(), 0);
    }

    /// Stream slots are given back once both the watcher and the session are done: a
    /// dropped watcher's slot goes when the driver has removed its watch, and streams still
    /// open end with the client.
    #[tokio::test]
    async fn stream_slots_are_freed() {
        let server = aiozk_testkit::Ensemble::start(1, aiozk_testkit::ServerConfig::new())
            .expect("start ZooKeeper (apt-get install -y zookeeper)");
        let zk = Client::connect(&server.connect_string()).await.unwrap();
        let streams = zk.inner.streams.clone();
        zk.create("/streams", b"").await.unwrap();
        let a = zk.add_watch("/streams", false).await.unwrap();
        assert_eq!(streams.slots.live(), 1);
        drop(a);
        // The removal goes through the driver before the slot is free.
        zk.sync("/streams").await.unwrap();
        assert_eq!(streams.slots.live(), 0);
        // Invalid paths never reach the driver: their slot goes at once.
        assert!(zk.add_watch("no-slash", false).await.is_err());
        assert_eq!(streams.slots.live(), 0);
        let mut b = zk.add_watch("/streams/b", true).await.unwrap();
        assert_eq!(streams.slots.live(), 1);
        zk.set_data("/streams", b"x", None).await.unwrap();
        zk.create("/streams/b", b"").await.unwrap();
        let ev = b.next().await.unwrap();
        assert_eq!(
            (ev.event_type, ev.path.as_str()),
            (EventType::NodeCreated, "/streams/b")
        );
        zk.close().await;
        assert_eq!(b.next().await.unwrap().state, SessionState::Closed);
        assert_eq!(b.next().await, None);
        drop(b);
        assert_eq!(streams.slots.live(), 0);
    }
}
