//! The catch-up of persistent watches after a reconnect: what each watch asks the server,
//! how catch-up events are told from live ones and delivered once, `Resync`, and the
//! reply that fences a live event on servers that send no zxid with it.

use std::sync::Arc;

use super::harness::*;
use crate::session::KnownNodes;

/// The nodes of a cache, as a recursive watcher would list them.
struct Nodes(Vec<&'static str>);

impl KnownNodes for Nodes {
    fn for_each(&self, visit: &mut dyn FnMut(&str)) {
        self.0.iter().for_each(|n| visit(n));
    }
}

impl Pair {
    /// Reconnects to the same session; returns the one SetWatches record sent (after the
    /// state events of the reconnect, which are dropped).
    fn reconnect_for_one_record(&mut self) -> (Req, SetWatchesBody) {
        self.reconnect_same_session();
        self.take_events();
        let r = self.one_request();
        let sw = parse_set_watches(&r);
        (r, sw)
    }
}

fn paths(list: &[&str]) -> Vec<String> {
    list.iter().map(|p| (*p).to_owned()).collect()
}

#[test]
fn a_persistent_watch_gets_what_it_missed_once_each_marked_as_catch_up() {
    let mut h = Pair::connected(config(), 30_000);
    h.watch_persistent("/p", AddWatchMode::Persistent, 200);
    let zxid = h.s.last_zxid();
    let (r, sw) = h.reconnect_for_one_record();
    assert_eq!(r.op, OpCode::SetWatches2.as_i32());
    assert_eq!(sw.relative_zxid, zxid);
    // Its node exists: data and child catch-up watches, then the persistent registration.
    assert_eq!(
        (sw.data, sw.exist, sw.child, sw.persistent, sw.recursive),
        (
            paths(&["/p"]),
            vec![],
            paths(&["/p"]),
            paths(&["/p"]),
            vec![]
        )
    );
    // The server reports, before its reply, what changed after the zxid sent.
    h.notify(EventType::NodeDataChanged, "/p");
    h.notify(EventType::NodeChildrenChanged, "/p");
    h.reply(r.xid, zxid + 3, 0, &[]);
    assert_eq!(
        h.take_events(),
        vec![
            Ev::Stream(200, catch_up_event(EventType::NodeDataChanged, "/p")),
            Ev::Stream(200, catch_up_event(EventType::NodeChildrenChanged, "/p")),
        ]
    );
    // Catch-up events need no fence: nothing was sent for them.
    assert!(h.take_sent().is_empty());
    // After the reply, events are live again (this one from a 3.9 server, with its zxid).
    h.feed(&notification(zxid + 4, EventType::NodeDataChanged, "/p"));
    let live = WatchedEvent {
        zxid: Some(zxid + 4),
        ..node_event(EventType::NodeDataChanged, "/p")
    };
    assert_eq!(h.take_events(), vec![Ev::Stream(200, live)]);
    assert_eq!(h.s.last_zxid(), zxid + 4);
    assert!(h.take_sent().is_empty(), "a zxid came with it: no fence");
}

#[test]
fn nothing_changed_means_no_event() {
    let mut h = Pair::connected(config(), 30_000);
    h.watch_persistent("/p", AddWatchMode::Persistent, 200);
    h.watch_persistent_on("/q", AddWatchMode::Persistent, 201, false);
    let (r, _) = h.reconnect_for_one_record();
    // Other nodes changed (the zxid moved), these did not.
    h.reply(r.xid, h.s.last_zxid() + 10, 0, &[]);
    assert_eq!(h.take_events(), vec![]);
}

#[test]
fn a_deleted_node_is_reported_once_then_watched_for_its_creation() {
    let mut h = Pair::connected(config(), 30_000);
    h.watch_persistent("/p", AddWatchMode::Persistent, 200);
    let (r, _) = h.reconnect_for_one_record();
    // Both its data and its child catch-up watch report the deletion.
    h.notify(EventType::NodeDeleted, "/p");
    h.notify(EventType::NodeDeleted, "/p");
    h.reply(r.xid, 0x30, 0, &[]);
    assert_eq!(
        h.take_events(),
        vec![Ev::Stream(
            200,
            catch_up_event(EventType::NodeDeleted, "/p")
        )]
    );
    // The node is gone now: the next catch-up asks for its creation.
    let (r, sw) = h.reconnect_for_one_record();
    assert_eq!(sw.relative_zxid, 0x30);
    assert_eq!(
        (sw.data, sw.exist, sw.child),
        (vec![], paths(&["/p"]), vec![])
    );
    h.notify(EventType::NodeCreated, "/p");
    h.reply(r.xid, 0x31, 0, &[]);
    assert_eq!(
        h.take_events(),
        vec![Ev::Stream(
            200,
            catch_up_event(EventType::NodeCreated, "/p")
        )]
    );
    // And once created, for its changes again.
    let (_, sw) = h.reconnect_for_one_record();
    assert_eq!(
        (sw.data, sw.exist, sw.child),
        (paths(&["/p"]), vec![], paths(&["/p"]))
    );
}

#[test]
fn live_events_keep_the_node_state_the_catch_up_asks_about() {
    let mut h = Pair::connected(config(), 30_000);
    h.watch_persistent_on("/p", AddWatchMode::Persistent, 200, false);
    h.feed(&notification(0x40, EventType::NodeCreated, "/p"));
    h.take_events();
    let (r, sw) = h.reconnect_for_one_record();
    // Caught up from the zxid of that event: it is not reported again.
    assert_eq!(sw.relative_zxid, 0x40);
    assert_eq!(
        (sw.data, sw.exist, sw.child),
        (paths(&["/p"]), vec![], paths(&["/p"]))
    );
    h.reply(r.xid, 0x40, 0, &[]);
    assert_eq!(h.take_events(), vec![]);
}

#[test]
fn a_node_never_read_gets_a_resync_when_the_server_moved() {
    let mut h = Pair::connected(config(), 30_000);
    h.add_persistent("/p", AddWatchMode::Persistent, 200, 10);
    let reqs = h.requests();
    h.reply(reqs[0].xid, 0x20, 0, &[]);
    assert_eq!(h.take_events(), vec![Ev::Reply(10, Ok(Response::Empty))]);
    // The connection goes before the read that follows the addWatch is answered: whether
    // the node exists is not known, so no catch-up watch can be chosen for it.
    let (r, sw) = h.reconnect_for_one_record();
    assert_eq!(
        (sw.data, sw.exist, sw.child, sw.persistent),
        (vec![], vec![], vec![], paths(&["/p"]))
    );
    h.reply(r.xid, 0x20, 0, &[]);
    assert_eq!(h.take_events(), vec![], "nothing changed anywhere");
    let (r, _) = h.reconnect_for_one_record();
    h.reply(r.xid, 0x21, 0, &[]);
    assert_eq!(
        h.take_events(),
        vec![Ev::Stream(200, watch_event(EventKind::Resync, "/p"))]
    );
}

#[test]
fn a_recursive_watch_without_a_cache_resyncs_only_when_the_server_moved() {
    let mut h = Pair::connected(config(), 30_000);
    h.watch_persistent("/r", AddWatchMode::PersistentRecursive, 201);
    let zxid = h.s.last_zxid();
    let (r, sw) = h.reconnect_for_one_record();
    assert_eq!(
        (sw.data, sw.child, sw.recursive),
        (vec![], vec![], paths(&["/r"]))
    );
    h.reply(r.xid, zxid, 0, &[]);
    assert_eq!(h.take_events(), vec![]);
    let (r, _) = h.reconnect_for_one_record();
    h.reply(r.xid, zxid + 1, 0, &[]);
    assert_eq!(
        h.take_events(),
        vec![Ev::Stream(201, watch_event(EventKind::Resync, "/r"))]
    );
    // A watcher removed before the reply is not told.
    let (r, _) = h.reconnect_for_one_record();
    h.remove_persistent(201);
    h.take_sent();
    assert_eq!(h.take_events(), vec![Ev::StreamEnded(201)]);
    h.reply(r.xid, zxid + 2, 0, &[]);
    assert_eq!(h.take_events(), vec![]);
}

#[test]
fn a_recursive_watch_with_a_cache_is_caught_up_node_by_node() {
    let mut h = Pair::connected(config(), 30_000);
    let known = Arc::new(Nodes(vec!["/r", "/r/a", "/r/a/b"]));
    let now = h.now();
    h.s.add_persistent(
        now,
        "/r".into(),
        AddWatchMode::PersistentRecursive,
        201,
        10,
        Some(known),
    );
    h.drive();
    let r = h.one_request();
    h.reply(r.xid, 0x20, 0, &[]);
    h.take_events();
    let (r, sw) = h.reconnect_for_one_record();
    // The root's entries come last: its recursive registration follows the nodes below.
    let nodes = paths(&["/r/a", "/r/a/b", "/r"]);
    assert_eq!(
        (sw.data, sw.exist, sw.child, sw.recursive),
        (nodes.clone(), vec![], nodes, paths(&["/r"]))
    );
    h.notify(EventType::NodeDataChanged, "/r/a/b");
    // Children of /r/a were created or deleted: the cache lists them.
    h.notify(EventType::NodeChildrenChanged, "/r/a");
    h.reply(r.xid, 0x30, 0, &[]);
    assert_eq!(
        h.take_events(),
        vec![
            Ev::Stream(201, catch_up_event(EventType::NodeDataChanged, "/r/a/b")),
            Ev::Stream(201, catch_up_event(EventType::NodeChildrenChanged, "/r/a")),
        ],
        "an event per node, no Resync"
    );
    // Live child events are still not the recursive watch's.
    h.notify(EventType::NodeChildrenChanged, "/r/a");
    assert_eq!(h.take_events(), vec![]);
}

#[test]
fn a_cache_without_its_root_asks_for_the_root_creation() {
    let mut h = Pair::connected(config(), 30_000);
    let now = h.now();
    h.s.add_persistent(
        now,
        "/r".into(),
        AddWatchMode::PersistentRecursive,
        201,
        10,
        Some(Arc::new(Nodes(vec![]))),
    );
    h.drive();
    let r = h.one_request();
    h.reply(r.xid, 0x20, 0, &[]);
    h.take_events();
    let (r, sw) = h.reconnect_for_one_record();
    assert_eq!(
        (sw.data, sw.exist, sw.child),
        (vec![], paths(&["/r"]), vec![])
    );
    h.notify(EventType::NodeCreated, "/r");
    h.reply(r.xid, 0x30, 0, &[]);
    assert_eq!(
        h.take_events(),
        vec![Ev::Stream(
            201,
            catch_up_event(EventType::NodeCreated, "/r")
        )]
    );
}

#[test]
fn events_between_records_are_live_and_catch_up_watches_precede_registrations() {
    let mut h = Pair::connected(config(), 30_000);
    // Enough persistent watches for several records; 100-byte paths.
    let watched: Vec<String> = (0..3_000).map(|i| format!("/w/{i:0>97}")).collect();
    for (i, p) in watched.iter().enumerate() {
        let s = 1_000 + u32::try_from(i).unwrap();
        h.add_persistent(p, AddWatchMode::Persistent, s, s);
    }
    h.run_for(DEFAULT_MAX_WRITE_DELAY);
    let reqs = h.requests();
    assert_eq!(
        reqs.len(),
        2 * watched.len(),
        "an addWatch and a read per watch"
    );
    let mut server = Vec::new();
    for (i, r) in reqs.iter().enumerate() {
        // The addWatch succeeds; the read finds every other node missing.
        let (err, body) = match (i % 2, (i / 2) % 2) {
            (0, _) => (0, Bytes::new()),
            (_, 0) => (0, encode(&stat(1))),
            _ => (-101, Bytes::new()),
        };
        server.extend(reply_frame(r.xid, 0x40, err, &body));
    }
    h.feed(&server);
    h.take_events();
    h.reconnect_same_session();
    h.take_events();
    let records = h.requests();
    assert!(records.len() >= 3, "{} records", records.len());
    // Where each catch-up and each registration went.
    let mut catch_up_at: HashMap<String, usize> = HashMap::new();
    let mut registered_at: HashMap<String, usize> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        let sw = parse_set_watches(r);
        for p in sw.data.into_iter().chain(sw.exist).chain(sw.child) {
            catch_up_at.entry(p).or_insert(i);
        }
        for p in sw.persistent {
            registered_at.insert(p, i);
        }
    }
    assert_eq!(registered_at.len(), watched.len());
    // ZOOKEEPER-4466: no catch-up watch reaches the server after its path's persistent
    // registration, which therefore sets the path's mode last.
    for p in &watched {
        assert!(catch_up_at[p] <= registered_at[p], "{p}");
    }
    // A path of the first record changes after that record's reply, before the next one's:
    // a live event, not a catch-up one.
    let first = parse_set_watches(&records[0]);
    let early = first.data[0].clone();
    let stream = 1_000 + u32::try_from(watched.iter().position(|p| *p == early).unwrap()).unwrap();
    h.reply(records[0].xid, 0x41, 0, &[]);
    h.notify(EventType::NodeDataChanged, &early);
    // And a catch-up event of a later record, not answered yet.
    let last = records
        .iter()
        .skip(1)
        .map(parse_set_watches)
        .filter(|sw| !sw.data.is_empty() || !sw.exist.is_empty())
        .last()
        .expect("catch-up watches in a later record");
    let late = last
        .data
        .first()
        .or(last.exist.first())
        .cloned()
        .unwrap_or_default();
    let late_stream =
        1_000 + u32::try_from(watched.iter().position(|p| *p == late).unwrap()).unwrap();
    let late_type = if last.data.is_empty() {
        EventType::NodeCreated
    } else {
        EventType::NodeDataChanged
    };
    h.notify(late_type, &late);
    let evs = h.take_events();
    assert_eq!(
        evs,
        vec![
            Ev::Stream(stream, node_event(EventType::NodeDataChanged, &early)),
            Ev::Stream(late_stream, catch_up_event(late_type, &late)),
        ]
    );
}

#[test]
fn live_events_without_a_zxid_are_fenced_by_a_ping() {
    let mut h = Pair::connected(config(), 30_000);
    h.watch_persistent("/p", AddWatchMode::Persistent, 200);
    // A server before 3.9: the event has no zxid. Nothing is on its way back, so a ping is
    // sent; its reply carries a zxid that covers the change.
    h.notify(EventType::NodeDataChanged, "/p");
    h.take_events();
    assert_eq!(h.one_request().xid, xid::PING);
    // Only one at a time.
    h.notify(EventType::NodeDataChanged, "/p");
    h.take_events();
    assert!(h.take_sent().is_empty());
    h.reply(xid::PING, 0x55, 0, &[]);
    assert_eq!(h.s.last_zxid(), 0x55);
    // With a request on its way, its reply is the fence.
    h.submit(get_data(1, "/x", None));
    let r = h.one_request();
    h.notify(EventType::NodeDataChanged, "/p");
    h.take_events();
    assert!(h.take_sent().is_empty());
    h.reply(r.xid, 0x56, 0, &data_body(b"v", &stat(1)));
    h.take_events();
    // A one-shot watch needs no fence (it fires once).
    h.watch_data("/d", 2, 100);
    h.notify(EventType::NodeDataChanged, "/d");
    h.take_events();
    assert!(h.take_sent().is_empty());
    // The catch-up after a reconnect starts from the fenced zxid: the changes seen are not
    // reported again.
    let (_, sw) = h.reconnect_for_one_record();
    assert_eq!(sw.relative_zxid, 0x56);
}

#[test]
fn oneshot_watches_are_caught_up_too() {
    let mut h = Pair::connected(config(), 30_000);
    h.watch_data("/d", 1, 100);
    let (r, _) = h.reconnect_for_one_record();
    h.notify(EventType::NodeDeleted, "/d");
    h.reply(r.xid, 0x30, 0, &[]);
    assert_eq!(
        h.take_events(),
        vec![Ev::Oneshot(
            100,
            catch_up_event(EventType::NodeDeleted, "/d")
        )]
    );
}

#[test]
fn zxids_seen_during_a_re_registration_count_once_it_is_all_answered() {
    let mut h = Pair::connected(config(), 30_000);
    // Enough one-shot watches for two records.
    let watched: Vec<String> = (0..2_000).map(|i| format!("/z/{i:0>97}")).collect();
    for (i, p) in watched.iter().enumerate() {
        let t = u32::try_from(i).unwrap();
        h.submit(exists(t, p, Some(t)));
    }
    h.run_for(DEFAULT_MAX_WRITE_DELAY);
    let mut server = Vec::new();
    for r in h.requests() {
        server.extend(reply_frame(r.xid, 0x40, -101, &[]));
    }
    h.feed(&server);
    h.take_events();
    h.reconnect_same_session();
    h.take_events();
    let records = h.requests();
    assert!(records.len() >= 2, "{} records", records.len());
    // The first record is answered (the server is at 0x60), a live event of 3.9 comes, and
    // the connection goes before the second record's catch-up arrived.
    h.reply(records[0].xid, 0x60, 0, &[]);
    h.feed(&notification(0x61, EventType::NodeCreated, &watched[0]));
    h.take_events();
    assert_eq!(h.s.last_zxid(), 0x40);
    h.reconnect_same_session();
    h.take_events();
    let again = h.requests();
    // Still caught up from 0x40: the second record's changes are asked for again.
    assert_eq!(parse_set_watches(&again[0]).relative_zxid, 0x40);
    for r in &again {
        h.reply(r.xid, 0x62, 0, &[]);
    }
    assert_eq!(h.s.last_zxid(), 0x62);
}
