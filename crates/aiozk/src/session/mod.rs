//! The session state machine: no sockets, no clock, no runtime.
//!
//! [`Session`] holds everything a ZooKeeper session needs between two calls: the xid counter,
//! the FIFO of requests waiting for a reply, the watch registry, the credentials to replay,
//! and the timers. The driver feeds it input and carries out its output:
//!
//! * input: [`Session::submit`] (a request), [`Session::read_buf`] +
//!   [`Session::handle_read`] (bytes from the server), [`Session::handle_timeout`] (the
//!   deadline from [`Session::poll_timeout`] has passed), [`Session::on_transport_connected`]
//!   and [`Session::on_transport_closed`] (the connection came up or went away);
//! * output: [`Session::poll_transmit`] (bytes to write), [`Session::poll_event`] (replies,
//!   watch events, state changes), [`Session::poll_connect`] (open a connection now),
//!   [`Session::take_close_transport`] (drop the connection now) and
//!   [`Session::poll_timeout`] (when to call `handle_timeout`).
//!
//! After any input the driver should drain all outputs. Time is always an argument, so tests
//! drive the machine with a simulated clock and scripted server bytes.

pub mod fuzzing;
mod sasl;
mod watches;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use aiozk_proto::consts::{xid, PASSWORD_LEN};
use aiozk_proto::{
    decode_response, frame, AddWatchMode, ConnectRequest, ConnectResponse, Decode, Encode,
    EventType, OpCode, ReplyHeader, Request, RequestHeader, Response, WatcherEvent,
};
use bytes::{Bytes, BytesMut};
use tracing::{debug, info, warn};

use crate::error::Error;
pub use sasl::SaslCredentials;
pub use watches::WatchKind;
use watches::{Hit, Removal, WatchRegistry};

/// The handle types a session hands back to its driver.
///
/// The session never looks inside them: it only stores them and returns them in
/// [`Event`]s, so tests can use plain numbers and the driver can use channels.
pub trait Tokens {
    /// Completes one request.
    type Reply;
    /// Receives one event of a one-shot watch.
    type Oneshot;
    /// Receives the events of a persistent watch, and names its watcher: unique among the
    /// watchers registered with the session (it may be reused once the session has ended
    /// its stream).
    type Stream: Copy + Eq;

    /// A small number for `stream`, the same for equal handles (the session keeps a table
    /// indexed by it: handles should be numbered densely from 0).
    fn stream_index(stream: &Self::Stream) -> usize;
}

/// The observable state of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionState {
    /// Trying to reach a server (first connect or reconnect).
    Connecting,
    /// Connected to a read-write server.
    Connected,
    /// Connected to a read-only server: reads work, writes fail with `NotReadOnly`.
    ConnectedReadOnly,
    /// The connection was lost; the session may still be alive and the client is trying to
    /// reconnect (Curator calls this "suspended").
    Disconnected,
    /// The session expired: its ephemeral nodes and watches are gone.
    Expired,
    /// Authentication failed; the client stopped.
    AuthFailed,
    /// The client was closed.
    Closed,
}

impl SessionState {
    /// True while requests can be sent.
    pub fn is_connected(self) -> bool {
        matches!(self, Self::Connected | Self::ConnectedReadOnly)
    }

    /// True once the client has stopped for good.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::AuthFailed | Self::Closed)
    }
}

/// Why the state changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateCause {
    /// A handshake succeeded.
    Handshake,
    /// The connection was lost, with the reason.
    ConnectionLost(Error),
    /// The server reported the session as expired (timeout 0 in the connect response).
    ServerExpired,
    /// No server could be reached for longer than the session timeout.
    ClientExpired,
    /// The server rejected our credentials.
    AuthRejected(Error),
    /// The user closed the client.
    UserClose,
    /// A connection attempt started.
    Attempt,
}

/// A watch notification, with the server path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedEvent {
    /// What happened (`EventType::None` for a session event such as expiry).
    pub event_type: EventType,
    /// The session state when the event was produced: `Connected` for node events,
    /// `Expired` or `Closed` when the watch ends because the session did.
    pub state: SessionState,
    /// The path of the node (server path: with the chroot).
    pub path: String,
    /// The zxid of the change when the server reports it (3.9+), else `None`.
    pub zxid: Option<i64>,
}

/// Output of the session for the driver.
pub enum Event<T: Tokens> {
    /// A request completed.
    Reply(T::Reply, Result<Response, Error>),
    /// A one-shot watch fired (or ended with the session).
    Oneshot(T::Oneshot, WatchedEvent),
    /// A persistent watch delivered an event.
    Stream(T::Stream, WatchedEvent),
    /// A persistent watch ended (the watcher was removed, its registration failed, or the
    /// session ended); no more events will follow, and the session has forgotten the handle.
    StreamEnded(T::Stream),
    /// The session state changed.
    State(SessionState, StateCause),
    /// A new session was established (after the previous one expired, or the first one).
    NewSession {
        /// The new session id.
        session_id: i64,
    },
}

impl<T: Tokens> std::fmt::Debug for Event<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Reply(_, r) => f.debug_tuple("Reply").field(r).finish(),
            Self::Oneshot(_, e) => f.debug_tuple("Oneshot").field(e).finish(),
            Self::Stream(_, e) => f.debug_tuple("Stream").field(e).finish(),
            Self::StreamEnded(_) => f.write_str("StreamEnded"),
            Self::State(s, c) => f.debug_tuple("State").field(s).field(c).finish(),
            Self::NewSession { session_id } => write!(f, "NewSession({session_id:#x})"),
        }
    }
}

/// How a watch-setting read registers its watch once the reply arrives.
pub struct WatchRequest<T: Tokens> {
    /// The kind of watch.
    pub kind: WatchKind,
    /// Server path.
    pub path: String,
    /// Where the event goes.
    pub token: T::Oneshot,
}

/// A request encoded by the client, waiting to be numbered and sent.
pub struct Outgoing<T: Tokens> {
    /// The opcode.
    pub op: OpCode,
    /// The encoded request record (no header).
    pub body: Bytes,
    /// Completes the request.
    pub token: T::Reply,
    /// The one-shot watch this read sets, if any.
    pub watch: Option<WatchRequest<T>>,
}

/// Session settings.
#[derive(Clone)]
pub struct SessionConfig {
    /// Requested session timeout.
    pub session_timeout: Duration,
    /// Accept read-only servers.
    pub allow_read_only: bool,
    /// Largest frame accepted from the server and sent to it.
    pub max_frame: usize,
    /// Number of servers in the list (the connect timeout is the session timeout divided by
    /// it).
    pub host_count: usize,
    /// After an expiry, open a new session (true) or stay expired (false).
    pub reconnect_after_expiry: bool,
    /// Resume this session (id, password) instead of creating one.
    pub resume: Option<(i64, Vec<u8>)>,
    /// Seed of the jitter added to reconnect delays and of SASL nonces.
    pub seed: u64,
    /// SASL DIGEST-MD5 credentials, authenticated on every connection.
    pub sasl: Option<SaslCredentials>,
    /// How long requests may wait to be written together while many are in flight
    /// (see [`Session::poll_transmit`]); zero writes every request at the first chance.
    pub max_write_delay: Duration,
    /// Fail waiting and new requests at once when every server has refused the connection
    /// in two whole rounds (see [`Session::connect_failure`]).
    pub fail_eagerly: bool,
}

impl std::fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionConfig")
            .field("session_timeout", &self.session_timeout)
            .field("allow_read_only", &self.allow_read_only)
            .field("max_frame", &self.max_frame)
            .field("host_count", &self.host_count)
            .field("reconnect_after_expiry", &self.reconnect_after_expiry)
            .field("max_write_delay", &self.max_write_delay)
            .field("fail_eagerly", &self.fail_eagerly)
            .field(
                "resume",
                &self.resume.as_ref().map(|(id, _)| format!("{id:#x}")),
            )
            .finish()
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            session_timeout: Duration::from_secs(10),
            allow_read_only: false,
            max_frame: aiozk_proto::consts::DEFAULT_MAX_FRAME,
            host_count: 1,
            reconnect_after_expiry: true,
            resume: None,
            seed: 0x5eed,
            sasl: None,
            max_write_delay: DEFAULT_MAX_WRITE_DELAY,
            fail_eagerly: false,
        }
    }
}

/// Counters a user can read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Requests sent (not counting pings, auth and watch re-registration).
    pub requests: u64,
    /// Replies with an error code, or requests failed locally.
    pub errors: u64,
    /// Successful handshakes after the first one.
    pub reconnects: u64,
    /// Connections lost.
    pub disconnects: u64,
    /// Sessions created (the first one included).
    pub sessions: u64,
    /// Watch notifications received.
    pub notifications: u64,
    /// SetWatches/SetWatches2 batches sent.
    pub set_watches_batches: u64,
    /// Buffers handed to the driver to write (one can carry many requests).
    pub writes: u64,
}

enum Phase {
    /// Waiting before the next connection attempt.
    Waiting { next_attempt: Instant },
    /// A connection attempt is under way (TCP, then the handshake).
    Connecting { deadline: Instant, handshake: bool },
    /// Handshake done.
    Connected { read_only: bool },
    /// closeSession sent; waiting for its reply.
    Closing { deadline: Instant },
    /// Stopped for good (closed, auth failed, or expired without reconnect).
    Stopped,
}

enum PendingKind<T: Tokens> {
    User {
        token: T::Reply,
        watch: Option<WatchRequest<T>>,
    },
    AddWatch {
        token: T::Reply,
        id: T::Stream,
    },
    SetWatches,
    RemoveWatches,
    Close,
    Sasl,
}

struct SaslExchange {
    mech: sasl::DigestMd5,
    /// The state to report once authenticated.
    state: SessionState,
}

struct Pending<T: Tokens> {
    xid: i32,
    op: OpCode,
    kind: PendingKind<T>,
    /// When it was queued for writing: its reply proves the server heard from the session
    /// no earlier than this.
    sent_at: Instant,
}

/// The ZooKeeper session state machine. See the module documentation for how to drive it.
pub struct Session<T: Tokens> {
    config: SessionConfig,
    phase: Phase,
    state: SessionState,
    session_id: i64,
    password: Vec<u8>,
    negotiated: Duration,
    /// A session id obtained from a read-only server is valid only there.
    seen_rw_server: bool,
    last_zxid: i64,
    next_xid: i32,
    /// When anything was last received from a server (for read timeout and local expiry).
    last_recv: Instant,
    last_send: Instant,
    /// When the session was last known to be alive on a server.
    alive_at: Option<Instant>,
    /// The latest moment a server is known to have heard from the session: when the last
    /// request it answered (or the handshake it accepted) was sent.
    heard_at: Option<Instant>,
    /// When each ping waiting for its reply was sent, oldest first.
    pings: VecDeque<Instant>,
    /// Connection attempts since the last connection that proved healthy (a reply after
    /// its handshake): a connection that dies young keeps the back-off growing.
    attempts: u32,
    /// The current connection has had no reply since its handshake.
    unproven: bool,
    /// Connections in a row that died before their first reply.
    died_young: u32,
    /// The server of the current connection or attempt, named in errors.
    peer: Option<String>,
    /// Attempts in a row that were refused or answered with garbage (see
    /// [`Session::connect_failure`]), and whether every one of them was garbage.
    failed_in_a_row: u32,
    only_garbage: bool,
    /// Why the latest attempt failed.
    last_failure: Option<Error>,
    /// Set while requests fail at once: see [`Session::connect_failure`].
    failing: Option<Error>,
    rng: u64,
    inbuf: BytesMut,
    out: BytesMut,
    /// What `out` holds beyond bytes: see [`OutHeld`].
    held: OutHeld,
    /// Requests submitted while not connected.
    queued: VecDeque<Outgoing<T>>,
    /// Sent requests, in send order.
    pending: VecDeque<Pending<T>>,
    /// Sent auth packets waiting for their reply (answered out of band, in order).
    auth_pending: VecDeque<Option<T::Reply>>,
    auths: Vec<(String, Vec<u8>)>,
    /// Auth requests submitted while not connected: replayed with the others, completed on
    /// their reply.
    auth_waiting: Vec<(usize, T::Reply)>,
    /// addWatch requests submitted while not connected.
    queued_add_watches: Vec<(T::Stream, Bytes, T::Reply)>,
    watches: WatchRegistry<T>,
    /// Paths whose server watch is to be removed once their one-shot watches have fired.
    deferred_removals: std::collections::HashSet<String>,
    sasl: Option<SaslExchange>,
    events: VecDeque<Event<T>>,
    close_transport: bool,
    want_connect: bool,
    stats: SessionStats,
}

/// The least room [`Session::read_buf`] offers for one read.
const READ_CHUNK: usize = 8 * 1024;

/// The least session timeout the session's timers work with (pings, read and connect
/// timeouts, local expiry, reconnect pauses), whatever the server negotiated.
pub const MIN_SESSION_TIMEOUT: Duration = Duration::from_millis(100);

/// The default of [`SessionConfig::max_write_delay`].
pub const DEFAULT_MAX_WRITE_DELAY: Duration = Duration::from_millis(1);

/// Requests are held back for a joint write only while at least this many sent requests
/// wait for their reply: below it, every request is written at once.
pub const WRITE_BATCH_MIN_IN_FLIGHT: usize = 32;

/// Requests held back are written once they fill this many bytes.
const WRITE_BATCH_MAX_BYTES: usize = 64 * 1024;

/// The user requests in the output buffer that have not been handed to the driver yet.
#[derive(Debug, Default)]
struct OutHeld {
    /// Bytes of user requests in `out`. When `out` holds anything else (the handshake, a
    /// ping, auth, watch re-registration, a close), it is written at once.
    user_bytes: usize,
    /// User requests in `out`.
    requests: usize,
    /// When the oldest of them was put there.
    since: Option<Instant>,
}

/// Batches of watch re-registrations start a new batch once their paths reach this many
/// bytes, far below the server's frame limit.
pub const SET_WATCHES_BATCH_BYTES: usize = 128 * 1024;

impl<T: Tokens> Session<T> {
    /// A session that will connect at once.
    pub fn new(config: SessionConfig, now: Instant) -> Self {
        let (session_id, password, seen_rw_server) = match &config.resume {
            Some((id, pw)) => (*id, pw.clone(), true),
            None => (0, vec![0; PASSWORD_LEN], false),
        };
        let rng = config.seed | 1;
        Self {
            negotiated: config.session_timeout,
            config,
            phase: Phase::Waiting { next_attempt: now },
            state: SessionState::Connecting,
            session_id,
            password,
            seen_rw_server,
            last_zxid: 0,
            next_xid: 1,
            last_recv: now,
            last_send: now,
            alive_at: None,
            heard_at: None,
            pings: VecDeque::new(),
            attempts: 0,
            unproven: false,
            died_young: 0,
            peer: None,
            failed_in_a_row: 0,
            only_garbage: true,
            last_failure: None,
            failing: None,
            rng,
            // Allocated as needed (see `read_buf`): 128 KiB of buffers per session made a
            // thousand idle sessions cost 128 MiB.
            inbuf: BytesMut::new(),
            out: BytesMut::new(),
            held: OutHeld::default(),
            queued: VecDeque::new(),
            pending: VecDeque::new(),
            auth_pending: VecDeque::new(),
            auths: Vec::new(),
            auth_waiting: Vec::new(),
            queued_add_watches: Vec::new(),
            watches: WatchRegistry::default(),
            deferred_removals: std::collections::HashSet::new(),
            sasl: None,
            events: VecDeque::new(),
            close_transport: false,
            want_connect: false,
            stats: SessionStats::default(),
        }
    }

    // ---------------------------------------------------------------- accessors

    /// The current state.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// The session id (0 before the first handshake).
    pub fn session_id(&self) -> i64 {
        self.session_id
    }

    /// The session password (to resume the session from another process).
    pub fn password(&self) -> &[u8] {
        &self.password
    }

    /// The negotiated session timeout (the requested one before the first handshake).
    pub fn negotiated_timeout(&self) -> Duration {
        self.negotiated
    }

    /// The highest zxid seen in a reply.
    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }

    /// Counters.
    pub fn stats(&self) -> SessionStats {
        self.stats
    }

    /// Number of live local watchers (one-shot and persistent).
    pub fn watch_count(&self) -> usize {
        self.watches.len()
    }

    /// Number of requests waiting for a reply or for a connection.
    pub fn in_flight(&self) -> usize {
        self.pending.len() + self.queued.len()
    }

    /// The maximum frame size.
    pub fn max_frame(&self) -> usize {
        self.config.max_frame
    }

    /// The latest moment a server is known to have heard from this session: the time the
    /// last request it answered was sent (a ping, a call, or the handshake it accepted).
    /// The server cannot expire the session earlier than one session timeout after it.
    /// `None` before the first handshake.
    pub fn heard_at(&self) -> Option<Instant> {
        self.heard_at
    }

    /// Why requests fail at once right now, if they do: every server answered the
    /// handshake with garbage in two whole rounds (a [`Error::ProtocolViolation`] naming
    /// the last one), or, with [`SessionConfig::fail_eagerly`], every server refused the
    /// connection or sent garbage in two whole rounds ([`Error::NoHosts`] with the last
    /// cause). Requests waiting for a connection then fail with it, and so do new ones
    /// until a handshake succeeds; the session keeps trying to connect, with back-off.
    pub fn connect_failure(&self) -> Option<&Error> {
        self.failing.as_ref()
    }

    /// Why the latest connection attempt or connection failed.
    pub fn last_failure(&self) -> Option<&Error> {
        self.last_failure.as_ref()
    }

    /// Names the server of the connection being opened (`host:port`), for errors; call it
    /// before [`Session::on_transport_connected`] or [`Session::on_transport_closed`].
    pub fn set_peer(&mut self, peer: impl Into<String>) {
        self.peer = Some(peer.into());
    }

    /// The session timeout the timers work with: the negotiated one, but never less than
    /// [`MIN_SESSION_TIMEOUT`], so that a server negotiating an absurdly small timeout
    /// cannot make the client ping and reconnect in a busy loop.
    fn timeout(&self) -> Duration {
        self.negotiated.max(MIN_SESSION_TIMEOUT)
    }

    fn read_timeout(&self) -> Duration {
        self.timeout() * 2 / 3
    }

    /// The time allowed for one connection attempt (TCP plus handshake).
    pub fn connect_timeout(&self) -> Duration {
        let hosts = u32::try_from(self.config.host_count.max(1)).unwrap_or(u32::MAX);
        (self.timeout() / hosts).max(Duration::from_millis(100))
    }

    fn ping_interval(&self) -> Duration {
        (self.read_timeout() / 2).min(Duration::from_secs(10))
    }

    // ---------------------------------------------------------------- input

    /// Queues a request. It is numbered and written at once when connected, otherwise when
    /// the next handshake completes. Requests are sent in submission order.
    pub fn submit(&mut self, now: Instant, req: Outgoing<T>) {
        if let Some(err) = self.refusal() {
            self.stats.errors += 1;
            self.events.push_back(Event::Reply(req.token, Err(err)));
            return;
        }
        self.stats.requests += 1;
        if self.can_send() {
            self.send_outgoing(now, req);
        } else {
            self.queued.push_back(req);
        }
    }

    /// Adds credentials (`scheme`, `auth`), sent now if connected and replayed on every
    /// reconnect. `token` completes when the server accepts them.
    pub fn add_auth(&mut self, now: Instant, scheme: &str, auth: &[u8], token: T::Reply) {
        if let Some(err) = self.refusal() {
            self.events.push_back(Event::Reply(token, Err(err)));
            return;
        }
        self.auths.push((scheme.to_owned(), auth.to_vec()));
        if self.can_send() {
            self.write_auth(now, self.auths.len() - 1, Some(token));
        } else {
            self.auth_waiting.push((self.auths.len() - 1, token));
        }
    }

    /// Registers a persistent watch (`mode`) on `path` for the local watcher `stream` (pass
    /// it to [`Session::remove_persistent`]). The stream ends ([`Event::StreamEnded`]) when
    /// the watcher is removed, its registration fails, or the session ends; only then may
    /// the handle be reused. When the server already holds this watch for
    /// another local watcher, `reply` completes at once; otherwise an addWatch is sent and
    /// the watcher is registered when it succeeds.
    pub fn add_persistent(
        &mut self,
        now: Instant,
        path: String,
        mode: AddWatchMode,
        stream: T::Stream,
        reply: T::Reply,
    ) {
        if let Some(err) = self.refusal() {
            self.events.push_back(Event::StreamEnded(stream));
            self.events.push_back(Event::Reply(reply, Err(err)));
            return;
        }
        let id = stream;
        let active = self.watches.add_persistent(path.clone(), mode, stream);
        if active {
            self.events
                .push_back(Event::Reply(reply, Ok(Response::Empty)));
            return;
        }
        let mut body = BytesMut::new();
        Request::AddWatch { path: &path, mode }.encode(&mut body);
        self.stats.requests += 1;
        let op = OpCode::AddWatch;
        if self.can_send() {
            self.write_request(now, op, &body, PendingKind::AddWatch { token: reply, id });
        } else {
            // Queue it like a user request; re-registration after the handshake re-arms it
            // too, which is harmless.
            self.queued_add_watches.push((id, body.freeze(), reply));
        }
    }

    /// Removes a persistent watcher. When it was the last local watcher of its path, the
    /// server watch is removed too (removeWatches with type Any, the only type 3.6–3.8
    /// servers accept for persistent watches), unless one-shot watches on the same path
    /// still need the server's tables. The stream ends ([`Event::StreamEnded`]) unless it
    /// already has.
    pub fn remove_persistent(&mut self, now: Instant, stream: T::Stream) {
        let path = match self.drop_persistent(stream) {
            None | Some(Removal::Keep) => return,
            Some(Removal::Remove(path)) => path,
            Some(Removal::Downgrade(path)) => {
                if self.can_send() {
                    let mut body = BytesMut::new();
                    Request::AddWatch {
                        path: &path,
                        mode: AddWatchMode::Persistent,
                    }
                    .encode(&mut body);
                    self.write_request(now, OpCode::AddWatch, &body, PendingKind::RemoveWatches);
                }
                return;
            }
        };
        if !self.can_send() {
            // The server watch goes with the connection; re-registration will skip it.
            return;
        }
        if self.watches.path_is_watched(&path) {
            // removeWatches(Any) would also remove the one-shot watch still waiting there:
            // remove the server watch once that one has fired.
            self.deferred_removals.insert(path);
            return;
        }
        self.send_remove_watches(now, &path);
    }

    fn send_remove_watches(&mut self, now: Instant, path: &str) {
        let mut body = BytesMut::new();
        Request::RemoveWatches {
            path,
            watcher_type: aiozk_proto::WatcherType::Any,
        }
        .encode(&mut body);
        self.write_request(
            now,
            OpCode::RemoveWatches,
            &body,
            PendingKind::RemoveWatches,
        );
    }

    /// Drops a one-shot watcher whose receiver is gone (no server call: the server watch
    /// fires once and is then forgotten).
    pub fn forget_oneshot_watchers(&mut self, is_dead: impl Fn(&T::Oneshot) -> bool) {
        self.watches.retain_oneshot(|t| !is_dead(t));
    }

    /// Closes the session: sends closeSession when connected and waits (bounded by the read
    /// timeout) for its reply; otherwise stops at once. Every request still waiting fails
    /// with [`Error::Closed`].
    pub fn close(&mut self, now: Instant) {
        match self.phase {
            Phase::Connected { .. } => {
                let deadline = now + self.read_timeout();
                self.write_request(now, OpCode::CloseSession, &[], PendingKind::Close);
                self.phase = Phase::Closing { deadline };
                self.fail_queued(&Error::Closed);
            }
            Phase::Closing { .. } => {}
            // Stopped after an expiry: the session is gone, but the client is now closed.
            Phase::Stopped => self.set_state(SessionState::Closed, StateCause::UserClose),
            _ => self.stop(SessionState::Closed, StateCause::UserClose, &Error::Closed),
        }
    }

    /// Drops the current connection and reconnects at once, keeping the session (used to
    /// leave a read-only server once a read-write one is reachable). Requests in flight fail
    /// with [`Error::ConnectionLoss`].
    pub fn reconnect(&mut self, now: Instant) {
        if let Phase::Connected { .. } = self.phase {
            self.close_transport = true;
            self.lose_connection(now, Error::ConnectionLoss, &Error::ConnectionLoss);
            self.phase = Phase::Waiting { next_attempt: now };
        }
    }

    /// True while connected to a read-only server.
    pub fn is_read_only(&self) -> bool {
        matches!(self.phase, Phase::Connected { read_only: true })
    }

    /// The driver opened a connection as asked by [`Session::poll_connect`]: the
    /// ConnectRequest is queued for transmission.
    pub fn on_transport_connected(&mut self, now: Instant) {
        let Phase::Connecting { deadline, .. } = self.phase else {
            return;
        };
        self.inbuf.clear();
        self.out.clear();
        self.held = OutHeld::default();
        let start = frame::begin_frame(&mut self.out);
        let session_id = if self.seen_rw_server {
            self.session_id
        } else {
            0
        };
        ConnectRequest {
            last_zxid_seen: self.last_zxid,
            timeout_ms: millis_i32(self.config.session_timeout),
            session_id,
            password: if session_id == 0 { &[] } else { &self.password },
            read_only: self.config.allow_read_only,
        }
        .encode(&mut self.out);
        frame::finish_frame(&mut self.out, start);
        self.last_send = now;
        self.phase = Phase::Connecting {
            deadline,
            handshake: true,
        };
    }

    /// The connection closed or failed (or an attempt to open one failed).
    pub fn on_transport_closed(&mut self, now: Instant, reason: Error) {
        self.close_transport = false;
        match self.phase {
            Phase::Connecting { .. } => {
                debug!(%reason, "connection attempt failed");
                let err = self.naming_peer(&reason.to_string());
                self.attempt_failed(now, Some(Error::NoHosts(err)), false);
                self.check_local_expiry(now);
            }
            Phase::Connected { .. } => self.lose_connection(now, reason, &Error::ConnectionLoss),
            Phase::Closing { .. } => {
                self.stop(SessionState::Closed, StateCause::UserClose, &Error::Closed)
            }
            Phase::Waiting { .. } | Phase::Stopped => {}
        }
    }

    /// The buffer to read server bytes into; call [`Session::handle_read`] afterwards. It
    /// has room for at least 8 KiB, or for the rest of the frame being received.
    pub fn read_buf(&mut self) -> &mut BytesMut {
        let mut want = READ_CHUNK;
        if let Some(head) = self.inbuf.get(..4) {
            let frame = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
            if frame <= self.config.max_frame {
                want = want.max((frame + 4).saturating_sub(self.inbuf.len()));
            }
        }
        if self.inbuf.capacity() - self.inbuf.len() < want {
            self.inbuf.reserve(want);
        }
        &mut self.inbuf
    }

    /// Processes the bytes added to [`Session::read_buf`].
    pub fn handle_read(&mut self, now: Instant) {
        self.last_recv = now;
        loop {
            let frame = match frame::split_frame(&mut self.inbuf, self.config.max_frame) {
                Ok(Some(frame)) => frame,
                Ok(None) => return,
                Err(e) => {
                    let blamed = matches!(
                        (&e, &self.phase),
                        (
                            aiozk_proto::FrameError::TooLarge { .. },
                            Phase::Connected { .. }
                        )
                    ) && self.blame_oversized_reply(&e);
                    return self.protocol_violation(now, format!("bad frame: {e}"), blamed);
                }
            };
            let result = match self.phase {
                Phase::Connecting {
                    handshake: true, ..
                } => self.handle_connect_response(now, frame),
                Phase::Connected { .. } | Phase::Closing { .. } => self.handle_frame(now, frame),
                // Bytes after we decided to drop the connection are ignored.
                _ => Ok(()),
            };
            if let Err(msg) = result {
                return self.protocol_violation(now, msg, false);
            }
            if self.close_transport {
                return;
            }
        }
    }

    /// Handles expired deadlines: pings, read and connect timeouts, local expiry, the next
    /// connection attempt.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.phase {
            Phase::Waiting { next_attempt } => {
                self.check_local_expiry(now);
                if matches!(self.phase, Phase::Waiting { .. }) && now >= next_attempt {
                    self.want_connect = true;
                }
            }
            Phase::Connecting { deadline, .. } => {
                self.check_local_expiry(now);
                if !matches!(self.phase, Phase::Connecting { .. }) {
                    return;
                }
                if now >= deadline {
                    debug!("connection attempt timed out");
                    self.close_transport = true;
                    // A silent server is not a refusal: it may be slow.
                    self.attempt_failed(now, None, false);
                    self.check_local_expiry(now);
                }
            }
            Phase::Connected { .. } => {
                if now.saturating_duration_since(self.last_recv) >= self.read_timeout() {
                    warn!(
                        session_id = format_args!("{:#x}", self.session_id),
                        "no reply from the server within the read timeout"
                    );
                    self.close_transport = true;
                    self.lose_connection(now, Error::ConnectionLoss, &Error::ConnectionLoss);
                } else if now.saturating_duration_since(self.last_send) >= self.ping_interval() {
                    let start = frame::begin_frame(&mut self.out);
                    RequestHeader {
                        xid: xid::PING,
                        op: OpCode::Ping.as_i32(),
                    }
                    .encode(&mut self.out);
                    frame::finish_frame(&mut self.out, start);
                    self.last_send = now;
                    self.pings.push_back(now);
                }
            }
            Phase::Closing { deadline } => {
                if now >= deadline {
                    self.close_transport = true;
                    self.stop(SessionState::Closed, StateCause::UserClose, &Error::Closed);
                }
            }
            Phase::Stopped => {}
        }
    }

    // ---------------------------------------------------------------- output

    /// The next deadline at which [`Session::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Waiting { next_attempt } => Some(match self.alive_at {
                Some(alive) => next_attempt.min(alive + self.timeout()),
                None => next_attempt,
            }),
            Phase::Connecting { deadline, .. } => Some(match self.alive_at {
                Some(alive) => deadline.min(alive + self.timeout()),
                None => deadline,
            }),
            Phase::Connected { .. } => {
                let next = (self.last_recv + self.read_timeout())
                    .min(self.last_send + self.ping_interval());
                Some(match self.held.since {
                    Some(since) => next.min(since + self.config.max_write_delay),
                    None => next,
                })
            }
            Phase::Closing { deadline } => Some(deadline),
            Phase::Stopped => None,
        }
    }

    /// Bytes to write to the connection, if any are due.
    ///
    /// While many requests wait for their reply (at least [`WRITE_BATCH_MIN_IN_FLIGHT`]),
    /// new requests are held back until fewer are on the wire than wait here, until
    /// [`SessionConfig::max_write_delay`] has passed since the oldest of them (a deadline
    /// [`Session::poll_timeout`] includes), or until they fill 64 KiB. The server still has
    /// a queue of work meanwhile, and one write then carries many requests: it saves the
    /// client and the server a system call and a wake-up per request. Anything other than
    /// a user request (a ping, auth, the handshake, a close) is written at once, with
    /// whatever waits before it.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<BytesMut> {
        if self.out.is_empty() || self.holds_output(now) {
            return None;
        }
        self.held = OutHeld::default();
        self.stats.writes += 1;
        Some(self.out.split())
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event<T>> {
        self.events.pop_front()
    }

    /// True once when the driver must open a connection to the next server now.
    pub fn poll_connect(&mut self, now: Instant) -> bool {
        if !std::mem::take(&mut self.want_connect) {
            if let Phase::Waiting { next_attempt } = self.phase {
                if now < next_attempt {
                    return false;
                }
            } else {
                return false;
            }
        }
        let Phase::Waiting { .. } = self.phase else {
            return false;
        };
        self.attempts += 1;
        self.phase = Phase::Connecting {
            deadline: now + self.connect_timeout(),
            handshake: false,
        };
        if self.state != SessionState::Disconnected && self.state != SessionState::Connecting {
            self.set_state(SessionState::Connecting, StateCause::Attempt);
        }
        true
    }

    /// True once when the driver must drop the current connection.
    pub fn take_close_transport(&mut self) -> bool {
        std::mem::take(&mut self.close_transport)
    }

    // ---------------------------------------------------------------- internals

    fn refusal(&self) -> Option<Error> {
        match (self.state, &self.phase) {
            (_, Phase::Closing { .. }) | (SessionState::Closed, _) => Some(Error::Closed),
            (SessionState::AuthFailed, _) => Some(Error::AuthFailed),
            (SessionState::Expired, Phase::Stopped) => Some(Error::SessionExpired),
            (_, Phase::Waiting { .. } | Phase::Connecting { .. }) => self.failing.clone(),
            _ => None,
        }
    }

    /// Whether the user requests in `out` wait for more (see [`Session::poll_transmit`]).
    fn holds_output(&self, now: Instant) -> bool {
        let held = &self.held;
        let Some(since) = held.since else {
            return false;
        };
        if self.out.len() != held.user_bytes
            || self.out.len() >= WRITE_BATCH_MAX_BYTES
            || now.saturating_duration_since(since) >= self.config.max_write_delay
        {
            return false;
        }
        // Sent and not yet answered: the server's queue of work, or what is in transit.
        let on_wire = self.pending.len().saturating_sub(held.requests);
        on_wire >= WRITE_BATCH_MIN_IN_FLIGHT && held.requests < on_wire
    }

    fn can_send(&self) -> bool {
        matches!(self.phase, Phase::Connected { .. }) && self.sasl.is_none()
    }

    fn next_xid(&mut self) -> i32 {
        let xid = self.next_xid;
        // Wrap to 1: xids <= 0 are reserved for special packets.
        self.next_xid = if xid == i32::MAX { 1 } else { xid + 1 };
        xid
    }

    fn write_request(&mut self, now: Instant, op: OpCode, body: &[u8], kind: PendingKind<T>) {
        let xid = self.next_xid();
        let start = frame::begin_frame(&mut self.out);
        RequestHeader {
            xid,
            op: op.as_i32(),
        }
        .encode(&mut self.out);
        self.out.extend_from_slice(body);
        frame::finish_frame(&mut self.out, start);
        self.last_send = now;
        self.pending.push_back(Pending {
            xid,
            op,
            kind,
            sent_at: now,
        });
    }

    fn send_outgoing(&mut self, now: Instant, req: Outgoing<T>) {
        debug!(op = ?req.op, len = req.body.len(), "request");
        let before = self.out.len();
        self.write_request(
            now,
            req.op,
            &req.body,
            PendingKind::User {
                token: req.token,
                watch: req.watch,
            },
        );
        self.held.user_bytes += self.out.len() - before;
        self.held.requests += 1;
        self.held.since.get_or_insert(now);
    }

    fn write_auth(&mut self, now: Instant, index: usize, token: Option<T::Reply>) {
        let (scheme, auth) = &self.auths[index];
        let start = frame::begin_frame(&mut self.out);
        RequestHeader {
            xid: xid::AUTH,
            op: OpCode::Auth.as_i32(),
        }
        .encode(&mut self.out);
        Request::Auth { scheme, auth }.encode(&mut self.out);
        frame::finish_frame(&mut self.out, start);
        self.last_send = now;
        self.auth_pending.push_back(token);
    }

    fn set_state(&mut self, state: SessionState, cause: StateCause) {
        if self.state == state {
            return;
        }
        info!(
            session_id = format_args!("{:#x}", self.session_id),
            from = ?self.state,
            to = ?state,
            ?cause,
            "session state"
        );
        self.state = state;
        self.events.push_back(Event::State(state, cause));
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64: deterministic for a given seed; spreads reconnects and makes SASL
        // client nonces (seeded from the OS by the client builder).
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn jitter(&mut self, max_ms: u64) -> Duration {
        Duration::from_millis(self.next_random() % (max_ms + 1))
    }

    fn schedule_attempt(&mut self, now: Instant) {
        // Like the Java client: a random pause before every reconnect, plus a pause after
        // each round through all the servers, so a dead ensemble is never hammered. The
        // attempts count until a connection proves healthy (a reply after its handshake),
        // so connections that die right after the handshake back off too; the round pause
        // doubles each round up to a second (a second at once with the default timeouts).
        let cap = (self.timeout().as_millis() as u64 / 10).clamp(10, 1000);
        let mut delay = self.jitter(cap);
        let hosts = self.config.host_count.max(1) as u32;
        if self.attempts > 0 && self.attempts % hosts == 0 {
            let rounds = (self.attempts / hosts).min(16);
            delay += Duration::from_millis((cap << (rounds - 1)).min(1000));
        }
        self.phase = Phase::Waiting {
            next_attempt: now + delay,
        };
    }

    fn check_local_expiry(&mut self, now: Instant) {
        let Some(alive) = self.alive_at else { return };
        if self.session_id != 0 && now >= alive + self.timeout() {
            self.expire(now, StateCause::ClientExpired);
        }
    }

    /// The connection went away for `reason`; the requests on it fail with `pending`.
    fn lose_connection(&mut self, now: Instant, reason: Error, pending: &Error) {
        self.stats.disconnects += 1;
        self.deferred_removals.clear();
        self.sasl = None;
        self.pings.clear();
        if std::mem::take(&mut self.unproven) {
            self.died_young += 1;
        }
        self.alive_at = Some(self.last_recv);
        self.last_failure = Some(reason.clone());
        // Bytes not yet written belong to the lost connection (held requests among them:
        // they fail below with the ones on the wire).
        self.out.clear();
        self.held = OutHeld::default();
        self.fail_pending(pending);
        self.schedule_attempt(now);
        self.set_state(
            SessionState::Disconnected,
            StateCause::ConnectionLost(reason),
        );
        self.check_local_expiry(now);
    }

    /// The server broke the protocol: drop the connection. The requests on it fail with
    /// the violation (it names the server and what it sent), except when `innocent`: a
    /// reply too large for our limit is the server's right, so the others only lost the
    /// connection.
    fn protocol_violation(&mut self, now: Instant, msg: String, innocent: bool) {
        warn!(
            session_id = format_args!("{:#x}", self.session_id),
            "{msg}; dropping the connection"
        );
        self.close_transport = true;
        // The stream cannot be resynchronised: whatever is left of it is garbage.
        self.inbuf.clear();
        let err = Error::ProtocolViolation(self.naming_peer(&msg));
        match self.phase {
            Phase::Connected { .. } if innocent => {
                self.lose_connection(now, err, &Error::ConnectionLoss)
            }
            Phase::Connected { .. } => {
                let pending = err.clone();
                self.lose_connection(now, err, &pending)
            }
            Phase::Closing { .. } => {
                self.stop(SessionState::Closed, StateCause::UserClose, &Error::Closed)
            }
            _ => self.attempt_failed(now, Some(err), true),
        }
    }

    /// `msg`, with the server it concerns.
    fn naming_peer(&self, msg: &str) -> String {
        match &self.peer {
            Some(peer) => format!("{msg}, from {peer}"),
            None => msg.to_owned(),
        }
    }

    /// A connection attempt failed before its handshake completed: refused (`cause` set,
    /// `garbage` false), answered with garbage (`garbage` true), or silent (`cause` None,
    /// which is no refusal: the server may be slow). Schedules the next attempt, and makes
    /// requests fail at once when every server failed so in two whole rounds: garbage
    /// only, or refusals with [`SessionConfig::fail_eagerly`].
    fn attempt_failed(&mut self, now: Instant, cause: Option<Error>, garbage: bool) {
        match cause {
            None => {
                self.failed_in_a_row = 0;
                self.only_garbage = true;
            }
            Some(cause) => {
                if self.failed_in_a_row == 0 {
                    self.only_garbage = true;
                }
                self.failed_in_a_row += 1;
                self.only_garbage &= garbage;
                self.last_failure = Some(cause);
            }
        }
        let rounds = 2 * u32::try_from(self.config.host_count.max(1)).unwrap_or(u32::MAX / 2);
        if self.failing.is_none()
            && self.failed_in_a_row >= rounds
            && (self.only_garbage || self.config.fail_eagerly)
        {
            let last = self.last_failure.clone().unwrap_or(Error::ConnectionLoss);
            let err = match last {
                violation @ Error::ProtocolViolation(_) if self.only_garbage => violation,
                Error::NoHosts(why) => Error::NoHosts(format!(
                    "every server refused the connection, twice in a row; the last: {why}"
                )),
                other => Error::NoHosts(format!(
                    "every server refused the connection or broke the protocol, twice in a \
                     row; the last: {other}"
                )),
            };
            warn!(error = %err, "failing requests until a server answers properly");
            self.fail_queued(&err);
            self.failing = Some(err);
        }
        self.schedule_attempt(now);
    }

    /// A reply too large for the frame limit is almost always the answer to the oldest
    /// request: fail that one with an error that says so (and that no retry policy repeats),
    /// instead of a connection loss that would make it come back forever.
    fn blame_oversized_reply(&mut self, e: &aiozk_proto::FrameError) -> bool {
        if !matches!(self.pending.front(), Some(p) if matches!(p.kind, PendingKind::User { .. })) {
            return false;
        }
        if let Some(Pending {
            kind: PendingKind::User { token, .. },
            ..
        }) = self.pending.pop_front()
        {
            self.stats.errors += 1;
            let err = match *e {
                aiozk_proto::FrameError::TooLarge { len, max } => Error::FrameTooLarge {
                    size: len,
                    limit: max,
                    reply: true,
                },
                ref other => Error::ProtocolViolation(other.to_string()),
            };
            self.events.push_back(Event::Reply(token, Err(err)));
        }
        true
    }

    fn fail_pending(&mut self, err: &Error) {
        for p in std::mem::take(&mut self.pending) {
            match p.kind {
                PendingKind::User { token, .. } => {
                    self.stats.errors += 1;
                    self.events.push_back(Event::Reply(token, Err(err.clone())));
                }
                PendingKind::AddWatch { token, id } => {
                    // The server may or may not hold the watch; the caller gets an error and
                    // no stream, so nothing local may stay behind.
                    self.drop_persistent(id);
                    self.stats.errors += 1;
                    self.events.push_back(Event::Reply(token, Err(err.clone())));
                }
                PendingKind::SetWatches
                | PendingKind::RemoveWatches
                | PendingKind::Close
                | PendingKind::Sasl => {}
            }
        }
        for token in std::mem::take(&mut self.auth_pending).into_iter().flatten() {
            self.events.push_back(Event::Reply(token, Err(err.clone())));
        }
    }

    fn fail_queued(&mut self, err: &Error) {
        for q in std::mem::take(&mut self.queued) {
            self.stats.errors += 1;
            self.events
                .push_back(Event::Reply(q.token, Err(err.clone())));
        }
        for (_, token) in std::mem::take(&mut self.auth_waiting) {
            self.events.push_back(Event::Reply(token, Err(err.clone())));
        }
        for (id, _, token) in std::mem::take(&mut self.queued_add_watches) {
            self.drop_persistent(id);
            self.events.push_back(Event::Reply(token, Err(err.clone())));
        }
    }

    /// Unregisters a persistent watcher and ends its stream; `None` when it was not
    /// registered (its stream already ended).
    fn drop_persistent(&mut self, stream: T::Stream) -> Option<Removal> {
        let removal = self.watches.remove_persistent(stream)?;
        self.events.push_back(Event::StreamEnded(stream));
        Some(removal)
    }

    /// Fails every request and ends every watch.
    fn end_everything(&mut self, err: &Error, state: SessionState) {
        self.fail_pending(err);
        self.fail_queued(err);
        self.end_watches(state);
    }

    fn stop(&mut self, state: SessionState, cause: StateCause, err: &Error) {
        self.close_transport = !matches!(self.phase, Phase::Waiting { .. } | Phase::Stopped);
        self.phase = Phase::Stopped;
        self.end_everything(err, state);
        self.set_state(state, cause);
    }

    fn expire(&mut self, now: Instant, cause: StateCause) {
        warn!(
            session_id = format_args!("{:#x}", self.session_id),
            ?cause,
            "session expired"
        );
        self.close_transport = !matches!(self.phase, Phase::Waiting { .. });
        // Everything in flight, and everything queued while disconnected, was meant for the
        // dead session. Watches end first, so that persistent watchers whose addWatch was
        // still queued see their stream end before their registration fails. Calls made
        // after the Expired event go to the new session, if one is opened.
        self.fail_pending(&Error::SessionExpired);
        self.end_watches(SessionState::Expired);
        self.fail_queued(&Error::SessionExpired);
        let keep_going = self.config.reconnect_after_expiry;
        self.alive_at = None;
        self.heard_at = None;
        self.session_id = 0;
        self.password = vec![0; PASSWORD_LEN];
        self.seen_rw_server = false;
        self.set_state(SessionState::Expired, cause);
        if keep_going && self.died_young == 0 {
            self.phase = Phase::Waiting { next_attempt: now };
            self.want_connect = true;
        } else if keep_going {
            // The last connections died right after their handshakes (a server that
            // negotiates an absurd timeout, say): keep backing off.
            self.schedule_attempt(now);
        } else {
            self.phase = Phase::Stopped;
        }
    }

    /// Ends every watch with a session event: one-shot watches fire once with it, persistent
    /// streams get it and then end.
    fn end_watches(&mut self, state: SessionState) {
        let events = &mut self.events;
        self.watches.drain_all(|hit, path| {
            let event = WatchedEvent {
                event_type: EventType::None,
                state,
                path: path.to_owned(),
                zxid: None,
            };
            match hit {
                Hit::Oneshot(token) => events.push_back(Event::Oneshot(token, event)),
                Hit::Stream(stream) => events.push_back(Event::Stream(*stream, event)),
                Hit::StreamEnded(stream) => {
                    events.push_back(Event::Stream(stream, event));
                    events.push_back(Event::StreamEnded(stream));
                }
            }
        });
    }

    fn handle_connect_response(&mut self, now: Instant, mut frame: Bytes) -> Result<(), String> {
        if frame.len() == 16 {
            // A read-only server that will not create a global session answers with a bare
            // error reply header (e.g. NOTREADONLY) instead of a ConnectResponse.
            if let Ok(header) = ReplyHeader::decode(&mut frame.clone()) {
                if header.err != 0 {
                    let err = Error::from_code(header.err);
                    warn!(error = %err, "the server refused the session; trying another");
                    self.close_transport = true;
                    let why = self.naming_peer(&format!("the session was refused: {err}"));
                    self.attempt_failed(now, Some(Error::NoHosts(why)), false);
                    return Ok(());
                }
            }
        }
        let resp = ConnectResponse::decode(&mut frame)
            .map_err(|e| format!("bad connect response: {e}"))?;
        if resp.timeout_ms <= 0 {
            self.close_transport = true;
            if self.session_id == 0 {
                // A refusal of a brand-new session cannot be an expiry: try elsewhere.
                let why = self.naming_peer("the new session was refused");
                self.attempt_failed(now, Some(Error::NoHosts(why)), false);
                return Ok(());
            }
            // A proper answer: the server is healthy, the session is gone.
            self.attempts = 0;
            self.expire(now, StateCause::ServerExpired);
            return Ok(());
        }
        if resp.password.len() != PASSWORD_LEN && !resp.password.is_empty() {
            return Err(format!("session password of {} bytes", resp.password.len()));
        }
        let new_session = resp.session_id != self.session_id;
        self.session_id = resp.session_id;
        self.password = resp.password.to_vec();
        self.negotiated = Duration::from_millis(resp.timeout_ms as u64);
        self.seen_rw_server |= !resp.read_only;
        // `attempts` is reset by the first reply on this connection: one that dies right
        // after its handshake keeps the back-off growing.
        self.alive_at = None;
        self.heard_at = Some(self.last_send);
        self.unproven = true;
        self.failed_in_a_row = 0;
        self.failing = None;
        self.last_failure = None;
        self.phase = Phase::Connected {
            read_only: resp.read_only,
        };
        if new_session {
            self.stats.sessions += 1;
            self.events.push_back(Event::NewSession {
                session_id: self.session_id,
            });
        } else {
            self.stats.reconnects += 1;
        }
        let state = if resp.read_only {
            SessionState::ConnectedReadOnly
        } else {
            SessionState::Connected
        };
        info!(
            session_id = format_args!("{:#x}", self.session_id),
            timeout_ms = resp.timeout_ms,
            read_only = resp.read_only,
            "handshake complete"
        );
        match self.config.sasl.clone() {
            // SASL runs first, alone on the connection: the server handles its packets out
            // of band, and nothing else may be sent until it is done.
            Some(creds) => {
                let cnonce = format!("{:016x}{:016x}", self.next_random(), self.next_random());
                let mech = sasl::DigestMd5::new(creds, cnonce);
                let token = mech.initial();
                self.sasl = Some(SaslExchange { mech, state });
                self.write_sasl(now, &token);
            }
            None => self.finish_handshake(now, state),
        }
        Ok(())
    }

    fn write_sasl(&mut self, now: Instant, token: &[u8]) {
        let mut body = BytesMut::new();
        Request::Sasl { token }.encode(&mut body);
        self.write_request(now, OpCode::Sasl, &body, PendingKind::Sasl);
    }

    fn sasl_reply(&mut self, now: Instant, result: Result<Response, Error>) {
        if matches!(self.phase, Phase::Closing { .. }) {
            // Closed during the exchange: the closeSession reply ends everything.
            self.sasl = None;
            return;
        }
        let step = match result {
            Ok(Response::Sasl(Some(token))) => self
                .sasl
                .as_mut()
                .map(|x| x.mech.step(&token))
                .unwrap_or_else(|| Err("SASL reply without an exchange".into())),
            Ok(_) => Err("the server has no SASL configuration".into()),
            Err(e) => Err(format!("the server rejected the SASL credentials: {e}")),
        };
        match step {
            Ok(sasl::Step::Send(token)) => self.write_sasl(now, &token),
            Ok(sasl::Step::Done) => {
                let state = self
                    .sasl
                    .take()
                    .map_or(SessionState::Connected, |x| x.state);
                info!(
                    session_id = format_args!("{:#x}", self.session_id),
                    "SASL authentication complete"
                );
                self.finish_handshake(now, state);
            }
            Err(msg) => {
                warn!(session_id = format_args!("{:#x}", self.session_id), "{msg}");
                self.sasl = None;
                self.stop(
                    SessionState::AuthFailed,
                    StateCause::AuthRejected(Error::AuthFailed),
                    &Error::AuthFailed,
                );
            }
        }
    }

    /// Sends what waited for the connection, in this order: credentials, watch
    /// re-registration, then the requests queued meanwhile.
    fn finish_handshake(&mut self, now: Instant, state: SessionState) {
        for i in 0..self.auths.len() {
            let token = self
                .auth_waiting
                .iter()
                .position(|(idx, _)| *idx == i)
                .map(|pos| self.auth_waiting.swap_remove(pos).1);
            self.write_auth(now, i, token);
        }
        // After an expiry the registry is empty; after a switch from a read-only session to
        // a new read-write one, the watches must be set again on the new session.
        self.resend_watches(now);
        for (id, body, token) in std::mem::take(&mut self.queued_add_watches) {
            self.write_request(
                now,
                OpCode::AddWatch,
                &body,
                PendingKind::AddWatch { token, id },
            );
        }
        while let Some(req) = self.queued.pop_front() {
            self.send_outgoing(now, req);
        }
        self.set_state(state, StateCause::Handshake);
    }

    fn resend_watches(&mut self, now: Instant) {
        let batches = self
            .watches
            .set_watches_batches(self.last_zxid, SET_WATCHES_BATCH_BYTES);
        for body in batches {
            let (op, body) = body;
            self.stats.set_watches_batches += 1;
            self.write_request(now, op, &body, PendingKind::SetWatches);
        }
    }

    fn handle_frame(&mut self, now: Instant, mut frame: Bytes) -> Result<(), String> {
        let header =
            ReplyHeader::decode(&mut frame).map_err(|e| format!("bad reply header: {e}"))?;
        match header.xid {
            xid::NOTIFICATION => {
                let ev = WatcherEvent::decode(&mut frame)
                    .map_err(|e| format!("bad watch notification: {e}"))?;
                let event_type = EventType::from_i32(ev.event_type)
                    .filter(|t| {
                        matches!(
                            t,
                            EventType::NodeCreated
                                | EventType::NodeDeleted
                                | EventType::NodeDataChanged
                                | EventType::NodeChildrenChanged
                        )
                    })
                    .ok_or_else(|| format!("bad notification type {}", ev.event_type))?;
                self.stats.notifications += 1;
                let event = WatchedEvent {
                    event_type,
                    state: self.state,
                    path: ev.path,
                    zxid: (header.zxid > 0).then_some(header.zxid),
                };
                self.dispatch(now, event);
                Ok(())
            }
            xid::PING => {
                if let Some(sent) = self.pings.pop_front() {
                    self.heard(sent);
                }
                Ok(())
            }
            xid::AUTH => {
                let token = self
                    .auth_pending
                    .pop_front()
                    .ok_or("auth reply without an auth request")?;
                if header.err != 0 {
                    let err = Error::from_code(header.err);
                    if let Some(token) = token {
                        self.events.push_back(Event::Reply(token, Err(err.clone())));
                    }
                    self.stop(
                        SessionState::AuthFailed,
                        StateCause::AuthRejected(err),
                        &Error::AuthFailed,
                    );
                } else if let Some(token) = token {
                    self.events
                        .push_back(Event::Reply(token, Ok(Response::Empty)));
                }
                Ok(())
            }
            x => {
                let pending = self
                    .pending
                    .pop_front()
                    .ok_or_else(|| format!("reply with xid {x} but no request is waiting"))?;
                if pending.xid != x {
                    // Put it back so the connection-loss path fails it properly.
                    let expected = pending.xid;
                    self.pending.push_front(pending);
                    return Err(format!("reply xid {x} out of order (expected {expected})"));
                }
                if header.zxid > self.last_zxid {
                    self.last_zxid = header.zxid;
                }
                self.heard(pending.sent_at);
                self.complete(now, pending, header.err, frame)
            }
        }
    }

    /// A reply to something sent at `sent`: the server heard from us then, and this
    /// connection works.
    fn heard(&mut self, sent: Instant) {
        self.heard_at = Some(self.heard_at.map_or(sent, |h| h.max(sent)));
        self.attempts = 0;
        self.unproven = false;
        self.died_young = 0;
    }

    fn complete(
        &mut self,
        now: Instant,
        p: Pending<T>,
        err: i32,
        mut body: Bytes,
    ) -> Result<(), String> {
        let result = if err == 0 {
            match decode_response(p.op, &mut body) {
                Ok(response) => Ok(response),
                Err(e) => {
                    let msg = format!("bad {:?} reply: {e}", p.op);
                    // Back in the queue, so that the connection loss fails it properly.
                    self.pending.push_front(p);
                    return Err(msg);
                }
            }
        } else {
            Err(Error::from_code(err))
        };
        match p.kind {
            PendingKind::User { token, watch } => {
                if let Some(w) = watch {
                    if let Some(kind) = watch_set_by(p.op, w.kind, &result) {
                        self.watches.add_oneshot(kind, w.path, w.token);
                    }
                }
                if result.is_err() {
                    self.stats.errors += 1;
                }
                self.events.push_back(Event::Reply(token, result));
            }
            PendingKind::AddWatch { token, id } => {
                if result.is_ok() {
                    self.watches.activate_persistent(id);
                } else {
                    self.stats.errors += 1;
                    self.drop_persistent(id);
                }
                self.events.push_back(Event::Reply(token, result));
            }
            PendingKind::SetWatches => {
                if let Err(e) = result {
                    warn!(error = %e, "watch re-registration failed");
                }
            }
            PendingKind::RemoveWatches => {}
            PendingKind::Sasl => self.sasl_reply(now, result),
            PendingKind::Close => {
                self.close_transport = true;
                self.stop(SessionState::Closed, StateCause::UserClose, &Error::Closed);
            }
        }
        let _ = now;
        Ok(())
    }

    fn dispatch(&mut self, now: Instant, event: WatchedEvent) {
        let events = &mut self.events;
        self.watches.fire(&event, |hit, event| match hit {
            Hit::Oneshot(token) => events.push_back(Event::Oneshot(token, event.clone())),
            Hit::Stream(stream) => events.push_back(Event::Stream(*stream, event.clone())),
            Hit::StreamEnded(stream) => events.push_back(Event::StreamEnded(stream)),
        });
        if self.deferred_removals.contains(&event.path)
            && !self.watches.path_is_watched(&event.path)
            && !self.watches.has_persistent(&event.path)
        {
            self.deferred_removals.remove(&event.path);
            self.send_remove_watches(now, &event.path);
        }
    }
}

/// The table the one-shot watch of a watch-setting read (`op`, asking for `requested`) lands
/// in, judging by its reply; `None` when the read set no watch (its token is then dropped).
/// exists sets a watch even when the node is missing (an exist watch); the other reads set
/// one only on success.
pub(crate) fn watch_set_by(
    op: OpCode,
    requested: WatchKind,
    result: &Result<Response, Error>,
) -> Option<WatchKind> {
    match (op, result) {
        (OpCode::Exists, Ok(_)) => Some(WatchKind::Data),
        (OpCode::Exists, Err(Error::NoNode)) => Some(WatchKind::Exist),
        (_, Ok(_)) => Some(requested),
        _ => None,
    }
}

fn millis_i32(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests;
