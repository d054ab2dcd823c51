//! Removing the server watch of the last persistent watcher of a path: by its own watcher
//! type on 3.9+, with type Any on 3.6–3.8 (learned from the server's MARSHALLINGERROR to the
//! typed removal), and only once the path's one-shot watches have fired there.

use super::harness::*;

const MARSHALLING_ERROR: i32 = -5;
const NO_WATCHER: i32 = -121;

/// The one removeWatches request sent now: its path and watcher type.
fn removal(h: &mut Pair) -> (i32, String, i32) {
    let r = h.one_request();
    assert_eq!(r.op, OpCode::RemoveWatches.as_i32());
    let (path, watcher_type) = parse_path_and_int(&r);
    (r.xid, path, watcher_type)
}

#[test]
fn on_3_9_a_persistent_watch_is_removed_by_its_type_beside_oneshot_watches() {
    let mut h = Pair::connected(config(), 30_000);
    h.watch_persistent("/p", AddWatchMode::Persistent, 200);
    h.watch_data("/p", 1, 100);
    h.remove_persistent(200);
    assert_eq!(h.take_events(), vec![Ev::StreamEnded(200)]);
    // At once, though a one-shot watch waits on the path: type 4 leaves it alone.
    let (xid, path, watcher_type) = removal(&mut h);
    assert_eq!((path.as_str(), watcher_type), ("/p", 4));
    h.reply(xid, 7, 0, &[]);
    h.notify(EventType::NodeDataChanged, "/p");
    assert_eq!(
        h.take_events(),
        vec![Ev::Oneshot(
            100,
            node_event(EventType::NodeDataChanged, "/p")
        )]
    );
    assert!(h.take_sent().is_empty(), "nothing deferred");

    // A recursive watch goes by type 5; NOWATCHER is a 3.9 answer too.
    h.watch_persistent("/r", AddWatchMode::PersistentRecursive, 201);
    h.watch_data("/r", 2, 101);
    h.remove_persistent(201);
    let (xid, path, watcher_type) = removal(&mut h);
    assert_eq!((path.as_str(), watcher_type), ("/r", 5));
    h.reply(xid, 8, NO_WATCHER, &[]);
    assert!(h.take_sent().is_empty());
    assert!(h.closes.is_empty());
}

#[test]
fn on_3_8_the_marshalling_error_turns_removal_into_any_once_oneshot_watches_fired() {
    let mut h = Pair::connected(config(), 30_000);
    h.watch_persistent("/p", AddWatchMode::Persistent, 200);
    h.watch_data("/p", 1, 100);
    h.remove_persistent(200);
    h.take_events();
    let (xid, _, watcher_type) = removal(&mut h);
    assert_eq!(watcher_type, 4);
    h.reply(xid, 7, MARSHALLING_ERROR, &[]);
    assert!(
        h.take_sent().is_empty(),
        "type Any now would remove the data watch still waiting"
    );
    assert!(h.take_events().is_empty(), "no one waits for that reply");
    h.notify(EventType::NodeDataChanged, "/p");
    assert_eq!(
        h.take_events(),
        vec![Ev::Oneshot(
            100,
            node_event(EventType::NodeDataChanged, "/p")
        )]
    );
    let (xid, path, watcher_type) = removal(&mut h);
    assert_eq!((path.as_str(), watcher_type), ("/p", 3));
    h.reply(xid, 8, 0, &[]);

    // Learned for this connection: the next removal is of type Any at once.
    h.watch_persistent("/q", AddWatchMode::PersistentRecursive, 201);
    h.remove_persistent(201);
    let (_, path, watcher_type) = removal(&mut h);
    assert_eq!((path.as_str(), watcher_type), ("/q", 3));
    assert!(h.closes.is_empty());
}

#[test]
fn a_path_watched_again_before_the_marshalling_error_is_left_alone() {
    let mut h = Pair::connected(config(), 30_000);
    h.watch_persistent("/p", AddWatchMode::Persistent, 200);
    h.remove_persistent(200);
    h.take_events();
    let (xid, _, _) = removal(&mut h);
    // A new watcher on the path: its addWatch replaces the old server watch.
    h.add_persistent("/p", AddWatchMode::Persistent, 201, 11);
    let sent = h.requests();
    let add = &sent[0];
    h.reply(xid, 7, MARSHALLING_ERROR, &[]);
    h.reply(add.xid, 8, 0, &[]);
    assert_eq!(h.take_events(), vec![Ev::Reply(11, Ok(Response::Empty))]);
    h.answer_existence(&sent[1], "/p", true);
    assert!(h.take_sent().is_empty());
    h.notify(EventType::NodeDataChanged, "/p");
    assert_eq!(
        h.take_events(),
        vec![Ev::Stream(
            201,
            node_event(EventType::NodeDataChanged, "/p")
        )]
    );
}

#[test]
fn each_connection_learns_the_server_anew() {
    let mut h = Pair::connected(config(), 30_000);
    h.watch_persistent("/p", AddWatchMode::Persistent, 200);
    h.remove_persistent(200);
    h.take_events();
    let (xid, _, _) = removal(&mut h);
    h.reply(xid, 7, MARSHALLING_ERROR, &[]);
    let (xid, _, watcher_type) = removal(&mut h);
    assert_eq!(watcher_type, 3);
    h.reply(xid, 8, 0, &[]);

    // The next server may be of another release.
    h.transport_closed();
    h.take_events();
    h.next_connect_req();
    h.accept(SID, 30_000, false);
    h.take_sent();
    h.take_events();
    h.watch_persistent("/q", AddWatchMode::Persistent, 201);
    h.remove_persistent(201);
    let (_, path, watcher_type) = removal(&mut h);
    assert_eq!((path.as_str(), watcher_type), ("/q", 4));
}

#[test]
fn the_last_recursive_watcher_leaving_keeps_a_persistent_watch_for_the_others() {
    let mut h = Pair::connected(config(), 30_000);
    h.watch_persistent("/p", AddWatchMode::PersistentRecursive, 200);
    h.add_persistent("/p", AddWatchMode::Persistent, 201, 11);
    h.take_events();
    // Served by the recursive watch: no addWatch, only the read of whether the node exists.
    let probe = h.one_request();
    h.answer_existence(&probe, "/p", true);
    h.remove_persistent(200);
    h.take_events();
    let sent = h.requests();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[0].op, OpCode::AddWatch.as_i32());
    assert_eq!(
        parse_path_and_int(&sent[0]),
        ("/p".to_owned(), AddWatchMode::Persistent.as_i32())
    );
    // From 3.9 the recursive watch stays beside the new one unless removed by its type.
    assert_eq!(sent[1].op, OpCode::RemoveWatches.as_i32());
    assert_eq!(parse_path_and_int(&sent[1]), ("/p".to_owned(), 5));
    h.reply(sent[0].xid, 7, 0, &[]);
    // A 3.8 server: its addWatch already replaced the recursive watch; nothing more.
    h.reply(sent[1].xid, 8, MARSHALLING_ERROR, &[]);
    assert!(h.take_sent().is_empty());
    h.notify(EventType::NodeDataChanged, "/p");
    assert_eq!(
        h.take_events(),
        vec![Ev::Stream(
            201,
            node_event(EventType::NodeDataChanged, "/p")
        )]
    );
}
