//! A fault-injecting TCP proxy for ZooKeeper client connections.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

const BUF_SIZE: usize = 64 * 1024;
/// Upper bound for [`FaultProxy::cut_rst`] / [`FaultProxy::cut_fin`] waiting for the
/// connections to be gone (they normally go within microseconds).
const CUT_WAIT: Duration = Duration::from_secs(5);

/// A TCP proxy on `127.0.0.1` that forwards to a ZooKeeper server and injects network faults.
///
/// Every accepted connection opens its own connection to the upstream server and bytes are
/// forwarded both ways (half-closes are passed on). The controls act on the connections that
/// are open when they are called; [`stall`](Self::stall), [`blackhole`](Self::blackhole),
/// [`refuse`](Self::refuse), [`set_upstream`](Self::set_upstream) and
/// [`cut_after_requests`](Self::cut_after_requests) also affect connections accepted later.
///
/// The proxy runs as tokio tasks on the runtime that called [`start`](Self::start); dropping
/// the `FaultProxy` stops them and closes every socket. IO errors never panic: a connection
/// whose socket fails is closed with RST on both sides.
///
/// ```no_run
/// # async fn demo(upstream: std::net::SocketAddr) -> std::io::Result<()> {
/// use aiozk_testkit::FaultProxy;
///
/// let proxy = FaultProxy::start(upstream).await?;
/// let connect_string = proxy.addr().to_string(); // give this to the client
/// // ... the client connects ...
/// proxy.cut_rst().await; // the client sees "connection reset"
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Modes and cut requests, observed by every connection task. Only modified while
    /// `state` is locked, so that a connection registers with a consistent snapshot.
    control: watch::Sender<Control>,
    /// Bumped whenever a connection goes away; lets cuts wait for their victims.
    closed: watch::Sender<u64>,
    accepted: AtomicU64,
    /// Fast check for `State::arm.is_some()`.
    armed: AtomicBool,
}

#[derive(Debug)]
struct State {
    upstream: SocketAddr,
    refuse: bool,
    next_id: u64,
    /// Open connections: id → number of client→server frames after the ConnectRequest.
    conns: HashMap<u64, Arc<AtomicU64>>,
    arm: Option<Arm>,
}

#[derive(Debug)]
struct Arm {
    n: u64,
    /// Frame counts of the connections that were open when armed; others start at 0.
    bases: HashMap<u64, u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CutKind {
    Rst,
    Fin,
}

#[derive(Clone, Copy, Debug)]
struct Control {
    stalled: bool,
    blackhole: bool,
    /// Incremented by every cut; a connection is cut when this exceeds its value at accept.
    cut_epoch: u64,
    cut_kind: CutKind,
}

/// What a connection saw of [`Control`] when it was accepted.
#[derive(Clone, Copy, Debug)]
struct Birth {
    cut_epoch: u64,
    blackholed: bool,
}

/// How a connection ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Rst,
    Fin,
    /// Both sides closed (or the proxy is going away): just drop the sockets.
    Closed,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Called with the running count of post-connect frames of connection `id`; true when the
    /// armed cut fires for this frame (and it is now disarmed).
    fn try_fire(&self, id: u64, count: u64) -> bool {
        if !self.armed.load(Ordering::Acquire) {
            return false;
        }
        let mut st = self.lock();
        let fire = st.arm.as_ref().is_some_and(|arm| {
            let base = arm.bases.get(&id).copied().unwrap_or(0);
            count.saturating_sub(base) >= arm.n
        });
        if fire {
            st.arm = None;
            self.armed.store(false, Ordering::Release);
        }
        fire
    }
}

/// Removes the connection from the registry when its task ends (or is aborted).
struct Registration {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.shared.lock().conns.remove(&self.id);
        self.shared.closed.send_modify(|n| *n += 1);
    }
}

impl FaultProxy {
    /// Starts a proxy listening on `127.0.0.1:0` that forwards to `upstream`. Must be called
    /// within a tokio runtime with IO and time enabled (as in `#[tokio::test]`).
    ///
    /// # Errors
    ///
    /// Binding the listening socket failed.
    pub async fn start(upstream: SocketAddr) -> io::Result<FaultProxy> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let (control, _) = watch::channel(Control {
            stalled: false,
            blackhole: false,
            cut_epoch: 0,
            cut_kind: CutKind::Rst,
        });
        let (closed, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                upstream,
                refuse: false,
                next_id: 0,
                conns: HashMap::new(),
                arm: None,
            }),
            control,
            closed,
            accepted: AtomicU64::new(0),
            armed: AtomicBool::new(false),
        });
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(FaultProxy { addr, shared, task })
    }

    /// The address clients should connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server new connections are forwarded to.
    pub fn upstream(&self) -> SocketAddr {
        self.shared.lock().upstream
    }

    /// Forwards connections accepted from now on to `upstream`; open ones keep their server.
    pub fn set_upstream(&self, upstream: SocketAddr) {
        self.shared.lock().upstream = upstream;
    }

    /// Number of connections open right now (including black-holed ones, excluding refused
    /// ones).
    pub fn connections(&self) -> usize {
        self.shared.lock().conns.len()
    }

    /// Total number of connections accepted since the start (including refused and
    /// black-holed ones).
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Acquire)
    }

    /// Closes every open connection with a TCP RST on both sides (SO_LINGER 0, then close):
    /// the client sees "connection reset by peer". Returns once those connections are closed.
    /// Connections accepted afterwards are not affected.
    pub async fn cut_rst(&self) {
        self.cut(CutKind::Rst).await;
    }

    /// Closes every open connection with a normal FIN on both sides (shutdown, then close):
    /// the client reads end of stream. Returns once those connections are closed. Connections
    /// accepted afterwards are not affected.
    pub async fn cut_fin(&self) {
        self.cut(CutKind::Fin).await;
    }

    async fn cut(&self, kind: CutKind) {
        let mut closed = self.shared.closed.subscribe();
        let victims: HashSet<u64> = {
            let st = self.shared.lock();
            self.shared.control.send_modify(|c| {
                c.cut_epoch += 1;
                c.cut_kind = kind;
            });
            st.conns.keys().copied().collect()
        };
        let gone = closed.wait_for(|_| {
            let st = self.shared.lock();
            victims.iter().all(|id| !st.conns.contains_key(id))
        });
        let _ = tokio::time::timeout(CUT_WAIT, gone).await;
    }

    /// Stops forwarding in both directions on every connection, open or new: the proxy stops
    /// reading from the sockets (so nothing new is buffered) and keeps them open. New
    /// connections are still accepted and connected upstream. Undo with
    /// [`resume`](Self::resume).
    pub fn stall(&self) {
        let _st = self.shared.lock();
        self.shared.control.send_modify(|c| c.stalled = true);
    }

    /// Undoes [`stall`](Self::stall): forwarding continues where it stopped.
    pub fn resume(&self) {
        let _st = self.shared.lock();
        self.shared.control.send_modify(|c| c.stalled = false);
    }

    /// Whether [`stall`](Self::stall) is in effect.
    pub fn is_stalled(&self) -> bool {
        self.shared.control.borrow().stalled
    }

    /// Turns the black hole on or off.
    ///
    /// While on, open connections stop forwarding (as with [`stall`](Self::stall)), and new
    /// connections are accepted but never connected upstream: whatever the client sends is
    /// read and discarded and nothing ever comes back, like a server that hangs.
    ///
    /// When turned off, new connections are forwarded normally again; connections accepted
    /// during the black hole are closed with RST (they have no server behind them), and
    /// connections that were open before it resume forwarding (unless stalled).
    pub fn blackhole(&self, on: bool) {
        let _st = self.shared.lock();
        self.shared.control.send_modify(|c| c.blackhole = on);
    }

    /// Whether the black hole is on.
    pub fn is_blackholed(&self) -> bool {
        self.shared.control.borrow().blackhole
    }

    /// While on, every new connection is closed with RST right after it is accepted (the
    /// client's connect succeeds, then its first read or write fails with "connection
    /// reset"). Open connections are not affected.
    pub fn refuse(&self, on: bool) {
        self.shared.lock().refuse = on;
    }

    /// Whether [`refuse`](Self::refuse) is on.
    pub fn is_refusing(&self) -> bool {
        self.shared.lock().refuse
    }

    /// Arms a one-shot cut: the first connection (open now or accepted later) that sends its
    /// `n`-th ZooKeeper request frame from now on gets that frame forwarded to the server and
    /// is then closed with RST on both sides; the client never sees the reply.
    ///
    /// Frames are counted client→server (4-byte big-endian length, then the payload). The
    /// first frame of a connection is the ConnectRequest and is not counted; for connections
    /// already open, only frames sent after this call count. Pings and every other request
    /// count. `n == 0` is treated as 1. After it fires the cut is disarmed; calling this again
    /// re-arms it (replacing an earlier arming).
    pub fn cut_after_requests(&self, n: u64) {
        let mut st = self.shared.lock();
        let bases = st
            .conns
            .iter()
            .map(|(&id, count)| (id, count.load(Ordering::Acquire)))
            .collect();
        st.arm = Some(Arm { n: n.max(1), bases });
        self.shared.armed.store(true, Ordering::Release);
    }

    /// Disarms [`cut_after_requests`](Self::cut_after_requests) if it has not fired yet.
    pub fn cancel_cut_after_requests(&self) {
        let mut st = self.shared.lock();
        st.arm = None;
        self.shared.armed.store(false, Ordering::Release);
    }

    /// Whether a [`cut_after_requests`](Self::cut_after_requests) is armed and has not fired.
    pub fn cut_after_requests_armed(&self) -> bool {
        self.shared.armed.load(Ordering::Acquire)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Aborting the accept task drops its JoinSet, which aborts every connection task; their
        // sockets are closed as the tasks are dropped.
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    shared.accepted.fetch_add(1, Ordering::AcqRel);
                    if let Some(conn) = register(&shared, client) {
                        tasks.spawn(conn.run());
                    }
                }
                // Typically EMFILE; back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
}

/// A connection that was accepted and not refused.
struct Conn {
    reg: Registration,
    frames: Arc<AtomicU64>,
    client: TcpStream,
    upstream: SocketAddr,
    birth: Birth,
    control: watch::Receiver<Control>,
}

fn register(shared: &Arc<Shared>, client: TcpStream) -> Option<Conn> {
    let mut st = shared.lock();
    if st.refuse {
        drop(st);
        let _ = client.set_zero_linger();
        return None;
    }
    let _ = client.set_nodelay(true);
    let id = st.next_id;
    st.next_id += 1;
    let frames = Arc::new(AtomicU64::new(0));
    st.conns.insert(id, Arc::clone(&frames));
    let control = shared.control.subscribe();
    let now = *control.borrow();
    Some(Conn {
        reg: Registration {
            shared: Arc::clone(shared),
            id,
        },
        frames,
        client,
        upstream: st.upstream,
        birth: Birth {
            cut_epoch: now.cut_epoch,
            blackholed: now.blackhole,
        },
        control,
    })
}

/// Splits the client→server byte stream into ZooKeeper frames.
#[derive(Debug, Default)]
struct FrameScanner {
    header: [u8; 4],
    header_len: usize,
    remaining: u64,
    /// Complete frames seen, the ConnectRequest included.
    frames: u64,
}

impl FrameScanner {
    /// Consumes `data` up to the end of the next complete frame and returns how many bytes
    /// that was, or `None` when all of `data` was consumed without completing a frame.
    fn next_frame_end(&mut self, data: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < data.len() {
            if self.header_len < 4 {
                self.header[self.header_len] = data[i];
                self.header_len += 1;
                i += 1;
                if self.header_len == 4 {
                    // A negative length is nonsense; treating it as huge is harmless.
                    self.remaining = u64::from(u32::from_be_bytes(self.header));
                }
            } else {
                let take = usize::try_from(self.remaining)
                    .unwrap_or(usize::MAX)
                    .min(data.len() - i);
                i += take;
                self.remaining -= take as u64;
            }
            if self.header_len == 4 && self.remaining == 0 {
                self.header_len = 0;
                self.frames += 1;
                return Some(i);
            }
        }
        None
    }
}

impl Conn {
    fn check(&self, c: &Control) -> Option<End> {
        if c.cut_epoch > self.birth.cut_epoch {
            return Some(match c.cut_kind {
                CutKind::Rst => End::Rst,
                CutKind::Fin => End::Fin,
            });
        }
        if self.birth.blackholed && !c.blackhole {
            return Some(End::Rst);
        }
        None
    }

    async fn run(mut self) {
        let mut upstream = None;
        let end = self.serve(&mut upstream).await;
        let sockets = std::iter::once(&mut self.client).chain(upstream.as_mut());
        match end {
            End::Rst => {
                for s in sockets {
                    let _ = s.set_zero_linger();
                }
            }
            End::Fin => {
                for s in sockets {
                    let _ = s.shutdown().await;
                }
            }
            End::Closed => {}
        }
        drop(upstream);
        drop(self.client);
        drop(self.reg);
    }

    async fn serve(&mut self, upstream_slot: &mut Option<TcpStream>) -> End {
        if self.birth.blackholed {
            return self.swallow().await;
        }
        // Connect upstream, giving up when cut meanwhile.
        let connect = TcpStream::connect(self.upstream);
        tokio::pin!(connect);
        let upstream = loop {
            let c = *self.control.borrow_and_update();
            if let Some(end) = self.check(&c) {
                return end;
            }
            tokio::select! {
                changed = self.control.changed() => {
                    if changed.is_err() {
                        return End::Closed;
                    }
                }
                // The server is down: the client sees a reset, as with a real refusal.
                result = &mut connect => match result {
                    Ok(s) => break s,
                    Err(_) => return End::Rst,
                },
            }
        };
        let _ = upstream.set_nodelay(true);
        let upstream = upstream_slot.insert(upstream);
        self.forward(upstream).await
    }

    /// A connection born in the black hole: read and discard until it is cut or closed.
    async fn swallow(&mut self) -> End {
        let mut buf = vec![0u8; BUF_SIZE];
        loop {
            let c = *self.control.borrow_and_update();
            if let Some(end) = self.check(&c) {
                return end;
            }
            tokio::select! {
                changed = self.control.changed() => {
                    if changed.is_err() {
                        return End::Closed;
                    }
                }
                read = self.client.read(&mut buf) => match read {
                    Ok(0) | Err(_) => return End::Closed,
                    Ok(_) => {}
                },
            }
        }
    }

    async fn forward(&mut self, upstream: &mut TcpStream) -> End {
        let shared = Arc::clone(&self.reg.shared);
        let id = self.reg.id;
        let frames = Arc::clone(&self.frames);
        let birth = self.birth;
        let mut scanner = FrameScanner::default();
        let (mut cr, mut cw) = self.client.split();
        let (mut ur, mut uw) = upstream.split();
        let mut cbuf = vec![0u8; BUF_SIZE];
        let mut ubuf = vec![0u8; BUF_SIZE];
        // Bytes read but not yet written, per direction.
        let mut c2u: Vec<u8> = Vec::new();
        let mut c2u_pos = 0;
        let mut u2c: Vec<u8> = Vec::new();
        let mut u2c_pos = 0;
        let (mut client_eof, mut upstream_eof) = (false, false);
        let (mut c2u_shut, mut u2c_shut) = (false, false);
        let mut cut_when_flushed = false;
        let control = &mut self.control;
        loop {
            let c = *control.borrow_and_update();
            if c.cut_epoch > birth.cut_epoch {
                return match c.cut_kind {
                    CutKind::Rst => End::Rst,
                    CutKind::Fin => End::Fin,
                };
            }
            let paused = c.stalled || c.blackhole;
            let c2u_busy = c2u_pos < c2u.len();
            let u2c_busy = u2c_pos < u2c.len();
            if !paused {
                if client_eof && !c2u_busy && !c2u_shut {
                    let _ = uw.shutdown().await;
                    c2u_shut = true;
                }
                if upstream_eof && !u2c_busy && !u2c_shut {
                    let _ = cw.shutdown().await;
                    u2c_shut = true;
                }
            }
            if c2u_shut && u2c_shut {
                return End::Closed;
            }
            tokio::select! {
                biased;
                changed = control.changed() => {
                    if changed.is_err() {
                        return End::Closed;
                    }
                }
                written = uw.write(&c2u[c2u_pos..]), if !paused && c2u_busy => match written {
                    Ok(0) | Err(_) => return End::Rst,
                    Ok(k) => {
                        c2u_pos += k;
                        if c2u_pos == c2u.len() {
                            c2u.clear();
                            c2u_pos = 0;
                            if cut_when_flushed {
                                return End::Rst;
                            }
                        }
                    }
                },
                written = cw.write(&u2c[u2c_pos..]), if !paused && u2c_busy => match written {
                    Ok(0) | Err(_) => return End::Rst,
                    Ok(k) => {
                        u2c_pos += k;
                        if u2c_pos == u2c.len() {
                            u2c.clear();
                            u2c_pos = 0;
                        }
                    }
                },
                read = cr.read(&mut cbuf), if !paused && !c2u_busy && !client_eof && !cut_when_flushed => {
                    match read {
                        Ok(0) => client_eof = true,
                        Ok(k) => {
                            let mut take = k;
                            let mut offset = 0;
                            while let Some(end) = scanner.next_frame_end(&cbuf[offset..k]) {
                                offset += end;
                                if scanner.frames >= 2 {
                                    let count = frames.fetch_add(1, Ordering::AcqRel) + 1;
                                    if shared.try_fire(id, count) {
                                        take = offset;
                                        cut_when_flushed = true;
                                        break;
                                    }
                                }
                            }
                            c2u.extend_from_slice(&cbuf[..take]);
                        }
                        Err(_) => return End::Rst,
                    }
                },
                read = ur.read(&mut ubuf), if !paused && !u2c_busy && !upstream_eof => match read {
                    Ok(0) => upstream_eof = true,
                    Ok(k) => u2c.extend_from_slice(&ubuf[..k]),
                    Err(_) => return End::Rst,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FrameScanner;

    #[test]
    fn scanner_finds_frame_ends_across_chunks() {
        let mut s = FrameScanner::default();
        // Two frames: 3-byte payload, then a 0-byte payload, then half a header.
        let data = [0, 0, 0, 3, 1, 2, 3, 0, 0, 0, 0, 0, 0];
        assert_eq!(s.next_frame_end(&data), Some(7));
        assert_eq!(s.next_frame_end(&data[7..]), Some(4));
        assert_eq!(s.next_frame_end(&data[11..]), None);
        assert_eq!(s.frames, 2);
        // Rest of the header (length 2) and the payload in two pieces.
        assert_eq!(s.next_frame_end(&[0, 2, 9]), None);
        assert_eq!(s.next_frame_end(&[9, 0xff]), Some(1));
        assert_eq!(s.frames, 3);
    }
}
