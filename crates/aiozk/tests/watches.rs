//! One-shot, persistent and recursive watches against a real server.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use aiozk::fourlw::{four_letter_word, FourLetterWord};
use aiozk::{CreateOptions, EventType, PersistentWatcher, SessionState, WatchedEvent};
use common::{base, connect, server, within};

/// The next event of a persistent watcher (at most 10 s).
async fn next(w: &mut PersistentWatcher) -> WatchedEvent {
    within(10, w.next()).await.expect("stream ended")
}

fn ev(event_type: EventType, path: &str) -> (EventType, String) {
    (event_type, path.to_owned())
}

fn pair(e: &WatchedEvent) -> (EventType, String) {
    assert_eq!(e.state, SessionState::Connected, "{e:?}");
    (e.event_type, e.path.clone())
}

/// The paths the server holds watches on for `session` (from `wchc`).
async fn server_watches(session: i64) -> BTreeSet<String> {
    let text = four_letter_word(
        &server().member_addr(0).to_string(),
        FourLetterWord::Wchc,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let header = format!("0x{session:x}");
    let mut paths = BTreeSet::new();
    let mut ours = false;
    for line in text.lines() {
        if let Some(path) = line.strip_prefix('\t') {
            if ours {
                paths.insert(path.trim().to_owned());
            }
        } else {
            ours = line.trim() == header;
        }
    }
    paths
}

/// The shared server's version, from `srvr`.
async fn server_version() -> (u32, u32, u32) {
    let text = four_letter_word(
        &server().member_addr(0).to_string(),
        FourLetterWord::Srvr,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    aiozk::fourlw::parse_srvr_version(&text).expect("a version in the srvr answer")
}

/// Polls `wchc` every 100 ms until `pred` holds for the session's watched paths (10 s).
async fn wait_server_watches(session: i64, pred: impl Fn(&BTreeSet<String>) -> bool) {
    let start = Instant::now();
    loop {
        let paths = server_watches(session).await;
        if pred(&paths) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "server watches of {session:#x}: {paths:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn data_watch_fires_once() {
    let zk = connect("").await;
    let b = base(&zk, "w-data").await;
    let p = format!("{b}/n");
    zk.create(&p, b"0").await.unwrap();
    let (data, stat, w) = zk.get_data_watched(&p).await.unwrap();
    assert_eq!(&data[..], b"0");
    assert_eq!(stat.version, 0);
    let before = zk.stats().notifications;
    zk.set_data(&p, b"1", None).await.unwrap();
    zk.set_data(&p, b"2", None).await.unwrap();
    let e = within(10, w).await;
    assert_eq!(pair(&e), ev(EventType::NodeDataChanged, &p));
    // One-shot: the server sent one notification for the two changes.
    assert_eq!(zk.stats().notifications, before + 1);
    // A new watch sees the next change, not a leftover of the second one.
    let (data, _, w) = zk.get_data_watched(&p).await.unwrap();
    assert_eq!(&data[..], b"2");
    zk.delete(&p, None).await.unwrap();
    assert_eq!(pair(&within(10, w).await), ev(EventType::NodeDeleted, &p));
    // No watch is set on a missing node.
    assert_eq!(
        zk.get_data_watched(&p).await.unwrap_err(),
        aiozk::Error::NoNode
    );
    zk.close().await;
}

#[tokio::test]
async fn two_local_watchers_share_one_notification() {
    let zk = connect("").await;
    let b = base(&zk, "w-fanout").await;
    let p = format!("{b}/n");
    zk.create(&p, b"").await.unwrap();
    let (_, _, w1) = zk.get_data_watched(&p).await.unwrap();
    let (_, w2) = zk.exists_watched(&p).await.unwrap();
    let other = format!("{b}/other");
    zk.create(&other, b"").await.unwrap();
    let (_, _, w3) = zk.get_data_watched(&other).await.unwrap();
    zk.set_data(&p, b"x", None).await.unwrap();
    assert_eq!(
        pair(&within(10, w1).await),
        ev(EventType::NodeDataChanged, &p)
    );
    assert_eq!(
        pair(&within(10, w2).await),
        ev(EventType::NodeDataChanged, &p)
    );
    // The watcher of another node was not woken by this change.
    zk.delete(&other, None).await.unwrap();
    assert_eq!(
        pair(&within(10, w3).await),
        ev(EventType::NodeDeleted, &other)
    );
    zk.close().await;
}

#[tokio::test]
async fn exists_watch_on_missing_then_existing_node() {
    let zk = connect("").await;
    let writer = connect("").await;
    let b = base(&zk, "w-exists").await;
    let p = format!("{b}/n");
    let (stat, w) = zk.exists_watched(&p).await.unwrap();
    assert_eq!(stat, None);
    writer.create(&p, b"").await.unwrap();
    assert_eq!(pair(&within(10, w).await), ev(EventType::NodeCreated, &p));
    let (stat, w) = zk.exists_watched(&p).await.unwrap();
    assert!(stat.is_some());
    writer.delete(&p, None).await.unwrap();
    assert_eq!(pair(&within(10, w).await), ev(EventType::NodeDeleted, &p));
    writer.close().await;
    zk.close().await;
}

#[tokio::test]
async fn child_watch_fires_on_child_changes_and_deletion() {
    let zk = connect("").await;
    let b = base(&zk, "w-children").await;
    let p = format!("{b}/parent");
    zk.create(&p, b"").await.unwrap();
    let (children, stat, w) = zk.get_children_watched(&p).await.unwrap();
    assert!(children.is_empty());
    assert_eq!(stat.num_children, 0);
    // A data change of the parent does not trigger a child watch; the next child create does.
    zk.set_data(&p, b"x", None).await.unwrap();
    zk.create(&format!("{p}/a"), b"").await.unwrap();
    assert_eq!(
        pair(&within(10, w).await),
        ev(EventType::NodeChildrenChanged, &p)
    );
    let (children, _, w) = zk.get_children_watched(&p).await.unwrap();
    assert_eq!(children, vec!["a".to_owned()]);
    zk.delete(&format!("{p}/a"), None).await.unwrap();
    assert_eq!(
        pair(&within(10, w).await),
        ev(EventType::NodeChildrenChanged, &p)
    );
    let (_, _, w) = zk.get_children_watched(&p).await.unwrap();
    zk.delete(&p, None).await.unwrap();
    assert_eq!(pair(&within(10, w).await), ev(EventType::NodeDeleted, &p));
    zk.close().await;
}

#[tokio::test]
async fn persistent_watch_keeps_delivering() {
    let zk = connect("").await;
    let writer = connect("").await;
    let b = base(&zk, "w-persistent").await;
    let p = format!("{b}/n");
    let kid = format!("{p}/kid");
    let mut w = zk.add_watch(&p, false).await.unwrap();
    writer.create(&p, b"").await.unwrap();
    assert_eq!(pair(&next(&mut w).await), ev(EventType::NodeCreated, &p));
    writer.set_data(&p, b"1", None).await.unwrap();
    assert_eq!(
        pair(&next(&mut w).await),
        ev(EventType::NodeDataChanged, &p)
    );
    writer.set_data(&p, b"2", None).await.unwrap();
    assert_eq!(
        pair(&next(&mut w).await),
        ev(EventType::NodeDataChanged, &p)
    );
    writer.create(&kid, b"").await.unwrap();
    assert_eq!(
        pair(&next(&mut w).await),
        ev(EventType::NodeChildrenChanged, &p)
    );
    // A change of the child's data is not reported (the next event is the parent's).
    writer.set_data(&kid, b"k", None).await.unwrap();
    writer
        .create(&format!("{kid}/grandkid"), b"")
        .await
        .unwrap();
    writer
        .delete(&format!("{kid}/grandkid"), None)
        .await
        .unwrap();
    writer.delete(&kid, None).await.unwrap();
    assert_eq!(
        pair(&next(&mut w).await),
        ev(EventType::NodeChildrenChanged, &p)
    );
    writer.delete(&p, None).await.unwrap();
    assert_eq!(pair(&next(&mut w).await), ev(EventType::NodeDeleted, &p));
    // Still there after the node is gone.
    writer.create(&p, b"").await.unwrap();
    assert_eq!(pair(&next(&mut w).await), ev(EventType::NodeCreated, &p));
    writer.close().await;
    zk.close().await;
}

/// ZOOKEEPER-4655: from 3.9 every notification carries the zxid of the change that fired it
/// (the zxid a read of the node shows afterwards), for persistent and one-shot watches alike;
/// older servers send none and the event says so with `None`.
#[tokio::test]
async fn notifications_carry_the_zxid_of_the_change_from_3_9() {
    let zk = connect("").await;
    let writer = connect("").await;
    let b = base(&zk, "w-zxid").await;
    let p = format!("{b}/n");
    let with_zxid = server_version().await >= (3, 9, 0);
    let mut w = zk.add_watch(&p, false).await.unwrap();
    // A one-shot watch from another session (on 3.6-3.8 one from the same session would
    // take the place of the persistent mode on the server).
    let (_, created_once) = writer.exists_watched(&p).await.unwrap();

    writer.create(&p, b"0").await.unwrap();
    let created = next(&mut w).await;
    let once = within(10, created_once).await;
    let (_, after_create) = writer.get_data(&p).await.unwrap();
    writer.set_data(&p, b"1", None).await.unwrap();
    let changed = next(&mut w).await;
    writer.create(&format!("{p}/c"), b"").await.unwrap();
    let children = next(&mut w).await;
    let (_, after) = writer.get_data(&p).await.unwrap();
    writer.delete(&format!("{p}/c"), None).await.unwrap();
    let _ = next(&mut w).await;
    writer.delete(&p, None).await.unwrap();
    // A write's reply carries the zxid of its own transaction.
    let deleted_at = writer.last_zxid();
    let deleted = next(&mut w).await;

    assert_eq!(pair(&created), ev(EventType::NodeCreated, &p));
    assert_eq!(pair(&once), ev(EventType::NodeCreated, &p));
    assert_eq!(pair(&changed), ev(EventType::NodeDataChanged, &p));
    assert_eq!(pair(&children), ev(EventType::NodeChildrenChanged, &p));
    assert_eq!(pair(&deleted), ev(EventType::NodeDeleted, &p));
    let zxids = [
        created.zxid,
        once.zxid,
        changed.zxid,
        children.zxid,
        deleted.zxid,
    ];
    if with_zxid {
        let expected = [
            after_create.czxid,
            after_create.czxid,
            after.mzxid,
            after.pzxid,
            deleted_at,
        ];
        assert_eq!(zxids, expected.map(Some));
    } else {
        assert_eq!(zxids, [None; 5]);
    }
    writer.close().await;
    zk.close().await;
}

#[tokio::test]
async fn recursive_watch_sees_descendants_without_child_events() {
    let zk = connect("").await;
    let writer = connect("").await;
    let b = base(&zk, "w-recursive").await;
    let p = format!("{b}/r");
    let mut w = zk.add_watch(&p, true).await.unwrap();
    writer.create(&p, b"").await.unwrap();
    writer.create(&format!("{p}/a"), b"").await.unwrap();
    writer.create(&format!("{p}/a/b"), b"").await.unwrap();
    writer
        .set_data(&format!("{p}/a/b"), b"x", None)
        .await
        .unwrap();
    writer.set_data(&p, b"y", None).await.unwrap();
    writer.delete(&format!("{p}/a/b"), None).await.unwrap();
    writer.delete(&format!("{p}/a"), None).await.unwrap();
    writer.delete(&p, None).await.unwrap();
    // A sibling with the same name prefix is not a descendant.
    writer.create(&format!("{p}x"), b"").await.unwrap();
    writer.create(&p, b"").await.unwrap();
    let expected = vec![
        ev(EventType::NodeCreated, &p),
        ev(EventType::NodeCreated, &format!("{p}/a")),
        ev(EventType::NodeCreated, &format!("{p}/a/b")),
        ev(EventType::NodeDataChanged, &format!("{p}/a/b")),
        ev(EventType::NodeDataChanged, &p),
        ev(EventType::NodeDeleted, &format!("{p}/a/b")),
        ev(EventType::NodeDeleted, &format!("{p}/a")),
        ev(EventType::NodeDeleted, &p),
        ev(EventType::NodeCreated, &p),
    ];
    let mut got = Vec::new();
    for _ in 0..expected.len() {
        got.push(pair(&next(&mut w).await));
    }
    assert_eq!(got, expected);
    writer.close().await;
    zk.close().await;
}

#[tokio::test]
async fn recursive_watch_with_a_child_watch_below_it() {
    // The connection also holds a standard child watch on a descendant: the
    // NodeChildrenChanged goes to that watcher only, never to the recursive one.
    let zk = connect("").await;
    let b = base(&zk, "w-recursive-mixed").await;
    let p = format!("{b}/r");
    zk.ensure_path(&format!("{p}/a")).await.unwrap();
    let mut w = zk.add_watch(&p, true).await.unwrap();
    let (_, _, cw) = zk.get_children_watched(&format!("{p}/a")).await.unwrap();
    zk.create(&format!("{p}/a/b"), b"").await.unwrap();
    assert_eq!(
        pair(&within(10, cw).await),
        ev(EventType::NodeChildrenChanged, &format!("{p}/a"))
    );
    zk.set_data(&p, b"z", None).await.unwrap();
    assert_eq!(
        pair(&next(&mut w).await),
        ev(EventType::NodeCreated, &format!("{p}/a/b"))
    );
    assert_eq!(
        pair(&next(&mut w).await),
        ev(EventType::NodeDataChanged, &p)
    );
    zk.close().await;
}

#[tokio::test]
async fn persistent_watchers_share_one_server_watch() {
    let zk = connect("").await;
    let writer = connect("").await;
    let b = base(&zk, "w-shared").await;
    let p = format!("{b}/n");
    let session = zk.session_id();
    let live = zk.stats().live_watches;
    let mut w1 = zk.add_watch(&p, false).await.unwrap();
    let mut w2 = zk.add_watch(&p, false).await.unwrap();
    assert_eq!(zk.stats().live_watches, live + 2);
    assert_eq!(server_watches(session).await, BTreeSet::from([p.clone()]));
    let before = zk.stats().notifications;
    writer.create(&p, b"").await.unwrap();
    assert_eq!(pair(&next(&mut w1).await), ev(EventType::NodeCreated, &p));
    assert_eq!(pair(&next(&mut w2).await), ev(EventType::NodeCreated, &p));
    // One notification from the server, delivered to both.
    assert_eq!(zk.stats().notifications, before + 1);

    // Dropping one keeps the server watch for the other.
    drop(w1);
    writer.set_data(&p, b"x", None).await.unwrap();
    assert_eq!(
        pair(&next(&mut w2).await),
        ev(EventType::NodeDataChanged, &p)
    );
    assert_eq!(server_watches(session).await, BTreeSet::from([p.clone()]));

    // Dropping the last one removes it from the server.
    drop(w2);
    wait_server_watches(session, |paths| paths.is_empty()).await;
    let c = zk.stats().notifications;
    writer.set_data(&p, b"y", None).await.unwrap();
    // A one-shot watch set afterwards still works, and only its event arrives.
    let (_, _, w) = zk.get_data_watched(&p).await.unwrap();
    writer.delete(&p, None).await.unwrap();
    assert_eq!(pair(&within(10, w).await), ev(EventType::NodeDeleted, &p));
    assert_eq!(zk.stats().notifications, c + 1);
    writer.close().await;
    zk.close().await;
}

#[tokio::test]
async fn recursive_and_persistent_on_the_same_path_are_separate() {
    let zk = connect("").await;
    let b = base(&zk, "w-modes").await;
    let p = format!("{b}/n");
    let mut rec = zk.add_watch(&p, true).await.unwrap();
    let mut per = zk.add_watch(&p, false).await.unwrap();
    zk.create(&p, b"").await.unwrap();
    zk.create(&format!("{p}/kid"), b"").await.unwrap();
    assert_eq!(pair(&next(&mut rec).await), ev(EventType::NodeCreated, &p));
    assert_eq!(
        pair(&next(&mut rec).await),
        ev(EventType::NodeCreated, &format!("{p}/kid"))
    );
    assert_eq!(pair(&next(&mut per).await), ev(EventType::NodeCreated, &p));
    assert_eq!(
        pair(&next(&mut per).await),
        ev(EventType::NodeChildrenChanged, &p)
    );
    zk.close().await;
}

#[tokio::test]
async fn close_ends_every_watcher() {
    let zk = connect("").await;
    let b = base(&zk, "w-close").await;
    let p = format!("{b}/n");
    zk.create(&p, b"").await.unwrap();
    let (_, _, data) = zk.get_data_watched(&p).await.unwrap();
    let (_, exist) = zk.exists_watched(&format!("{b}/missing")).await.unwrap();
    let (_, _, child) = zk.get_children_watched(&p).await.unwrap();
    let mut per = zk.add_watch(&p, false).await.unwrap();
    let mut rec = zk.add_watch(&b, true).await.unwrap();
    within(10, zk.close()).await;
    for w in [data, exist, child] {
        let e = within(10, w).await;
        assert_eq!(e.event_type, EventType::None, "{e:?}");
        assert_eq!(e.state, SessionState::Closed, "{e:?}");
    }
    for w in [&mut per, &mut rec] {
        let e = within(10, w.next()).await.expect("a final event");
        assert_eq!(e.event_type, EventType::None, "{e:?}");
        assert_eq!(e.state, SessionState::Closed, "{e:?}");
        assert_eq!(within(10, w.next()).await, None);
    }
    // Watch calls after close fail at once.
    assert_eq!(
        zk.add_watch(&p, false).await.unwrap_err(),
        aiozk::Error::Closed
    );
    assert_eq!(
        zk.exists_watched(&p).await.unwrap_err(),
        aiozk::Error::Closed
    );
}

#[tokio::test]
async fn dropping_the_client_closes_the_session_despite_live_watchers() {
    let observer = connect("").await;
    let b = base(&observer, "w-drop").await;
    let zk = connect("").await;
    let eph = format!("{b}/eph");
    zk.create_with(&eph, b"", &CreateOptions::new().ephemeral())
        .await
        .unwrap();
    let mut w = zk.add_watch(&b, false).await.unwrap();
    let clone = zk.clone();
    drop(zk);
    drop(clone);
    // A live persistent watcher does not keep the session open: the stream ends with the
    // session.
    // (The server may first report the deletion of the session's ephemeral node.)
    let mut got = Vec::new();
    while let Some(e) = within(10, w.next()).await {
        got.push((e.event_type, e.state, e.path));
    }
    let last = got.pop().expect("a final event");
    assert_eq!((last.0, last.1), (EventType::None, SessionState::Closed));
    for e in &got {
        assert_eq!(
            e,
            &(
                EventType::NodeChildrenChanged,
                SessionState::Connected,
                b.clone()
            )
        );
    }
    assert_eq!(observer.exists(&eph).await.unwrap(), None);
    observer.close().await;
}

#[tokio::test]
async fn a_persistent_watch_added_again_after_a_drop_works() {
    let zk = connect("").await;
    let b = base(&zk, "w-readd").await;
    let p = format!("{b}/x");
    // Dropped, then added again at once: the removal and the new addWatch reach the
    // server in order, so the new watch is in place.
    let w1 = zk.add_watch(&p, false).await.unwrap();
    drop(w1);
    let mut w2 = zk.add_watch(&p, false).await.unwrap();
    zk.create(&p, b"").await.unwrap();
    assert_eq!(pair(&next(&mut w2).await), ev(EventType::NodeCreated, &p));
    drop(w2);
    // An add_watch future dropped before it resolved does not disturb a second one.
    let q = format!("{b}/y");
    let f1 = zk.add_watch(&q, false);
    let f2 = zk.add_watch(&q, false);
    drop(f1);
    let mut w3 = f2.await.unwrap();
    zk.create(&q, b"").await.unwrap();
    assert_eq!(pair(&next(&mut w3).await), ev(EventType::NodeCreated, &q));
    zk.close().await;
}

#[tokio::test]
async fn a_deferred_persistent_watch_removal_happens_eventually() {
    let zk = connect("").await;
    let b = base(&zk, "w-deferred").await;
    let p = format!("{b}/x");
    zk.create(&p, b"").await.unwrap();
    let (_, _, w) = zk.get_data_watched(&p).await.unwrap();
    let per = zk.add_watch(&p, false).await.unwrap();
    drop(per);
    zk.set_data(&p, b"1", None).await.unwrap();
    assert_eq!(
        pair(&within(10, w).await),
        ev(EventType::NodeDataChanged, &p)
    );
    // No local watcher is left on the path: the server watch must go.
    wait_server_watches(zk.session_id(), |paths| paths.is_empty()).await;
    zk.close().await;
}

#[tokio::test]
async fn dropped_oneshot_watchers_do_not_pile_up() {
    let zk = connect("").await;
    let b = base(&zk, "w-gc").await;
    let p = format!("{b}/quiet");
    zk.create(&p, b"").await.unwrap();
    // Abandoned waits on a node that never changes.
    for _ in 0..600 {
        let (_, _, w) = zk.get_data_watched(&p).await.unwrap();
        drop(w);
    }
    zk.exists(&p).await.unwrap();
    let live = zk.stats().live_watches;
    assert!(live < 300, "{live} dropped watchers still registered");
    // A watcher still held is kept and fires.
    let (_, _, w) = zk.get_data_watched(&p).await.unwrap();
    zk.set_data(&p, b"x", None).await.unwrap();
    assert_eq!(within(10, w).await.event_type, EventType::NodeDataChanged);
    zk.close().await;
}
