//! Deterministic tests of the session state machine.
//!
//! [`Pair`] plays the driver and a scripted server: it feeds server frames into the session,
//! decodes every frame the session transmits, opens connections when asked (or refuses them,
//! or lets them hang) and runs a simulated clock. Nothing sleeps and nothing touches a socket.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aiozk_proto::codec::{
    read_bool, read_buffer, read_i32, read_i64, read_string_vec, read_ustring, write_buffer,
    write_string_vec,
};
use aiozk_proto::consts::{xid, DEFAULT_MAX_FRAME, PASSWORD_LEN};
use aiozk_proto::{
    frame, AddWatchMode, Encode, EventType, OpCode, ReplyHeader, Request, Response, Stat,
    WatcherEvent,
};
use bytes::{BufMut, Bytes, BytesMut};

use super::fuzzing::Numbers as TestTokens;
use super::{
    Event, Outgoing, Session, SessionConfig, SessionState, StateCause, WatchKind, WatchRequest,
    WatchedEvent, DEFAULT_MAX_WRITE_DELAY, SET_WATCHES_BATCH_BYTES, WRITE_BATCH_MIN_IN_FLIGHT,
};
use crate::error::Error;

// ------------------------------------------------------------------------------ harness

/// An [`Event`] that can be compared with `assert_eq!`.
#[derive(Debug, Clone, PartialEq)]
enum Ev {
    Reply(u32, Result<Response, Error>),
    Oneshot(u32, WatchedEvent),
    Stream(u32, WatchedEvent),
    StreamEnded(u32),
    State(SessionState, StateCause),
    NewSession(i64),
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
        }
    }
}

/// The decoded fields of a ConnectRequest frame.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ConnectReq {
    /// Payload length (without the 4-byte length prefix).
    len: usize,
    protocol_version: i32,
    last_zxid_seen: i64,
    timeout_ms: i32,
    session_id: i64,
    password: Vec<u8>,
    read_only: bool,
}

/// A request frame after the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Req {
    xid: i32,
    op: i32,
    body: Bytes,
}

/// One frame the client wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sent {
    Connect(ConnectReq),
    Req(Req),
}

/// What the simulated network does when the session asks for a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dial {
    /// The connection opens at once.
    Accept,
    /// The connection fails at once.
    Refuse,
    /// Nothing ever happens (a black-holed SYN).
    Hang,
}

struct Pair {
    s: Session<TestTokens>,
    base: Instant,
    offset: Duration,
    dial: Dial,
    /// The next frame written is a ConnectRequest (a connection just opened).
    expect_connect: bool,
    sent: Vec<Sent>,
    events: Vec<Ev>,
    /// Clock offsets of every connection attempt (`poll_connect` returned true).
    attempts: Vec<Duration>,
    /// Clock offsets of every `take_close_transport` that returned true.
    closes: Vec<Duration>,
    /// How many times `poll_transmit` handed over bytes.
    writes: usize,
}

const SID: i64 = 0x0102_0304_0506_0708;
const SID2: i64 = 0x0a0b_0c0d_0e0f_0001;
const PW: [u8; PASSWORD_LEN] = [7; PASSWORD_LEN];
const PW2: [u8; PASSWORD_LEN] = [9; PASSWORD_LEN];

fn config() -> SessionConfig {
    SessionConfig {
        session_timeout: Duration::from_secs(30),
        ..SessionConfig::default()
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

impl Pair {
    fn new(config: SessionConfig) -> Self {
        Self::with_dial(config, Dial::Accept)
    }

    fn with_dial(config: SessionConfig, dial: Dial) -> Self {
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
    fn connected(config: SessionConfig, timeout_ms: i32) -> Self {
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

    fn now(&self) -> Instant {
        self.base + self.offset
    }

    /// Does what a driver does after every input: drains every output.
    fn drive(&mut self) {
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

    fn collect(&mut self, bytes: BytesMut) {
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

    fn take_sent(&mut self) -> Vec<Sent> {
        std::mem::take(&mut self.sent)
    }

    fn take_events(&mut self) -> Vec<Ev> {
        std::mem::take(&mut self.events)
    }

    /// Every frame written since the last call; all must be requests.
    fn requests(&mut self) -> Vec<Req> {
        self.take_sent()
            .into_iter()
            .map(|s| match s {
                Sent::Req(r) => r,
                Sent::Connect(c) => panic!("unexpected ConnectRequest {c:?}"),
            })
            .collect()
    }

    /// The one request written since the last call.
    fn one_request(&mut self) -> Req {
        let mut reqs = self.requests();
        assert_eq!(reqs.len(), 1, "expected one request, got {reqs:?}");
        reqs.pop().unwrap()
    }

    /// The one ConnectRequest written since the last call.
    fn connect_req(&mut self) -> ConnectReq {
        let mut sent = self.take_sent();
        assert_eq!(sent.len(), 1, "expected one ConnectRequest, got {sent:?}");
        match sent.pop().unwrap() {
            Sent::Connect(c) => c,
            Sent::Req(r) => panic!("expected a ConnectRequest, got {r:?}"),
        }
    }

    /// Runs the clock until the session opens a connection and writes its ConnectRequest.
    fn next_connect_req(&mut self) -> ConnectReq {
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
    fn run_until(&mut self, target: Instant) {
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

    fn run_for(&mut self, d: Duration) {
        let target = self.now() + d;
        self.run_until(target);
    }

    // ---------------------------------------------------------------- inputs

    fn submit(&mut self, req: Outgoing<TestTokens>) {
        let now = self.now();
        self.s.submit(now, req);
        self.drive();
    }

    fn add_auth(&mut self, scheme: &str, auth: &[u8], token: u32) {
        let now = self.now();
        self.s.add_auth(now, scheme, auth, token);
        self.drive();
    }

    fn add_persistent(&mut self, path: &str, mode: AddWatchMode, stream: u32, reply: u32) {
        let now = self.now();
        self.s
            .add_persistent(now, path.to_owned(), mode, stream, reply);
        self.drive();
    }

    fn remove_persistent(&mut self, stream: u32) {
        let now = self.now();
        self.s.remove_persistent(now, stream);
        self.drive();
    }

    fn close(&mut self) {
        let now = self.now();
        self.s.close(now);
        self.drive();
    }

    /// The server (or the network) closed the connection.
    fn transport_closed(&mut self) {
        let now = self.now();
        self.s
            .on_transport_closed(now, Error::Io("connection reset".into()));
        self.drive();
    }

    /// Bytes from the server.
    fn feed(&mut self, bytes: &[u8]) {
        let now = self.now();
        self.s.read_buf().extend_from_slice(bytes);
        self.s.handle_read(now);
        self.drive();
    }

    /// A ConnectResponse with the session password derived from the id.
    fn accept(&mut self, session_id: i64, timeout_ms: i32, read_only: bool) {
        let pw = if session_id == SID2 { PW2 } else { PW };
        self.feed(&connect_response(
            timeout_ms,
            session_id,
            &pw,
            Some(read_only),
        ));
    }

    fn reply(&mut self, xid: i32, zxid: i64, err: i32, body: &[u8]) {
        self.feed(&reply_frame(xid, zxid, err, body));
    }

    fn notify(&mut self, event_type: EventType, path: &str) {
        self.feed(&notification(-1, event_type, path));
    }
}

// ------------------------------------------------------------------------------ server frames

fn framed(payload: &[u8]) -> Vec<u8> {
    let mut b = BytesMut::new();
    let start = frame::begin_frame(&mut b);
    b.put_slice(payload);
    frame::finish_frame(&mut b, start);
    b.to_vec()
}

fn connect_response(
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
fn expired_response() -> Vec<u8> {
    connect_response(0, 0, &[0; PASSWORD_LEN], Some(false))
}

fn reply_frame(xid: i32, zxid: i64, err: i32, body: &[u8]) -> Vec<u8> {
    let mut b = BytesMut::new();
    ReplyHeader { xid, zxid, err }.encode(&mut b);
    b.put_slice(body);
    framed(&b)
}

fn notification(zxid: i64, event_type: EventType, path: &str) -> Vec<u8> {
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

fn stat(mzxid: i64) -> Stat {
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

fn encode(r: &impl Encode) -> Bytes {
    let mut b = BytesMut::new();
    r.encode(&mut b);
    b.freeze()
}

fn data_body(data: &[u8], st: &Stat) -> Bytes {
    let mut b = BytesMut::new();
    write_buffer(&mut b, Some(data));
    st.encode(&mut b);
    b.freeze()
}

fn children_body(children: &[&str]) -> Bytes {
    let mut b = BytesMut::new();
    write_string_vec(&mut b, children);
    b.freeze()
}

fn data_response(data: &'static [u8], st: Stat) -> Response {
    Response::Data {
        data: Some(Bytes::from_static(data)),
        stat: st,
    }
}

// ------------------------------------------------------------------------------ client requests

fn outgoing(
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

fn watch_req(kind: WatchKind, path: &str, watch: Option<u32>) -> Option<WatchRequest<TestTokens>> {
    watch.map(|token| WatchRequest {
        kind,
        path: path.to_owned(),
        token,
    })
}

fn get_data(token: u32, path: &str, watch: Option<u32>) -> Outgoing<TestTokens> {
    let req = Request::GetData {
        path,
        watch: watch.is_some(),
    };
    outgoing(&req, token, watch_req(WatchKind::Data, path, watch))
}

fn exists(token: u32, path: &str, watch: Option<u32>) -> Outgoing<TestTokens> {
    let req = Request::Exists {
        path,
        watch: watch.is_some(),
    };
    outgoing(&req, token, watch_req(WatchKind::Data, path, watch))
}

fn get_children(token: u32, path: &str, watch: Option<u32>) -> Outgoing<TestTokens> {
    let req = Request::GetChildren {
        path,
        watch: watch.is_some(),
    };
    outgoing(&req, token, watch_req(WatchKind::Child, path, watch))
}

fn delete(token: u32, path: &str) -> Outgoing<TestTokens> {
    outgoing(&Request::Delete { path, version: -1 }, token, None)
}

fn set_data(token: u32, path: &str, data: &[u8]) -> Outgoing<TestTokens> {
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
struct SetWatchesBody {
    relative_zxid: i64,
    data: Vec<String>,
    exist: Vec<String>,
    child: Vec<String>,
    persistent: Vec<String>,
    recursive: Vec<String>,
}

impl SetWatchesBody {
    fn path_bytes(&self) -> usize {
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

fn parse_set_watches(req: &Req) -> SetWatchesBody {
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
fn parse_auth(req: &Req) -> (i32, String, Vec<u8>) {
    assert_eq!((req.xid, req.op), (xid::AUTH, OpCode::Auth.as_i32()));
    let mut b = req.body.clone();
    let kind = read_i32(&mut b, "auth type").unwrap();
    let scheme = read_ustring(&mut b, "scheme").unwrap();
    let auth = read_buffer(&mut b, "auth").unwrap().unwrap().to_vec();
    assert!(b.is_empty());
    (kind, scheme, auth)
}

/// (path, int) of an addWatch or removeWatches body.
fn parse_path_and_int(req: &Req) -> (String, i32) {
    let mut b = req.body.clone();
    let path = read_ustring(&mut b, "path").unwrap();
    let v = read_i32(&mut b, "int").unwrap();
    assert!(b.is_empty());
    (path, v)
}

fn node_event(event_type: EventType, path: &str) -> WatchedEvent {
    WatchedEvent {
        event_type,
        state: SessionState::Connected,
        path: path.to_owned(),
        zxid: None,
    }
}

fn session_event(state: SessionState, path: &str) -> WatchedEvent {
    WatchedEvent {
        event_type: EventType::None,
        state,
        path: path.to_owned(),
        zxid: None,
    }
}

// ------------------------------------------------------------------------------ helpers on a
// connected pair

impl Pair {
    /// getData with a watch, answered with data: a data watch on `path`.
    fn watch_data(&mut self, path: &str, token: u32, watch: u32) {
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
    fn watch_exist(&mut self, path: &str, token: u32, watch: u32) {
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
    fn watch_child(&mut self, path: &str, token: u32, watch: u32) {
        self.submit(get_children(token, path, Some(watch)));
        let r = self.one_request();
        assert_eq!(r.op, OpCode::GetChildren.as_i32());
        self.reply(r.xid, 0x10, 0, &children_body(&["x"]));
        assert_eq!(
            self.take_events(),
            vec![Ev::Reply(token, Ok(Response::Strings(vec!["x".into()])))]
        );
    }

    /// A persistent watch the server accepted.
    fn watch_persistent(&mut self, path: &str, mode: AddWatchMode, stream: u32) {
        let reply = 50_000 + stream;
        self.add_persistent(path, mode, stream, reply);
        let r = self.one_request();
        assert_eq!(r.op, OpCode::AddWatch.as_i32());
        assert_eq!(parse_path_and_int(&r), (path.to_owned(), mode.as_i32()));
        self.reply(r.xid, 0x10, 0, &[]);
        assert_eq!(
            self.take_events(),
            vec![Ev::Reply(reply, Ok(Response::Empty))]
        );
    }

    /// Loses the connection and reconnects to the same session; returns the ConnectRequest.
    fn reconnect_same_session(&mut self) -> ConnectReq {
        self.transport_closed();
        let c = self.next_connect_req();
        self.accept(SID, 30_000, false);
        c
    }
}

// ------------------------------------------------------------------------------ 1. handshake

#[test]
fn new_session_handshake() {
    let cfg = SessionConfig {
        session_timeout: Duration::from_millis(12_345),
        ..SessionConfig::default()
    };
    let mut h = Pair::new(cfg);
    assert_eq!(
        h.attempts,
        vec![Duration::ZERO],
        "the first attempt is immediate"
    );
    assert_eq!(h.s.state(), SessionState::Connecting);
    let c = h.connect_req();
    assert_eq!(
        c,
        ConnectReq {
            len: 45,
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: 12_345,
            session_id: 0,
            password: vec![0; 16],
            read_only: false,
        }
    );
    assert!(h.take_events().is_empty());

    // Nothing else goes out before the ConnectResponse.
    h.submit(get_data(1, "/a", None));
    assert!(h.take_sent().is_empty());

    h.accept(SID, 10_000, false);
    assert_eq!(
        h.take_events(),
        vec![
            Ev::NewSession(SID),
            Ev::State(SessionState::Connected, StateCause::Handshake)
        ]
    );
    assert_eq!(h.s.state(), SessionState::Connected);
    assert_eq!(h.s.session_id(), SID);
    assert_eq!(h.s.password(), &PW);
    assert_eq!(h.s.negotiated_timeout(), ms(10_000));
    assert_eq!(h.s.stats().sessions, 1);
    let r = h.one_request();
    assert_eq!((r.xid, r.op), (1, OpCode::GetData.as_i32()));
}

#[test]
fn connect_response_without_read_only_byte_is_accepted() {
    let mut h = Pair::new(config());
    h.connect_req();
    h.feed(&connect_response(8_000, SID, &PW, None));
    assert_eq!(h.s.state(), SessionState::Connected);
    assert_eq!(h.s.negotiated_timeout(), ms(8_000));
    assert!(h.closes.is_empty());
}

#[test]
fn connect_response_split_across_reads() {
    let mut h = Pair::new(config());
    h.connect_req();
    let bytes = connect_response(8_000, SID, &PW, Some(false));
    let (a, b) = bytes.split_at(7);
    h.feed(a);
    assert_eq!(h.s.state(), SessionState::Connecting);
    h.feed(b);
    assert_eq!(h.s.state(), SessionState::Connected);
}

// ------------------------------------------------------------------------------ 2. call order

#[test]
fn requests_go_out_in_submission_order_and_complete_their_tokens() {
    let mut h = Pair::new(config());
    h.connect_req();
    h.submit(get_data(1, "/a", None));
    h.submit(exists(2, "/b", None));
    h.submit(delete(3, "/c"));
    assert!(h.take_sent().is_empty());
    h.accept(SID, 30_000, false);
    h.take_events();

    let reqs = h.requests();
    let heads: Vec<_> = reqs.iter().map(|r| (r.xid, r.op)).collect();
    assert_eq!(heads, vec![(1, 4), (2, 3), (3, 2)]);
    assert_eq!(
        reqs[0].body,
        encode(&Request::GetData {
            path: "/a",
            watch: false
        })
    );
    assert_eq!(
        reqs[1].body,
        encode(&Request::Exists {
            path: "/b",
            watch: false
        })
    );
    assert_eq!(
        reqs[2].body,
        encode(&Request::Delete {
            path: "/c",
            version: -1
        })
    );

    // While connected a request is written at once.
    h.submit(set_data(4, "/d", b"xyz"));
    let r = h.one_request();
    assert_eq!((r.xid, r.op), (4, OpCode::SetData.as_i32()));
    assert_eq!(h.s.in_flight(), 4);

    h.reply(1, 0x20, 0, &data_body(b"hello", &stat(7)));
    h.reply(2, 0x21, 0, &encode(&stat(8)));
    h.reply(3, 0x22, -101, &[]);
    h.reply(4, 0x23, 0, &encode(&stat(9)));
    assert_eq!(
        h.take_events(),
        vec![
            Ev::Reply(1, Ok(data_response(b"hello", stat(7)))),
            Ev::Reply(2, Ok(Response::Stat(stat(8)))),
            Ev::Reply(3, Err(Error::NoNode)),
            Ev::Reply(4, Ok(Response::Stat(stat(9)))),
        ]
    );
    assert_eq!(h.s.last_zxid(), 0x23);
    assert_eq!(h.s.in_flight(), 0);
    assert!(h.closes.is_empty());
}

#[test]
fn replies_in_one_read_and_in_pieces() {
    let mut h = Pair::connected(config(), 30_000);
    for t in 1..=3 {
        h.submit(get_data(t, "/a", None));
    }
    let xids: Vec<_> = h.requests().iter().map(|r| r.xid).collect();
    let mut bytes = Vec::new();
    for x in &xids {
        bytes.extend(reply_frame(*x, 5, 0, &data_body(b"v", &stat(1))));
    }
    // One byte at a time: every frame is reassembled.
    for b in &bytes {
        h.feed(std::slice::from_ref(b));
    }
    let replies: Vec<_> = h.take_events();
    assert_eq!(
        replies,
        (1..=3)
            .map(|t| Ev::Reply(t, Ok(data_response(b"v", stat(1)))))
            .collect::<Vec<_>>()
    );
}

#[test]
fn xids_wrap_from_max_to_one() {
    let mut h = Pair::connected(config(), 30_000);
    h.s.next_xid = i32::MAX - 1;
    for t in 1..=3 {
        h.submit(delete(t, "/x"));
    }
    let xids: Vec<_> = h.requests().iter().map(|r| r.xid).collect();
    assert_eq!(xids, vec![i32::MAX - 1, i32::MAX, 1]);
    for x in xids {
        h.reply(x, 9, 0, &[]);
    }
    assert_eq!(
        h.take_events(),
        (1..=3)
            .map(|t| Ev::Reply(t, Ok(Response::Empty)))
            .collect::<Vec<_>>()
    );
    assert!(h.closes.is_empty());
}

// ------------------------------------------------------------------------------ 3. pings

#[test]
fn idle_connection_pings_at_a_third_of_the_session_timeout() {
    let mut h = Pair::connected(config(), 6_000);
    let t0 = h.now();
    // read timeout 4 s, ping after 2 s of not sending.
    assert_eq!(h.s.poll_timeout(), Some(t0 + ms(2_000)));
    h.run_until(t0 + ms(1_999));
    assert!(h.take_sent().is_empty());
    h.run_until(t0 + ms(2_000));
    let ping = h.one_request();
    assert_eq!((ping.xid, ping.op), (xid::PING, OpCode::Ping.as_i32()));
    assert!(ping.body.is_empty());

    // The ping reply is taken out of band; its zxid is not a reply zxid.
    h.run_until(t0 + ms(2_100));
    h.reply(xid::PING, 0x777, 0, &[]);
    assert!(h.take_events().is_empty());
    assert_eq!(h.s.last_zxid(), 0);
    assert!(h.closes.is_empty());
    assert_eq!(h.s.state(), SessionState::Connected);

    // Any write resets the idle-send clock.
    h.run_until(t0 + ms(2_500));
    h.submit(get_data(1, "/a", None));
    let r = h.one_request();
    assert_eq!(h.s.poll_timeout(), Some(t0 + ms(4_500)));
    // A ping reply overtaking a pending request is fine too.
    h.reply(xid::PING, 0x778, 0, &[]);
    h.reply(r.xid, 0x30, 0, &data_body(b"v", &stat(1)));
    assert_eq!(
        h.take_events(),
        vec![Ev::Reply(1, Ok(data_response(b"v", stat(1))))]
    );
    h.run_until(t0 + ms(4_499));
    assert!(h.take_sent().is_empty());
    h.run_until(t0 + ms(4_500));
    assert_eq!(h.one_request().xid, xid::PING);
}

#[test]
fn ping_interval_is_capped_at_ten_seconds() {
    let mut h = Pair::connected(config(), 60_000);
    let t0 = h.now();
    // read timeout 40 s would give 20 s; the cap is 10 s.
    assert_eq!(h.s.poll_timeout(), Some(t0 + ms(10_000)));
    h.run_until(t0 + ms(9_999));
    assert!(h.take_sent().is_empty());
    h.run_until(t0 + ms(10_000));
    assert_eq!(h.one_request().xid, xid::PING);
    h.reply(xid::PING, 0, 0, &[]);
    h.run_until(t0 + ms(20_000));
    assert_eq!(h.one_request().xid, xid::PING);
}

// ------------------------------------------------------------------------------ 4. read timeout

#[test]
fn read_timeout_drops_the_connection_and_resumes_the_session() {
    let mut h = Pair::connected(config(), 30_000);
    let t0 = h.now();
    h.run_until(t0 + ms(1_000));
    h.submit(get_data(1, "/a", None));
    let r = h.one_request();
    h.reply(r.xid, 0x50, 0, &data_body(b"v", &stat(1)));
    h.take_events();
    // Neither a notification zxid (3.9 servers send one) nor a ping zxid counts.
    h.feed(&notification(0x99, EventType::NodeDataChanged, "/nobody"));
    h.reply(xid::PING, 0x77, 0, &[]);
    assert_eq!(h.s.last_zxid(), 0x50);

    let last_heard = h.now();
    h.submit(get_data(2, "/b", None));
    h.one_request();

    // read timeout = 20 s: pings go out at 10 s, the connection survives until 20 s.
    h.run_until(last_heard + ms(19_999));
    let pings = h.requests();
    assert_eq!(pings.len(), 1);
    assert_eq!(pings[0].xid, xid::PING);
    assert!(h.closes.is_empty());
    assert_eq!(h.s.state(), SessionState::Connected);

    h.run_until(last_heard + ms(20_000));
    assert_eq!(h.closes, vec![(last_heard + ms(20_000)) - h.base]);
    assert_eq!(
        h.take_events(),
        vec![
            Ev::Reply(2, Err(Error::ConnectionLoss)),
            Ev::State(
                SessionState::Disconnected,
                StateCause::ConnectionLost(Error::ConnectionLoss)
            ),
        ]
    );
    assert_eq!(h.s.in_flight(), 0);
    let deadline = h.s.poll_timeout().expect("a reconnect must be scheduled");
    assert!(deadline >= h.now());

    let c = h.next_connect_req();
    assert!(h.now() >= deadline);
    assert_eq!(
        c,
        ConnectReq {
            len: 45,
            protocol_version: 0,
            last_zxid_seen: 0x50,
            timeout_ms: 30_000,
            session_id: SID,
            password: PW.to_vec(),
            read_only: false,
        }
    );
    h.accept(SID, 30_000, false);
    assert_eq!(
        h.take_events(),
        vec![Ev::State(SessionState::Connected, StateCause::Handshake)]
    );
    assert_eq!(h.s.stats().reconnects, 1);
    assert_eq!(h.s.stats().disconnects, 1);
    assert_eq!(h.s.stats().sessions, 1);
}

#[test]
fn timers_use_the_negotiated_timeout_and_reconnects_ask_for_the_configured_one() {
    // 30 s asked for, 24 s granted: read timeout 16 s, pings every 8 s.
    let mut h = Pair::connected(config(), 24_000);
    let t0 = h.now();
    assert_eq!(h.s.negotiated_timeout(), ms(24_000));
    assert_eq!(h.s.poll_timeout(), Some(t0 + ms(8_000)));
    h.run_until(t0 + ms(8_000));
    assert_eq!(h.one_request().xid, xid::PING);
    h.run_until(t0 + ms(15_999));
    assert!(h.closes.is_empty());
    h.run_until(t0 + ms(16_000));
    assert_eq!(h.closes.len(), 1);
    let c = h.next_connect_req();
    assert_eq!(c.timeout_ms, 30_000);
}

#[test]
fn requests_submitted_while_disconnected_wait_for_the_next_handshake() {
    let mut h = Pair::connected(config(), 30_000);
    h.transport_closed();
    assert_eq!(
        h.take_events(),
        vec![Ev::State(
            SessionState::Disconnected,
            StateCause::ConnectionLost(Error::Io("connection reset".into()))
        )]
    );
    h.dial = Dial::Refuse;
    h.submit(delete(1, "/a"));
    h.run_for(ms(5_000));
    assert!(h.attempts.len() > 2, "it keeps trying");
    assert!(
        h.take_events().is_empty(),
        "a failed attempt does not fail queued requests"
    );
    assert!(h.take_sent().is_empty());
    h.dial = Dial::Accept;
    h.next_connect_req();
    h.accept(SID, 30_000, false);
    h.take_events();
    let r = h.one_request();
    assert_eq!(r.op, OpCode::Delete.as_i32());
    h.reply(r.xid, 1, 0, &[]);
    assert_eq!(h.take_events(), vec![Ev::Reply(1, Ok(Response::Empty))]);
}

// ------------------------------------------------------------------------------ 5. protocol
// violations

/// Submits two reads (tokens 1 and 2) and returns their xids.
fn two_pending(h: &mut Pair) -> (i32, i32) {
    h.submit(get_data(1, "/a", None));
    h.submit(get_data(2, "/b", None));
    let reqs = h.requests();
    (reqs[0].xid, reqs[1].xid)
}

/// The connection was dropped and tokens 1 and 2 failed with the violation: not retried
/// (the server would only send the same), and saying what went wrong.
fn assert_dropped_with_pending(h: &mut Pair) {
    assert_eq!(h.closes.len(), 1, "the connection must be dropped");
    let evs = h.take_events();
    let mut replies: Vec<_> = evs
        .iter()
        .filter_map(|e| match e {
            Ev::Reply(t, r) => Some((*t, r.clone())),
            _ => None,
        })
        .collect();
    replies.sort_by_key(|(t, _)| *t);
    assert_eq!(
        replies.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
        [1, 2],
        "events: {evs:?}"
    );
    for (_, r) in &replies {
        assert!(
            matches!(r, Err(Error::ProtocolViolation(_))),
            "events: {evs:?}"
        );
    }
    assert_dropped_state(&evs);
    assert_eq!(h.s.in_flight(), 0);
}

fn assert_dropped_state(evs: &[Ev]) {
    assert!(
        matches!(
            evs.last(),
            Some(Ev::State(
                SessionState::Disconnected,
                StateCause::ConnectionLost(Error::ProtocolViolation(_))
            ))
        ),
        "events: {evs:?}"
    );
}

/// After a violation the session reconnects to the same session and works.
fn assert_recovers(h: &mut Pair) {
    let c = h.next_connect_req();
    assert_eq!(c.session_id, SID);
    h.accept(SID, 30_000, false);
    assert_eq!(h.s.state(), SessionState::Connected);
    h.take_events();
    h.submit(delete(99, "/z"));
    let r = h.one_request();
    h.reply(r.xid, 1, 0, &[]);
    assert_eq!(h.take_events(), vec![Ev::Reply(99, Ok(Response::Empty))]);
}

#[test]
fn reply_out_of_order_drops_the_connection() {
    let mut h = Pair::connected(config(), 30_000);
    let (_, second) = two_pending(&mut h);
    h.reply(second, 1, 0, &data_body(b"v", &stat(1)));
    assert_dropped_with_pending(&mut h);
    assert_recovers(&mut h);
}

#[test]
fn reply_with_nothing_pending_drops_the_connection() {
    let mut h = Pair::connected(config(), 30_000);
    h.reply(7, 1, 0, &[]);
    assert_eq!(h.closes.len(), 1);
    assert_dropped_state(&h.take_events());
    assert_recovers(&mut h);
}

#[test]
fn truncated_reply_header_drops_the_connection() {
    let mut h = Pair::connected(config(), 30_000);
    two_pending(&mut h);
    h.feed(&framed(&[0, 0, 0, 1, 0, 0]));
    assert_dropped_with_pending(&mut h);
    assert_recovers(&mut h);
}

#[test]
fn garbage_reply_body_drops_the_connection() {
    let mut h = Pair::connected(config(), 30_000);
    let (first, _) = two_pending(&mut h);
    // A buffer of 5 bytes announced, 1 present, no Stat.
    h.reply(first, 1, 0, &[0, 0, 0, 5, 1]);
    assert_eq!(h.closes.len(), 1);
    let evs = h.take_events();
    assert!(
        evs.iter()
            .any(|e| matches!(e, Ev::Reply(2, Err(Error::ProtocolViolation(_))))),
        "events: {evs:?}"
    );
    assert_dropped_state(&evs);
    assert_eq!(h.s.in_flight(), 0);
    assert_recovers(&mut h);
}

#[test]

fn garbage_reply_body_fails_the_request_it_answers() {
    let mut h = Pair::connected(config(), 30_000);
    let (first, _) = two_pending(&mut h);
    h.reply(first, 1, 0, &[0, 0, 0, 5, 1]);
    assert_dropped_with_pending(&mut h);
}

#[test]
fn bad_notification_drops_the_connection() {
    let mut h = Pair::connected(config(), 30_000);
    two_pending(&mut h);
    let mut b = BytesMut::new();
    ReplyHeader {
        xid: xid::NOTIFICATION,
        zxid: -1,
        err: 0,
    }
    .encode(&mut b);
    b.put_i32(99); // no such event type
    b.put_i32(3);
    b.put_i32(2);
    b.put_slice(b"/a");
    h.feed(&framed(&b));
    assert_dropped_with_pending(&mut h);

    // A truncated notification too.
    assert_recovers(&mut h);
    h.feed(&framed(&[255, 255, 255, 255, 0, 0]));
    assert_eq!(h.closes.len(), 2);
}

#[test]
fn oversized_frame_drops_the_connection_and_fails_the_oldest_request_for_good() {
    let mut h = Pair::connected(config(), 30_000);
    two_pending(&mut h);
    let len = i32::try_from(DEFAULT_MAX_FRAME + 1).unwrap();
    h.feed(&len.to_be_bytes());
    assert_eq!(h.closes.len(), 1, "the connection must be dropped");
    let evs = h.take_events();
    // The oversized reply answers the oldest request: it fails with an error no retry
    // policy repeats; the other one only lost its connection.
    assert!(
        matches!(
            &evs[0],
            Ev::Reply(1, Err(Error::FrameTooLarge { reply: true, .. }))
        ),
        "events: {evs:?}"
    );
    assert_eq!(evs[1], Ev::Reply(2, Err(Error::ConnectionLoss)));
    assert_dropped_state(&evs);
    assert_recovers(&mut h);
}

#[test]

fn bytes_read_after_a_violation_are_ignored() {
    let mut h = Pair::connected(config(), 30_000);
    h.feed(&(-5i32).to_be_bytes());
    assert_eq!(h.closes.len(), 1);
    h.take_events();
    let next_attempt = h.s.poll_timeout();
    // More bytes of the dropped connection, read in the same batch.
    h.feed(&[0; 64]);
    assert_eq!(h.closes.len(), 1, "no second close request");
    assert_eq!(
        h.s.poll_timeout(),
        next_attempt,
        "the back-off is not restarted"
    );
    assert!(h.take_events().is_empty());
}

#[test]
fn negative_frame_length_drops_the_connection() {
    let mut h = Pair::connected(config(), 30_000);
    two_pending(&mut h);
    h.feed(&(-5i32).to_be_bytes());
    assert_dropped_with_pending(&mut h);
    assert_recovers(&mut h);
}

#[test]
fn auth_reply_without_auth_request_drops_the_connection() {
    let mut h = Pair::connected(config(), 30_000);
    two_pending(&mut h);
    h.reply(xid::AUTH, 0, 0, &[]);
    assert_dropped_with_pending(&mut h);
}

#[test]
fn bad_connect_response_is_a_failed_attempt() {
    let mut h = Pair::new(config());
    h.connect_req();
    h.submit(delete(1, "/a"));
    // A password of 3 bytes.
    h.feed(&connect_response(10_000, SID, &[1, 2, 3], Some(false)));
    assert_eq!(h.closes.len(), 1);
    assert!(
        h.take_events().is_empty(),
        "queued requests wait for the next attempt"
    );
    assert_eq!(h.s.state(), SessionState::Connecting);
    let c = h.next_connect_req();
    assert_eq!(c.session_id, 0);
    h.accept(SID, 30_000, false);
    assert_eq!(h.one_request().op, OpCode::Delete.as_i32());
}

// ------------------------------------------------------------------------------ 6. server-side
// expiry

/// A connected session with watches: data `/w` (100), child `/c` (101), exist `/e` (102),
/// persistent `/p` (stream 200) and recursive `/r` (stream 201).
fn session_with_watches(cfg: SessionConfig) -> Pair {
    let mut h = Pair::connected(cfg, 30_000);
    h.watch_data("/w", 1, 100);
    h.watch_child("/c", 2, 101);
    h.watch_exist("/e", 3, 102);
    h.watch_persistent("/p", AddWatchMode::Persistent, 200);
    h.watch_persistent("/r", AddWatchMode::PersistentRecursive, 201);
    assert_eq!(h.s.watch_count(), 5);
    h
}

fn assert_watches_ended(evs: &[Ev], state: SessionState) {
    for (token, path) in [(100, "/w"), (101, "/c"), (102, "/e")] {
        let fired: Vec<_> = evs
            .iter()
            .filter(|e| matches!(e, Ev::Oneshot(t, _) if *t == token))
            .collect();
        assert_eq!(
            fired,
            vec![&Ev::Oneshot(token, session_event(state, path))],
            "events: {evs:?}"
        );
    }
    for (stream, path) in [(200, "/p"), (201, "/r")] {
        let got: Vec<_> = evs
            .iter()
            .filter(|e| matches!(e, Ev::Stream(s, _) | Ev::StreamEnded(s) if *s == stream))
            .collect();
        assert_eq!(
            got,
            vec![
                &Ev::Stream(stream, session_event(state, path)),
                &Ev::StreamEnded(stream)
            ],
            "events: {evs:?}"
        );
    }
}

#[test]
fn server_expiry_ends_watches_and_opens_a_new_session() {
    let mut h = session_with_watches(config());
    h.submit(get_data(9, "/in-flight", None));
    h.one_request();
    h.transport_closed();
    let evs = h.take_events();
    assert_eq!(evs[0], Ev::Reply(9, Err(Error::ConnectionLoss)));
    h.submit(delete(10, "/queued"));

    let c = h.next_connect_req();
    assert_eq!((c.session_id, c.password.clone()), (SID, PW.to_vec()));
    let closes = h.closes.len();
    h.feed(&expired_response());
    assert_eq!(h.closes.len(), closes + 1, "the server closes; so do we");
    let evs = h.take_events();
    assert!(evs.contains(&Ev::Reply(10, Err(Error::SessionExpired))));
    assert!(evs.contains(&Ev::State(SessionState::Expired, StateCause::ServerExpired)));
    assert_watches_ended(&evs, SessionState::Expired);
    assert_eq!(h.s.watch_count(), 0);
    assert_eq!(h.s.session_id(), 0);

    // A new session: id 0 and a zero password.
    let c = h.next_connect_req();
    assert_eq!(c.session_id, 0);
    assert_eq!(c.password, vec![0; 16]);
    h.accept(SID2, 30_000, false);
    let evs = h.take_events();
    assert!(evs.contains(&Ev::NewSession(SID2)), "events: {evs:?}");
    assert_eq!(
        evs.last(),
        Some(&Ev::State(SessionState::Connected, StateCause::Handshake))
    );
    assert_eq!(h.s.session_id(), SID2);
    assert_eq!(h.s.password(), &PW2);
    assert_eq!(h.s.stats().sessions, 2);
    // No watch survives the expiry, so nothing is re-registered, and the request queued
    // while disconnected failed with the old session instead of running on the new one.
    assert!(h.requests().is_empty());
}

#[test]
fn server_expiry_without_reconnect_stops_the_session() {
    let cfg = SessionConfig {
        reconnect_after_expiry: false,
        ..config()
    };
    let mut h = session_with_watches(cfg);
    h.transport_closed();
    h.take_events();
    h.submit(delete(10, "/queued"));
    h.add_auth("digest", b"u:p", 11);
    h.next_connect_req();
    h.feed(&expired_response());
    let evs = h.take_events();
    assert!(evs.contains(&Ev::Reply(10, Err(Error::SessionExpired))));
    assert!(evs.contains(&Ev::Reply(11, Err(Error::SessionExpired))));
    assert!(evs.contains(&Ev::State(SessionState::Expired, StateCause::ServerExpired)));
    assert_watches_ended(&evs, SessionState::Expired);
    assert_eq!(h.s.state(), SessionState::Expired);
    assert_eq!(h.s.poll_timeout(), None);

    // Stopped for good: no reconnect, every call fails at once.
    let attempts = h.attempts.len();
    h.run_for(ms(120_000));
    assert_eq!(h.attempts.len(), attempts);
    assert!(h.take_sent().is_empty());
    h.submit(delete(12, "/late"));
    h.add_auth("digest", b"u:p", 13);
    h.add_persistent("/q", AddWatchMode::Persistent, 202, 14);
    assert_eq!(
        h.take_events(),
        vec![
            Ev::Reply(12, Err(Error::SessionExpired)),
            Ev::Reply(13, Err(Error::SessionExpired)),
            Ev::StreamEnded(202),
            Ev::Reply(14, Err(Error::SessionExpired)),
        ]
    );
    assert!(h.take_sent().is_empty());
    assert_eq!(h.s.watch_count(), 0);
}

#[test]

fn close_after_a_final_expiry_reports_closed() {
    let cfg = SessionConfig {
        reconnect_after_expiry: false,
        ..config()
    };
    let mut h = Pair::connected(cfg, 30_000);
    h.transport_closed();
    h.next_connect_req();
    h.feed(&expired_response());
    h.take_events();
    assert_eq!(h.s.state(), SessionState::Expired);
    h.close();
    assert!(h.take_sent().is_empty());
    assert_eq!(
        h.take_events(),
        vec![Ev::State(SessionState::Closed, StateCause::UserClose)]
    );
    assert!(h.s.state().is_terminal());
}

#[test]
fn bare_error_reply_to_the_handshake_is_a_refusal() {
    let mut h = Pair::new(config());
    h.connect_req();
    // What a read-only server without local sessions sends instead of a ConnectResponse.
    h.feed(&reply_frame(0, 0, -119, &[]));
    assert_eq!(h.closes.len(), 1);
    assert!(h.take_events().is_empty());
    assert_eq!(h.s.state(), SessionState::Connecting);
    let c = h.next_connect_req();
    assert_eq!(c.session_id, 0);
}

#[test]
fn refusal_of_a_new_session_is_not_an_expiry() {
    let mut h = Pair::new(config());
    h.connect_req();
    h.feed(&expired_response());
    assert_eq!(h.closes.len(), 1);
    assert!(h.take_events().is_empty());
    assert_eq!(h.s.state(), SessionState::Connecting);
    let c = h.next_connect_req();
    assert_eq!(c.session_id, 0);
}

#[test]

fn queued_add_watch_fails_when_the_session_expires() {
    let mut h = Pair::connected(config(), 30_000);
    h.transport_closed();
    h.take_events();
    h.add_persistent("/p", AddWatchMode::Persistent, 200, 10);
    h.next_connect_req();
    h.feed(&expired_response());
    let evs = h.take_events();
    assert!(evs.contains(&Ev::StreamEnded(200)), "events: {evs:?}");
    // The stream ended with the session, so the registration must fail too rather than
    // reach the new session as a server watch no local watcher owns.
    assert!(
        evs.contains(&Ev::Reply(10, Err(Error::SessionExpired))),
        "events: {evs:?}"
    );
    h.next_connect_req();
    h.accept(SID2, 30_000, false);
    let sent = h.requests();
    assert!(
        sent.iter().all(|r| r.op != OpCode::AddWatch.as_i32()),
        "sent: {sent:?}"
    );
}

// ------------------------------------------------------------------------------ 7. client-side
// expiry

#[test]
fn no_server_for_the_session_timeout_expires_the_session_locally() {
    let mut h = Pair::connected(config(), 30_000);
    h.run_until(h.now() + ms(5_000));
    h.reply(xid::PING, 0, 0, &[]);
    let last_heard = h.now();
    h.submit(delete(1, "/queued"));
    h.one_request();
    // The connection breaks 7 s later; the clock runs from when the server was last heard.
    h.run_until(last_heard + ms(7_000));
    h.transport_closed();
    h.take_events();
    h.take_sent();

    h.dial = Dial::Refuse;
    h.run_until(last_heard + ms(29_999));
    assert_eq!(h.s.state(), SessionState::Disconnected);
    assert!(h.attempts.len() > 5, "it kept trying: {:?}", h.attempts);
    assert!(h.take_events().is_empty());

    h.run_until(last_heard + ms(30_000));
    let evs = h.take_events();
    assert!(
        evs.contains(&Ev::State(SessionState::Expired, StateCause::ClientExpired)),
        "events: {evs:?}"
    );
    assert_eq!(h.s.session_id(), 0);

    // Then a new session.
    h.dial = Dial::Accept;
    let c = h.next_connect_req();
    assert_eq!((c.session_id, c.password), (0, vec![0; 16]));
    h.accept(SID2, 30_000, false);
    assert!(h.take_events().contains(&Ev::NewSession(SID2)));
}

#[test]
fn failed_attempts_right_at_the_expiry_time_expire_the_session() {
    // Each attempt opens TCP and is then closed by the server without an answer. The
    // first connection answered, so the new session is asked for at once.
    let mut h = Pair::connected(config(), 30_000);
    h.submit(delete(1, "/a"));
    let r = h.one_request();
    h.reply(r.xid, 1, 0, &[]);
    h.take_events();
    let last_heard = h.now();
    h.transport_closed();
    h.take_events();
    let mut evs = Vec::new();
    for _ in 0..10_000 {
        let c = h.next_connect_req();
        evs.extend(h.take_events());
        if c.session_id == 0 {
            // The session expired while waiting for this attempt.
            break;
        }
        assert_eq!(c.session_id, SID);
        h.transport_closed();
        evs.extend(h.take_events());
        if !evs.is_empty() {
            break;
        }
    }
    assert_eq!(
        evs,
        vec![
            Ev::State(SessionState::Expired, StateCause::ClientExpired),
            Ev::State(SessionState::Connecting, StateCause::Attempt),
        ]
    );
    assert!(h.now() >= last_heard + ms(30_000));
    assert!(
        h.now() < last_heard + ms(31_000),
        "late: {:?}",
        h.now() - last_heard
    );
}

#[test]

fn hanging_attempt_does_not_delay_local_expiry() {
    let mut h = Pair::connected(config(), 30_000);
    let last_heard = h.now();
    h.submit(delete(1, "/a"));
    h.one_request();
    // The server goes silent: the read timeout drops the connection after 20 s.
    h.dial = Dial::Hang;
    h.run_until(last_heard + ms(20_000));
    assert_eq!(h.s.state(), SessionState::Disconnected);
    h.take_events();
    // The reconnect attempt hangs (its deadline is 30 s away); the session is still known
    // to be gone 30 s after the server was last heard.
    h.run_until(last_heard + ms(30_000));
    // Expired, then at once a new attempt for a new session.
    assert!(h
        .take_events()
        .contains(&Ev::State(SessionState::Expired, StateCause::ClientExpired)));
}

// ------------------------------------------------------------------------------ 8. watches

#[test]
fn exists_on_a_missing_node_sets_an_exist_watch() {
    let mut h = Pair::connected(config(), 30_000);
    h.watch_exist("/n", 1, 100);
    assert_eq!(h.s.watch_count(), 1);
    h.notify(EventType::NodeDataChanged, "/other");
    assert!(h.take_events().is_empty());
    h.notify(EventType::NodeCreated, "/n");
    assert_eq!(
        h.take_events(),
        vec![Ev::Oneshot(100, node_event(EventType::NodeCreated, "/n"))]
    );
    assert_eq!(h.s.watch_count(), 0);
    h.notify(EventType::NodeDeleted, "/n");
    assert!(h.take_events().is_empty(), "a one-shot watch fires once");
}

#[test]
fn exists_on_an_existing_node_sets_a_data_watch() {
    let mut h = Pair::connected(config(), 30_000);
    h.submit(exists(1, "/n", Some(100)));
    let r = h.one_request();
    assert_eq!(
        r.body,
        encode(&Request::Exists {
            path: "/n",
            watch: true
        })
    );
    h.reply(r.xid, 5, 0, &encode(&stat(5)));
    assert_eq!(
        h.take_events(),
        vec![Ev::Reply(1, Ok(Response::Stat(stat(5))))]
    );
    h.notify(EventType::NodeChildrenChanged, "/n");
    assert!(h.take_events().is_empty());
    h.notify(EventType::NodeDataChanged, "/n");
    assert_eq!(
        h.take_events(),
        vec![Ev::Oneshot(
            100,
            node_event(EventType::NodeDataChanged, "/n")
        )]
    );
}

#[test]
fn get_data_watch_fires_on_change_and_on_delete() {
    let mut h = Pair::connected(config(), 30_000);
    h.watch_data("/d", 1, 100);
    h.notify(EventType::NodeChildrenChanged, "/d");
    assert!(h.take_events().is_empty(), "not a data event");
    h.notify(EventType::NodeDataChanged, "/d");
    assert_eq!(
        h.take_events(),
        vec![Ev::Oneshot(
            100,
            node_event(EventType::NodeDataChanged, "/d")
        )]
    );
    h.watch_data("/d", 2, 101);
    h.notify(EventType::NodeDeleted, "/d");
    assert_eq!(
        h.take_events(),
        vec![Ev::Oneshot(101, node_event(EventType::NodeDeleted, "/d"))]
    );
    assert_eq!(h.s.watch_count(), 0);
}

#[test]
fn notification_zxid_is_reported_when_present() {
    let mut h = Pair::connected(config(), 30_000);
    h.watch_data("/d", 1, 100);
    h.feed(&notification(0x1234, EventType::NodeDataChanged, "/d"));
    assert_eq!(
        h.take_events(),
        vec![Ev::Oneshot(
            100,
            WatchedEvent {
                zxid: Some(0x1234),
                ..node_event(EventType::NodeDataChanged, "/d")
            }
        )]
    );
}

#[test]
fn child_watch_fires_on_children_changed_and_on_delete() {
    let mut h = Pair::connected(config(), 30_000);
    h.watch_child("/c", 1, 100);
    h.notify(EventType::NodeDataChanged, "/c");
    h.notify(EventType::NodeCreated, "/c");
    assert!(h.take_events().is_empty());
    h.notify(EventType::NodeChildrenChanged, "/c");
    assert_eq!(
        h.take_events(),
        vec![Ev::Oneshot(
            100,
            node_event(EventType::NodeChildrenChanged, "/c")
        )]
    );
    h.watch_child("/c", 2, 101);
    h.notify(EventType::NodeDeleted, "/c");
    assert_eq!(
        h.take_events(),
        vec![Ev::Oneshot(101, node_event(EventType::NodeDeleted, "/c"))]
    );
}

#[test]
fn failed_reads_set_no_watch() {
    let mut h = Pair::connected(config(), 30_000);
    h.submit(get_data(1, "/missing", Some(100)));
    h.submit(get_children(2, "/missing", Some(101)));
    h.submit(exists(3, "/secret", Some(102)));
    let reqs = h.requests();
    h.reply(reqs[0].xid, 5, -101, &[]);
    h.reply(reqs[1].xid, 5, -101, &[]);
    h.reply(reqs[2].xid, 5, -102, &[]);
    assert_eq!(
        h.take_events(),
        vec![
            Ev::Reply(1, Err(Error::NoNode)),
            Ev::Reply(2, Err(Error::NoNode)),
            Ev::Reply(3, Err(Error::NoAuth)),
        ]
    );
    assert_eq!(h.s.watch_count(), 0);
    h.notify(EventType::NodeCreated, "/missing");
    h.notify(EventType::NodeChildrenChanged, "/missing");
    h.notify(EventType::NodeCreated, "/secret");
    assert!(h.take_events().is_empty());
    assert!(
        h.closes.is_empty(),
        "unsolicited notifications are harmless"
    );
}

#[test]
fn one_notification_fires_every_local_watcher_of_the_path_once() {
    let mut h = Pair::connected(config(), 30_000);
    h.watch_data("/f", 1, 100);
    h.watch_data("/f", 2, 101);
    h.submit(exists(3, "/f", Some(102)));
    let r = h.one_request();
    h.reply(r.xid, 5, 0, &encode(&stat(5)));
    h.take_events();
    h.watch_child("/f", 4, 103);
    h.watch_data("/g", 5, 104);
    h.take_events();
    assert_eq!(h.s.watch_count(), 5);

    h.notify(EventType::NodeDataChanged, "/f");
    let mut fired: Vec<_> = h
        .take_events()
        .into_iter()
        .map(|e| match e {
            Ev::Oneshot(t, ev) => {
                assert_eq!(ev, node_event(EventType::NodeDataChanged, "/f"));
                t
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    fired.sort_unstable();
    assert_eq!(fired, vec![100, 101, 102]);
    h.notify(EventType::NodeDataChanged, "/f");
    assert!(h.take_events().is_empty());
    h.notify(EventType::NodeDeleted, "/f");
    assert_eq!(
        h.take_events(),
        vec![Ev::Oneshot(103, node_event(EventType::NodeDeleted, "/f"))]
    );
    assert_eq!(h.s.watch_count(), 1);
}

#[test]
fn forgotten_oneshot_watchers_do_not_fire() {
    let mut h = Pair::connected(config(), 30_000);
    h.watch_data("/f", 1, 100);
    h.watch_data("/f", 2, 101);
    h.s.forget_oneshot_watchers(|t| *t == 100);
    assert_eq!(h.s.watch_count(), 1);
    assert!(h.take_sent().is_empty(), "no server call");
    h.notify(EventType::NodeDataChanged, "/f");
    assert_eq!(
        h.take_events(),
        vec![Ev::Oneshot(
            101,
            node_event(EventType::NodeDataChanged, "/f")
        )]
    );
}

#[test]
fn persistent_watch_gets_every_event_of_its_path() {
    let mut h = Pair::connected(config(), 30_000);
    h.add_persistent("/p", AddWatchMode::Persistent, 200, 10);
    let r = h.one_request();
    assert_eq!(r.op, OpCode::AddWatch.as_i32());
    assert_eq!(parse_path_and_int(&r), ("/p".to_owned(), 0));
    // Not yet acknowledged: events belong to changes before the watch.
    h.notify(EventType::NodeDataChanged, "/p");
    assert!(h.take_events().is_empty());
    h.reply(r.xid, 5, 0, &[]);
    assert_eq!(h.take_events(), vec![Ev::Reply(10, Ok(Response::Empty))]);

    let types = [
        EventType::NodeDataChanged,
        EventType::NodeChildrenChanged,
        EventType::NodeDeleted,
        EventType::NodeCreated,
        EventType::NodeDataChanged,
        EventType::NodeChildrenChanged,
    ];
    for t in types {
        h.notify(t, "/p");
        assert_eq!(h.take_events(), vec![Ev::Stream(200, node_event(t, "/p"))]);
    }
    // Nothing for children or grandchildren.
    h.notify(EventType::NodeDataChanged, "/p/c");
    h.notify(EventType::NodeCreated, "/p/c/d");
    h.notify(EventType::NodeChildrenChanged, "/p/c");
    assert!(h.take_events().is_empty());
    assert_eq!(h.s.watch_count(), 1);
}

#[test]
fn recursive_watch_gets_descendant_events_but_no_child_events() {
    let mut h = Pair::connected(config(), 30_000);
    h.watch_persistent("/r", AddWatchMode::PersistentRecursive, 201);
    h.watch_child("/r/x", 1, 100);

    for (t, path) in [
        (EventType::NodeCreated, "/r"),
        (EventType::NodeDataChanged, "/r/x"),
        (EventType::NodeCreated, "/r/x/y/z"),
        (EventType::NodeDeleted, "/r/q"),
    ] {
        h.notify(t, path);
        assert_eq!(h.take_events(), vec![Ev::Stream(201, node_event(t, path))]);
    }
    // A child event for the standard child watch goes to it alone.
    h.notify(EventType::NodeChildrenChanged, "/r/x");
    assert_eq!(
        h.take_events(),
        vec![Ev::Oneshot(
            100,
            node_event(EventType::NodeChildrenChanged, "/r/x")
        )]
    );
    h.notify(EventType::NodeChildrenChanged, "/r");
    assert!(h.take_events().is_empty());
    // "/rx" is not below "/r".
    h.notify(EventType::NodeDataChanged, "/rx");
    assert!(h.take_events().is_empty());
}

#[test]
fn recursive_watch_on_the_root_sees_everything() {
    let mut h = Pair::connected(config(), 30_000);
    h.watch_persistent("/", AddWatchMode::PersistentRecursive, 201);
    for path in ["/", "/a", "/a/b/c"] {
        h.notify(EventType::NodeDataChanged, path);
        assert_eq!(
            h.take_events(),
            vec![Ev::Stream(
                201,
                node_event(EventType::NodeDataChanged, path)
            )]
        );
    }
}

#[test]
fn shared_persistent_watch_is_added_once_and_removed_with_the_last_watcher() {
    let mut h = Pair::connected(config(), 30_000);
    h.watch_persistent("/p", AddWatchMode::Persistent, 200);
    h.add_persistent("/p", AddWatchMode::Persistent, 201, 11);
    assert_eq!(h.take_events(), vec![Ev::Reply(11, Ok(Response::Empty))]);
    assert!(
        h.take_sent().is_empty(),
        "the server already holds the watch"
    );

    h.notify(EventType::NodeDataChanged, "/p");
    let mut streams: Vec<_> = h
        .take_events()
        .into_iter()
        .map(|e| match e {
            Ev::Stream(s, _) => s,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    streams.sort_unstable();
    assert_eq!(streams, vec![200, 201]);

    h.remove_persistent(200);
    assert!(h.take_sent().is_empty(), "another watcher still needs it");
    assert_eq!(h.take_events(), vec![Ev::StreamEnded(200)]);
    h.notify(EventType::NodeDataChanged, "/p");
    assert_eq!(
        h.take_events(),
        vec![Ev::Stream(
            201,
            node_event(EventType::NodeDataChanged, "/p")
        )]
    );

    h.remove_persistent(201);
    assert_eq!(h.take_events(), vec![Ev::StreamEnded(201)]);
    let r = h.one_request();
    assert_eq!(r.op, OpCode::RemoveWatches.as_i32());
    assert!(r.xid > 0);
    assert_eq!(parse_path_and_int(&r), ("/p".to_owned(), 3));
    h.reply(r.xid, 6, 0, &[]);
    assert!(h.take_events().is_empty());
    assert_eq!(h.s.watch_count(), 0);
    h.notify(EventType::NodeDataChanged, "/p");
    assert!(h.take_events().is_empty());
    assert!(h.closes.is_empty());
}

#[test]
fn removing_a_persistent_watch_keeps_the_server_watch_for_oneshot_watchers() {
    let mut h = Pair::connected(config(), 30_000);
    h.watch_persistent("/p", AddWatchMode::Persistent, 200);
    h.watch_data("/p", 1, 100);
    h.remove_persistent(200);
    assert!(h.take_sent().is_empty());
    assert_eq!(h.take_events(), vec![Ev::StreamEnded(200)]);
    h.notify(EventType::NodeDataChanged, "/p");
    assert_eq!(
        h.take_events(),
        vec![Ev::Oneshot(
            100,
            node_event(EventType::NodeDataChanged, "/p")
        )]
    );
}

#[test]
fn rejected_add_watch_registers_nothing() {
    let mut h = Pair::connected(config(), 30_000);
    h.add_persistent("/p", AddWatchMode::Persistent, 200, 10);
    let r = h.one_request();
    h.reply(r.xid, 5, -6, &[]);
    assert_eq!(
        h.take_events(),
        vec![
            Ev::StreamEnded(200),
            Ev::Reply(10, Err(Error::Unimplemented))
        ]
    );
    assert_eq!(h.s.watch_count(), 0);
    h.notify(EventType::NodeDataChanged, "/p");
    assert!(h.take_events().is_empty());
}

#[test]

fn add_watch_lost_with_the_connection_registers_nothing() {
    let mut h = Pair::connected(config(), 30_000);
    h.add_persistent("/p", AddWatchMode::Persistent, 200, 10);
    h.one_request();
    h.transport_closed();
    let evs = h.take_events();
    assert!(evs.contains(&Ev::Reply(10, Err(Error::ConnectionLoss))));
    assert_eq!(
        h.s.watch_count(),
        0,
        "the failed watcher must not stay registered"
    );
}

// ------------------------------------------------------------------------------ 9. watch
// re-registration

#[test]
fn reconnect_replays_auth_then_set_watches_then_queued_requests() {
    let mut h = Pair::connected(config(), 30_000);
    h.add_auth("digest", b"alice:secret", 1);
    h.add_auth("ip", b"127.0.0.1", 2);
    assert_eq!(h.requests().len(), 2);
    h.reply(xid::AUTH, 0, 0, &[]);
    h.reply(xid::AUTH, 0, 0, &[]);
    h.take_events();
    h.watch_data("/d", 3, 100);
    h.watch_exist("/e", 4, 101);
    h.watch_child("/c", 5, 102);
    h.submit(delete(6, "/last"));
    let r = h.one_request();
    h.reply(r.xid, 0x66, 0, &[]);
    h.take_events();
    assert_eq!(h.s.last_zxid(), 0x66);

    h.transport_closed();
    h.take_events();
    h.submit(delete(7, "/q1"));
    h.add_auth("digest", b"bob:pw", 8);
    h.submit(set_data(9, "/q2", b"x"));
    assert!(h.take_sent().is_empty());

    let c = h.next_connect_req();
    assert_eq!(c.last_zxid_seen, 0x66);
    h.accept(SID, 30_000, false);
    let sent = h.requests();
    assert_eq!(sent.len(), 6, "sent: {sent:?}");
    assert_eq!(
        parse_auth(&sent[0]),
        (0, "digest".to_owned(), b"alice:secret".to_vec())
    );
    assert_eq!(
        parse_auth(&sent[1]),
        (0, "ip".to_owned(), b"127.0.0.1".to_vec())
    );
    assert_eq!(
        parse_auth(&sent[2]),
        (0, "digest".to_owned(), b"bob:pw".to_vec())
    );
    assert_eq!(sent[3].op, OpCode::SetWatches.as_i32());
    let sw = parse_set_watches(&sent[3]);
    assert_eq!(sw.relative_zxid, 0x66);
    assert_eq!(
        (sw.data, sw.exist, sw.child),
        (vec!["/d".into()], vec!["/e".into()], vec!["/c".into()])
    );
    assert_eq!(
        (sent[4].op, sent[5].op),
        (OpCode::Delete.as_i32(), OpCode::SetData.as_i32())
    );
    assert!(sent[3].xid > 0 && sent[4].xid == sent[3].xid + 1 && sent[5].xid == sent[4].xid + 1);
    assert_eq!(h.s.stats().set_watches_batches, 1);

    // Auth replies first (they overtake), then the SetWatches reply, then the requests.
    for _ in 0..3 {
        h.reply(xid::AUTH, 0, 0, &[]);
    }
    h.reply(sent[3].xid, 0x67, 0, &[]);
    h.reply(sent[4].xid, 0x68, 0, &[]);
    h.reply(sent[5].xid, 0x69, 0, &encode(&stat(0x69)));
    let evs = h.take_events();
    assert_eq!(
        evs,
        vec![
            Ev::State(SessionState::Connected, StateCause::Handshake),
            Ev::Reply(8, Ok(Response::Empty)),
            Ev::Reply(7, Ok(Response::Empty)),
            Ev::Reply(9, Ok(Response::Stat(stat(0x69)))),
        ]
    );
    // The re-registered watches still fire.
    h.notify(EventType::NodeCreated, "/e");
    assert_eq!(
        h.take_events(),
        vec![Ev::Oneshot(101, node_event(EventType::NodeCreated, "/e"))]
    );
}

#[test]
fn persistent_watches_are_re_registered_with_set_watches2() {
    let mut h = Pair::connected(config(), 30_000);
    h.watch_data("/d", 1, 100);
    h.watch_persistent("/p", AddWatchMode::Persistent, 200);
    h.watch_persistent("/r", AddWatchMode::PersistentRecursive, 201);
    let zxid = h.s.last_zxid();
    h.reconnect_same_session();
    let sent = h.requests();
    assert_eq!(sent.len(), 1, "sent: {sent:?}");
    assert_eq!(sent[0].op, OpCode::SetWatches2.as_i32());
    let sw = parse_set_watches(&sent[0]);
    assert_eq!(sw.relative_zxid, zxid);
    assert_eq!(sw.data, vec!["/d".to_owned()]);
    assert!(sw.exist.is_empty() && sw.child.is_empty());
    assert_eq!(sw.persistent, vec!["/p".to_owned()]);
    assert_eq!(sw.recursive, vec!["/r".to_owned()]);
    h.reply(sent[0].xid, zxid, 0, &[]);
    h.take_events();
    h.notify(EventType::NodeDataChanged, "/r/deep");
    assert_eq!(
        h.take_events(),
        vec![Ev::Stream(
            201,
            node_event(EventType::NodeDataChanged, "/r/deep")
        )]
    );
}

#[test]
fn no_watches_no_set_watches() {
    let mut h = Pair::connected(config(), 30_000);
    h.reconnect_same_session();
    assert!(h.take_sent().is_empty());
    assert_eq!(h.s.stats().set_watches_batches, 0);
}

#[test]
fn many_watches_are_re_registered_in_bounded_batches() {
    let mut h = Pair::connected(config(), 30_000);
    const N: usize = 4_000;
    // 100-byte paths: 400 kB in all, about three times the batch size.
    let paths: Vec<String> = (0..N).map(|i| format!("/watched/{i:0>91}")).collect();
    assert!(paths.iter().all(|p| p.len() == 100));
    for (i, p) in paths.iter().enumerate() {
        let t = u32::try_from(i).unwrap();
        h.submit(match i % 3 {
            0 => get_data(t, p, Some(t)),
            1 => exists(t, p, Some(t)),
            _ => get_children(t, p, Some(t)),
        });
    }
    // The last of them were held back for a joint write.
    h.run_for(DEFAULT_MAX_WRITE_DELAY);
    let mut server = Vec::new();
    for r in h.requests() {
        let (err, body) = match OpCode::from_i32(r.op).unwrap() {
            OpCode::GetData => (0, data_body(b"v", &stat(1))),
            OpCode::Exists => (-101, Bytes::new()),
            _ => (0, children_body(&[])),
        };
        server.extend(reply_frame(r.xid, 0x40, err, &body));
    }
    h.feed(&server);
    assert_eq!(h.take_events().len(), N);
    h.watch_persistent("/pers/a", AddWatchMode::Persistent, 200);
    h.watch_persistent("/pers/b", AddWatchMode::PersistentRecursive, 201);
    assert_eq!(h.s.watch_count(), N + 2);
    h.add_auth("digest", b"u:p", 7);
    h.requests();
    h.reply(xid::AUTH, 0, 0, &[]);
    h.take_events();

    h.transport_closed();
    h.take_events();
    h.submit(delete(9_001, "/after1"));
    h.submit(delete(9_002, "/after2"));
    let c = h.next_connect_req();
    assert_eq!(c.last_zxid_seen, 0x40);
    h.accept(SID, 30_000, false);
    let sent = h.requests();

    assert_eq!(sent[0].xid, xid::AUTH);
    let user: Vec<_> = sent[sent.len() - 2..].to_vec();
    assert_eq!(
        user.iter().map(|r| r.op).collect::<Vec<_>>(),
        vec![OpCode::Delete.as_i32(); 2]
    );
    let batches: Vec<_> = sent[1..sent.len() - 2].to_vec();
    assert!(batches.len() >= 3, "{} batches", batches.len());
    assert_eq!(h.s.stats().set_watches_batches, batches.len() as u64);

    let mut seen: HashMap<String, &'static str> = HashMap::new();
    for (i, b) in batches.iter().enumerate() {
        let sw = parse_set_watches(b);
        assert_eq!(sw.relative_zxid, 0x40);
        let bytes = sw.path_bytes();
        assert!(
            bytes < SET_WATCHES_BATCH_BYTES + 100,
            "batch {i} holds {bytes} bytes of paths"
        );
        if i + 1 < batches.len() {
            assert!(bytes >= SET_WATCHES_BATCH_BYTES, "batch {i} is not full");
        }
        let v2 = !sw.persistent.is_empty() || !sw.recursive.is_empty();
        assert_eq!(
            b.op,
            if v2 {
                OpCode::SetWatches2.as_i32()
            } else {
                OpCode::SetWatches.as_i32()
            },
            "batch {i}"
        );
        for (list, kind) in [
            (sw.data, "data"),
            (sw.exist, "exist"),
            (sw.child, "child"),
            (sw.persistent, "persistent"),
            (sw.recursive, "recursive"),
        ] {
            for p in list {
                assert!(seen.insert(p.clone(), kind).is_none(), "{p} twice");
            }
        }
    }
    assert_eq!(seen.len(), N + 2);
    for (i, p) in paths.iter().enumerate() {
        let want = ["data", "exist", "child"][i % 3];
        assert_eq!(seen.get(p).copied(), Some(want), "{p}");
    }
    assert_eq!(seen.get("/pers/a").copied(), Some("persistent"));
    assert_eq!(seen.get("/pers/b").copied(), Some("recursive"));

    // Catch-up notifications come before their batch's reply; every reply matches in order.
    h.reply(xid::AUTH, 0, 0, &[]);
    h.notify(EventType::NodeDataChanged, &paths[0]);
    for b in &batches {
        h.reply(b.xid, 0x41, 0, &[]);
    }
    h.reply(user[0].xid, 0x42, 0, &[]);
    h.reply(user[1].xid, 0x43, -101, &[]);
    assert_eq!(
        h.take_events(),
        vec![
            Ev::State(SessionState::Connected, StateCause::Handshake),
            Ev::Oneshot(0, node_event(EventType::NodeDataChanged, &paths[0])),
            Ev::Reply(9_001, Ok(Response::Empty)),
            Ev::Reply(9_002, Err(Error::NoNode)),
        ]
    );
    assert!(h.closes.is_empty(), "no protocol violation");
    assert_eq!(h.s.last_zxid(), 0x43);
}

#[test]
fn failed_set_watches_is_not_fatal() {
    let mut h = Pair::connected(config(), 30_000);
    h.watch_persistent("/p", AddWatchMode::Persistent, 200);
    h.reconnect_same_session();
    h.take_events();
    let r = h.one_request();
    // A server without SetWatches2 answers UNIMPLEMENTED (and then closes).
    h.reply(r.xid, 0, -6, &[]);
    assert!(h.take_events().is_empty());
    assert_eq!(h.s.state(), SessionState::Connected);
}

// ------------------------------------------------------------------------------ 10. auth

#[test]
fn auth_reply_is_matched_out_of_band() {
    let mut h = Pair::connected(config(), 30_000);
    h.submit(get_data(1, "/a", None));
    h.add_auth("digest", b"user:pw", 2);
    let reqs = h.requests();
    assert_eq!((reqs[0].xid, reqs[0].op), (1, OpCode::GetData.as_i32()));
    assert_eq!(
        parse_auth(&reqs[1]),
        (0, "digest".to_owned(), b"user:pw".to_vec())
    );
    // The auth reply overtakes the read.
    h.reply(xid::AUTH, 0, 0, &[]);
    h.reply(1, 0x10, 0, &data_body(b"v", &stat(1)));
    assert_eq!(
        h.take_events(),
        vec![
            Ev::Reply(2, Ok(Response::Empty)),
            Ev::Reply(1, Ok(data_response(b"v", stat(1)))),
        ]
    );
    assert!(h.closes.is_empty());
    assert_eq!(h.s.last_zxid(), 0x10);
}

#[test]
fn several_auth_replies_complete_in_order() {
    let mut h = Pair::connected(config(), 30_000);
    h.add_auth("digest", b"a:1", 1);
    h.add_auth("digest", b"b:2", 2);
    assert_eq!(h.requests().len(), 2);
    h.reply(xid::AUTH, 0, 0, &[]);
    assert_eq!(h.take_events(), vec![Ev::Reply(1, Ok(Response::Empty))]);
    h.reply(xid::AUTH, 0, 0, &[]);
    assert_eq!(h.take_events(), vec![Ev::Reply(2, Ok(Response::Empty))]);
}

#[test]
fn rejected_auth_stops_the_session() {
    let mut h = Pair::connected(config(), 30_000);
    h.watch_data("/w", 5, 100);
    h.submit(get_data(1, "/a", None));
    h.add_auth("bogus", b"x", 2);
    h.requests();
    h.reply(xid::AUTH, 0, -115, &[]);
    assert_eq!(h.closes.len(), 1);
    let evs = h.take_events();
    assert_eq!(evs[0], Ev::Reply(2, Err(Error::AuthFailed)));
    assert!(evs.contains(&Ev::Reply(1, Err(Error::AuthFailed))));
    assert!(evs.contains(&Ev::Oneshot(
        100,
        session_event(SessionState::AuthFailed, "/w")
    )));
    assert_eq!(
        evs.last(),
        Some(&Ev::State(
            SessionState::AuthFailed,
            StateCause::AuthRejected(Error::AuthFailed)
        ))
    );
    assert!(h.s.state().is_terminal());
    assert_eq!(h.s.poll_timeout(), None);

    h.submit(delete(3, "/b"));
    h.add_auth("digest", b"u:p", 4);
    assert_eq!(
        h.take_events(),
        vec![
            Ev::Reply(3, Err(Error::AuthFailed)),
            Ev::Reply(4, Err(Error::AuthFailed)),
        ]
    );
    h.run_for(ms(100_000));
    assert!(h.take_sent().is_empty());
    assert_eq!(h.attempts.len(), 1);
}

// ------------------------------------------------------------------------------ 11. close

#[test]
fn close_sends_close_session_and_waits_for_its_reply() {
    let mut h = Pair::connected(config(), 30_000);
    h.watch_data("/w", 5, 100);
    h.submit(get_data(1, "/a", None));
    h.close();
    let reqs = h.requests();
    assert_eq!(reqs.len(), 2);
    let close = &reqs[1];
    assert_eq!(close.op, OpCode::CloseSession.as_i32());
    assert_eq!(close.xid, reqs[0].xid + 1);
    assert!(close.body.is_empty());

    // Calls made while closing fail at once.
    h.submit(delete(2, "/b"));
    assert_eq!(h.take_events(), vec![Ev::Reply(2, Err(Error::Closed))]);
    // The request sent before close still gets its answer.
    h.reply(reqs[0].xid, 5, 0, &data_body(b"v", &stat(1)));
    assert_eq!(
        h.take_events(),
        vec![Ev::Reply(1, Ok(data_response(b"v", stat(1))))]
    );
    h.reply(close.xid, 6, 0, &[]);
    assert_eq!(h.closes.len(), 1);
    let evs = h.take_events();
    assert_eq!(
        evs,
        vec![
            Ev::Oneshot(100, session_event(SessionState::Closed, "/w")),
            Ev::State(SessionState::Closed, StateCause::UserClose),
        ]
    );
    assert!(h.s.state().is_terminal());
    h.submit(delete(3, "/c"));
    assert_eq!(h.take_events(), vec![Ev::Reply(3, Err(Error::Closed))]);
    h.run_for(ms(100_000));
    assert!(h.take_sent().is_empty());
    assert_eq!(h.attempts.len(), 1, "no reconnect after close");
}

#[test]
fn close_while_disconnected_is_immediate() {
    let mut h = Pair::connected(config(), 30_000);
    h.transport_closed();
    h.take_events();
    h.dial = Dial::Refuse;
    h.submit(delete(1, "/queued"));
    h.close();
    assert!(h.take_sent().is_empty());
    assert!(h.closes.is_empty(), "no transport to close");
    assert_eq!(
        h.take_events(),
        vec![
            Ev::Reply(1, Err(Error::Closed)),
            Ev::State(SessionState::Closed, StateCause::UserClose),
        ]
    );
    assert_eq!(h.s.poll_timeout(), None);
}

#[test]
fn close_during_handshake_drops_the_transport() {
    let mut h = Pair::new(config());
    h.connect_req();
    h.submit(delete(1, "/queued"));
    h.close();
    assert_eq!(h.closes.len(), 1);
    assert!(h.take_sent().is_empty());
    assert_eq!(
        h.take_events(),
        vec![
            Ev::Reply(1, Err(Error::Closed)),
            Ev::State(SessionState::Closed, StateCause::UserClose),
        ]
    );
}

#[test]
fn close_without_reply_ends_after_the_read_timeout() {
    let mut h = Pair::connected(config(), 30_000);
    h.submit(get_data(1, "/a", None));
    h.close();
    let t = h.now();
    assert_eq!(h.requests().len(), 2);
    h.run_until(t + ms(19_999));
    assert!(h.take_events().is_empty());
    assert!(h.take_sent().is_empty(), "no pings while closing");
    h.run_until(t + ms(20_000));
    assert_eq!(h.closes.len(), 1);
    assert_eq!(
        h.take_events(),
        vec![
            Ev::Reply(1, Err(Error::Closed)),
            Ev::State(SessionState::Closed, StateCause::UserClose),
        ]
    );
}

#[test]
fn connection_lost_while_closing_ends_the_close() {
    let mut h = Pair::connected(config(), 30_000);
    h.close();
    h.requests();
    h.transport_closed();
    assert_eq!(
        h.take_events(),
        vec![Ev::State(SessionState::Closed, StateCause::UserClose)]
    );
    h.run_for(ms(10_000));
    assert_eq!(h.attempts.len(), 1);
}

// ------------------------------------------------------------------------------ 12. connect
// timeout and back-off

#[test]
fn connect_attempts_time_out_and_back_off() {
    let cfg = SessionConfig {
        session_timeout: ms(9_000),
        host_count: 3,
        ..SessionConfig::default()
    };
    let mut h = Pair::with_dial(cfg, Dial::Hang);
    let t0 = h.now();
    assert_eq!(h.attempts.len(), 1);
    assert_eq!(h.s.connect_timeout(), ms(3_000));
    assert_eq!(h.s.poll_timeout(), Some(t0 + ms(3_000)));
    h.run_until(t0 + ms(2_999));
    assert!(h.closes.is_empty());
    h.run_until(t0 + ms(3_000));
    assert_eq!(h.closes, vec![ms(3_000)]);
    assert!(h.s.poll_timeout().unwrap() > h.now());

    h.run_until(t0 + ms(60_000));
    let cap = ms(900); // a tenth of the session timeout
    assert!(h.attempts.len() >= 10);
    for (k, close) in h.closes.iter().enumerate() {
        // Attempt k (0-based) timed out after the connect timeout...
        assert_eq!(*close - h.attempts[k], ms(3_000), "attempt {k}");
        // ...and the next one started no earlier, with a pause after each round of hosts.
        if let Some(next) = h.attempts.get(k + 1) {
            let pause = *next - *close;
            assert!(pause <= ms(1_800), "pause {pause:?} after attempt {k}");
            if (k + 1) % 3 == 0 {
                assert!(pause >= cap, "pause {pause:?} after a full round");
            }
        }
    }
    assert!(h.take_sent().is_empty());
    assert!(h.take_events().is_empty());
    assert_eq!(h.s.state(), SessionState::Connecting);
}

#[test]
fn refused_connections_are_not_retried_in_a_busy_loop() {
    let cfg = SessionConfig {
        session_timeout: ms(9_000),
        host_count: 3,
        ..SessionConfig::default()
    };
    let mut h = Pair::with_dial(cfg, Dial::Refuse);
    h.run_for(ms(10_000));
    // At least 900 ms after every round of three hosts.
    let rounds = 10_000 / 900 + 1;
    assert!(
        h.attempts.len() <= 3 * rounds,
        "{} attempts in 10 s",
        h.attempts.len()
    );
    assert!(h.attempts.len() > 3);
    // After any failure the next deadline is in the future.
    assert!(h.s.poll_timeout().unwrap() > h.now());
}

#[test]
fn connect_timeout_follows_the_negotiated_timeout() {
    let cfg = SessionConfig {
        host_count: 3,
        ..config()
    };
    let mut h = Pair::new(cfg);
    assert_eq!(h.s.connect_timeout(), ms(10_000));
    h.connect_req();
    h.accept(SID, 6_000, false);
    assert_eq!(h.s.connect_timeout(), ms(2_000));
    h.dial = Dial::Hang;
    h.transport_closed();
    let t = h.now();
    h.run_until(t + ms(2_600));
    assert!(h.attempts.len() >= 2);
    assert_eq!(h.closes[0], h.attempts[1] + ms(2_000));
}

// ------------------------------------------------------------------------------ 13. read-only

#[test]
fn read_only_server_and_the_move_to_a_read_write_one() {
    let cfg = SessionConfig {
        allow_read_only: true,
        ..config()
    };
    let mut h = Pair::new(cfg);
    let c = h.connect_req();
    assert!(c.read_only);
    h.accept(SID, 30_000, true);
    assert_eq!(
        h.take_events(),
        vec![
            Ev::NewSession(SID),
            Ev::State(SessionState::ConnectedReadOnly, StateCause::Handshake)
        ]
    );
    assert!(h.s.state().is_connected());
    // Reads work; a write gets the server's NOTREADONLY.
    h.submit(set_data(1, "/a", b"x"));
    let r = h.one_request();
    h.reply(r.xid, 0x20, -119, &[]);
    assert_eq!(h.take_events(), vec![Ev::Reply(1, Err(Error::NotReadOnly))]);

    // The read-only session id is not valid on another server: ask for a new session.
    h.transport_closed();
    h.take_events();
    let c = h.next_connect_req();
    assert_eq!(c.session_id, 0);
    assert_eq!(c.password, vec![0; 16]);
    assert!(c.read_only);
    h.accept(SID2, 30_000, false);
    assert_eq!(
        h.take_events(),
        vec![
            Ev::NewSession(SID2),
            Ev::State(SessionState::Connected, StateCause::Handshake)
        ]
    );

    // From now on the read-write session is resumed.
    h.transport_closed();
    h.take_events();
    let c = h.next_connect_req();
    assert_eq!((c.session_id, c.password), (SID2, PW2.to_vec()));
}

#[test]
fn notifications_carry_the_read_only_state() {
    let cfg = SessionConfig {
        allow_read_only: true,
        ..config()
    };
    let mut h = Pair::new(cfg);
    h.connect_req();
    h.accept(SID, 30_000, true);
    h.take_events();
    h.watch_data("/d", 1, 100);
    h.notify(EventType::NodeDataChanged, "/d");
    assert_eq!(
        h.take_events(),
        vec![Ev::Oneshot(
            100,
            WatchedEvent {
                state: SessionState::ConnectedReadOnly,
                ..node_event(EventType::NodeDataChanged, "/d")
            }
        )]
    );
}

#[test]
fn resumed_session_counts_as_seen_on_a_read_write_server() {
    let cfg = SessionConfig {
        allow_read_only: true,
        resume: Some((SID, PW.to_vec())),
        ..config()
    };
    let mut h = Pair::new(cfg);
    let c = h.connect_req();
    assert_eq!((c.session_id, c.password), (SID, PW.to_vec()));
    h.accept(SID, 30_000, false);
    assert_eq!(
        h.take_events(),
        vec![Ev::State(SessionState::Connected, StateCause::Handshake)],
        "resuming is not a new session"
    );
}

#[test]
fn watches_follow_the_move_from_read_only_to_read_write() {
    let cfg = SessionConfig {
        allow_read_only: true,
        ..config()
    };
    let mut h = Pair::new(cfg);
    h.connect_req();
    h.accept(SID, 30_000, true);
    h.take_events();
    h.watch_data("/d", 1, 100);
    h.transport_closed();
    h.take_events();
    assert_eq!(h.next_connect_req().session_id, 0);
    h.accept(SID2, 30_000, false);
    h.take_events();
    // The new session's connection holds no watch: the local one must be re-registered.
    let sent = h.requests();
    assert_eq!(sent.len(), 1, "sent: {sent:?}");
    let sw = parse_set_watches(&sent[0]);
    assert_eq!(sw.data, vec!["/d".to_owned()]);
}

// ------------------------------------------------------------------------------ write batching

/// The threshold of on-the-wire requests above which requests are held back.
const MIN: u32 = WRITE_BATCH_MIN_IN_FLIGHT as u32;

/// Submits get_data requests with tokens `tokens`; returns how many writes they took.
fn submit_gets(h: &mut Pair, tokens: std::ops::RangeInclusive<u32>) -> usize {
    let before = h.writes;
    for t in tokens {
        h.submit(get_data(t, "/a", None));
    }
    h.writes - before
}

fn xids(reqs: &[Req]) -> Vec<i32> {
    reqs.iter().map(|r| r.xid).collect()
}

/// A connected session with `MIN` requests (xids 1..=MIN) on the wire; its write count
/// starts from zero.
fn deep_pipeline(config: SessionConfig) -> Pair {
    let mut h = Pair::connected(config, 30_000);
    h.writes = 0;
    assert_eq!(submit_gets(&mut h, 1..=MIN), MIN as usize);
    assert_eq!(xids(&h.requests()), (1..=MIN as i32).collect::<Vec<_>>());
    h
}

#[test]
fn shallow_pipelines_write_every_request_at_once() {
    // Up to the threshold, each request has a write of its own, at once.
    let h = deep_pipeline(config());
    assert!(
        h.s.poll_timeout().unwrap() > h.now() + ms(1),
        "no hold deadline"
    );
}

#[test]
fn deep_pipelines_write_requests_together_once_fewer_are_on_the_wire() {
    let mut h = deep_pipeline(config());
    // With MIN on the wire, new requests wait...
    assert_eq!(submit_gets(&mut h, MIN + 1..=2 * MIN - 1), 0);
    assert!(h.take_sent().is_empty());
    assert_eq!(h.s.poll_timeout(), Some(h.now() + DEFAULT_MAX_WRITE_DELAY));
    // ...until as many wait as are on the wire: one write, in call order.
    assert_eq!(submit_gets(&mut h, 2 * MIN..=2 * MIN), 1);
    assert_eq!(
        xids(&h.requests()),
        (MIN as i32 + 1..=2 * MIN as i32).collect::<Vec<_>>()
    );

    // 2 * MIN on the wire, 10 waiting: replies drain the wire below the threshold.
    assert_eq!(submit_gets(&mut h, 2 * MIN + 1..=2 * MIN + 10), 0);
    for xid in 1..=MIN as i32 {
        h.reply(xid, 1, 0, &data_body(b"v", &stat(1)));
        assert!(h.take_sent().is_empty(), "written after reply {xid}");
    }
    h.reply(MIN as i32 + 1, 1, 0, &data_body(b"v", &stat(1)));
    assert_eq!(
        xids(&h.requests()),
        (2 * MIN as i32 + 1..=2 * MIN as i32 + 10).collect::<Vec<_>>()
    );
    // Every reply reached its caller while the writes waited.
    let replies = h.take_events();
    assert_eq!(replies.len(), MIN as usize + 1);
    assert!(replies
        .iter()
        .zip(1..)
        .all(|(e, t)| *e == Ev::Reply(t, Ok(data_response(b"v", stat(1))))));
}

#[test]
fn held_requests_are_written_when_the_delay_runs_out() {
    let mut h = deep_pipeline(config());
    assert_eq!(submit_gets(&mut h, MIN + 1..=MIN + 1), 0);
    h.run_for(DEFAULT_MAX_WRITE_DELAY - Duration::from_micros(1));
    assert!(h.take_sent().is_empty());
    h.run_for(Duration::from_micros(1));
    assert_eq!(xids(&h.requests()), vec![MIN as i32 + 1]);
    // The deadline went with them.
    assert!(h.s.poll_timeout().unwrap() > h.now() + ms(1));
}

#[test]
fn a_zero_delay_writes_every_request_at_once() {
    let cfg = SessionConfig {
        max_write_delay: Duration::ZERO,
        ..config()
    };
    let mut h = deep_pipeline(cfg);
    assert_eq!(submit_gets(&mut h, MIN + 1..=4 * MIN), 3 * MIN as usize);
    assert_eq!(h.requests().len(), 3 * MIN as usize);
}

#[test]
fn held_requests_go_out_with_anything_that_cannot_wait() {
    let mut h = deep_pipeline(config());
    assert_eq!(submit_gets(&mut h, MIN + 1..=MIN + 2), 0);
    h.add_auth("digest", b"u:p", 7);
    let sent = h.requests();
    assert_eq!(
        sent.iter().map(|r| (r.xid, r.op)).collect::<Vec<_>>(),
        vec![
            (MIN as i32 + 1, OpCode::GetData.as_i32()),
            (MIN as i32 + 2, OpCode::GetData.as_i32()),
            (xid::AUTH, OpCode::Auth.as_i32()),
        ]
    );
    assert_eq!(h.writes, MIN as usize + 1, "one write for all three");

    // A ping due while requests wait takes them along too.
    assert_eq!(submit_gets(&mut h, MIN + 3..=MIN + 3), 0);
    let now = h.now();
    h.s.handle_timeout(now + ms(10_000));
    h.drive();
    let sent = h.requests();
    assert_eq!(
        sent.iter().map(|r| r.xid).collect::<Vec<_>>(),
        vec![MIN as i32 + 3, xid::PING]
    );
}

#[test]
fn held_requests_are_written_once_they_fill_64_kib() {
    let mut h = deep_pipeline(config());
    let data = vec![b'x'; 20 * 1024];
    for t in 0..3 {
        h.submit(set_data(100 + t, "/big", &data));
    }
    assert!(h.take_sent().is_empty(), "60 KiB wait");
    h.submit(set_data(103, "/big", &data));
    let sent = h.requests();
    assert_eq!(sent.len(), 4);
    assert_eq!(h.writes, MIN as usize + 1);
}

#[test]
fn held_requests_fail_with_the_connection_and_are_not_written_after_it() {
    let mut h = deep_pipeline(config());
    assert_eq!(submit_gets(&mut h, MIN + 1..=MIN + 2), 0);
    h.transport_closed();
    let failed: Vec<u32> = h
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Ev::Reply(t, Err(Error::ConnectionLoss)) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(failed, (1..=MIN + 2).collect::<Vec<_>>());
    h.next_connect_req();
    h.accept(SID, 30_000, false);
    assert!(h.take_sent().is_empty(), "nothing stale is written");
    // The new connection starts with nothing on the wire: requests go out at once.
    assert_eq!(submit_gets(&mut h, 200..=201), 2);
}

// ------------------------------------------------------------------------------ misc

#[test]
fn stats_count_what_happened() {
    let mut h = Pair::connected(config(), 30_000);
    h.watch_data("/d", 1, 100);
    h.submit(get_data(2, "/x", None));
    let r = h.one_request();
    h.reply(r.xid, 1, -101, &[]);
    h.notify(EventType::NodeDataChanged, "/d");
    h.reconnect_same_session();
    let s = h.s.stats();
    assert_eq!(s.requests, 2);
    assert_eq!(s.errors, 1);
    assert_eq!(s.notifications, 1);
    assert_eq!(s.sessions, 1);
    assert_eq!(s.reconnects, 1);
    assert_eq!(s.disconnects, 1);
    assert_eq!(s.set_watches_batches, 0, "the only watch already fired");
}
