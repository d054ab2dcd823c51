//! The harness of the session tests.
//!
//! [`Pair`] plays the driver and a scripted server: it feeds server frames into the session,
//! decodes every frame the session transmits, opens connections when asked (or refuses them,
//! or lets them hang) and runs a simulated clock. Nothing sleeps and nothing touches a socket.
//! Below it: the frames a server sends, the requests a client submits, decoders of what the
//! session wrote, and steps on a connected pair. The test files take it all with a glob
//! import, with the names the harness itself imports.

pub(super) use std::collections::HashMap;
pub(super) use std::time::{Duration, Instant};

pub(super) use aiozk_proto::codec::{
    read_bool, read_buffer, read_i32, read_i64, read_string_vec, read_ustring, write_buffer,
    write_string_vec,
};
pub(super) use aiozk_proto::consts::{xid, DEFAULT_MAX_FRAME, PASSWORD_LEN};
pub(super) use aiozk_proto::{
    frame, AddWatchMode, Encode, EventType, OpCode, ReplyHeader, Request, Response, Stat,
    WatcherEvent,
};
pub(super) use bytes::{BufMut, Bytes, BytesMut};

pub(super) use super::super::fuzzing::Numbers as TestTokens;
pub(super) use super::super::{
    Event, EventKind, Outgoing, SaslInput, SaslStep, Session, SessionConfig, SessionState,
    StateCause, WatchKind, WatchRequest, WatchedEvent, DEFAULT_MAX_WRITE_DELAY,
    SET_WATCHES_BATCH_BYTES, WRITE_BATCH_MIN_IN_FLIGHT,
};
pub(super) use crate::error::Error;

/// An [`Event`] that can be compared with `assert_eq!`.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Ev {
    Reply(u32, Result<Response, Error>),
    Oneshot(u32, WatchedEvent),
    Stream(u32, WatchedEvent),
    StreamEnded(u32),
    State(SessionState, StateCause),
    NewSession(i64),
    Sasl(u64, SaslInput),
}

impl From<Event<TestTokens>> for Ev {
    fn from(e: Event<TestTokens>) -> Self {
        match e {
            Event::Reply(t, r) => Self::Reply(t, r),
            Event::Oneshot(t, w) => Self::Oneshot(t, w),
            Event::Stream(t, w) => Self::Stream(t, w),
            Event::StreamEnded(t) => Self::StreamEnded(t),
            Event::State(s, c) => Self::State(s, c),
            Event::NewSession { session_id } => Self::NewSession(session_id),
            Event::Sasl { round, input } => Self::Sasl(round, input),
        }
    }
}

/// The decoded fields of a ConnectRequest frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ConnectReq {
    /// Payload length (without the 4-byte length prefix).
    pub(super) len: usize,
    pub(super) protocol_version: i32,
    pub(super) last_zxid_seen: i64,
    pub(super) timeout_ms: i32,
    pub(super) session_id: i64,
    pub(super) password: Vec<u8>,
    pub(super) read_only: bool,
}

/// A request frame after the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Req {
    pub(super) xid: i32,
    pub(super) op: i32,
    pub(super) body: Bytes,
}

/// One frame the client wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Sent {
    Connect(ConnectReq),
    Req(Req),
}

/// What the simulated network does when the session asks for a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dial {
    /// The connection opens at once.
    Accept,
    /// The connection fails at once.
    Refuse,
    /// Nothing ever happens (a black-holed SYN).
    Hang,
}

pub(super) struct Pair {
    pub(super) s: Session<TestTokens>,
    pub(super) base: Instant,
    pub(super) offset: Duration,
    pub(super) dial: Dial,
    /// The next frame written is a ConnectRequest (a connection just opened).
    pub(super) expect_connect: bool,
    pub(super) sent: Vec<Sent>,
    pub(super) events: Vec<Ev>,
    /// Clock offsets of every connection attempt (`poll_connect` returned true).
    pub(super) attempts: Vec<Duration>,
    /// Clock offsets of every `take_close_transport` that returned true.
    pub(super) closes: Vec<Duration>,
    /// How many times `poll_transmit` handed over bytes.
    pub(super) writes: usize,
}

pub(super) const SID: i64 = 0x0102_0304_0506_0708;
pub(super) const SID2: i64 = 0x0a0b_0c0d_0e0f_0001;
pub(super) const PW: [u8; PASSWORD_LEN] = [7; PASSWORD_LEN];
pub(super) const PW2: [u8; PASSWORD_LEN] = [9; PASSWORD_LEN];

pub(super) fn config() -> SessionConfig {
    SessionConfig {
        session_timeout: Duration::from_secs(30),
        ..SessionConfig::default()
    }
}

pub(super) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

impl Pair {
    pub(super) fn new(config: SessionConfig) -> Self {
        Self::with_dial(config, Dial::Accept)
    }

    pub(super) fn with_dial(config: SessionConfig, dial: Dial) -> Self {
        let base = Instant::now();
        let mut p = Self {
            s: Session::new(config, base),
            base,
            offset: Duration::ZERO,
            dial,
            expect_connect: false,
            sent: Vec::new(),
            events: Vec::new(),
            attempts: Vec::new(),
            closes: Vec::new(),
            writes: 0,
        };
        p.drive();
        p
    }

    /// A session connected to a read-write server with session `SID`.
    pub(super) fn connected(config: SessionConfig, timeout_ms: i32) -> Self {
        let mut p = Self::new(config);
        assert_eq!(p.connect_req().session_id, 0);
        p.accept(SID, timeout_ms, false);
        assert_eq!(
            p.take_events(),
            vec![
                Ev::NewSession(SID),
                Ev::State(SessionState::Connected, StateCause::Handshake)
            ]
        );
        p
    }

    pub(super) fn now(&self) -> Instant {
        self.base + self.offset
    }

    /// Does what a driver does after every input: drains every output.
    pub(super) fn drive(&mut self) {
        for _ in 0..1000 {
            let mut busy = false;
            if let Some(bytes) = self.s.poll_transmit(self.now()) {
                self.writes += 1;
                self.collect(bytes);
                busy = true;
            }
            if self.s.take_close_transport() {
                self.closes.push(self.offset);
                busy = true;
            }
            let now = self.now();
            if self.s.poll_connect(now) {
                self.attempts.push(self.offset);
                busy = true;
                match self.dial {
                    Dial::Accept => {
                        self.s.on_transport_connected(now);
                        self.expect_connect = true;
                    }
                    Dial::Refuse => self
                        .s
                        .on_transport_closed(now, Error::Io("connection refused".into())),
                    Dial::Hang => {}
                }
            }
            while let Some(e) = self.s.poll_event() {
                self.events.push(e.into());
                busy = true;
            }
            if !busy {
                return;
            }
        }
        panic!("drive() did not settle: the session keeps producing output");
    }

    pub(super) fn collect(&mut self, bytes: BytesMut) {
        let mut buf = bytes;
        while let Some(mut f) = frame::split_frame(&mut buf, usize::MAX).unwrap() {
            assert!(
                f.len() <= DEFAULT_MAX_FRAME,
                "client frame of {} bytes exceeds the server limit",
                f.len()
            );
            if std::mem::take(&mut self.expect_connect) {
                let len = f.len();
                let c = ConnectReq {
                    len,
                    protocol_version: read_i32(&mut f, "protocol version").unwrap(),
                    last_zxid_seen: read_i64(&mut f, "last zxid").unwrap(),
                    timeout_ms: read_i32(&mut f, "timeout").unwrap(),
                    session_id: read_i64(&mut f, "session id").unwrap(),
                    password: read_buffer(&mut f, "password").unwrap().unwrap().to_vec(),
                    read_only: read_bool(&mut f, "read only").unwrap(),
                };
                assert!(f.is_empty(), "bytes after the ConnectRequest");
                self.sent.push(Sent::Connect(c));
            } else {
                let xid = read_i32(&mut f, "xid").unwrap();
                let op = read_i32(&mut f, "op").unwrap();
                self.sent.push(Sent::Req(Req { xid, op, body: f }));
            }
        }
        assert!(buf.is_empty(), "the client wrote a partial frame");
    }

    pub(super) fn take_sent(&mut self) -> Vec<Sent> {
        std::mem::take(&mut self.sent)
    }

    pub(super) fn take_events(&mut self) -> Vec<Ev> {
        std::mem::take(&mut self.events)
    }

    /// Every frame written since the last call; all must be requests.
    pub(super) fn requests(&mut self) -> Vec<Req> {
        self.take_sent()
            .into_iter()
            .map(|s| match s {
                Sent::Req(r) => r,
                Sent::Connect(c) => panic!("unexpected ConnectRequest {c:?}"),
            })
            .collect()
    }

    /// The one request written since the last call.
    pub(super) fn one_request(&mut self) -> Req {
        let mut reqs = self.requests();
        assert_eq!(reqs.len(), 1, "expected one request, got {reqs:?}");
        reqs.pop().unwrap()
    }

    /// The one ConnectRequest written since the last call.
    pub(super) fn connect_req(&mut self) -> ConnectReq {
        let mut sent = self.take_sent();
        assert_eq!(sent.len(), 1, "expected one ConnectRequest, got {sent:?}");
        match sent.pop().unwrap() {
            Sent::Connect(c) => c,
            Sent::Req(r) => panic!("expected a ConnectRequest, got {r:?}"),
        }
    }

    /// Runs the clock until the session opens a connection and writes its ConnectRequest.
    pub(super) fn next_connect_req(&mut self) -> ConnectReq {
        for _ in 0..1000 {
            if !self.sent.is_empty() {
                return self.connect_req();
            }
            let deadline = self
                .s
                .poll_timeout()
                .expect("no deadline while waiting to reconnect");
            let target = deadline.max(self.now());
            self.run_until(target);
        }
        panic!("no ConnectRequest was written");
    }

    // ---------------------------------------------------------------- clock

    /// Moves the clock to `target`, calling `handle_timeout` at every deadline on the way.
    pub(super) fn run_until(&mut self, target: Instant) {
        assert!(target >= self.now(), "the clock never goes back");
        for _ in 0..100_000 {
            let Some(deadline) = self.s.poll_timeout() else {
                break;
            };
            if deadline > target {
                break;
            }
            if deadline > self.now() {
                self.offset = deadline - self.base;
            }
            let now = self.now();
            self.s.handle_timeout(now);
            self.drive();
            if let Some(next) = self.s.poll_timeout() {
                assert!(
                    next > now,
                    "poll_timeout is still {:?} after handle_timeout at {:?}: a driver would spin",
                    next - self.base,
                    now - self.base
                );
            }
        }
        self.offset = target - self.base;
        self.drive();
    }

    pub(super) fn run_for(&mut self, d: Duration) {
        let target = self.now() + d;
        self.run_until(target);
    }

    // ---------------------------------------------------------------- inputs

    pub(super) fn submit(&mut self, req: Outgoing<TestTokens>) {
        let now = self.now();
        self.s.submit(now, req);
        self.drive();
    }

    pub(super) fn add_auth(&mut self, scheme: &str, auth: &[u8], token: u32) {
        let now = self.now();
        self.s.add_auth(now, scheme, auth, token);
        self.drive();
    }

    pub(super) fn add_persistent(
        &mut self,
        path: &str,
        mode: AddWatchMode,
        stream: u32,
        reply: u32,
    ) {
        let now = self.now();
        self.s
            .add_persistent(now, path.to_owned(), mode, stream, reply, None);
        self.drive();
    }

    pub(super) fn remove_persistent(&mut self, stream: u32) {
        let now = self.now();
        self.s.remove_persistent(now, stream);
        self.drive();
    }

    pub(super) fn close(&mut self) {
        let now = self.now();
        self.s.close(now);
        self.drive();
    }

    /// The server (or the network) closed the connection.
    pub(super) fn transport_closed(&mut self) {
        let now = self.now();
        self.s
            .on_transport_closed(now, Error::Io("connection reset".into()));
        self.drive();
    }

    /// Bytes from the server.
    pub(super) fn feed(&mut self, bytes: &[u8]) {
        let now = self.now();
        self.s.read_buf().extend_from_slice(bytes);
        self.s.handle_read(now);
        self.drive();
    }

    /// A ConnectResponse with the session password derived from the id.
    pub(super) fn accept(&mut self, session_id: i64, timeout_ms: i32, read_only: bool) {
        let pw = if session_id == SID2 { PW2 } else { PW };
        self.feed(&connect_response(
            timeout_ms,
            session_id,
            &pw,
            Some(read_only),
        ));
    }

    pub(super) fn reply(&mut self, xid: i32, zxid: i64, err: i32, body: &[u8]) {
        self.feed(&reply_frame(xid, zxid, err, body));
    }

    pub(super) fn notify(&mut self, event_type: EventType, path: &str) {
        self.feed(&notification(-1, event_type, path));
    }
}

// ------------------------------------------------------------------------------ server frames

pub(super) fn framed(payload: &[u8]) -> Vec<u8> {
    let mut b = BytesMut::new();
    let start = frame::begin_frame(&mut b);
    b.put_slice(payload);
    frame::finish_frame(&mut b, start);
    b.to_vec()
}

pub(super) fn connect_response(
    timeout_ms: i32,
    session_id: i64,
    password: &[u8],
    read_only: Option<bool>,
) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.put_i32(0);
    b.put_i32(timeout_ms);
    b.put_i64(session_id);
    write_buffer(&mut b, Some(password));
    if let Some(ro) = read_only {
        b.put_u8(u8::from(ro));
    }
    framed(&b)
}

/// The answer of a server to the resumption of a session it does not know.
pub(super) fn expired_response() -> Vec<u8> {
    connect_response(0, 0, &[0; PASSWORD_LEN], Some(false))
}

pub(super) fn reply_frame(xid: i32, zxid: i64, err: i32, body: &[u8]) -> Vec<u8> {
    let mut b = BytesMut::new();
    ReplyHeader { xid, zxid, err }.encode(&mut b);
    b.put_slice(body);
    framed(&b)
}

pub(super) fn notification(zxid: i64, event_type: EventType, path: &str) -> Vec<u8> {
    let mut b = BytesMut::new();
    ReplyHeader {
        xid: xid::NOTIFICATION,
        zxid,
        err: 0,
    }
    .encode(&mut b);
    WatcherEvent {
        event_type: event_type.as_i32(),
        state: 3,
        path: path.to_owned(),
    }
    .encode(&mut b);
    framed(&b)
}

pub(super) fn stat(mzxid: i64) -> Stat {
    Stat {
        czxid: 2,
        mzxid,
        ctime: 1_700_000_000_000,
        mtime: 1_700_000_000_001,
        version: 3,
        cversion: 4,
        aversion: 5,
        ephemeral_owner: 0,
        data_length: 5,
        num_children: 0,
        pzxid: 2,
    }
}

pub(super) fn encode(r: &impl Encode) -> Bytes {
    let mut b = BytesMut::new();
    r.encode(&mut b);
    b.freeze()
}

pub(super) fn data_body(data: &[u8], st: &Stat) -> Bytes {
    let mut b = BytesMut::new();
    write_buffer(&mut b, Some(data));
    st.encode(&mut b);
    b.freeze()
}

pub(super) fn children_body(children: &[&str]) -> Bytes {
    let mut b = BytesMut::new();
    write_string_vec(&mut b, children);
    b.freeze()
}

pub(super) fn data_response(data: &'static [u8], st: Stat) -> Response {
    Response::Data {
        data: Some(Bytes::from_static(data)),
        stat: st,
    }
}

// ------------------------------------------------------------------------------ client requests

pub(super) fn outgoing(
    req: &Request<'_>,
    token: u32,
    watch: Option<WatchRequest<TestTokens>>,
) -> Outgoing<TestTokens> {
    Outgoing {
        op: req.opcode(),
        body: encode(req),
        token,
        watch,
    }
}

pub(super) fn watch_req(
    kind: WatchKind,
    path: &str,
    watch: Option<u32>,
) -> Option<WatchRequest<TestTokens>> {
    watch.map(|token| WatchRequest {
        kind,
        path: path.to_owned(),
        token,
    })
}

pub(super) fn get_data(token: u32, path: &str, watch: Option<u32>) -> Outgoing<TestTokens> {
    let req = Request::GetData {
        path,
        watch: watch.is_some(),
    };
    outgoing(&req, token, watch_req(WatchKind::Data, path, watch))
}

pub(super) fn exists(token: u32, path: &str, watch: Option<u32>) -> Outgoing<TestTokens> {
    let req = Request::Exists {
        path,
        watch: watch.is_some(),
    };
    outgoing(&req, token, watch_req(WatchKind::Data, path, watch))
}

pub(super) fn get_children(token: u32, path: &str, watch: Option<u32>) -> Outgoing<TestTokens> {
    let req = Request::GetChildren {
        path,
        watch: watch.is_some(),
    };
    outgoing(&req, token, watch_req(WatchKind::Child, path, watch))
}

pub(super) fn delete(token: u32, path: &str) -> Outgoing<TestTokens> {
    outgoing(&Request::Delete { path, version: -1 }, token, None)
}

pub(super) fn set_data(token: u32, path: &str, data: &[u8]) -> Outgoing<TestTokens> {
    let req = Request::SetData {
        path,
        data: Some(data),
        version: -1,
    };
    outgoing(&req, token, None)
}

// ------------------------------------------------------------------------------ decoding

/// The lists of a SetWatches (101) or SetWatches2 (105) body.
#[derive(Debug, Default)]
pub(super) struct SetWatchesBody {
    pub(super) relative_zxid: i64,
    pub(super) data: Vec<String>,
    pub(super) exist: Vec<String>,
    pub(super) child: Vec<String>,
    pub(super) persistent: Vec<String>,
    pub(super) recursive: Vec<String>,
}

impl SetWatchesBody {
    pub(super) fn path_bytes(&self) -> usize {
        [
            &self.data,
            &self.exist,
            &self.child,
            &self.persistent,
            &self.recursive,
        ]
        .iter()
        .flat_map(|l| l.iter())
        .map(String::len)
        .sum()
    }
}

pub(super) fn parse_set_watches(req: &Req) -> SetWatchesBody {
    assert!(
        req.op == OpCode::SetWatches.as_i32() || req.op == OpCode::SetWatches2.as_i32(),
        "not a SetWatches request: {req:?}"
    );
    assert!(req.xid > 0, "SetWatches must carry a normal xid");
    let mut b = req.body.clone();
    let mut sw = SetWatchesBody {
        relative_zxid: read_i64(&mut b, "relative zxid").unwrap(),
        data: read_string_vec(&mut b, "data").unwrap(),
        exist: read_string_vec(&mut b, "exist").unwrap(),
        child: read_string_vec(&mut b, "child").unwrap(),
        ..SetWatchesBody::default()
    };
    if req.op == OpCode::SetWatches2.as_i32() {
        sw.persistent = read_string_vec(&mut b, "persistent").unwrap();
        sw.recursive = read_string_vec(&mut b, "recursive").unwrap();
    }
    assert!(b.is_empty(), "bytes after the SetWatches lists");
    sw
}

/// (type, scheme, auth) of an auth packet.
pub(super) fn parse_auth(req: &Req) -> (i32, String, Vec<u8>) {
    assert_eq!((req.xid, req.op), (xid::AUTH, OpCode::Auth.as_i32()));
    let mut b = req.body.clone();
    let kind = read_i32(&mut b, "auth type").unwrap();
    let scheme = read_ustring(&mut b, "scheme").unwrap();
    let auth = read_buffer(&mut b, "auth").unwrap().unwrap().to_vec();
    assert!(b.is_empty());
    (kind, scheme, auth)
}

/// (path, watch) of an exists body.
pub(super) fn parse_exists(req: &Req) -> (String, bool) {
    let mut b = req.body.clone();
    let path = read_ustring(&mut b, "path").unwrap();
    let watch = b.first().copied().unwrap() != 0;
    (path, watch)
}

/// (path, int) of an addWatch or removeWatches body.
pub(super) fn parse_path_and_int(req: &Req) -> (String, i32) {
    let mut b = req.body.clone();
    let path = read_ustring(&mut b, "path").unwrap();
    let v = read_i32(&mut b, "int").unwrap();
    assert!(b.is_empty());
    (path, v)
}

pub(super) fn node_event(event_type: EventType, path: &str) -> WatchedEvent {
    WatchedEvent {
        event_type,
        state: SessionState::Connected,
        path: path.to_owned(),
        zxid: None,
        kind: EventKind::Change,
    }
}

/// A catch-up event: reported by the re-registration after a reconnect.
pub(super) fn catch_up_event(event_type: EventType, path: &str) -> WatchedEvent {
    WatchedEvent {
        kind: EventKind::CatchUp,
        ..node_event(event_type, path)
    }
}

/// An event without a node change (`Resync`, `NewSession`) on the watched `path`.
pub(super) fn watch_event(kind: EventKind, path: &str) -> WatchedEvent {
    WatchedEvent {
        event_type: EventType::None,
        state: SessionState::Connected,
        path: path.to_owned(),
        zxid: None,
        kind,
    }
}

pub(super) fn session_event(state: SessionState, path: &str) -> WatchedEvent {
    WatchedEvent {
        event_type: EventType::None,
        state,
        path: path.to_owned(),
        zxid: None,
        kind: EventKind::Ended,
    }
}

// ------------------------------------------------------------------------------ helpers on a
// connected pair

impl Pair {
    /// getData with a watch, answered with data: a data watch on `path`.
    pub(super) fn watch_data(&mut self, path: &str, token: u32, watch: u32) {
        self.submit(get_data(token, path, Some(watch)));
        let r = self.one_request();
        assert_eq!(r.op, OpCode::GetData.as_i32());
        self.reply(r.xid, 0x10, 0, &data_body(b"value", &stat(3)));
        assert_eq!(
            self.take_events(),
            vec![Ev::Reply(token, Ok(data_response(b"value", stat(3))))]
        );
    }

    /// exists with a watch on a missing node: an exist watch on `path`.
    pub(super) fn watch_exist(&mut self, path: &str, token: u32, watch: u32) {
        self.submit(exists(token, path, Some(watch)));
        let r = self.one_request();
        assert_eq!(r.op, OpCode::Exists.as_i32());
        self.reply(r.xid, 0x10, -101, &[]);
        assert_eq!(
            self.take_events(),
            vec![Ev::Reply(token, Err(Error::NoNode))]
        );
    }

    /// getChildren with a watch: a child watch on `path`.
    pub(super) fn watch_child(&mut self, path: &str, token: u32, watch: u32) {
        self.submit(get_children(token, path, Some(watch)));
        let r = self.one_request();
        assert_eq!(r.op, OpCode::GetChildren.as_i32());
        self.reply(r.xid, 0x10, 0, &children_body(&["x"]));
        assert_eq!(
            self.take_events(),
            vec![Ev::Reply(token, Ok(Response::Strings(vec!["x".into()])))]
        );
    }

    /// A persistent watch the server accepted, on a node that exists (for a plain
    /// persistent watch, the read that follows the addWatch says so).
    pub(super) fn watch_persistent(&mut self, path: &str, mode: AddWatchMode, stream: u32) {
        self.watch_persistent_on(path, mode, stream, true);
    }

    /// [`Pair::watch_persistent`] on a node that exists or not (`exists`).
    pub(super) fn watch_persistent_on(
        &mut self,
        path: &str,
        mode: AddWatchMode,
        stream: u32,
        exists: bool,
    ) {
        let reply = 50_000 + stream;
        self.add_persistent(path, mode, stream, reply);
        let mut reqs = self.requests();
        let r = reqs.remove(0);
        assert_eq!(r.op, OpCode::AddWatch.as_i32());
        assert_eq!(parse_path_and_int(&r), (path.to_owned(), mode.as_i32()));
        self.reply(r.xid, 0x10, 0, &[]);
        assert_eq!(
            self.take_events(),
            vec![Ev::Reply(reply, Ok(Response::Empty))]
        );
        if mode == AddWatchMode::Persistent {
            assert_eq!(reqs.len(), 1, "the read after the addWatch: {reqs:?}");
            self.answer_existence(&reqs[0], path, exists);
        } else {
            assert!(reqs.is_empty(), "{reqs:?}");
        }
    }

    /// Answers the exists (without a watch) that follows the addWatch of a plain persistent
    /// watch on `path`; no event comes of it.
    pub(super) fn answer_existence(&mut self, r: &Req, path: &str, exists: bool) {
        assert_eq!(r.op, OpCode::Exists.as_i32());
        assert_eq!(parse_exists(r), (path.to_owned(), false));
        if exists {
            self.reply(r.xid, 0x11, 0, &encode(&stat(0x10)));
        } else {
            self.reply(r.xid, 0x11, -101, &[]);
        }
        assert_eq!(self.take_events(), vec![]);
    }

    /// Loses the connection and reconnects to the same session; returns the ConnectRequest.
    pub(super) fn reconnect_same_session(&mut self) -> ConnectReq {
        self.transport_closed();
        let c = self.next_connect_req();
        self.accept(SID, 30_000, false);
        c
    }
}
