//! The driver: the one task that owns the connection.
//!
//! It shuttles bytes between the socket and the [`Session`] state machine, runs its timers,
//! opens connections when the session asks for one, and hands replies and watch events to
//! the futures and streams that wait for them. It holds no protocol logic of its own.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aiozk_proto::{AddWatchMode, EventType, OpCode, Response};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tracing::{debug, info_span, Instrument};

use crate::error::Error;
use crate::hosts::HostPort;
use crate::metrics::ClientMetrics;
use crate::path::Chroot;
use crate::provider::{Draws, HostProvider};
use crate::session::{
    watch_set_by, Event, Outgoing, SaslInput, SaslStep, Session, SessionConfig, SessionState,
    SessionStats, StateCause, Tokens, WatchKind,
};
use crate::trace::RequestTrace;
use crate::watcher::slots::{SlotId, WatchSlots};
use crate::watcher::{strip_event, StreamSlots};

/// A SASL mechanism whose steps may block (GSSAPI talks to a KDC): the driver runs them on
/// a blocking thread, one exchange per connection.
pub(crate) trait SaslMechanism: Send + Sync {
    /// A new exchange with the server `host` (as written in the server list).
    fn exchange(&self, host: &str) -> Box<dyn SaslExchange>;
}

/// One exchange of a [`SaslMechanism`].
pub(crate) trait SaslExchange: Send {
    /// The answer to the session's input. Blocking.
    fn step(&mut self, input: SaslInput) -> Result<SaslStep, String>;
}

/// A finished SASL step: the exchange back, and its answer.
type SaslDone = (Box<dyn SaslExchange>, Result<SaslStep, String>);
type SaslTask = tokio::task::JoinHandle<SaslDone>;

/// The mechanism of an externally computed SASL exchange and the step under way.
#[derive(Default)]
struct ExternalSasl {
    mechanism: Option<Arc<dyn SaslMechanism>>,
    /// The exchange of the current round, while no step runs.
    idle: Option<(u64, Box<dyn SaslExchange>)>,
    /// The step running on a blocking thread, for this round.
    running: Option<(u64, SaslTask)>,
}

/// The channel types the driver gives the session as tokens.
pub(crate) struct Channels;

impl Tokens for Channels {
    type Reply = ReplyTx;
    type Oneshot = SlotId;
    type Stream = SlotId;

    fn stream_index(stream: &SlotId) -> usize {
        stream.index()
    }

    fn numbered(reply: &mut ReplyTx, xid: i32) {
        if let Some(trace) = &reply.trace {
            trace.numbered(xid);
        }
    }
}

/// Completes one request. A watch-setting read also names its one-shot slot: the session
/// drops the slot's token without a word when the read sets no watch, so the driver frees
/// the slot when the reply says so.
#[derive(Debug)]
pub(crate) struct ReplyTx {
    tx: oneshot::Sender<Result<Response, Error>>,
    watch: Option<(SlotId, OpCode, WatchKind)>,
    /// Set by the driver when the request is submitted.
    trace: Option<RequestTrace>,
}

impl ReplyTx {
    /// A reply for a watch-setting read: `op` of kind `kind`, its watch in slot `slot`.
    pub(crate) fn watched(
        tx: oneshot::Sender<Result<Response, Error>>,
        watch: Option<(SlotId, OpCode, WatchKind)>,
    ) -> Self {
        Self {
            tx,
            watch,
            trace: None,
        }
    }

    fn traced(mut self, trace: RequestTrace) -> Self {
        self.trace = Some(trace);
        self
    }
}

impl From<oneshot::Sender<Result<Response, Error>>> for ReplyTx {
    fn from(tx: oneshot::Sender<Result<Response, Error>>) -> Self {
        Self::watched(tx, None)
    }
}

/// Closes the slots the driver still holds when it goes, however it goes: one-shot watches
/// resolve as closed, persistent streams end.
struct SlotsGuard {
    oneshot: Arc<WatchSlots>,
    streams: Arc<StreamSlots>,
}

impl Drop for SlotsGuard {
    fn drop(&mut self) {
        self.oneshot.close_all();
        self.streams.slots.close_all();
    }
}

/// A request from a [`crate::Client`] handle to the driver.
pub(crate) enum Command {
    Request(Outgoing<Channels>),
    Auth {
        scheme: String,
        auth: Vec<u8>,
        reply: oneshot::Sender<Result<Response, Error>>,
    },
    AddWatch {
        path: String,
        mode: AddWatchMode,
        /// The watcher's slot in the client's stream slots.
        stream: SlotId,
        reply: oneshot::Sender<Result<Response, Error>>,
        /// The nodes a recursive watcher's cache knows (server paths).
        known: Option<Arc<dyn crate::session::KnownNodes>>,
    },
    RemoveWatch {
        stream: SlotId,
    },
    Close {
        done: oneshot::Sender<()>,
    },
    Reconnect,
    /// Replace the server list; the reply tells whether the client moves.
    UpdateServers {
        hosts: Vec<HostPort>,
        reply: oneshot::Sender<bool>,
    },
}

/// A state change as published to [`crate::Client::state_changes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// The state changed, with its cause.
    State(SessionState, StateCause),
    /// A new session was established (the first, or one replacing an expired session).
    NewSession {
        /// The session id.
        session_id: i64,
    },
}

/// What the driver publishes about the session, readable from every handle.
#[derive(Clone, Debug)]
pub(crate) struct Shared {
    pub(crate) state: SessionState,
    pub(crate) session_id: i64,
    pub(crate) password: Vec<u8>,
    pub(crate) timeout: Duration,
    pub(crate) stats: SessionStats,
    pub(crate) watches: usize,
    pub(crate) server: Option<String>,
    /// Why the last connection attempt or connection failed.
    pub(crate) last_error: Option<String>,
    /// The highest zxid seen in a reply.
    pub(crate) last_zxid: i64,
    /// Bytes written to and read from servers.
    pub(crate) bytes_sent: u64,
    pub(crate) bytes_received: u64,
    /// See [`Session::heard_at`].
    pub(crate) heard_at: Option<Instant>,
    /// See [`Session::connect_failure`].
    pub(crate) connect_failure: Option<Error>,
    /// Why the session ended with `AuthFailed`.
    pub(crate) auth_failure: Option<Error>,
}

/// A byte stream to a server (TCP, or TLS over TCP).
pub(crate) trait Transport: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Transport for T {}

type BoxTransport = Box<dyn Transport>;
type ConnectFuture = Pin<Box<dyn Future<Output = Result<(BoxTransport, String), Error>> + Send>>;

/// Opens a transport to one server.
pub(crate) type Connector = Arc<dyn Fn(HostPort) -> ConnectFuture + Send + Sync + 'static>;

/// The default connector: TCP, then TLS for hosts marked `tls`. The name is resolved at each
/// attempt, and its addresses are tried in the resolver's order, staggered (see
/// [`crate::dial`]), so one unreachable address costs a fraction of a second.
pub(crate) fn tcp_connector(tls: Option<Arc<crate::tls::TlsSource>>) -> Connector {
    Arc::new(move |host: HostPort| {
        let tls = tls.clone();
        Box::pin(async move {
            let target = (host.host.as_str(), host.port);
            let addrs: Vec<_> = tokio::net::lookup_host(target)
                .await
                .map_err(|e| Error::io(&e))?
                .collect();
            if addrs.is_empty() {
                return Err(Error::NoHosts(format!("{host} resolved to no address")));
            }
            let (stream, addr) = crate::dial::connect_staggered(addrs, crate::dial::STAGGER)
                .await
                .map_err(|e| Error::io(&e))?;
            // Requests are small and latency-bound; batching is done by the driver.
            let _ = stream.set_nodelay(true);
            if !host.tls {
                return Ok((Box::new(stream) as BoxTransport, addr.to_string()));
            }
            let config = tls
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "{host} asks for TLS but no TLS options were given"
                    ))
                })?
                // Read at each connection: rotated certificates apply from the next one.
                .config();
            let name = crate::tls::server_name(&host.host)?;
            let stream = tokio_rustls::TlsConnector::from(config)
                .connect(name, stream)
                .await
                .map_err(|e| Error::Tls(format!("TLS handshake with {host} failed: {e}").into()))?;
            Ok((Box::new(stream) as BoxTransport, addr.to_string()))
        }) as ConnectFuture
    })
}

pub(crate) struct Driver {
    session: Session<Channels>,
    hosts: HostProvider,
    /// The server of the current connection.
    connected_host: Option<HostPort>,
    connector: Connector,
    rx: mpsc::UnboundedReceiver<Command>,
    shared: Arc<Mutex<Shared>>,
    state_tx: watch::Sender<SessionState>,
    events_tx: broadcast::Sender<SessionEvent>,
    conn: Option<BoxTransport>,
    connecting: Option<ConnectFuture>,
    server: Option<String>,
    last_error: Option<String>,
    close_waiters: Vec<oneshot::Sender<()>>,
    /// Answers to server list updates, sent once the state they caused is published.
    update_replies: Vec<(oneshot::Sender<bool>, bool)>,
    handles_gone: bool,
    probe: Probe,
    timer: Timer,
    /// Stripped from the paths of watch events before they are handed over.
    chroot: Chroot,
    /// Registry size above which dropped one-shot watchers are collected.
    watch_gc_at: usize,
    /// Where watch events go.
    slots: SlotsGuard,
    /// The client's metric handles.
    metrics: ClientMetrics,
    /// Bytes written to and read from servers.
    bytes_sent: u64,
    bytes_received: u64,
    /// The session's `coalesced_reads` already added to the metric.
    coalesced_reported: u64,
    /// SASL steps computed outside the session (GSSAPI).
    sasl: ExternalSasl,
}

/// The smallest registry size at which dropped one-shot watchers are collected.
const WATCH_GC_MIN: usize = 256;

/// The session's deadline timer, kept across wake-ups: creating and dropping a timer on
/// every wake-up cost more than the rest of a wake-up's bookkeeping. It is re-armed only
/// when the session's deadline moves earlier; firing early is harmless (the session
/// compares every deadline with the time it is given and does nothing before it).
struct Timer {
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    armed: Option<tokio::time::Instant>,
}

/// How long one `isro` probe of one server may take (connecting included).
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Asks `host` `isro` over a connection opened like the session's own (so over TLS with the
/// client's TLS options where the host is a TLS host, as ZOOKEEPER-4819 does for the Java
/// client). `None` when it could not be asked.
async fn isro(connector: &Connector, host: HostPort) -> Option<String> {
    let (mut stream, _) = connector(host).await.ok()?;
    stream.write_all(b"isro").await.ok()?;
    stream.flush().await.ok()?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 64];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            // The server closes (or resets, or ends TLS without close_notify) right after
            // answering: what arrived is the whole answer.
            Err(_) if !answer.is_empty() => break,
            Err(_) => return None,
        }
        if answer.len() > 16 {
            break;
        }
    }
    Some(String::from_utf8_lossy(&answer).into_owned())
}

/// While connected to a read-only server, other servers are asked `isro` from time to
/// time; the first that answers `rw` is connected to instead.
struct Probe {
    next_at: Option<tokio::time::Instant>,
    interval: Duration,
    running: Option<Pin<Box<dyn Future<Output = Option<usize>> + Send>>>,
}

impl Probe {
    const FIRST: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(60);

    fn new() -> Self {
        Self {
            next_at: None,
            interval: Self::FIRST,
            running: None,
        }
    }
}

enum Wake {
    Command(Option<Command>),
    Connected(Result<(BoxTransport, String), Error>),
    Read(std::io::Result<usize>),
    Timer,
    Probe(Option<usize>),
    ProbeDue,
    Sasl(Result<SaslDone, tokio::task::JoinError>),
}

/// The host provider's randomness: one seed for the process, one ordinal per client, so that
/// the clients of a process spread evenly (see `provider`).
fn process_draws() -> Draws {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static ORDINAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seed = *SEED.get_or_init(rand::random);
    Draws::new(
        seed,
        ORDINAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
    )
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

impl Driver {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        config: SessionConfig,
        hosts: Vec<HostPort>,
        connector: Connector,
        rx: mpsc::UnboundedReceiver<Command>,
        shared: Arc<Mutex<Shared>>,
        state_tx: watch::Sender<SessionState>,
        events_tx: broadcast::Sender<SessionEvent>,
        chroot: Chroot,
        slots: Arc<WatchSlots>,
        streams: Arc<StreamSlots>,
        sasl: Option<Arc<dyn SaslMechanism>>,
    ) -> Self {
        // Shuffled once, then used round-robin, so clients spread over the ensemble.
        let hosts = HostProvider::new(hosts, process_draws());
        Self {
            session: Session::new(config, now()),
            hosts,
            connected_host: None,
            connector,
            rx,
            shared,
            state_tx,
            events_tx,
            conn: None,
            connecting: None,
            server: None,
            last_error: None,
            close_waiters: Vec::new(),
            update_replies: Vec::new(),
            handles_gone: false,
            probe: Probe::new(),
            timer: Timer {
                sleep: None,
                armed: None,
            },
            chroot,
            watch_gc_at: WATCH_GC_MIN,
            slots: SlotsGuard {
                oneshot: slots,
                streams,
            },
            metrics: ClientMetrics::new(),
            bytes_sent: 0,
            bytes_received: 0,
            coalesced_reported: 0,
            sasl: ExternalSasl {
                mechanism: sasl,
                ..ExternalSasl::default()
            },
        }
    }

    pub(crate) async fn run(mut self) {
        let span = info_span!("zk_session", session_id = tracing::field::Empty);
        async move {
            loop {
                if self.step_outputs().await {
                    break;
                }
                let wake = self.wait().await;
                let now = now();
                match wake {
                    Wake::Command(Some(cmd)) => {
                        self.command(now, cmd);
                        // Take everything already queued before writing: one write serves
                        // many requests.
                        for _ in 0..1024 {
                            match self.rx.try_recv() {
                                Ok(cmd) => self.command(now, cmd),
                                Err(_) => break,
                            }
                        }
                        self.collect_dropped_watchers();
                    }
                    Wake::Command(None) => {
                        // Every handle is gone: close the session politely.
                        self.handles_gone = true;
                        self.session.close(now);
                    }
                    Wake::Connected(Ok((stream, addr))) => {
                        self.connecting = None;
                        debug!(server = %addr, "connected");
                        self.conn = Some(stream);
                        self.hosts.on_connected();
                        self.connected_host = self.hosts.current().cloned();
                        self.session.set_peer(addr.clone());
                        self.server = Some(addr);
                        // Do not re-register watches nobody waits for any more.
                        let slots = &self.slots.oneshot;
                        self.session
                            .forget_oneshot_watchers(|&id| slots.forget_if_abandoned(id));
                        self.session.on_transport_connected(now);
                    }
                    Wake::Connected(Err(err)) => {
                        self.connecting = None;
                        debug!(%err, "connect failed");
                        self.last_error = Some(err.to_string());
                        self.session.on_transport_closed(now, err);
                    }
                    Wake::Read(Ok(0)) => {
                        self.drop_conn();
                        self.last_error = Some("the server closed the connection".into());
                        self.session
                            .on_transport_closed(now, Error::Io("server closed the connection".into()));
                    }
                    Wake::Read(Ok(n)) => {
                        self.bytes_received += n as u64;
                        self.metrics.received(n);
                        self.session.handle_read(now);
                    }
                    Wake::Read(Err(e)) => {
                        self.drop_conn();
                        self.last_error = Some(e.to_string());
                        self.session.on_transport_closed(now, Error::io(&e));
                    }
                    Wake::Timer => {
                        self.timer.armed = None;
                        self.session.handle_timeout(now);
                    }
                    Wake::ProbeDue => self.start_probe(),
                    Wake::Sasl(done) => {
                        let Some((round, _)) = self.sasl.running.take() else {
                            continue;
                        };
                        let step = match done {
                            Ok((exchange, step)) => {
                                self.sasl.idle = Some((round, exchange));
                                step
                            }
                            Err(e) => Err(format!("the SASL step did not finish: {e}")),
                        };
                        self.session.sasl_step(now, round, step);
                    }
                    Wake::Probe(found) => {
                        self.probe.running = None;
                        match found {
                            Some(index) if self.session.is_read_only() => {
                                if let Some(host) = self.hosts.hosts().get(index) {
                                    tracing::info!(%host, "read-write server found; leaving the read-only one");
                                }
                                self.hosts.prefer(index);
                                self.session.reconnect(now);
                            }
                            _ => {
                                self.probe.interval = (self.probe.interval * 2).min(Probe::MAX);
                                self.probe.next_at = Some(tokio::time::Instant::now() + self.probe.interval);
                            }
                        }
                    }
                }
            }
        }
        .instrument(span)
        .await
    }

    fn start_probe(&mut self) {
        self.probe.next_at = None;
        let current = self.hosts.current_index();
        let candidates: Vec<(usize, HostPort)> = self
            .hosts
            .hosts()
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != current)
            .map(|(i, h)| (i, h.clone()))
            .collect();
        let connector = self.connector.clone();
        self.probe.running = Some(Box::pin(async move {
            for (i, host) in candidates {
                let answer = tokio::time::timeout(PROBE_TIMEOUT, isro(&connector, host)).await;
                if matches!(answer, Ok(Some(ref a)) if a.trim() == "rw") {
                    return Some(i);
                }
            }
            None
        }));
    }

    /// Keeps the read-only probe schedule in step with the session state.
    fn update_probe(&mut self) {
        if self.session.is_read_only() && self.hosts.len() > 1 {
            if self.probe.next_at.is_none() && self.probe.running.is_none() {
                self.probe.next_at = Some(tokio::time::Instant::now() + self.probe.interval);
            }
        } else {
            self.probe = Probe::new();
        }
    }

    /// Forgets one-shot watchers whose futures were dropped before they fired. Runs when the
    /// registry has doubled since the last pass, so the cost per watch stays constant and
    /// abandoned waits on quiet nodes cannot pile up.
    fn collect_dropped_watchers(&mut self) {
        if self.session.watch_count() > self.watch_gc_at {
            let slots = &self.slots.oneshot;
            self.session
                .forget_oneshot_watchers(|&id| slots.forget_if_abandoned(id));
            self.watch_gc_at = (self.session.watch_count() * 2).max(WATCH_GC_MIN);
        }
    }

    fn drop_conn(&mut self) {
        self.conn = None;
        self.server = None;
        self.connected_host = None;
    }

    /// Replaces the server list; drops the connection (or the attempt under way) when the
    /// host provider decides to move. Returns whether it does.
    fn update_servers(&mut self, now: Instant, hosts: Vec<HostPort>) -> bool {
        let connected = self.connected_host.clone();
        let moving = self.hosts.update(hosts, connected.as_ref());
        self.session.set_host_count(self.hosts.len());
        // A read-only probe under way names servers of the old list.
        self.probe = Probe::new();
        if !moving {
            return false;
        }
        tracing::info!(
            servers = self.hosts.len(),
            "moving to rebalance over the new server list"
        );
        if self.session.state().is_connected() {
            // Once the replies on this connection are in: a move fails no request.
            self.session.move_when_idle(now);
        } else if self.conn.is_some() || self.connecting.is_some() {
            // An attempt under way: abandon it, the next goes where the provider says.
            self.drop_conn();
            self.connecting = None;
            self.session.on_transport_closed(now, Error::ConnectionLoss);
        }
        true
    }

    fn command(&mut self, now: Instant, cmd: Command) {
        match cmd {
            Command::Request(mut req) => {
                req.token.trace = Some(RequestTrace::begin(req.op, &req.body, now));
                self.session.submit(now, req);
            }
            Command::Auth {
                scheme,
                auth,
                reply,
            } => {
                // The trace holds no credentials: only the opcode.
                let reply =
                    ReplyTx::from(reply).traced(RequestTrace::begin(OpCode::Auth, &[], now));
                self.session.add_auth(now, &scheme, &auth, reply);
            }
            Command::AddWatch {
                path,
                mode,
                stream,
                reply,
                known,
            } => {
                let trace = RequestTrace::begin(OpCode::AddWatch, &[], now);
                trace.path(&path);
                let reply = ReplyTx::from(reply).traced(trace);
                self.session
                    .add_persistent(now, path, mode, stream, reply, known);
            }
            Command::RemoveWatch { stream } => self.session.remove_persistent(now, stream),
            Command::Close { done } => {
                self.close_waiters.push(done);
                self.session.close(now);
            }
            Command::Reconnect => self.session.reconnect(now),
            Command::UpdateServers { hosts, reply } => {
                let moved = self.update_servers(now, hosts);
                self.update_replies.push((reply, moved));
            }
        }
    }

    /// Carries out everything the session asked for. Returns true when the driver is done.
    async fn step_outputs(&mut self) -> bool {
        loop {
            let now = now();
            if self.session.take_close_transport() {
                self.drop_conn();
                self.connecting = None;
            }
            if self.session.poll_connect(now) {
                let host = self.hosts.next();
                debug!(%host, "connecting");
                self.session.set_peer(host.to_string());
                self.connecting = Some((self.connector)(host));
            }
            self.deliver_events(now);
            let Some(buf) = self.session.poll_transmit(now) else {
                break;
            };
            let Some(conn) = self.conn.as_mut() else {
                // Nothing to write to: the session re-sends what matters after the next
                // handshake.
                continue;
            };
            // Taken after `poll_transmit`: the deadline of held-back requests is gone.
            let deadline = self
                .session
                .poll_timeout()
                .map(tokio::time::Instant::from_std)
                .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(10));
            let write = async {
                conn.write_all(&buf).await?;
                conn.flush().await
            };
            match tokio::time::timeout_at(deadline, write).await {
                Ok(Ok(())) => {
                    self.bytes_sent += buf.len() as u64;
                    self.metrics.sent(buf.len());
                    let coalesced = self.session.stats().coalesced_reads;
                    if coalesced > self.coalesced_reported {
                        crate::metrics::coalesced_reads(coalesced - self.coalesced_reported);
                        self.coalesced_reported = coalesced;
                    }
                }
                Ok(Err(e)) => {
                    self.drop_conn();
                    self.session.on_transport_closed(now, Error::io(&e));
                }
                Err(_) => {
                    self.drop_conn();
                    self.session.on_transport_closed(now, Error::ConnectionLoss);
                }
            }
        }
        self.publish();
        for (reply, moved) in self.update_replies.drain(..) {
            let _ = reply.send(moved);
        }
        self.update_probe();
        let state = self.session.state();
        if state.is_terminal() || (self.handles_gone && state == SessionState::Expired) {
            for done in self.close_waiters.drain(..) {
                let _ = done.send(());
            }
            // Keep answering handles that still exist, with the terminal error.
            if self.handles_gone {
                return true;
            }
        }
        false
    }

    async fn wait(&mut self) -> Wake {
        let deadline = self
            .session
            .poll_timeout()
            .map(tokio::time::Instant::from_std);
        match (deadline, self.timer.armed) {
            (Some(d), Some(armed)) if armed <= d => {}
            (Some(d), _) => {
                match &mut self.timer.sleep {
                    Some(sleep) => sleep.as_mut().reset(d),
                    None => self.timer.sleep = Some(Box::pin(tokio::time::sleep_until(d))),
                }
                self.timer.armed = Some(d);
            }
            (None, _) => self.timer.armed = None,
        }
        let timer_armed = self.timer.armed.is_some();
        let timer = &mut self.timer.sleep;
        let session = &mut self.session;
        let conn = &mut self.conn;
        let connecting = &mut self.connecting;
        let rx = &mut self.rx;
        let rx_open = !self.handles_gone;
        let probe_at = self.probe.next_at;
        let probe = &mut self.probe.running;
        let sasl = &mut self.sasl.running;
        tokio::select! {
            done = async { (&mut sasl.as_mut().expect("guarded by the select condition").1).await },
                if sasl.is_some() => Wake::Sasl(done),
            found = async { probe.as_mut().expect("guarded by the select condition").await },
                if probe.is_some() => Wake::Probe(found),
            _ = async {
                match probe_at {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            } => Wake::ProbeDue,
            cmd = rx.recv(), if rx_open => Wake::Command(cmd),
            res = async { connecting.as_mut().expect("guarded by the select condition").await },
                if connecting.is_some() => Wake::Connected(res),
            res = async { conn.as_mut().expect("guarded by the select condition").read_buf(session.read_buf()).await },
                if conn.is_some() => Wake::Read(res),
            _ = async { timer.as_mut().expect("guarded by the select condition").as_mut().await },
                if timer_armed => Wake::Timer,
        }
    }

    /// Hands the session's events over; `now` is when their cause (a read, a timeout)
    /// was handled, the end of a request's latency.
    fn deliver_events(&mut self, now: Instant) {
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Reply(mut tx, result) => {
                    if let Some(trace) = tx.trace.take() {
                        let session_id = self.session.session_id();
                        trace.finish(result.as_ref().err(), now, session_id, &mut self.metrics);
                    }
                    if let Some((slot, op, kind)) = tx.watch {
                        if watch_set_by(op, kind, &result).is_none() {
                            self.slots.oneshot.release(slot);
                        }
                    }
                    let _ = tx.tx.send(result);
                }
                Event::Oneshot(slot, ev) => {
                    if ev.event_type != EventType::None {
                        self.metrics.watch_event();
                    }
                    self.slots.oneshot.fire(slot, strip_event(&self.chroot, ev))
                }
                Event::Stream(slot, ev) => {
                    if ev.event_type != EventType::None {
                        self.metrics.watch_event();
                    }
                    self.slots
                        .streams
                        .slots
                        .push(slot, strip_event(&self.chroot, ev))
                }
                Event::StreamEnded(slot) => self.slots.streams.slots.release(slot),
                Event::State(state, cause) => {
                    self.metrics.state(state, &cause);
                    if let StateCause::AuthRejected(why) = &cause {
                        // A poisoned lock only means a reader panicked; the data is plain.
                        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
                        shared.auth_failure = Some(why.clone());
                    }
                    // Whoever wakes on the change reads the session id, server and
                    // counters next: they must already be current.
                    self.publish();
                    let _ = self.state_tx.send(state);
                    let _ = self.events_tx.send(SessionEvent::State(state, cause));
                }
                Event::Sasl { round, input } => self.sasl_step(round, input),
                Event::NewSession { session_id } => {
                    self.metrics.new_session();
                    tracing::Span::current().record(
                        "session_id",
                        tracing::field::display(format_args!("{session_id:#x}")),
                    );
                    self.publish();
                    let _ = self.events_tx.send(SessionEvent::NewSession { session_id });
                }
            }
        }
    }

    /// Starts the blocking computation of the next SASL token of exchange `round`.
    fn sasl_step(&mut self, round: u64, input: SaslInput) {
        let exchange = match (&input, self.sasl.idle.take()) {
            (SaslInput::Start, _) => {
                // A new connection: a new exchange; a step still running for an earlier one
                // finishes unheard.
                self.sasl.running = None;
                let host = self
                    .connected_host
                    .as_ref()
                    .map(|h| h.host.clone())
                    .unwrap_or_default();
                self.sasl.mechanism.as_ref().map(|m| m.exchange(&host))
            }
            (SaslInput::Server(_), Some((r, exchange))) if r == round => Some(exchange),
            (SaslInput::Server(_), _) => None,
        };
        let Some(mut exchange) = exchange else {
            let why = if self.sasl.mechanism.is_none() {
                "no SASL mechanism is configured"
            } else {
                "a server SASL token for an exchange that is not under way"
            };
            self.session.sasl_step(now(), round, Err(why.into()));
            return;
        };
        // In the session's span, so that what the mechanism logs names the session.
        let span = tracing::Span::current();
        let task = tokio::task::spawn_blocking(move || {
            let step = span.in_scope(|| exchange.step(input));
            (exchange, step)
        });
        self.sasl.running = Some((round, task));
    }

    fn publish(&mut self) {
        self.metrics.watches(self.session.watch_count());
        // A poisoned lock only means a reader panicked; the data is plain values.
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        let failure = self.session.connect_failure();
        let failure_changed = shared.connect_failure.as_ref() != failure;
        if failure_changed {
            shared.connect_failure = failure.cloned();
        }
        shared.heard_at = self.session.heard_at();
        shared.state = self.session.state();
        shared.session_id = self.session.session_id();
        if shared.password != self.session.password() {
            shared.password = self.session.password().to_vec();
        }
        shared.timeout = self.session.negotiated_timeout();
        shared.stats = self.session.stats();
        shared.watches = self.session.watch_count();
        shared.server.clone_from(&self.server);
        match self.session.last_failure() {
            // A refusal is kept as `NoHosts(why)`: `why` is the reason, with the server.
            Some(Error::NoHosts(why)) => shared.last_error = Some(why.clone()),
            Some(failure) => shared.last_error = Some(failure.to_string()),
            None => shared.last_error.clone_from(&self.last_error),
        }
        shared.last_zxid = self.session.last_zxid();
        shared.bytes_sent = self.bytes_sent;
        shared.bytes_received = self.bytes_received;
        drop(shared);
        if failure_changed {
            // Whoever waits for a state (`connect()`) also wants to know this; notified
            // without the lock held, as the waiters read it while they look at the state.
            self.state_tx.send_modify(|_| {});
        }
    }
}
