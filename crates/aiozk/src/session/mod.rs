//! The session state machine: no sockets, no clock, no runtime.
//!
//! [`Session`] holds everything a ZooKeeper session needs between two calls: the xid counter,
//! the FIFO of requests waiting for a reply, the watch registry, the credentials to replay,
//! and the timers. Time is always an argument, so tests drive the machine with a simulated
//! clock and scripted server bytes.
//!
//! # Methods
//! * accessors: [`Session::state`], [`Session::session_id`], [`Session::stats`],
//!   [`Session::watch_count`], [`Session::in_flight`], ...;
//! * application input: [`Session::submit`] (a request), [`Session::add_auth`],
//!   [`Session::add_persistent`] and [`Session::remove_persistent`],
//!   [`Session::forget_oneshot_watchers`], [`Session::close`], [`Session::reconnect`];
//! * transport input: [`Session::on_transport_connected`] and
//!   [`Session::on_transport_closed`] (the connection came up or went away),
//!   [`Session::read_buf`] + [`Session::handle_read`] (bytes from the server),
//!   [`Session::handle_timeout`] (the deadline from [`Session::poll_timeout`] has passed);
//! * output: [`Session::take_close_transport`] (drop the connection now),
//!   [`Session::poll_connect`] (open a connection now), [`Session::poll_event`] (replies,
//!   watch events, state changes), [`Session::poll_transmit`] (bytes to write) and
//!   [`Session::poll_timeout`] (when to call `handle_timeout`).
//!
//! # Poll order
//! After any input the driver drains the outputs, in this order, until `poll_transmit`
//! has nothing more: `take_close_transport`, `poll_connect`, every `poll_event`, then
//! `poll_transmit`. It asks `poll_timeout` last, once the bytes are taken: handing them
//! over moves the deadline of requests held back for a joint write.
//!
//! # Files
//! The state lives in sub-states of their own, each in its file: `outbox` (frames not yet
//! written, and the joint writes), `pending` (requests sent and queued, the xid counter),
//! `auth` (credentials, auth replies, the SASL exchange), `coalescer` (reads waiting for a
//! MultiRead batch, and what the server takes), `timer` (the timer table), `watches` (the
//! watch registry), `health` (when a server last heard from the session, connections that
//! die young, servers that all refuse or send garbage). The session's internal method groups
//! have files of their own too: `handshake` (the connect response, SASL, and what waited for
//! the connection, watch re-registration first), `coalesce` (read coalescing: batches, their
//! replies, the probe that asks a server whether it takes MultiRead), `reply` (matching each
//! frame from the server to what it answers), `removal` (removing server watches by the type
//! the server takes) and `failure` (connection loss, stop and expiry). `types` holds the
//! values that cross the boundary.

mod auth;
mod catch_up;
mod coalesce;
mod coalescer;
mod failure;
pub mod fuzzing;
mod handshake;
mod health;
mod outbox;
mod pending;
mod removal;
mod reply;
mod sasl;
mod timer;
mod types;
mod watches;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use aiozk_proto::consts::PASSWORD_LEN;
use aiozk_proto::{frame, AddWatchMode, ConnectRequest, Encode, OpCode, Request, Response};
use bytes::BytesMut;
use tracing::{debug, info, warn};

use crate::error::Error;
use auth::Auth;
pub use catch_up::SET_WATCHES_BATCH_BYTES;
pub use coalesce::MAX_BATCH_READS;
use coalescer::Coalescer;
use health::{Attempt, Health};
use outbox::Outbox;
pub use outbox::WRITE_BATCH_MIN_IN_FLIGHT;
use pending::{Pending, PendingKind, Requests};
pub use sasl::SaslCredentials;
use timer::{Timer, TimerTable};
pub use types::{
    Event, EventKind, KnownNodes, Outgoing, SaslInput, SaslStep, SessionConfig, SessionState,
    SessionStats, StateCause, Tokens, WatchKind, WatchRequest, WatchedEvent,
    DEFAULT_MAX_WRITE_DELAY,
};
pub(crate) use watches::watch_set_by;
use watches::{Existence, WatchRegistry, WatchRemoval};

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
    /// When anything was last received from a server (for read timeout and local expiry).
    last_recv: Instant,
    last_send: Instant,
    /// When the session was last known to be alive on a server.
    alive_at: Option<Instant>,
    /// Connection attempts since the last connection that proved healthy (a reply after
    /// its handshake): a connection that dies young keeps the back-off growing.
    attempts: u32,
    /// When a server last heard from us, young deaths, refusals and garbage.
    health: Health,
    rng: u64,
    inbuf: BytesMut,
    /// Frames not yet handed to the driver.
    out: Outbox,
    /// Requests sent and waiting for their reply, and requests waiting for a connection.
    requests: Requests<T>,
    /// Credentials to replay, auth replies awaited, the SASL exchange.
    auth: Auth<T>,
    /// SASL exchanges the driver has been asked to compute (see [`Event::Sasl`]).
    sasl_rounds: u64,
    /// Reads waiting for a MultiRead batch, and what the server takes.
    reads: Coalescer<T>,
    /// The probe is out; the state to report once it is answered.
    probe: Option<SessionState>,
    watches: WatchRegistry<T>,
    /// Paths whose server watch is to be removed once their one-shot watches have fired.
    deferred_removals: std::collections::HashSet<String>,
    /// A ping was written on this connection and its reply has not come yet.
    ping_outstanding: bool,
    /// The highest zxid seen while a watch re-registration was unanswered, kept out of
    /// `last_zxid` until the last one is answered (see [`Session::see_zxid`]).
    zxid_held: i64,
    /// The handshake under way opened a new session: its persistent watchers are told.
    announce_new_session: bool,
    /// How the server of this connection removes persistent watches.
    watch_removal: WatchRemoval,
    events: VecDeque<Event<T>>,
    close_transport: bool,
    want_connect: bool,
    /// A move to another server waits for the replies on this connection, at most until
    /// this deadline (see [`Session::move_when_idle`]).
    moving: Option<Instant>,
    stats: SessionStats,
}

/// The least room [`Session::read_buf`] offers for one read.
const READ_CHUNK: usize = 8 * 1024;

/// The least session timeout the session's timers work with (pings, read and connect
/// timeouts, local expiry, reconnect pauses), whatever the server negotiated.
pub const MIN_SESSION_TIMEOUT: Duration = Duration::from_millis(100);

/// The least pause after a round of servers while connections die before their first
/// reply.
const YOUNG_DEATH_PAUSE: Duration = Duration::from_millis(500);

impl<T: Tokens> Session<T> {
    /// A session that will connect at once.
    pub fn new(config: SessionConfig, now: Instant) -> Self {
        let (session_id, password, seen_rw_server) = match &config.resume {
            Some((id, pw)) => (*id, pw.clone(), true),
            None => (0, vec![0; PASSWORD_LEN], false),
        };
        let rng = config.seed | 1;
        let coalesce = config.coalesce_reads;
        Self {
            negotiated: config.session_timeout,
            config,
            phase: Phase::Waiting { next_attempt: now },
            state: SessionState::Connecting,
            session_id,
            password,
            seen_rw_server,
            last_zxid: 0,
            last_recv: now,
            last_send: now,
            alive_at: None,
            attempts: 0,
            health: Health::default(),
            rng,
            // Allocated as needed (see `read_buf`): 128 KiB of buffers per session made a
            // thousand idle sessions cost 128 MiB.
            inbuf: BytesMut::new(),
            out: Outbox::default(),
            requests: Requests::default(),
            auth: Auth::default(),
            sasl_rounds: 0,
            reads: Coalescer::new(coalesce),
            probe: None,
            watches: WatchRegistry::default(),
            deferred_removals: std::collections::HashSet::new(),
            ping_outstanding: false,
            announce_new_session: false,
            zxid_held: 0,
            watch_removal: WatchRemoval::Unknown,
            events: VecDeque::new(),
            close_transport: false,
            want_connect: false,
            moving: None,
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

    /// The highest zxid seen from the server: in replies (pings included) and, from 3.9, in
    /// watch notifications. Watches are re-registered relative to it.
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
        self.requests.in_flight() + self.reads.staged().0
    }

    /// The maximum frame size.
    pub fn max_frame(&self) -> usize {
        self.config.max_frame
    }

    /// The latest moment a server is known to have heard from this session: the time the
    /// last request it answered was sent (a ping, a call, or the handshake it accepted).
    /// The server cannot expire the session earlier than one session timeout after it.
    /// `None` before the first handshake and after an expiry.
    pub fn heard_at(&self) -> Option<Instant> {
        self.health.heard_at
    }

    /// Why requests fail at once right now, if they do: every server answered the
    /// handshake with garbage in two whole rounds (a [`Error::ProtocolViolation`] naming
    /// the last one), or, with [`SessionConfig::fail_eagerly`] and before the first
    /// handshake, every server refused the connection or sent garbage in two whole rounds
    /// ([`Error::NoHosts`] with the last cause). Requests waiting for a connection then fail with it, and so do new ones
    /// until a handshake succeeds; the session keeps trying to connect, with back-off.
    pub fn connect_failure(&self) -> Option<&Error> {
        self.health.failing.as_ref()
    }

    /// Why the latest connection attempt or connection failed.
    pub fn last_failure(&self) -> Option<&Error> {
        self.health.last_failure.as_ref()
    }

    /// The server list now has `count` servers (it was replaced): the connect timeout and
    /// the pauses between rounds of attempts follow.
    pub fn set_host_count(&mut self, count: usize) {
        self.config.host_count = count.max(1);
    }

    /// Names the server of the connection being opened (`host:port`), for errors; call it
    /// before [`Session::on_transport_connected`] or [`Session::on_transport_closed`].
    pub fn set_peer(&mut self, peer: impl Into<String>) {
        self.health.set_peer(peer.into());
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
    ///
    /// With [`SessionConfig::coalesce_reads`], an unwatched getData or getChildren waits,
    /// with the reads submitted after it, until anything else is written or the output is
    /// taken; the reads then go out as MultiRead batches (a lone one as itself), each read
    /// completed with its own result, in submission order. See the `coalesce` module.
    pub fn submit(&mut self, now: Instant, req: Outgoing<T>) {
        if let Some(err) = self.refusal() {
            self.stats.errors += 1;
            self.events.push_back(Event::Reply(req.token, Err(err)));
            return;
        }
        self.stats.requests += 1;
        if !self.can_send() {
            self.requests.queue(req);
        } else if self.may_coalesce(&req) {
            self.stage_read(now, req);
        } else {
            self.send_outgoing(now, req);
        }
    }

    /// Adds credentials (`scheme`, `auth`), sent now if connected and replayed on every
    /// reconnect. `token` completes when the server accepts them.
    pub fn add_auth(&mut self, now: Instant, scheme: &str, auth: &[u8], token: T::Reply) {
        if let Some(err) = self.refusal() {
            self.events.push_back(Event::Reply(token, Err(err)));
            return;
        }
        let index = self.auth.add(scheme, auth);
        if self.can_send() {
            self.write_auth(now, index, Some(token));
        } else {
            self.auth.wait(index, token);
        }
    }

    /// Registers a persistent watch (`mode`) on `path` for the local watcher `stream` (pass
    /// it to [`Session::remove_persistent`]). The stream ends ([`Event::StreamEnded`]) when
    /// the watcher is removed, its registration fails, or the session ends for good (closed,
    /// authentication failed, or expired without `reconnect_after_expiry`); only then may
    /// the handle be reused. When the server already holds this watch for
    /// another local watcher, `reply` completes at once; otherwise an addWatch is sent and
    /// the watcher is registered when it succeeds. A recursive watcher with `known` nodes
    /// (a cache) is caught up node by node after a reconnect (see [`KnownNodes`]).
    ///
    /// A plain persistent watch is followed by an `exists` of its node (not counted as a
    /// request): whether the node exists decides what its catch-up asks the server.
    pub fn add_persistent(
        &mut self,
        now: Instant,
        path: String,
        mode: AddWatchMode,
        stream: T::Stream,
        reply: T::Reply,
        known: Option<std::sync::Arc<dyn KnownNodes>>,
    ) {
        if let Some(err) = self.refusal() {
            self.events.push_back(Event::StreamEnded(stream));
            self.events.push_back(Event::Reply(reply, Err(err)));
            return;
        }
        let id = stream;
        let probe = mode == AddWatchMode::Persistent;
        let active = self
            .watches
            .add_persistent(path.clone(), mode, stream, known);
        if active {
            self.events
                .push_back(Event::Reply(reply, Ok(Response::Empty)));
            if probe && self.can_send() && self.watches.existence(&path) == Existence::Unknown {
                self.write_probe(now, path);
            }
            return;
        }
        let mut body = BytesMut::new();
        Request::AddWatch { path: &path, mode }.encode(&mut body);
        self.stats.requests += 1;
        let op = OpCode::AddWatch;
        if self.can_send() {
            self.write_request(now, op, &body, PendingKind::AddWatch { token: reply, id });
            if probe {
                self.write_probe(now, path);
            }
        } else {
            // Queue it like a user request, sent once the watches are re-registered.
            let probe = probe.then_some(path);
            self.requests
                .queue_add_watch((id, body.freeze(), reply, probe));
        }
    }

    /// Reads whether the node of the persistent watch on `path` exists.
    fn write_probe(&mut self, now: Instant, path: String) {
        let mut body = BytesMut::new();
        Request::Exists {
            path: &path,
            watch: false,
        }
        .encode(&mut body);
        self.write_request(now, OpCode::Exists, &body, PendingKind::Existence { path });
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

    /// Leaves the current server without failing a request: requests submitted from now on
    /// wait, and once every request on the connection has its reply (or, at the latest,
    /// after the read timeout) the session reconnects as [`Session::reconnect`] does. The
    /// waiting requests go to the next server. Does nothing unless connected.
    pub fn move_when_idle(&mut self, now: Instant) {
        if let Phase::Connected { .. } = self.phase {
            self.moving = Some(now + self.read_timeout());
            self.finish_move(now);
        }
    }

    /// Reconnects for a pending move once nothing is in flight or its deadline passed.
    fn finish_move(&mut self, now: Instant) {
        let Some(deadline) = self.moving else {
            return;
        };
        if !matches!(self.phase, Phase::Connected { .. }) {
            self.moving = None;
        } else if self.requests.sent() + self.reads.staged().0 == 0 || now >= deadline {
            self.moving = None;
            self.reconnect(now);
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
        self.ping_outstanding = false;
        self.zxid_held = 0;
        // Another server, maybe of another release.
        self.watch_removal = WatchRemoval::Unknown;
        self.reads.confirmed = false;
        let session_id = if self.seen_rw_server {
            self.session_id
        } else {
            0
        };
        self.out.connect(&ConnectRequest {
            last_zxid_seen: self.last_zxid,
            timeout_ms: millis_i32(self.config.session_timeout),
            session_id,
            password: if session_id == 0 { &[] } else { &self.password },
            read_only: self.config.allow_read_only,
        });
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
                let why = self.health.naming_peer(&reason.to_string());
                self.attempt_failed(now, Attempt::Refused(Error::NoHosts(why)));
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
            if frame <= self.reply_limit() {
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
        self.handle_frames(now);
        self.finish_move(now);
    }

    fn handle_frames(&mut self, now: Instant) {
        self.last_recv = now;
        loop {
            let limit = self.reply_limit();
            let frame = match frame::split_frame(&mut self.inbuf, limit) {
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
        self.handle_timers(now);
        self.finish_move(now);
    }

    fn handle_timers(&mut self, now: Instant) {
        let timers = self.timers();
        match self.phase {
            Phase::Waiting { .. } => {
                self.check_local_expiry(now);
                if matches!(self.phase, Phase::Waiting { .. })
                    && timers.is_expired(Timer::Attempt, now)
                {
                    self.want_connect = true;
                }
            }
            Phase::Connecting { .. } => {
                self.check_local_expiry(now);
                if !matches!(self.phase, Phase::Connecting { .. }) {
                    return;
                }
                if timers.is_expired(Timer::Connect, now) {
                    debug!("connection attempt timed out");
                    self.close_transport = true;
                    self.attempt_failed(now, Attempt::Silent);
                    self.check_local_expiry(now);
                }
            }
            Phase::Connected { .. } => {
                if timers.is_expired(Timer::Read, now) {
                    warn!(
                        session_id = format_args!("{:#x}", self.session_id),
                        "no reply from the server within the read timeout"
                    );
                    self.close_transport = true;
                    self.lose_connection(now, Error::ConnectionLoss, &Error::ConnectionLoss);
                } else if timers.is_expired(Timer::Ping, now) {
                    self.flush_staged(now);
                    self.write_ping(now);
                }
            }
            Phase::Closing { .. } => {
                if timers.is_expired(Timer::Close, now) {
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
        self.timers().next()
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
        let staged = self.reads.staged();
        if (self.out.is_empty() && staged.0 == 0)
            || self.out.holds(
                now,
                self.requests.sent(),
                staged,
                self.config.max_write_delay,
            )
        {
            return None;
        }
        self.flush_staged(now);
        self.stats.writes += 1;
        Some(self.out.take())
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
            (_, Phase::Waiting { .. } | Phase::Connecting { .. }) => self.health.failing.clone(),
            _ => None,
        }
    }

    fn can_send(&self) -> bool {
        matches!(self.phase, Phase::Connected { .. })
            && self.auth.sasl.is_none()
            && self.probe.is_none()
            && self.moving.is_none()
    }

    /// Frames a request and adds it to the requests waiting for their reply; returns the
    /// bytes it took.
    fn write_request(
        &mut self,
        now: Instant,
        op: OpCode,
        body: &[u8],
        mut kind: PendingKind<T>,
    ) -> usize {
        // Reads waiting for a batch were submitted first: they go first.
        self.flush_staged(now);
        let xid = self.requests.next_xid();
        match &mut kind {
            PendingKind::User { token, .. } | PendingKind::AddWatch { token, .. } => {
                T::numbered(token, xid);
            }
            PendingKind::Batch(reads) => {
                for read in reads {
                    T::numbered(&mut read.token, xid);
                }
            }
            _ => {}
        }
        let written = self.out.request(xid, op, body);
        self.last_send = now;
        self.requests.push_sent(Pending {
            xid,
            op,
            kind,
            sent_at: now,
        });
        written
    }

    fn send_outgoing(&mut self, now: Instant, req: Outgoing<T>) {
        self.flush_staged(now);
        let written = self.frame_user(now, req);
        self.out.hold(written, now);
    }

    /// Frames one request of the application; returns the bytes it took (the caller counts
    /// them for the joint writes).
    fn frame_user(&mut self, now: Instant, req: Outgoing<T>) -> usize {
        debug!(op = ?req.op, len = req.body.len(), "request");
        self.write_request(
            now,
            req.op,
            &req.body,
            PendingKind::User {
                token: req.token,
                watch: req.watch,
            },
        )
    }

    /// Notes a zxid the server showed. While a watch re-registration is not answered yet it
    /// is held back: were the connection lost before the last record's reply, the next
    /// catch-up would start after changes that record had still to report.
    fn see_zxid(&mut self, zxid: i64) {
        if self.requests.has_unanswered_records() {
            self.zxid_held = self.zxid_held.max(zxid);
        } else {
            let held = std::mem::take(&mut self.zxid_held);
            self.last_zxid = self.last_zxid.max(zxid).max(held);
        }
    }

    fn write_ping(&mut self, now: Instant) {
        self.out.ping();
        self.ping_outstanding = true;
        self.last_send = now;
        self.health.ping_sent(now);
    }

    fn write_auth(&mut self, now: Instant, index: usize, token: Option<T::Reply>) {
        self.flush_staged(now);
        let (scheme, auth) = self.auth.credential(index);
        self.out.auth(scheme, auth);
        self.last_send = now;
        self.auth.push_sent(token);
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
        // so connections that die right after the handshake count towards the rounds too,
        // and while they do the round pause is at least YOUNG_DEATH_PAUSE: a server that
        // negotiates an absurd timeout cannot make the client reconnect in a busy loop.
        let cap = (self.timeout().as_millis() as u64 / 10).clamp(10, 1000);
        let mut delay = self.jitter(cap);
        let hosts = self.config.host_count.max(1) as u32;
        if self.attempts > 0 && self.attempts % hosts == 0 {
            let pause = Duration::from_millis(cap);
            delay += if self.health.died_young > 0 {
                pause.max(YOUNG_DEATH_PAUSE)
            } else {
                pause
            };
        }
        self.phase = Phase::Waiting {
            next_attempt: now + delay,
        };
    }

    /// The timers armed in the current phase (see [`timer`]).
    fn timers(&self) -> TimerTable {
        let mut timers = TimerTable::default();
        match self.phase {
            Phase::Waiting { next_attempt } => {
                timers.set(Timer::Attempt, Some(next_attempt));
                timers.set(Timer::Expiry, self.local_expiry());
            }
            Phase::Connecting { deadline, .. } => {
                timers.set(Timer::Connect, Some(deadline));
                timers.set(Timer::Expiry, self.local_expiry());
            }
            Phase::Connected { .. } => {
                timers.set(Timer::Read, Some(self.last_recv + self.read_timeout()));
                timers.set(Timer::Ping, Some(self.last_send + self.ping_interval()));
                timers.set(
                    Timer::Write,
                    self.out
                        .held_since()
                        .map(|since| since + self.config.max_write_delay),
                );
            }
            Phase::Closing { deadline } => timers.set(Timer::Close, Some(deadline)),
            Phase::Stopped => {}
        }
        timers
    }

    /// When the session expires unless a server is reached first: the session timeout
    /// after it was last known alive, while no server is connected.
    fn local_expiry(&self) -> Option<Instant> {
        self.alive_at.map(|alive| alive + self.timeout())
    }

    /// A connection attempt failed before its handshake completed: schedules the next one,
    /// and fails the requests waiting for a connection when every server refused or sent
    /// garbage for two whole rounds (see [`Session::connect_failure`]).
    fn attempt_failed(&mut self, now: Instant, attempt: Attempt) {
        self.attempt_failed_silently(attempt);
        self.schedule_attempt(now);
    }

    /// Records a failed attempt, failing the queued requests when every server failed two
    /// whole rounds; schedules nothing.
    fn attempt_failed_silently(&mut self, attempt: Attempt) {
        let hosts = self.config.host_count;
        if let Some(err) = self
            .health
            .attempt_failed(attempt, hosts, self.config.fail_eagerly)
        {
            warn!(error = %err, "failing requests until a server answers properly");
            self.fail_queued(&err);
        }
    }

    /// A reply to something sent at `sent`: the server heard from us then, and this
    /// connection works (the back-off starts again from the beginning).
    fn heard(&mut self, sent: Instant) {
        self.health.heard(sent);
        self.attempts = 0;
    }

    fn check_local_expiry(&mut self, now: Instant) {
        let Some(expiry) = self.local_expiry() else {
            return;
        };
        if self.session_id != 0 && now >= expiry {
            self.expire(now, StateCause::ClientExpired);
        }
    }
}

fn millis_i32(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests;
