//! Barrier and DoubleBarrier on a real server.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aiozk::Error;
use aiozk_recipes::{Barrier, DoubleBarrier};

use crate::common::{base, children, connect, connect_via, eventually, proxy, within};

#[tokio::test]
async fn barrier_holds_waiters_until_lifted() {
    let zk = connect().await;
    let b = base(&zk, "barrier").await;
    // Missing parents are created (aiozk silently did nothing).
    let path = format!("{b}/deep/er/barrier");
    Barrier::new(&zk, &path).create().await.unwrap();
    Barrier::new(&zk, &path).create().await.unwrap();
    let lifted = Arc::new(AtomicBool::new(false));
    let passed = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let c = connect().await;
        for _ in 0..50 {
            let barrier = Barrier::new(&c, &path);
            let (lifted, passed) = (lifted.clone(), passed.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait(None).await.unwrap();
                assert!(lifted.load(Ordering::SeqCst), "passed before the lift");
                passed.fetch_add(1, Ordering::SeqCst);
            }));
        }
        clients.push(c);
    }
    // Let every waiter arm its watch: each one's exists() has been answered once the
    // watch count reached 50 per client.
    for c in &clients {
        eventually(30, "waiters armed", || async {
            c.stats().live_watches >= 50
        })
        .await;
    }
    assert_eq!(passed.load(Ordering::SeqCst), 0);
    lifted.store(true, Ordering::SeqCst);
    Barrier::new(&zk, &path).lift().await.unwrap();
    for t in tasks {
        within(30, t).await.unwrap();
    }
    assert_eq!(passed.load(Ordering::SeqCst), 200);
    // Lifting twice is fine; nothing is left behind.
    Barrier::new(&zk, &path).lift().await.unwrap();
    assert_eq!(zk.exists(&path).await.unwrap(), None);
    zk.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn waiting_on_a_missing_barrier_returns_at_once() {
    let zk = connect().await;
    let b = base(&zk, "barrier-missing").await;
    within(5, Barrier::new(&zk, &format!("{b}/none")).wait(None))
        .await
        .unwrap();
}

#[tokio::test]
async fn barrier_wait_times_out_accurately_and_cancels_cleanly() {
    let zk = connect().await;
    let b = base(&zk, "barrier-timeout").await;
    let path = format!("{b}/barrier");
    let barrier = Barrier::new(&zk, &path);
    barrier.create().await.unwrap();
    let start = Instant::now();
    let err = barrier
        .wait(Some(Duration::from_millis(300)))
        .await
        .unwrap_err();
    let took = start.elapsed();
    println!("Barrier::wait(300 ms) timed out after {took:?}");
    assert_eq!(err, Error::Timeout);
    assert!(took >= Duration::from_millis(300) && took < Duration::from_millis(1000));

    // A dropped wait leaves no node and no watch behind.
    let watches = zk.stats().live_watches;
    let wait = barrier.wait(None);
    assert!(tokio::time::timeout(Duration::from_millis(100), wait)
        .await
        .is_err());
    zk.set_data(&path, b"poke", None).await.unwrap();
    eventually(10, "watch released", || async {
        zk.stats().live_watches <= watches
    })
    .await;
    assert_eq!(children(&zk, &b).await, vec!["barrier".to_owned()]);
    barrier.lift().await.unwrap();
    zk.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn barrier_wait_survives_a_connection_cut() {
    let zk = connect().await;
    let b = base(&zk, "barrier-cut").await;
    let path = format!("{b}/barrier");
    Barrier::new(&zk, &path).create().await.unwrap();
    let proxy = proxy().await;
    let waiter_client = connect_via(&proxy, Duration::from_secs(10)).await;
    let waiter = Barrier::new(&waiter_client, &path);
    let task = tokio::spawn(async move { waiter.wait(None).await });
    eventually(10, "waiter armed", || async {
        waiter_client.stats().live_watches >= 1
    })
    .await;
    // The lift happens while the waiter's connection is stalled, then the connection
    // is cut: the waiter learns about it after reconnecting.
    proxy.stall();
    Barrier::new(&zk, &path).lift().await.unwrap();
    proxy.cut_rst().await;
    proxy.resume();
    within(30, task).await.unwrap().unwrap();
    assert!(waiter_client.stats().reconnects >= 1);
    zk.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn double_barrier_enters_and_leaves_together() {
    let zk = connect().await;
    let b = base(&zk, "double").await;
    const N: usize = 5;
    let entered = Arc::new(AtomicUsize::new(0));
    let arrived = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..N {
        let c = connect().await;
        let b = b.clone();
        let (entered2, arrived2) = (entered.clone(), arrived.clone());
        tasks.push(tokio::spawn(async move {
            let barrier = DoubleBarrier::new(&c, &b, N);
            arrived2.fetch_add(1, Ordering::SeqCst);
            barrier.enter(None).await.unwrap();
            assert_eq!(
                arrived2.load(Ordering::SeqCst),
                N,
                "entered before all arrived"
            );
            entered2.fetch_add(1, Ordering::SeqCst);
            // Stagger the leaving.
            tokio::time::sleep(Duration::from_millis(20 * i as u64)).await;
            barrier.leave(None).await.unwrap();
            assert_eq!(
                entered2.load(Ordering::SeqCst),
                N,
                "left before all entered"
            );
            c.close().await;
        }));
        // Make the last arrival come visibly later.
        if i == N - 2 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert_eq!(entered.load(Ordering::SeqCst), 0);
        }
    }
    for t in tasks {
        within(60, t).await.unwrap();
    }
    // The last one out deleted the sentinel; every worker node is gone.
    assert_eq!(children(&zk, &b).await, Vec::<String>::new());
    zk.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn double_barrier_enter_timeout_leaves_nothing() {
    let zk = connect().await;
    let b = base(&zk, "double-timeout").await;
    let mut tasks = Vec::new();
    let start = Instant::now();
    for _ in 0..4 {
        let zk = zk.clone();
        let b = b.clone();
        tasks.push(tokio::spawn(async move {
            let barrier = DoubleBarrier::new(&zk, &b, 10);
            let err = barrier
                .enter(Some(Duration::from_millis(400)))
                .await
                .unwrap_err();
            assert_eq!(err, Error::Timeout);
            assert_eq!(barrier.own_node(), None);
        }));
    }
    for t in tasks {
        within(30, t).await.unwrap();
    }
    let took = start.elapsed();
    println!("DoubleBarrier::enter(400 ms) x4 timed out after {took:?}");
    assert!(took >= Duration::from_millis(400) && took < Duration::from_millis(1500));
    assert_eq!(children(&zk, &b).await, Vec::<String>::new());
    zk.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn dropped_double_barrier_enter_leaves_no_node() {
    let zk = connect().await;
    let b = base(&zk, "double-drop").await;
    let barrier = DoubleBarrier::new(&zk, &b, 3);
    let enter = barrier.enter(None);
    assert!(tokio::time::timeout(Duration::from_millis(200), enter)
        .await
        .is_err());
    // The clean-up runs in a spawned task.
    eventually(10, "worker node removed", || async {
        children(&zk, &b).await.is_empty()
    })
    .await;
    // Dropping right away, while the create is still in flight, is also cleaned up.
    for _ in 0..10 {
        let barrier = DoubleBarrier::new(&zk, &b, 3);
        let enter = barrier.enter(None);
        let _ = tokio::time::timeout(Duration::from_micros(200), enter).await;
    }
    eventually(10, "worker nodes removed", || async {
        children(&zk, &b).await.is_empty()
    })
    .await;
    zk.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn double_barrier_enter_survives_a_connection_cut() {
    let zk = connect().await;
    let b = base(&zk, "double-cut").await;
    let proxy = proxy().await;
    let proxied = connect_via(&proxy, Duration::from_secs(10)).await;
    let first = DoubleBarrier::new(&proxied, &b, 3);
    let task = tokio::spawn(async move {
        first.enter(None).await?;
        first.leave(None).await
    });
    eventually(10, "first participant registered", || async {
        children(&zk, &b).await.len() == 1
    })
    .await;
    proxy.stall();
    let others: Vec<_> = (0..2).map(|_| DoubleBarrier::new(&zk, &b, 3)).collect();
    let (a, c) = tokio::join!(others[0].enter(None), others[1].enter(None));
    a.unwrap();
    c.unwrap();
    proxy.cut_rst().await;
    proxy.resume();
    let (a, c, first) = tokio::join!(others[0].leave(None), others[1].leave(None), async {
        within(30, task).await.unwrap()
    });
    a.unwrap();
    c.unwrap();
    first.unwrap();
    assert_eq!(children(&zk, &b).await, Vec::<String>::new());
    zk.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn double_barrier_leave_timeout_removes_own_node() {
    let zk = connect().await;
    let b = base(&zk, "double-leave").await;
    let lowest = DoubleBarrier::new(&zk, &b, 2);
    let other = DoubleBarrier::new(&zk, &b, 2);
    let (x, y) = tokio::join!(lowest.enter(None), other.enter(None));
    x.unwrap();
    y.unwrap();
    // Whoever has the lowest node waits for the other, which never leaves.
    let mut nodes = [lowest.own_node().unwrap(), other.own_node().unwrap()];
    nodes.sort_by_key(|n| n[n.len() - 10..].to_owned());
    let (waiting, staying) = if nodes[0] == lowest.own_node().unwrap() {
        (&lowest, &other)
    } else {
        (&other, &lowest)
    };
    let start = Instant::now();
    let err = waiting
        .leave(Some(Duration::from_millis(300)))
        .await
        .unwrap_err();
    let took = start.elapsed();
    println!("DoubleBarrier::leave(300 ms) timed out after {took:?}");
    assert_eq!(err, Error::Timeout);
    assert!(took >= Duration::from_millis(300) && took < Duration::from_millis(1000));
    assert_eq!(waiting.own_node(), None);
    // The remaining participant is now alone: it leaves at once and removes the sentinel.
    within(10, staying.leave(None)).await.unwrap();
    assert_eq!(children(&zk, &b).await, Vec::<String>::new());
    zk.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn double_barrier_enter_survives_session_expiry() {
    let zk = connect().await;
    let b = base(&zk, "double-expire").await;
    let proxy = proxy().await;
    let proxied = connect_via(&proxy, Duration::from_secs(2)).await;
    let first = Arc::new(DoubleBarrier::new(&proxied, &b, 2));
    let task = {
        let first = first.clone();
        tokio::spawn(async move { first.enter(None).await })
    };
    eventually(10, "first participant registered", || async {
        children(&zk, &b).await.len() == 1
    })
    .await;
    let old = first.own_node().unwrap();
    crate::common::expire_session(&proxied, &proxy).await;
    // The waiting participant registers again in its new session…
    eventually(30, "re-registered", || async {
        first.own_node().is_some_and(|n| n != old)
            && zk
                .exists(&first.own_node().unwrap())
                .await
                .unwrap()
                .is_some_and(|s| s.ephemeral_owner == proxied.session_id())
    })
    .await;
    // …so the second participant completes the quorum and both enter.
    let second = DoubleBarrier::new(&zk, &b, 2);
    within(30, second.enter(None)).await.unwrap();
    within(30, task).await.unwrap().unwrap();
    let (x, y) = tokio::join!(first.leave(None), second.leave(None));
    x.unwrap();
    y.unwrap();
    assert_eq!(children(&zk, &b).await, Vec::<String>::new());
    zk.deleteall(&b).await.unwrap();
}

/// In Curator's layout the barrier path is a container, which the server removes once the
/// last participant is gone: a participant still waiting in `leave` then finds no path at
/// all, which means everybody left.
#[tokio::test]
async fn curator_double_barrier_leave_accepts_a_reaped_container() {
    let zk = connect().await;
    let b = base(&zk, "dbarrier-reaped").await;
    let path = format!("{b}/barrier");
    // Another participant whose node sorts first: ours leaves first and waits for it.
    let other = connect().await;
    other
        .create_with(&path, b"", &aiozk::CreateOptions::new().container())
        .await
        .unwrap();
    let first = format!("{path}/00000000-0000-0000-0000-000000000000");
    other
        .create_with(&first, b"", &aiozk::CreateOptions::new().ephemeral())
        .await
        .unwrap();
    let ours = DoubleBarrier::new(&zk, &path, 2).with_layout(aiozk_recipes::Layout::Curator);
    within(20, ours.enter(Some(Duration::from_secs(10))))
        .await
        .unwrap();
    let leaving = tokio::spawn(async move {
        let r = ours.leave(Some(Duration::from_secs(20))).await;
        (ours, r)
    });
    // Ours is gone first, then the other node, `ready` and the container at once (as the
    // other's leave and the server's reaper would).
    eventually(20, "our node deleted", || async {
        children(&zk, &path).await.len() == 2
    })
    .await;
    other
        .transaction()
        .delete(&format!("{path}/ready"), -1)
        .delete(&first, -1)
        .delete(&path, -1)
        .commit()
        .await
        .unwrap();
    let (_ours, left) = within(30, leaving).await.unwrap();
    assert_eq!(left, Ok(()));
}
