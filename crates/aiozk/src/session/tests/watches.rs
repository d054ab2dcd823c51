//! One-shot and persistent watches.

use super::harness::*;

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
    let reqs = h.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    let r = &reqs[0];
    assert_eq!(r.op, OpCode::AddWatch.as_i32());
    assert_eq!(parse_path_and_int(r), ("/p".to_owned(), 0));
    // Not yet acknowledged: events belong to changes before the watch.
    h.notify(EventType::NodeDataChanged, "/p");
    assert!(h.take_events().is_empty());
    h.reply(r.xid, 5, 0, &[]);
    assert_eq!(h.take_events(), vec![Ev::Reply(10, Ok(Response::Empty))]);
    // Then whether the node exists (for the catch-up after a reconnect).
    h.answer_existence(&reqs[1], "/p", true);

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
    // A reply must follow the event (see `live_events_without_a_zxid_are_fenced_by_a_ping`).
    assert_eq!(h.one_request().xid, xid::PING);
    h.reply(xid::PING, 0x12, 0, &[]);
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
    assert_eq!(h.one_request().xid, xid::PING);
    h.reply(xid::PING, 0x13, 0, &[]);

    h.remove_persistent(201);
    assert_eq!(h.take_events(), vec![Ev::StreamEnded(201)]);
    let r = h.one_request();
    assert_eq!(r.op, OpCode::RemoveWatches.as_i32());
    assert!(r.xid > 0);
    // Type Persistent first: a 3.9 server takes it (see the removal tests for 3.8).
    assert_eq!(parse_path_and_int(&r), ("/p".to_owned(), 4));
    h.reply(r.xid, 6, 0, &[]);
    assert!(h.take_events().is_empty());
    assert_eq!(h.s.watch_count(), 0);
    h.notify(EventType::NodeDataChanged, "/p");
    assert!(h.take_events().is_empty());
    assert!(h.closes.is_empty());
}

#[test]
fn rejected_add_watch_registers_nothing() {
    let mut h = Pair::connected(config(), 30_000);
    h.add_persistent("/p", AddWatchMode::Persistent, 200, 10);
    let reqs = h.requests();
    h.reply(reqs[0].xid, 5, -6, &[]);
    assert_eq!(
        h.take_events(),
        vec![
            Ev::StreamEnded(200),
            Ev::Reply(10, Err(Error::Unimplemented))
        ]
    );
    // The read that followed it changes nothing.
    h.reply(reqs[1].xid, 5, -101, &[]);
    assert_eq!(h.take_events(), vec![]);
    assert_eq!(h.s.watch_count(), 0);
    h.notify(EventType::NodeDataChanged, "/p");
    assert!(h.take_events().is_empty());
}

#[test]

fn add_watch_lost_with_the_connection_registers_nothing() {
    let mut h = Pair::connected(config(), 30_000);
    h.add_persistent("/p", AddWatchMode::Persistent, 200, 10);
    assert_eq!(h.requests().len(), 2);
    h.transport_closed();
    let evs = h.take_events();
    assert!(evs.contains(&Ev::Reply(10, Err(Error::ConnectionLoss))));
    assert_eq!(
        h.s.watch_count(),
        0,
        "the failed watcher must not stay registered"
    );
}
