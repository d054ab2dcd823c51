//! A session driven by arbitrary input, for the fuzz target `fuzz/fuzz_targets/session.rs`
//! and the property tests: nothing a server sends may panic the session, lose a request or
//! complete one twice.
//!
//! [`run`] reads its input as a little program. Each step starts with an opcode byte:
//!
//! | opcode % 8 | step |
//! |---|---|
//! | 0 | raw server bytes: a length byte, then that many bytes |
//! | 1 | a reply to the oldest request on the wire: an error byte (0 or a negated code), a length byte and a body |
//! | 2 | a reply with a special xid (ping, auth, SetWatches, notification) and a body, as in 1 |
//! | 3 | a watch notification: an event type byte and a path |
//! | 4 | the clock moves on by a byte × 50 ms, and timers run |
//! | 5 | the connection drops |
//! | 6 | the client submits requests: a kind byte (kinds 6 and 7 are unwatched reads, which go in one turn with the three kinds after them, so that they may be coalesced) |
//! | 7 | the client adds or removes a persistent watch |
//!
//! New connections are answered with a valid handshake reply for the same session, so that
//! the program goes on past reconnects; with read coalescing on (inputs of odd length), so is
//! the probe that follows, except every fourth, which is refused as by a server without
//! MultiRead. At the end the session is closed and every request must have completed exactly
//! once.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use aiozk_proto::consts::xid;
use aiozk_proto::{frame, AddWatchMode, Encode, OpCode, ReplyHeader, Request, WatcherEvent};
use bytes::{BufMut, Bytes, BytesMut};

use super::{Event, Outgoing, Session, SessionConfig, Tokens, WatchKind, WatchRequest};
use crate::error::Error;

/// Plain numbers as reply, watch and stream handles (the scripted tests use them too).
pub(crate) struct Numbers;

impl Tokens for Numbers {
    type Reply = u32;
    type Oneshot = u32;
    type Stream = u32;

    fn stream_index(stream: &u32) -> usize {
        *stream as usize
    }
}

const SESSION_ID: i64 = 0x00c0_ffee;
const PATHS: [&str; 4] = ["/a", "/a/b", "/c", "/"];

/// Runs the program `input` against a fresh session (see the module documentation).
///
/// # Panics
///
/// When the session breaks a promise: a request or watch completed twice, a request left
/// without an answer after the close, a timer that would make a driver spin.
pub fn run(input: &[u8]) {
    play(input).finish();
}

/// Runs the program of `input` up to its end, before the final close.
fn play(input: &[u8]) -> Harness {
    // Half of the inputs run with read coalescing, so the probe and the batches meet
    // arbitrary replies too.
    let mut h = Harness::new(input.len() % 2 == 1);
    let mut bytes = input.iter().copied();
    while let Some(op) = bytes.next() {
        let mut arg = || bytes.next().unwrap_or(0);
        match op % 8 {
            0 => {
                let len = usize::from(arg());
                let chunk: Vec<u8> = (0..len).map(|_| arg()).collect();
                h.feed(&chunk);
            }
            1 | 2 => {
                let special = op % 8 == 2;
                let err = -i32::from(arg() % 140);
                let len = usize::from(arg());
                let body: Vec<u8> = (0..len).map(|_| arg()).collect();
                let xid = if special {
                    [xid::PING, xid::AUTH, xid::SET_WATCHES, xid::NOTIFICATION]
                        [usize::from(op / 8) % 4]
                } else {
                    match h.on_wire.front() {
                        Some(&x) => x,
                        None => continue,
                    }
                };
                h.reply(xid, err, &body);
            }
            3 => {
                let event_type = i32::from(arg() % 8) - 1;
                let path = PATHS[usize::from(arg()) % PATHS.len()];
                h.notify(event_type, path);
            }
            4 => h.advance(Duration::from_millis(50 * u64::from(arg()))),
            5 => h.drop_connection(),
            6 => {
                let kind = arg();
                if kind % 8 >= 6 {
                    for k in kind..kind.saturating_add(4) {
                        h.queue(k);
                    }
                    h.drain();
                } else {
                    h.submit(kind);
                }
            }
            7 => h.toggle_persistent(arg()),
            _ => unreachable!("op % 8 < 8"),
        }
    }
    h
}

struct Harness {
    s: Session<Numbers>,
    now: Instant,
    connected: bool,
    /// The next frame the session writes is its ConnectRequest.
    expect_connect: bool,
    /// Xids of the sent requests not answered yet, oldest first.
    on_wire: VecDeque<i32>,
    next_token: u32,
    submitted: HashSet<u32>,
    answered: HashSet<u32>,
    fired: HashSet<u32>,
    streams: Vec<u32>,
    ended: HashSet<u32>,
    /// Probes answered.
    probes: u32,
}

/// The body of the empty MultiRead a session with coalescing sends after each handshake.
const PROBE: [u8; 9] = [0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff];

impl Harness {
    fn new(coalesce_reads: bool) -> Self {
        // Only the origin of the simulated clock, which moves by the program's steps.
        let now = Instant::now();
        let config = SessionConfig {
            session_timeout: Duration::from_secs(6),
            coalesce_reads,
            ..SessionConfig::default()
        };
        let mut h = Self {
            s: Session::new(config, now),
            now,
            connected: false,
            expect_connect: false,
            on_wire: VecDeque::new(),
            next_token: 0,
            submitted: HashSet::new(),
            answered: HashSet::new(),
            fired: HashSet::new(),
            streams: Vec::new(),
            ended: HashSet::new(),
            probes: 0,
        };
        h.drain();
        for kind in 0..8 {
            h.submit(kind);
        }
        h
    }

    fn token(&mut self) -> u32 {
        self.next_token += 1;
        self.submitted.insert(self.next_token);
        self.next_token
    }

    /// Carries out every output of the session, as a driver would.
    fn drain(&mut self) {
        for _ in 0..10_000 {
            let mut busy = false;
            if self.s.take_close_transport() {
                self.connected = false;
                self.s
                    .on_transport_closed(self.now, Error::Io("closed by the client".into()));
                busy = true;
            }
            if self.s.poll_connect(self.now) {
                self.s.on_transport_connected(self.now);
                self.connected = true;
                self.expect_connect = true;
                self.on_wire.clear();
                busy = true;
            }
            if let Some(mut out) = self.s.poll_transmit(self.now) {
                busy = true;
                if self.connected {
                    self.sent(&mut out);
                }
            }
            while let Some(event) = self.s.poll_event() {
                busy = true;
                self.event(event);
            }
            if !busy {
                return;
            }
        }
        panic!("the session keeps producing output");
    }

    /// Notes the xids the session wrote; answers a ConnectRequest with a handshake.
    fn sent(&mut self, out: &mut BytesMut) {
        while let Ok(Some(f)) = frame::split_frame(out, usize::MAX) {
            if std::mem::take(&mut self.expect_connect) {
                self.handshake();
                continue;
            }
            if f.len() < 8 {
                continue;
            }
            let x = i32::from_be_bytes([f[0], f[1], f[2], f[3]]);
            let op = i32::from_be_bytes([f[4], f[5], f[6], f[7]]);
            if op == OpCode::MultiRead.as_i32() && f[8..] == PROBE[..] {
                self.answer_probe(x);
                continue;
            }
            if x > 0 {
                self.on_wire.push_back(x);
            }
        }
    }

    /// Answers the probe after a handshake like a server with MultiRead, except every
    /// fourth, which gets the Unimplemented of a server without it.
    fn answer_probe(&mut self, x: i32) {
        self.probes += 1;
        let (err, body): (i32, &[u8]) = if self.probes % 4 == 0 {
            (-6, &[])
        } else {
            (0, &PROBE)
        };
        let mut b = BytesMut::new();
        let start = frame::begin_frame(&mut b);
        ReplyHeader {
            xid: x,
            zxid: 0x10,
            err,
        }
        .encode(&mut b);
        b.put_slice(body);
        frame::finish_frame(&mut b, start);
        self.s.read_buf().extend_from_slice(&b);
        self.s.handle_read(self.now);
    }

    fn handshake(&mut self) {
        let mut b = BytesMut::new();
        let start = frame::begin_frame(&mut b);
        b.put_i32(0);
        b.put_i32(6_000);
        b.put_i64(SESSION_ID);
        b.put_i32(16);
        b.put_slice(&[7; 16]);
        b.put_u8(0);
        frame::finish_frame(&mut b, start);
        self.s.read_buf().extend_from_slice(&b);
        self.s.handle_read(self.now);
    }

    fn event(&mut self, event: Event<Numbers>) {
        match event {
            Event::Reply(token, _) => {
                assert!(
                    self.answered.insert(token),
                    "request {token} answered twice"
                );
            }
            Event::Oneshot(token, _) => {
                assert!(
                    self.fired.insert(token),
                    "one-shot watch {token} fired twice"
                );
            }
            Event::Stream(stream, _) => {
                assert!(
                    !self.ended.contains(&stream),
                    "event after stream {stream} ended"
                );
            }
            Event::StreamEnded(stream) => {
                assert!(self.ended.insert(stream), "stream {stream} ended twice");
                self.streams.retain(|&s| s != stream);
            }
            Event::State(..) | Event::NewSession { .. } | Event::Sasl { .. } => {}
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        if !self.connected {
            return;
        }
        self.s.read_buf().extend_from_slice(bytes);
        self.s.handle_read(self.now);
        self.drain();
    }

    fn reply(&mut self, x: i32, err: i32, body: &[u8]) {
        if self.on_wire.front() == Some(&x) {
            self.on_wire.pop_front();
        }
        let mut b = BytesMut::new();
        let start = frame::begin_frame(&mut b);
        ReplyHeader {
            xid: x,
            zxid: 0x10,
            err,
        }
        .encode(&mut b);
        b.put_slice(body);
        frame::finish_frame(&mut b, start);
        self.feed(&b);
    }

    fn notify(&mut self, event_type: i32, path: &str) {
        let mut b = BytesMut::new();
        let start = frame::begin_frame(&mut b);
        ReplyHeader {
            xid: xid::NOTIFICATION,
            zxid: -1,
            err: 0,
        }
        .encode(&mut b);
        WatcherEvent {
            event_type,
            state: 3,
            path: path.to_owned(),
        }
        .encode(&mut b);
        frame::finish_frame(&mut b, start);
        self.feed(&b);
    }

    fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        for _ in 0..10_000 {
            match self.s.poll_timeout() {
                Some(deadline) if deadline <= target => {
                    self.now = self.now.max(deadline);
                    self.s.handle_timeout(self.now);
                    self.drain();
                    if let Some(next) = self.s.poll_timeout() {
                        assert!(next > self.now, "a timer due at once after handle_timeout");
                    }
                }
                _ => break,
            }
        }
        self.now = target;
        self.drain();
    }

    fn drop_connection(&mut self) {
        if self.connected {
            self.connected = false;
            self.s
                .on_transport_closed(self.now, Error::Io("connection reset".into()));
            self.drain();
        }
    }

    /// Submits a request without carrying out the session's output.
    fn queue(&mut self, kind: u8) {
        let token = self.token();
        let path = PATHS[usize::from(kind / 8) % PATHS.len()];
        let watch = |kind| {
            Some(WatchRequest {
                kind,
                path: path.to_owned(),
                token,
            })
        };
        let (request, watch) = match kind % 8 {
            0 => (
                Request::GetData { path, watch: true },
                watch(WatchKind::Data),
            ),
            1 => (
                Request::Exists { path, watch: true },
                watch(WatchKind::Data),
            ),
            2 => (
                Request::GetChildren { path, watch: true },
                watch(WatchKind::Child),
            ),
            3 => (
                Request::SetData {
                    path,
                    data: Some(b"v"),
                    version: -1,
                },
                None,
            ),
            4 => (Request::Delete { path, version: -1 }, None),
            5 => (Request::Sync { path }, None),
            // Unwatched reads, which may be coalesced.
            6 => (Request::GetData { path, watch: false }, None),
            _ => (Request::GetChildren { path, watch: false }, None),
        };
        let mut body = BytesMut::new();
        request.encode(&mut body);
        let outgoing = Outgoing {
            op: request.opcode(),
            body: Bytes::from(body),
            token,
            watch,
        };
        self.s.submit(self.now, outgoing);
    }

    fn submit(&mut self, kind: u8) {
        self.queue(kind);
        self.drain();
    }

    fn toggle_persistent(&mut self, which: u8) {
        if let Some(&stream) = self.streams.first().filter(|_| which % 2 == 1) {
            self.s.remove_persistent(self.now, stream);
        } else {
            let reply = self.token();
            let stream = 1_000 + reply;
            self.streams.push(stream);
            let mode = if which % 4 < 2 {
                AddWatchMode::Persistent
            } else {
                AddWatchMode::PersistentRecursive
            };
            let path = PATHS[usize::from(which / 4) % PATHS.len()].to_owned();
            self.s
                .add_persistent(self.now, path, mode, stream, reply, None);
        }
        self.drain();
    }

    /// Closes the session and checks that every request got exactly one answer.
    fn finish(mut self) {
        self.s.close(self.now);
        self.drain();
        self.drop_connection();
        self.advance(Duration::from_secs(60));
        let unanswered: Vec<_> = self.submitted.difference(&self.answered).collect();
        assert!(
            unanswered.is_empty(),
            "requests never answered: {unanswered:?}"
        );
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    /// A step of the program, with the opcode's low bits fixed so that every kind of step
    /// is drawn (raw bytes are rarer: they mostly end the connection at once).
    fn step() -> impl Strategy<Value = Vec<u8>> {
        (0u8..32, proptest::collection::vec(any::<u8>(), 0..24)).prop_map(|(op, mut args)| {
            let op = if op % 8 == 0 && op > 8 { op + 1 } else { op };
            args.insert(0, op);
            args
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn arbitrary_bytes_never_break_the_session(input in proptest::collection::vec(any::<u8>(), 0..512)) {
            super::run(&input);
        }

        #[test]
        fn arbitrary_server_steps_never_break_the_session(steps in proptest::collection::vec(step(), 0..64)) {
            super::run(&steps.concat());
        }
    }

    #[test]
    fn a_plain_run_answers_every_request() {
        // Submit, reply to all six, tick, drop, reconnect, close.
        let mut program = Vec::new();
        for _ in 0..6 {
            program.extend([1, 0, 0]);
        }
        program.extend([4, 20, 5, 4, 40, 6, 3]);
        super::run(&program);
    }

    #[test]
    fn programs_of_odd_length_coalesce_reads() {
        // Submit two unwatched reads (and two watched reads) in one turn; three bytes.
        let h = super::play(&[6, 6, 4]);
        assert_eq!(h.s.stats().multi_read_batches, 1);
        h.finish();
        // The same reads in a program of even length go one by one.
        let h = super::play(&[6, 6, 4, 0]);
        assert_eq!(h.s.stats().multi_read_batches, 0);
        h.finish();
    }
}
