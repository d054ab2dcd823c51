//! The values that cross the session's boundary: the driver's tokens, requests going in,
//! events coming out, the session's states, its settings and its counters.

use std::time::Duration;

use aiozk_proto::{EventType, OpCode, Response};
use bytes::Bytes;

use super::sasl::SaslCredentials;
use crate::error::Error;

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

    /// Called when a submitted request is numbered, just before it is written, with its
    /// xid (for tracing). Does nothing by default.
    fn numbered(_reply: &mut Self::Reply, _xid: i32) {}
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
    /// What happened (`EventType::None` for the events of [`EventKind::Resync`],
    /// [`EventKind::NewSession`] and [`EventKind::Ended`]).
    pub event_type: EventType,
    /// The session state when the event was produced: `Connected` for node events,
    /// `Expired` or `Closed` when the watch ends because the session did.
    pub state: SessionState,
    /// The path of the node (server path: with the chroot).
    pub path: String,
    /// The zxid of the change when the server reports it (3.9+, not for catch-up events),
    /// else `None`.
    pub zxid: Option<i64>,
    /// How the event came about.
    pub kind: EventKind,
}

/// How a watch event came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum EventKind {
    /// A change the server reported as it happened.
    #[default]
    Change,
    /// A change made while the client was disconnected (or before a new session was
    /// established), reported by the server when the watch was registered again. Several
    /// changes of one kind to a node in that time come as one event, the way a one-shot
    /// watch reports them; the server sends no zxid with it.
    CatchUp,
    /// Changes at or below `path` may have been missed while the client was disconnected,
    /// and the client cannot tell which: read again what depends on them. `event_type` is
    /// `None`.
    Resync,
    /// The watch was added again on a new session after the old one expired; the catch-up
    /// events (or a `Resync`) follow. `event_type` is `None`.
    NewSession,
    /// The watch ended with the session; `state` says why. `event_type` is `None`.
    Ended,
}

/// The nodes a recursive watcher already knows to exist (a cache of the subtree), so that
/// after a reconnect the client can ask the server which of them changed.
///
/// With it, a recursive watch gets a catch-up event per changed node (data changed,
/// deleted, and `NodeChildrenChanged` for a known node whose children were created or
/// deleted) instead of a single `Resync`.
pub trait KnownNodes: Send + Sync {
    /// Calls `visit` with the path of every node at or below the watched path that the
    /// watcher knows to exist (the watched path itself when it exists). Paths are the ones
    /// the watcher was added with (chroot-relative for a client with a chroot).
    fn for_each(&self, visit: &mut dyn FnMut(&str));
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
    /// With [`SessionConfig::external_sasl`]: the driver computes the next token of the SASL
    /// exchange numbered `round` and answers with [`Session::sasl_step`](super::Session::sasl_step).
    Sasl {
        /// The exchange; the answer names it.
        round: u64,
        /// What the driver answers.
        input: SaslInput,
    },
}

/// What the SASL mechanism of the driver answers (see [`Event::Sasl`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslInput {
    /// The exchange starts (the handshake of a connection is complete): the client's first
    /// token.
    Start,
    /// The server answered with this token (`None`: a reply without a token).
    Server(Option<Vec<u8>>),
}

/// The driver's answer to [`Event::Sasl`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslStep {
    /// Send this token to the server and wait for its answer.
    Send(Vec<u8>),
    /// The exchange is complete: the connection is authenticated.
    Done,
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
            Self::Sasl { round, input } => match input {
                SaslInput::Start => write!(f, "Sasl({round}, start)"),
                SaslInput::Server(t) => {
                    write!(f, "Sasl({round}, {} bytes)", t.as_ref().map_or(0, Vec::len))
                }
            },
        }
    }
}

/// The kind of a one-shot watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WatchKind {
    /// Set by getData, or by exists on an existing node: fires on change and deletion.
    Data,
    /// Set by exists on a missing node: fires on creation.
    Exist,
    /// Set by getChildren: fires when the children change or the node is deleted.
    Child,
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
    /// Authenticate every connection with SASL, the driver computing the tokens
    /// ([`Event::Sasl`]; GSSAPI). Takes precedence over [`sasl`](Self::sasl).
    pub external_sasl: bool,
    /// How long requests may wait to be written together while many are in flight
    /// (see [`Session::poll_transmit`](super::Session::poll_transmit)); zero writes every request at the first chance.
    pub max_write_delay: Duration,
    /// Send consecutive unwatched getData and getChildren requests as one MultiRead (see
    /// [`Session::submit`](super::Session::submit)); off by default here, on in the client's
    /// builder.
    pub coalesce_reads: bool,
    /// Fail waiting and new requests at once when every server has refused the connection
    /// in two whole rounds before the first handshake (see
    /// [`super::Session::connect_failure`]).
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
            .field("coalesce_reads", &self.coalesce_reads)
            .field("fail_eagerly", &self.fail_eagerly)
            .field("external_sasl", &self.external_sasl)
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
            external_sasl: false,
            max_write_delay: DEFAULT_MAX_WRITE_DELAY,
            coalesce_reads: false,
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
    /// Reads sent inside MultiRead batches.
    pub coalesced_reads: u64,
    /// MultiRead batches sent by read coalescing (each carries two reads or more).
    pub multi_read_batches: u64,
}

/// The default of [`SessionConfig::max_write_delay`].
pub const DEFAULT_MAX_WRITE_DELAY: Duration = Duration::from_millis(1);
