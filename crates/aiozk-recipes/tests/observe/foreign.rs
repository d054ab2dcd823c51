//! Counters shared with Apache Curator and kazoo, each in its own process (see
//! `aiozk_testkit::Peer`): both sides increment the same node at the same time, and no
//! increment is lost; the node holds the foreign library's bytes. Barriers set by one side
//! block the other until lifted; kazoo parties (Party and ShallowParty) and ours see each
//! other.

use std::time::Duration;

use aiozk_recipes::{
    Barrier, Counter, CounterValue, DoubleBarrier, Int32Be, Int64Be, Layout, Party,
};
use aiozk_testkit::Peer;

use crate::common::{base, connect, server, within};

const N: usize = 150;

fn peer(curator: bool) -> Peer {
    let connect = server().connect_string();
    let session = Duration::from_secs(10);
    if curator {
        Peer::curator(&connect, session).expect("start the Curator peer")
    } else {
        Peer::kazoo(&connect, session).expect("start the kazoo peer")
    }
}

/// `N` increments by us and `N` by the peer (`command` makes them: `PATH` and `N` stand
/// for the counter's path and `N`), at the same time. `width`: the data's length in bytes,
/// `None` for decimal text.
async fn count_together<T: CounterValue>(
    name: &str,
    curator: bool,
    command: &str,
    one: T,
    expect: T,
    width: Option<usize>,
) {
    let zk = connect().await;
    let b = base(&zk, name).await;
    let path = format!("{b}/count");
    let counter = Counter::new(&zk, &path, one.minus(one));
    let mut peer = peer(curator);
    counter.start().await.unwrap();
    let command = command.replace("PATH", &path).replace("N", &N.to_string());
    peer.send(&command).unwrap();
    for _ in 0..N {
        within(20, counter.incr(one)).await.unwrap();
    }
    let answer = peer.answer(Duration::from_secs(60)).unwrap();
    assert!(!answer.starts_with("error"), "{answer}");
    assert_eq!(
        counter.get().await.unwrap(),
        expect,
        "an increment was lost"
    );
    let (data, _) = zk.get_data(&path).await.unwrap();
    match width {
        Some(w) => assert_eq!(data.len(), w, "{data:?}"),
        None => assert_eq!(&data[..], expect.encode().as_bytes()),
    }
    // The peer's own last value is one that the counter went through.
    let theirs: i64 = answer.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(theirs > 0 && theirs <= 2 * N as i64, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curator_shared_count_and_our_int32_counter_lose_no_increment() {
    count_together(
        "curator-shared-count",
        true,
        "shared_add PATH N",
        Int32Be(1),
        Int32Be(2 * N as i32),
        Some(4),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curator_distributed_atomic_long_and_our_int64_counter_lose_no_increment() {
    count_together(
        "curator-atomic-long",
        true,
        "along_add PATH N",
        Int64Be(1),
        Int64Be(2 * N as i64),
        Some(8),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kazoo_counter_and_ours_lose_no_increment() {
    count_together(
        "kazoo-counter",
        false,
        "counter_add PATH N 0",
        1i64,
        2 * N as i64,
        None,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kazoo_curator_counter_and_our_int32_counter_lose_no_increment() {
    count_together(
        "kazoo-curator-counter",
        false,
        "counter_add PATH N 1",
        Int32Be(1),
        Int32Be(2 * N as i32),
        Some(4),
    )
    .await;
}

/// A barrier set by one side blocks the other until the first lifts it, both ways round.
async fn barrier_both_ways(curator: bool) {
    let zk = connect().await;
    let b = base(
        &zk,
        if curator {
            "curator-barrier"
        } else {
            "kazoo-barrier"
        },
    )
    .await;
    let path = format!("{b}/barrier");
    let mut peer = peer(curator);
    let wait = |ms: u64| {
        if curator {
            format!("barrier_wait {path} {ms}")
        } else {
            format!("barrier_wait {path} {}", ms as f64 / 1000.0)
        }
    };
    let answer = Duration::from_secs(30);
    let ours = Barrier::new(&zk, &path);
    // Ours set: they are blocked, and pass once we lift it.
    ours.create().await.unwrap();
    assert_eq!(peer.ask(&wait(300), answer).unwrap(), "blocked");
    peer.send(&wait(30_000)).unwrap();
    assert!(
        peer.answer(Duration::from_millis(300)).is_err(),
        "passed a set barrier"
    );
    ours.lift().await.unwrap();
    assert_eq!(peer.answer(answer).unwrap(), "passed");
    // Theirs set: we are blocked, and pass once they lift it.
    assert_eq!(
        peer.ask(&format!("barrier_set {path}"), answer).unwrap(),
        "set"
    );
    assert_eq!(
        ours.wait(Some(Duration::from_millis(300))).await.err(),
        Some(aiozk::Error::Timeout)
    );
    let waiting = tokio::spawn({
        let ours = Barrier::new(&zk, &path);
        async move { ours.wait(Some(Duration::from_secs(30))).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "we passed their barrier");
    assert_eq!(
        peer.ask(&format!("barrier_remove {path}"), answer).unwrap(),
        "removed"
    );
    within(30, waiting).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curator_distributed_barrier_and_ours_block_each_other() {
    barrier_both_ways(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kazoo_barrier_and_ours_block_each_other() {
    barrier_both_ways(false).await;
}

/// A party in kazoo's layout: each side sees the other's members join and leave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kazoo_party_and_ours_see_each_other() {
    let zk = connect().await;
    let b = base(&zk, "kazoo-party").await;
    let path = format!("{b}/party");
    let mut peer = peer(false);
    let answer = Duration::from_secs(30);
    let ours = Party::new(&zk, &path, "rust")
        .unwrap()
        .with_layout(Layout::Kazoo);
    ours.join().await.unwrap();
    let node = ours.own_node().unwrap();
    let name = aiozk::path::basename(&node);
    assert!(
        name.len() == 32 + 9
            && name.ends_with("__party__")
            && name[..32].bytes().all(|c| c.is_ascii_hexdigit()),
        "{name}"
    );
    assert_eq!(zk.get_data(&node).await.unwrap().0.as_ref(), b"rust");
    assert_eq!(
        peer.ask(&format!("party_join {path} py"), answer).unwrap(),
        "joined"
    );
    assert_eq!(
        peer.ask(&format!("party_members {path}"), answer).unwrap(),
        "py,rust"
    );
    within(20, async {
        while {
            let mut m = ours.members();
            m.sort();
            m != ["py", "rust"]
        } {
            // Bounded: a change just before the call is seen by the next look.
            let _ = tokio::time::timeout(Duration::from_millis(500), ours.wait_for_change()).await;
        }
    })
    .await;
    assert_eq!(
        peer.ask(&format!("party_leave {path}"), answer).unwrap(),
        "left"
    );
    within(20, async {
        while ours.members() != ["rust"] {
            // Bounded: a change just before the call is seen by the next look.
            let _ = tokio::time::timeout(Duration::from_millis(500), ours.wait_for_change()).await;
        }
    })
    .await;
    ours.leave().await.unwrap();
    assert_eq!(
        peer.ask(&format!("party_members {path}"), answer).unwrap(),
        ""
    );
}

/// kazoo's ShallowParty: the names are in the node names, and each side sees the other's
/// members join and leave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kazoo_shallow_party_and_ours_see_each_other() {
    let zk = connect().await;
    let b = base(&zk, "kazoo-shallow-party").await;
    let path = format!("{b}/party");
    let mut peer = peer(false);
    let answer = Duration::from_secs(30);
    let ours = Party::new(&zk, &path, "rust-1").unwrap().shallow();
    ours.join().await.unwrap();
    let node = ours.own_node().unwrap();
    let name = aiozk::path::basename(&node);
    assert!(
        name.len() == 32 + 7
            && name.ends_with("-rust-1")
            && name[..32].bytes().all(|c| c.is_ascii_hexdigit()),
        "{name}"
    );
    assert_eq!(zk.get_data(&node).await.unwrap().0.as_ref(), b"rust-1");
    assert_eq!(
        peer.ask(&format!("shallow_join {path} py-1"), answer)
            .unwrap(),
        "joined"
    );
    // Names with a '-' survive: only the first one separates the id.
    assert_eq!(
        peer.ask(&format!("shallow_members {path}"), answer)
            .unwrap(),
        "py-1,rust-1"
    );
    within(20, async {
        while {
            let mut m = ours.members();
            m.sort();
            m != ["py-1", "rust-1"]
        } {
            // Bounded: a change just before the call is seen by the next look.
            let _ = tokio::time::timeout(Duration::from_millis(500), ours.wait_for_change()).await;
        }
    })
    .await;
    assert_eq!(
        peer.ask(&format!("shallow_leave {path}"), answer).unwrap(),
        "left"
    );
    within(20, async {
        while ours.members() != ["rust-1"] {
            let _ = tokio::time::timeout(Duration::from_millis(500), ours.wait_for_change()).await;
        }
    })
    .await;
    ours.leave().await.unwrap();
    assert_eq!(
        peer.ask(&format!("shallow_members {path}"), answer)
            .unwrap(),
        ""
    );
    assert!(zk.get_children(&path).await.unwrap().is_empty());
}

/// A double barrier of two: the peer and us. Whoever enters first waits for the other;
/// both leave, and nothing is left behind. Twice, the peer first and then us.
async fn double_barrier_together(curator: bool) {
    let layout = if curator {
        Layout::Curator
    } else {
        Layout::Kazoo
    };
    let zk = connect().await;
    let b = base(&zk, &format!("{layout}-double-barrier")).await;
    let mut peer = peer(curator);
    let answer = Duration::from_secs(30);
    let enter = |path: &str| {
        if curator {
            format!("dbarrier_enter {path} 2 30000")
        } else {
            format!("dbarrier_enter {path} 2")
        }
    };
    let leave = |path: &str| {
        if curator {
            format!("dbarrier_leave {path} 30000")
        } else {
            format!("dbarrier_leave {path}")
        }
    };
    for round in 0..2 {
        let path = format!("{b}/round{round}");
        let ours = DoubleBarrier::new(&zk, &path, 2).with_layout(layout);
        if round == 0 {
            // They wait for us.
            peer.send(&enter(&path)).unwrap();
            assert!(
                peer.answer(Duration::from_millis(400)).is_err(),
                "entered alone"
            );
            within(30, ours.enter(Some(Duration::from_secs(20))))
                .await
                .unwrap();
            assert_eq!(peer.answer(answer).unwrap(), "entered");
        } else {
            // We wait for them.
            let waiting = tokio::spawn({
                let ours = DoubleBarrier::new(&zk, &path, 2).with_layout(layout);
                async move {
                    ours.enter(Some(Duration::from_secs(20))).await?;
                    Ok::<_, aiozk::Error>(ours)
                }
            });
            tokio::time::sleep(Duration::from_millis(400)).await;
            assert!(!waiting.is_finished(), "we entered alone");
            assert_eq!(peer.ask(&enter(&path), answer).unwrap(), "entered");
            let ours = within(30, waiting).await.unwrap().unwrap();
            check_nodes(&zk, &path, curator, &ours).await;
            peer.send(&leave(&path)).unwrap();
            within(30, ours.leave(Some(Duration::from_secs(20))))
                .await
                .unwrap();
            assert_eq!(peer.answer(answer).unwrap(), "left");
            assert_empty(&zk, &path).await;
            continue;
        }
        check_nodes(&zk, &path, curator, &ours).await;
        peer.send(&leave(&path)).unwrap();
        within(30, ours.leave(Some(Duration::from_secs(20))))
            .await
            .unwrap();
        assert_eq!(peer.answer(answer).unwrap(), "left");
        assert_empty(&zk, &path).await;
    }
}

/// Nothing left under `path` (in Curator's layout the empty container may be gone).
async fn assert_empty(zk: &aiozk::Client, path: &str) {
    match zk.get_children(path).await {
        Ok(left) => assert!(left.is_empty(), "left behind: {left:?}"),
        Err(aiozk::Error::NoNode) => {}
        Err(e) => panic!("get_children: {e}"),
    }
}

/// Both participants' nodes and `ready` are there, named alike.
async fn check_nodes(zk: &aiozk::Client, path: &str, curator: bool, ours: &DoubleBarrier) {
    let mut kids = zk.get_children(path).await.unwrap();
    kids.sort();
    assert_eq!(kids.len(), 3, "{kids:?}");
    assert!(kids.contains(&"ready".to_owned()), "{kids:?}");
    let own = ours.own_node().unwrap();
    assert!(kids.contains(&aiozk::path::basename(&own).to_owned()));
    let width = if curator { 36 } else { 32 };
    for k in kids.iter().filter(|k| *k != "ready") {
        assert_eq!(k.len(), width, "{k}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curator_double_barrier_and_ours_enter_and_leave_together() {
    double_barrier_together(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kazoo_double_barrier_and_ours_enter_and_leave_together() {
    double_barrier_together(false).await;
}
