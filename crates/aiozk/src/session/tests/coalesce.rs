//! Read coalescing on a scripted server: the probe after the handshake, batches and their
//! bounds, each read's own result, servers without MultiRead.

use super::harness::*;
use crate::session::MAX_BATCH_READS;

/// ZooKeeper's error code for an unknown opcode.
const UNIMPLEMENTED: i32 = -6;

const PROBE_BODY: [u8; 9] = [0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff];

fn coalescing() -> SessionConfig {
    SessionConfig {
        coalesce_reads: true,
        ..config()
    }
}

/// One result of a MultiRead reply.
enum R<'a> {
    Data(&'a [u8], Stat),
    Kids(&'a [&'a str]),
    Err(i32),
}

fn multi_reply(results: &[R<'_>]) -> Vec<u8> {
    let mut b = BytesMut::new();
    for r in results {
        match r {
            R::Data(d, st) => {
                b.put_i32(OpCode::GetData.as_i32());
                b.put_u8(0);
                b.put_i32(0);
                b.put_slice(&data_body(d, st));
            }
            R::Kids(k) => {
                b.put_i32(OpCode::GetChildren.as_i32());
                b.put_u8(0);
                b.put_i32(0);
                b.put_slice(&children_body(k));
            }
            R::Err(code) => {
                b.put_i32(-1);
                b.put_u8(0);
                b.put_i32(*code);
                b.put_i32(*code);
            }
        }
    }
    b.put_slice(&PROBE_BODY);
    b.to_vec()
}

/// The (opcode, path) of each read of a MultiRead request; every one must be unwatched.
fn batch_reads(req: &Req) -> Vec<(i32, String)> {
    assert_eq!(
        req.op,
        OpCode::MultiRead.as_i32(),
        "not a MultiRead: {req:?}"
    );
    let mut body = req.body.clone();
    let mut reads = Vec::new();
    loop {
        let op = read_i32(&mut body, "op").unwrap();
        let done = read_bool(&mut body, "done").unwrap();
        let err = read_i32(&mut body, "err").unwrap();
        assert_eq!(err, -1);
        if done {
            assert!(body.is_empty(), "bytes after the end of the MultiRead");
            return reads;
        }
        let path = read_ustring(&mut body, "path").unwrap();
        assert!(
            !read_bool(&mut body, "watch").unwrap(),
            "a watched read in a batch"
        );
        reads.push((op, path));
    }
}

impl Pair {
    /// Answers the probe that follows the handshake, as a server with MultiRead does.
    fn answer_probe(&mut self) {
        let probe = self.one_request();
        assert_eq!(probe.op, OpCode::MultiRead.as_i32());
        assert_eq!(&probe.body[..], &PROBE_BODY);
        self.reply(probe.xid, 0, 0, &PROBE_BODY);
    }

    /// A session with coalescing on, connected to a server with MultiRead.
    fn coalescing(config: SessionConfig) -> Self {
        let mut p = Self::new(config);
        assert_eq!(p.connect_req().session_id, 0);
        p.accept(SID, 30_000, false);
        assert_eq!(p.take_events(), vec![Ev::NewSession(SID)]);
        p.answer_probe();
        assert_eq!(
            p.take_events(),
            vec![Ev::State(SessionState::Connected, StateCause::Handshake)]
        );
        p
    }

    /// Submits every request before the driver takes the output, as calls made in one go
    /// are.
    fn submit_all(&mut self, reqs: Vec<Outgoing<TestTokens>>) {
        let now = self.now();
        for req in reqs {
            self.s.submit(now, req);
        }
        self.drive();
    }
}

#[test]
fn the_probe_goes_alone_after_the_handshake_and_holds_requests_until_answered() {
    let mut p = Pair::new(coalescing());
    p.connect_req();
    p.accept(SID, 30_000, false);
    let probe = p.one_request();
    assert_eq!(probe.op, OpCode::MultiRead.as_i32());
    assert_eq!(&probe.body[..], &PROBE_BODY, "an empty MultiRead");
    // The session is not reported up before the server has answered.
    assert_eq!(p.take_events(), vec![Ev::NewSession(SID)]);
    p.submit_all(vec![get_data(1, "/a", None), set_data(2, "/a", b"x")]);
    assert!(p.requests().is_empty(), "nothing may follow the probe");
    p.reply(probe.xid, 0, 0, &PROBE_BODY);
    assert_eq!(
        p.take_events(),
        vec![Ev::State(SessionState::Connected, StateCause::Handshake)]
    );
    let ops: Vec<i32> = p.requests().iter().map(|r| r.op).collect();
    assert_eq!(
        ops,
        [OpCode::GetData.as_i32(), OpCode::SetData.as_i32()],
        "the requests that waited go in call order"
    );
}

#[test]
fn without_coalescing_there_is_no_probe_and_reads_go_alone() {
    let mut p = Pair::connected(config(), 30_000);
    p.submit_all(vec![
        get_data(1, "/a", None),
        get_data(2, "/b", None),
        get_children(3, "/c", None),
    ]);
    let ops: Vec<i32> = p.requests().iter().map(|r| r.op).collect();
    assert_eq!(
        ops,
        [
            OpCode::GetData.as_i32(),
            OpCode::GetData.as_i32(),
            OpCode::GetChildren.as_i32()
        ]
    );
    assert_eq!(p.s.stats().multi_read_batches, 0);
}

#[test]
fn a_lone_read_goes_out_at_once_as_a_plain_read() {
    let mut p = Pair::coalescing(coalescing());
    let writes = p.writes;
    p.submit(get_data(1, "/a", None));
    let req = p.one_request();
    assert_eq!(req.op, OpCode::GetData.as_i32());
    assert_eq!(p.writes, writes + 1, "written in the same turn");
    let st = stat(7);
    p.reply(req.xid, 7, 0, &data_body(b"hello", &st));
    assert_eq!(
        p.take_events(),
        vec![Ev::Reply(1, Ok(data_response(b"hello", st)))]
    );
    assert_eq!(p.s.stats().coalesced_reads, 0);
}

#[test]
fn reads_submitted_together_go_as_one_multi_read_and_each_gets_its_own_result() {
    let mut p = Pair::coalescing(coalescing());
    p.submit_all(vec![
        get_data(1, "/a", None),
        get_children(2, "/b", None),
        get_data(3, "/missing", None),
        get_data(4, "/d", None),
    ]);
    let req = p.one_request();
    assert_eq!(
        batch_reads(&req),
        vec![
            (OpCode::GetData.as_i32(), "/a".to_owned()),
            (OpCode::GetChildren.as_i32(), "/b".to_owned()),
            (OpCode::GetData.as_i32(), "/missing".to_owned()),
            (OpCode::GetData.as_i32(), "/d".to_owned()),
        ]
    );
    assert_eq!(p.s.in_flight(), 4, "every read of the batch is in flight");
    let (a, d) = (stat(8), stat(9));
    p.reply(
        req.xid,
        9,
        0,
        &multi_reply(&[
            R::Data(b"aaaaa", a),
            R::Kids(&["x", "y"]),
            R::Err(-101),
            R::Data(b"", d),
        ]),
    );
    assert_eq!(
        p.take_events(),
        vec![
            Ev::Reply(1, Ok(data_response(b"aaaaa", a))),
            Ev::Reply(2, Ok(Response::Strings(vec!["x".into(), "y".into()]))),
            Ev::Reply(3, Err(Error::NoNode)),
            Ev::Reply(4, Ok(data_response(b"", d))),
        ]
    );
    let stats = p.s.stats();
    assert_eq!(
        (
            stats.coalesced_reads,
            stats.multi_read_batches,
            stats.errors
        ),
        (4, 1, 1)
    );
    assert_eq!(p.s.in_flight(), 0);
    assert_eq!(p.s.last_zxid(), 9);
}

#[test]
fn anything_but_an_unwatched_read_ends_a_batch_and_keeps_its_place() {
    let mut p = Pair::coalescing(coalescing());
    p.submit_all(vec![
        get_data(1, "/a", None),
        get_data(2, "/b", None),
        set_data(3, "/a", b"x"),
        get_data(4, "/c", None),
        get_data(5, "/d", Some(50)),
        get_children(6, "/e", None),
        get_children(7, "/f", None),
        exists(8, "/g", None),
        get_data(9, "/h", None),
    ]);
    let reqs = p.requests();
    let shape: Vec<(i32, usize)> = reqs
        .iter()
        .map(|r| {
            let n = if r.op == OpCode::MultiRead.as_i32() {
                batch_reads(r).len()
            } else {
                1
            };
            (r.op, n)
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            (OpCode::MultiRead.as_i32(), 2),
            (OpCode::SetData.as_i32(), 1),
            (OpCode::GetData.as_i32(), 1),
            (OpCode::GetData.as_i32(), 1),
            (OpCode::MultiRead.as_i32(), 2),
            (OpCode::Exists.as_i32(), 1),
            (OpCode::GetData.as_i32(), 1),
        ]
    );
    let xids: Vec<i32> = reqs.iter().map(|r| r.xid).collect();
    assert!(xids.windows(2).all(|w| w[1] == w[0] + 1), "{xids:?}");
    // The watched read is the fourth frame, with its watch flag set.
    assert_eq!(reqs[3].body.last(), Some(&1));
}

#[test]
fn batches_hold_at_most_max_batch_reads() {
    let mut p = Pair::coalescing(coalescing());
    let reads: Vec<_> = (0..300)
        .map(|i| get_data(i, &format!("/n{i}"), None))
        .collect();
    p.submit_all(reads);
    let sizes: Vec<usize> = p.requests().iter().map(|r| batch_reads(r).len()).collect();
    assert_eq!(
        sizes,
        vec![MAX_BATCH_READS, MAX_BATCH_READS, 300 - 2 * MAX_BATCH_READS]
    );
}

#[test]
fn batches_shrink_when_results_are_large() {
    let cfg = SessionConfig {
        max_frame: 64 * 1024,
        ..coalescing()
    };
    let mut p = Pair::coalescing(cfg);
    p.submit(get_data(1, "/big", None));
    let req = p.one_request();
    let big = vec![b'x'; 20_000];
    p.reply(req.xid, 3, 0, &data_body(&big, &stat(3)));
    p.take_events();
    // Two results like that one would fill more than half of the frame limit.
    p.submit_all((2..6).map(|i| get_data(i, "/big", None)).collect());
    let singles = p.requests();
    let ops: Vec<i32> = singles.iter().map(|r| r.op).collect();
    assert_eq!(ops, vec![OpCode::GetData.as_i32(); 4]);
    for r in &singles {
        p.reply(r.xid, 3, 0, &data_body(&big, &stat(3)));
    }
    // Small results make the expectation fall back, and reads gather again.
    for i in 0..40 {
        p.submit(get_data(100 + i, "/small", None));
        let req = p.one_request();
        p.reply(req.xid, 4, 0, &data_body(b"s", &stat(4)));
    }
    p.submit_all((200..204).map(|i| get_data(i, "/small", None)).collect());
    let req = p.one_request();
    assert_eq!(batch_reads(&req).len(), 4);
}

#[test]
fn a_batch_reply_over_the_frame_limit_fails_only_the_read_too_large_alone() {
    let cfg = SessionConfig {
        max_frame: 4096,
        ..coalescing()
    };
    let mut p = Pair::coalescing(cfg);
    p.submit_all(vec![
        get_data(1, "/a", None),
        get_data(2, "/big", None),
        get_data(3, "/c", None),
    ]);
    let req = p.one_request();
    let big = vec![b'x'; 5000];
    let (a, b, c) = (stat(5), stat(6), stat(7));
    let reply = multi_reply(&[R::Data(b"a", a), R::Data(&big, b), R::Data(b"c", c)]);
    assert!(reply.len() > 4096);
    p.reply(req.xid, 7, 0, &reply);
    let evs = p.take_events();
    assert_eq!(evs.len(), 3, "{evs:?}");
    assert_eq!(evs[0], Ev::Reply(1, Ok(data_response(b"a", a))));
    assert!(
        matches!(&evs[1], Ev::Reply(2, Err(Error::ProtocolViolation(m))) if m.contains("too large")),
        "{:?}",
        evs[1]
    );
    assert_eq!(evs[2], Ev::Reply(3, Ok(data_response(b"c", c))));
    assert!(p.closes.is_empty(), "the connection stays");
    assert_eq!(p.s.state(), SessionState::Connected);
}

#[test]
fn a_malformed_batch_reply_drops_the_connection_and_fails_every_read() {
    let mut p = Pair::coalescing(coalescing());
    p.submit_all(vec![get_data(1, "/a", None), get_data(2, "/b", None)]);
    let req = p.one_request();
    // One result for two reads.
    p.reply(req.xid, 1, 0, &multi_reply(&[R::Data(b"a", stat(1))]));
    let evs = p.take_events();
    // Every read of the batch fails with the violation that dropped the connection.
    for (i, token) in [(0, 1), (1, 2)] {
        assert!(
            matches!(&evs[i], Ev::Reply(t, Err(Error::ProtocolViolation(m)))
                if *t == token && m.contains("fewer results than reads")),
            "{:?}",
            evs[i]
        );
    }
    assert_eq!(p.closes.len(), 1);
}

#[test]
fn a_probe_refused_as_unimplemented_reconnects_at_once_and_fails_nothing() {
    let mut p = Pair::new(coalescing());
    p.connect_req();
    p.accept(SID, 30_000, false);
    let probe = p.one_request();
    p.submit_all(vec![
        get_data(1, "/a", None),
        get_data(2, "/b", None),
        set_data(3, "/a", b"x"),
    ]);
    // A 3.5 server: Unimplemented, then it closes the connection.
    p.reply(probe.xid, 0, UNIMPLEMENTED, &[]);
    assert_eq!(p.closes.len(), 1, "the connection is dropped");
    assert_eq!(p.take_events(), vec![Ev::NewSession(SID)]);
    let c = p.next_connect_req();
    assert_eq!(c.session_id, SID, "the same session");
    p.accept(SID, 30_000, false);
    // No probe this time: the requests that waited go at once, the reads one by one.
    let reqs = p.requests();
    let ops: Vec<i32> = reqs.iter().map(|r| r.op).collect();
    assert_eq!(
        ops,
        [
            OpCode::GetData.as_i32(),
            OpCode::GetData.as_i32(),
            OpCode::SetData.as_i32()
        ]
    );
    assert_eq!(
        p.take_events(),
        vec![Ev::State(SessionState::Connected, StateCause::Handshake)]
    );
    for r in &reqs {
        p.reply(r.xid, 2, 0, &data_body(b"v", &stat(2)));
    }
    assert_eq!(p.s.stats().errors, 0);
    // And from now on reads never gather.
    p.submit_all(vec![get_data(4, "/a", None), get_data(5, "/b", None)]);
    let ops: Vec<i32> = p.requests().iter().map(|r| r.op).collect();
    assert_eq!(ops, [OpCode::GetData.as_i32(); 2]);
}

#[test]
fn a_batch_refused_as_unimplemented_goes_again_read_by_read_after_the_reconnect() {
    let mut p = Pair::coalescing(coalescing());
    p.submit_all(vec![
        get_data(1, "/a", None),
        get_data(2, "/b", None),
        set_data(3, "/a", b"x"),
    ]);
    let reqs = p.requests();
    assert_eq!(batch_reads(&reqs[0]).len(), 2);
    p.reply(reqs[0].xid, 0, UNIMPLEMENTED, &[]);
    // The write after the batch was on the wire when the server closed: its outcome is
    // unknown. The reads were not carried out, so they are kept.
    let evs = p.take_events();
    assert_eq!(evs[0], Ev::Reply(3, Err(Error::ConnectionLoss)));
    assert!(
        !evs.iter().any(|e| matches!(e, Ev::Reply(1 | 2, _))),
        "{evs:?}"
    );
    p.next_connect_req();
    p.accept(SID, 30_000, false);
    let again = p.requests();
    let paths: Vec<(i32, String)> = again
        .iter()
        .map(|r| (r.op, read_ustring(&mut r.body.clone(), "path").unwrap()))
        .collect();
    assert_eq!(
        paths,
        vec![
            (OpCode::GetData.as_i32(), "/a".to_owned()),
            (OpCode::GetData.as_i32(), "/b".to_owned())
        ]
    );
    for r in &again {
        p.reply(r.xid, 3, 0, &data_body(b"v", &stat(3)));
    }
    let replies: Vec<u32> = p
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Ev::Reply(t, Ok(_)) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(replies, vec![1, 2]);
}

#[test]
fn a_refusal_that_overtakes_earlier_replies_keeps_the_batch() {
    let mut p = Pair::coalescing(coalescing());
    p.submit(set_data(1, "/a", b"x"));
    p.submit_all(vec![get_data(2, "/a", None), get_data(3, "/b", None)]);
    let reqs = p.requests();
    assert_eq!(reqs.len(), 2);
    // A server without MultiRead answers it at once, before the write ahead of it.
    p.reply(reqs[1].xid, 0, UNIMPLEMENTED, &[]);
    let evs = p.take_events();
    assert_eq!(evs[0], Ev::Reply(1, Err(Error::ConnectionLoss)));
    assert!(
        !evs.iter().any(|e| matches!(e, Ev::Reply(2 | 3, _))),
        "{evs:?}"
    );
    p.next_connect_req();
    p.accept(SID, 30_000, false);
    assert_eq!(p.requests().len(), 2, "both reads go again, alone");
}

#[test]
fn a_burst_on_an_idle_connection_goes_in_two_batches() {
    let mut p = Pair::coalescing(coalescing());
    p.submit_all((0..41).map(|i| get_data(i, "/a", None)).collect());
    let sizes: Vec<usize> = p.requests().iter().map(|r| batch_reads(r).len()).collect();
    assert_eq!(sizes, vec![21, 20]);
    // As many again while those are on the wire: one batch, the next wave.
    p.submit_all((41..82).map(|i| get_data(i, "/a", None)).collect());
    let sizes: Vec<usize> = p.requests().iter().map(|r| batch_reads(r).len()).collect();
    assert_eq!(sizes, vec![41]);
}

#[test]
fn joint_writes_count_every_read_of_a_batch_on_the_wire() {
    let mut p = Pair::coalescing(coalescing());
    p.submit_all((0..40).map(|i| get_data(i, "/a", None)).collect());
    let sizes: Vec<usize> = p.requests().iter().map(|r| batch_reads(r).len()).collect();
    assert_eq!(sizes, vec![20, 20]);
    // 40 reads on the wire in two batches: new reads wait to be written together.
    p.submit_all((40..50).map(|i| get_data(i, "/a", None)).collect());
    assert!(
        p.requests().is_empty(),
        "held back while 40 reads are on the wire"
    );
    p.run_for(DEFAULT_MAX_WRITE_DELAY);
    let second = p.one_request();
    assert_eq!(batch_reads(&second).len(), 10);
}

#[test]
fn a_lost_connection_fails_batched_and_waiting_reads() {
    let mut p = Pair::coalescing(coalescing());
    p.submit_all((0..40).map(|i| get_data(i, "/a", None)).collect());
    assert_eq!(p.requests().len(), 2);
    p.submit_all((40..42).map(|i| get_data(i, "/a", None)).collect());
    p.transport_closed();
    let failed = p
        .take_events()
        .into_iter()
        .filter(|e| matches!(e, Ev::Reply(_, Err(Error::ConnectionLoss))))
        .count();
    assert_eq!(failed, 42);
    assert_eq!(p.s.in_flight(), 0);
}

#[test]
fn the_probe_reply_does_not_move_the_zxid_watches_are_set_again_from() {
    let mut p = Pair::coalescing(coalescing());
    p.watch_data("/w", 1, 10);
    assert_eq!(p.s.last_zxid(), 0x10);
    p.transport_closed();
    p.take_events();
    let c = p.next_connect_req();
    assert_eq!(c.last_zxid_seen, 0x10);
    p.accept(SID, 30_000, false);
    // The probe's reply carries the server's latest zxid; the changes between the two are
    // the ones the watches must hear about.
    let probe = p.one_request();
    p.reply(probe.xid, 0x99, 0, &PROBE_BODY);
    let sw = parse_set_watches(&p.one_request());
    assert_eq!(sw.relative_zxid, 0x10);
    assert_eq!(sw.data, vec!["/w".to_owned()]);
}

#[test]
fn a_close_while_the_probe_is_out_ends_the_session_without_reporting_it_up() {
    let mut p = Pair::new(coalescing());
    p.connect_req();
    p.accept(SID, 30_000, false);
    let probe = p.one_request();
    p.submit(get_data(1, "/a", None));
    p.close();
    let close = p.one_request();
    assert_eq!(close.op, OpCode::CloseSession.as_i32());
    p.reply(probe.xid, 0, 0, &PROBE_BODY);
    assert!(p.requests().is_empty(), "nothing is sent after the close");
    p.reply(close.xid, 0, 0, &[]);
    let evs = p.take_events();
    assert!(
        !evs.iter()
            .any(|e| matches!(e, Ev::State(SessionState::Connected, _))),
        "{evs:?}"
    );
    assert!(evs.contains(&Ev::Reply(1, Err(Error::Closed))), "{evs:?}");
    assert_eq!(p.s.state(), SessionState::Closed);
}
