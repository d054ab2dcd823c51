//! DataWatcher and ChildrenWatcher on a real server.

use std::time::Duration;

use aiozk_recipes::{ChildrenWatcher, DataWatcher, NodeChildren, NodeData, WatcherOptions};

use crate::common::{base, connect, connect_via, cut_and_reconnect, expire_session, proxy, within};

const FOLLOW: WatcherOptions = WatcherOptions {
    wait_for_create: true,
};

async fn next_data(w: &mut DataWatcher) -> NodeData {
    within(30, w.next())
        .await
        .expect("stream open")
        .expect("no error")
}

async fn next_children(w: &mut ChildrenWatcher) -> NodeChildren {
    within(30, w.next())
        .await
        .expect("stream open")
        .expect("no error")
}

fn data(d: &NodeData) -> Option<&[u8]> {
    d.data.as_deref()
}

/// Reads items until one satisfies `done`; asserts consecutive items differ.
async fn data_until(w: &mut DataWatcher, last: &mut NodeData, done: impl Fn(&NodeData) -> bool) {
    while !done(last) {
        let next = next_data(w).await;
        assert_ne!(&next, last, "identical consecutive states");
        *last = next;
    }
}

#[tokio::test]
async fn data_watcher_reports_start_changes_and_deletion() {
    let zk = connect().await;
    let b = base(&zk, "dw-basic").await;
    let node = format!("{b}/n");
    zk.create(&node, b"one").await.unwrap();
    let mut w = DataWatcher::new(&zk, &node);
    let first = next_data(&mut w).await;
    assert_eq!(data(&first), Some(&b"one"[..]));
    zk.set_data(&node, b"two", None).await.unwrap();
    let second = next_data(&mut w).await;
    assert_eq!(data(&second), Some(&b"two"[..]));
    assert_eq!(second.stat.unwrap().version, 1);
    // Same bytes, new version: a new state.
    zk.set_data(&node, b"two", None).await.unwrap();
    assert_eq!(next_data(&mut w).await.stat.unwrap().version, 2);
    zk.delete(&node, None).await.unwrap();
    let gone = next_data(&mut w).await;
    assert_eq!(
        gone,
        NodeData {
            data: None,
            stat: None,
            null_data: false,
        }
    );
    // Without wait_for_create the stream ends after the deletion (aiozk's behaviour).
    assert!(within(10, w.next()).await.is_none());
    zk.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn data_watcher_tells_null_data_from_empty_data() {
    let zk = connect().await;
    let b = base(&zk, "dw-null").await;
    let node = format!("{b}/n");
    zk.create_opt(&node, None, &aiozk::CreateOptions::new())
        .await
        .unwrap();
    let mut w = DataWatcher::new(&zk, &node);
    let first = next_data(&mut w).await;
    assert!(first.exists() && first.null_data);
    assert_eq!(data(&first), Some(&b""[..]));
    zk.set_data(&node, b"", None).await.unwrap();
    let second = next_data(&mut w).await;
    assert!(!second.null_data);
    assert_eq!(data(&second), Some(&b""[..]));
    zk.set_data_opt(&node, None, None).await.unwrap();
    assert!(next_data(&mut w).await.null_data);
    drop(w);
    zk.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn data_watcher_follows_creation_when_asked() {
    let zk = connect().await;
    let b = base(&zk, "dw-create").await;
    let node = format!("{b}/n");
    let mut w = DataWatcher::with_options(&zk, &node, FOLLOW);
    assert!(!next_data(&mut w).await.exists());
    zk.create(&node, b"born").await.unwrap();
    assert_eq!(data(&next_data(&mut w).await), Some(&b"born"[..]));
    zk.delete(&node, None).await.unwrap();
    assert!(!next_data(&mut w).await.exists());
    zk.create(&node, b"again").await.unwrap();
    assert_eq!(data(&next_data(&mut w).await), Some(&b"again"[..]));
    drop(w);
    zk.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn data_watcher_missing_node_without_follow_ends() {
    let zk = connect().await;
    let b = base(&zk, "dw-missing").await;
    let mut w = DataWatcher::new(&zk, &format!("{b}/none"));
    assert!(!next_data(&mut w).await.exists());
    assert!(within(10, w.next()).await.is_none());
}

#[tokio::test]
async fn many_watchers_on_many_clients_all_see_the_final_state_in_order() {
    let writer = connect().await;
    let b = base(&writer, "dw-many").await;
    let node = format!("{b}/n");
    writer.create(&node, b"0").await.unwrap();
    let mut clients = Vec::new();
    let mut watchers = Vec::new();
    for _ in 0..4 {
        let c = connect().await;
        for _ in 0..5 {
            let mut w = DataWatcher::new(&c, &node);
            next_data(&mut w).await;
            watchers.push(w);
        }
        clients.push(c);
    }
    for i in 1..=50 {
        writer
            .set_data(&node, i.to_string().as_bytes(), None)
            .await
            .unwrap();
    }
    for w in &mut watchers {
        let mut last_version = 0;
        loop {
            let d = next_data(w).await;
            let v = d.stat.unwrap().version;
            assert!(v > last_version, "versions only move forward");
            last_version = v;
            if v == 50 {
                assert_eq!(data(&d), Some(&b"50"[..]));
                break;
            }
        }
    }
    writer.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn data_watcher_delivers_the_final_state_after_a_connection_cut() {
    let other = connect().await;
    let b = base(&other, "dw-cut").await;
    let node = format!("{b}/n");
    other.create(&node, b"before").await.unwrap();
    let proxy = proxy().await;
    let zk = connect_via(&proxy, Duration::from_secs(10)).await;
    let mut w = DataWatcher::with_options(&zk, &node, FOLLOW);
    let mut last = next_data(&mut w).await;
    assert_eq!(data(&last), Some(&b"before"[..]));

    // While the watcher's connection is stalled, the node changes several times.
    proxy.stall();
    for i in 0..5 {
        other
            .set_data(&node, format!("during-{i}").as_bytes(), None)
            .await
            .unwrap();
    }
    other.delete(&node, None).await.unwrap();
    other.create(&node, b"final").await.unwrap();
    proxy.cut_rst().await;
    proxy.resume();

    data_until(&mut w, &mut last, |d| data(d) == Some(&b"final"[..])).await;
    // The node really was re-created: the new state carries the new creation zxid.
    let (_, stat) = other.get_data(&node).await.unwrap();
    assert_eq!(last.stat, Some(stat));

    // A reconnect without any change does not produce an item: the next item is the next
    // change.
    cut_and_reconnect(&zk, &proxy).await;
    other.set_data(&node, b"after", None).await.unwrap();
    let next = next_data(&mut w).await;
    assert_eq!(data(&next), Some(&b"after"[..]));
    other.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn data_watcher_survives_a_new_session() {
    let other = connect().await;
    let b = base(&other, "dw-expire").await;
    let node = format!("{b}/n");
    other.create(&node, b"v0").await.unwrap();
    let proxy = proxy().await;
    let zk = connect_via(&proxy, Duration::from_secs(2)).await;
    let mut w = DataWatcher::with_options(&zk, &node, FOLLOW);
    let mut last = next_data(&mut w).await;
    let changer = {
        let other = other.clone();
        let node = node.clone();
        async move {
            other.set_data(&node, b"v1", None).await.unwrap();
            other.set_data(&node, b"v2-final", None).await.unwrap();
        }
    };
    let (_, ()) = tokio::join!(expire_session(&zk, &proxy), changer);
    data_until(&mut w, &mut last, |d| data(d) == Some(&b"v2-final"[..])).await;
    assert_eq!(zk.stats().sessions, 2);
    other.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn dropping_a_watcher_releases_its_watches() {
    let zk = connect().await;
    let b = base(&zk, "dw-drop").await;
    let node = format!("{b}/n");
    zk.create(&node, b"x").await.unwrap();
    let before = zk.stats().live_watches;
    let mut w = DataWatcher::new(&zk, &node);
    let mut c = ChildrenWatcher::new(&zk, &node);
    next_data(&mut w).await;
    next_children(&mut c).await;
    assert_eq!(zk.stats().live_watches, before + 2);
    drop(w);
    drop(c);
    // The local watchers are forgotten once their receivers are gone and the node changes.
    zk.set_data(&node, b"y", None).await.unwrap();
    zk.create(&format!("{node}/c"), b"").await.unwrap();
    crate::common::eventually(10, "watches released", || async {
        zk.stats().live_watches == before
    })
    .await;
    zk.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn children_watcher_reports_children_changes() {
    let zk = connect().await;
    let b = base(&zk, "cw-basic").await;
    let mut w = ChildrenWatcher::new(&zk, &b);
    assert_eq!(next_children(&mut w).await.children, Some(vec![]));
    zk.create(&format!("{b}/b"), b"").await.unwrap();
    assert_eq!(
        next_children(&mut w).await.children,
        Some(vec!["b".to_owned()])
    );
    zk.create(&format!("{b}/a"), b"").await.unwrap();
    assert_eq!(
        next_children(&mut w).await.children,
        Some(vec!["a".to_owned(), "b".to_owned()])
    );
    // A data change of the parent is not a children change.
    zk.set_data(&b, b"data", None).await.unwrap();
    zk.delete(&format!("{b}/b"), None).await.unwrap();
    assert_eq!(
        next_children(&mut w).await.children,
        Some(vec!["a".to_owned()])
    );
    zk.deleteall(&b).await.unwrap();
    let gone = next_children(&mut w).await;
    assert_eq!(gone.children, None);
    assert!(within(10, w.next()).await.is_none());
}

#[tokio::test]
async fn children_watcher_sees_concurrent_joins_and_final_state_after_cut() {
    let other = connect().await;
    let b = base(&other, "cw-cut").await;
    let proxy = proxy().await;
    let zk = connect_via(&proxy, Duration::from_secs(10)).await;
    let mut w = ChildrenWatcher::with_options(&zk, &b, FOLLOW);
    let mut last = next_children(&mut w).await;
    assert_eq!(last.children, Some(vec![]));

    // Several clients add children concurrently.
    let mut tasks = Vec::new();
    for c in 0..4 {
        let client = connect().await;
        let b = b.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                client.create(&format!("{b}/c{c}-{i}"), b"").await.unwrap();
            }
            client.close().await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    while last.children.as_ref().map_or(0, Vec::len) < 40 {
        let next = next_children(&mut w).await;
        assert_ne!(next.children, last.children);
        last = next;
    }

    // Changes during a stalled connection, then a cut.
    proxy.stall();
    for c in 0..4 {
        other.delete(&format!("{b}/c{c}-0"), None).await.unwrap();
    }
    other.create(&format!("{b}/late"), b"").await.unwrap();
    proxy.cut_rst().await;
    proxy.resume();
    let mut want = children_now(&other, &b).await;
    want.sort();
    while last.children.as_ref() != Some(&want) {
        let next = next_children(&mut w).await;
        assert_ne!(next.children, last.children);
        last = next;
    }
    assert_eq!(want.len(), 37);
    other.deleteall(&b).await.unwrap();
}

async fn children_now(zk: &aiozk::Client, path: &str) -> Vec<String> {
    zk.get_children(path).await.unwrap()
}

#[tokio::test]
async fn creation_during_a_cut_is_reported() {
    let other = connect().await;
    let b = base(&other, "dw-create-cut").await;
    let node = format!("{b}/n");
    let proxy = proxy().await;
    let zk = connect_via(&proxy, Duration::from_secs(10)).await;
    let mut dw = DataWatcher::with_options(&zk, &node, FOLLOW);
    let mut cw = ChildrenWatcher::with_options(&zk, &node, FOLLOW);
    assert!(!next_data(&mut dw).await.exists());
    assert!(!next_children(&mut cw).await.exists());
    // The node appears (with a child) while the watchers' connection is stalled: only
    // their exist watches can tell.
    proxy.stall();
    other.create(&node, b"born").await.unwrap();
    other.create(&format!("{node}/kid"), b"").await.unwrap();
    proxy.cut_rst().await;
    proxy.resume();
    assert_eq!(data(&next_data(&mut dw).await), Some(&b"born"[..]));
    let mut kids = next_children(&mut cw).await;
    while kids.children.as_deref() != Some(&["kid".to_owned()][..]) {
        let next = next_children(&mut cw).await;
        assert_ne!(next, kids);
        kids = next;
    }
    other.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn closing_the_client_ends_the_streams() {
    let zk = connect().await;
    let b = base(&zk, "dw-close").await;
    let node = format!("{b}/n");
    zk.create(&node, b"x").await.unwrap();
    let mut dw = DataWatcher::new(&zk, &node);
    let mut cw = ChildrenWatcher::new(&zk, &node);
    next_data(&mut dw).await;
    next_children(&mut cw).await;
    let cleaner = connect().await;
    zk.close().await;
    assert_eq!(
        within(10, dw.next()).await.unwrap().unwrap_err(),
        aiozk::Error::Closed
    );
    assert!(within(10, dw.next()).await.is_none());
    assert_eq!(
        within(10, cw.next()).await.unwrap().unwrap_err(),
        aiozk::Error::Closed
    );
    assert!(within(10, cw.next()).await.is_none());
    cleaner.deleteall(&b).await.unwrap();
}
