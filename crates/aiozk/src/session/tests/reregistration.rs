//! Watch re-registration after a reconnect, after credentials and before queued requests.

use super::harness::*;

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
    h.take_events();
    let sent = h.requests();
    assert_eq!(sent.len(), 1, "sent: {sent:?}");
    assert_eq!(sent[0].op, OpCode::SetWatches2.as_i32());
    let sw = parse_set_watches(&sent[0]);
    assert_eq!(sw.relative_zxid, zxid);
    // The persistent watch's node exists: data and child catch-up watches come with it.
    assert_eq!(sw.data, vec!["/d".to_owned(), "/p".to_owned()]);
    assert!(sw.exist.is_empty());
    assert_eq!(sw.child, vec!["/p".to_owned()]);
    assert_eq!(sw.persistent, vec!["/p".to_owned()]);
    assert_eq!(sw.recursive, vec!["/r".to_owned()]);
    // Nothing changed on the server (same zxid): no event at all, not even a Resync.
    h.reply(sent[0].xid, zxid, 0, &[]);
    assert_eq!(h.take_events(), vec![]);
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

    // Where each path went: its list and the index of its batch.
    let mut seen: HashMap<(String, &'static str), usize> = HashMap::new();
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
                assert!(seen.insert((p.clone(), kind), i).is_none(), "{p} twice");
            }
        }
    }
    // The watches, and the catch-up data and child watches of the persistent one.
    assert_eq!(seen.len(), N + 4);
    for (i, p) in paths.iter().enumerate() {
        let want = ["data", "exist", "child"][i % 3];
        assert!(seen.contains_key(&(p.clone(), want)), "{p}");
    }
    let at = |p: &str, kind| seen.get(&(p.to_owned(), kind)).copied();
    let registered = at("/pers/a", "persistent").expect("re-registered");
    // ZOOKEEPER-4466: the catch-up watches never reach the server after the persistent
    // registration of their path.
    assert!(at("/pers/a", "data").is_some_and(|b| b <= registered));
    assert!(at("/pers/a", "child").is_some_and(|b| b <= registered));
    assert!(at("/pers/b", "recursive").is_some());

    // Catch-up notifications come before their batch's reply; every reply matches in order.
    // The server's zxid moved past the one sent: the recursive watch, which cannot be
    // caught up node by node, is told to resync.
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
            Ev::Oneshot(0, catch_up_event(EventType::NodeDataChanged, &paths[0])),
            Ev::Stream(201, watch_event(EventKind::Resync, "/pers/b")),
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
