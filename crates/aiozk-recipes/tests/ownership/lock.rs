//! Lock and SharedLock on a real server: exclusion, order, timeouts, cancellation, loss.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aiozk::{Error, OpResult};
use aiozk_recipes::{Lock, LossReason, SharedLock};

use crate::common::{base, children, connect, is_aiozk_name, ms_since, wait_children, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_happy_path() {
    let zk = connect().await;
    let b = base(&zk, "happy").await;
    zk.create(&format!("{b}-data"), b"0").await.ok();
    let lock = Lock::new(&zk, &b);
    assert!(!lock.is_held());

    let guard = within(5, lock.acquire(None)).await.unwrap();
    let names = children(&zk, &b).await;
    assert_eq!(names.len(), 1);
    assert!(is_aiozk_name(&names[0], "lock"), "{names:?}");
    assert_eq!(guard.node(), format!("{b}/{}", names[0]));
    assert!(guard.is_held());
    assert!(lock.is_held());
    assert_eq!(guard.lost_reason(), None);

    // A fenced write succeeds while held.
    let fence = guard.fence();
    fence
        .set_data(&format!("{b}-data"), b"1", None)
        .await
        .unwrap();
    let results = guard
        .transaction()
        .set_data(&format!("{b}-data"), b"2", -1)
        .commit()
        .await
        .unwrap();
    assert_eq!(results[0], OpResult::Checked);

    let lost = guard.lost();
    guard.release().await.unwrap();
    assert_eq!(children(&zk, &b).await, Vec::<String>::new());
    assert_eq!(lost.reason(), Some(LossReason::Released));
    assert!(!lock.is_held());
    // The fence outlives the guard, but no longer lets writes through.
    let err = fence
        .set_data(&format!("{b}-data"), b"3", None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::TransactionFailed { index: 0, .. }),
        "{err:?}"
    );
    assert_eq!(
        zk.get_data(&format!("{b}-data")).await.unwrap().0,
        &b"2"[..]
    );
    zk.delete(&format!("{b}-data"), None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_base_path_is_created() {
    let zk = connect().await;
    let b = base(&zk, "deep").await;
    let path = format!("{b}/a/b/c");
    let guard = within(5, Lock::new(&zk, &path).acquire(None))
        .await
        .unwrap();
    assert_eq!(children(&zk, &path).await.len(), 1);
    drop(guard);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contenders_are_served_in_arrival_order() {
    let zk = connect().await;
    let b = base(&zk, "fifo").await;
    let holder = within(5, Lock::new(&zk, &b).acquire(None)).await.unwrap();

    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..4 {
        let client = connect().await;
        let lock = Lock::new(&client, &b);
        let order = order.clone();
        tasks.push(tokio::spawn(async move {
            let guard = lock.acquire(Some(Duration::from_secs(20))).await.unwrap();
            order.lock().unwrap().push(i);
            // Hold briefly so that a broken queue would let someone else in.
            tokio::time::sleep(Duration::from_millis(20)).await;
            guard.release().await.unwrap();
            client.close().await;
        }));
        // Let contender i queue before i + 1 starts.
        wait_children(&zk, &b, 5, |c| c.len() == i + 2).await;
    }
    holder.release().await.unwrap();
    for t in tasks {
        within(20, t).await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3]);
    assert!(children(&zk, &b).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acquire_times_out_and_leaves_no_node() {
    let zk = connect().await;
    let other = connect().await;
    let b = base(&zk, "timeout").await;
    let holder = within(5, Lock::new(&zk, &b).acquire(None)).await.unwrap();
    let lock = Lock::new(&other, &b);
    for timeout_ms in [200u64, 500] {
        let started = Instant::now();
        let err = lock
            .acquire(Some(Duration::from_millis(timeout_ms)))
            .await
            .unwrap_err();
        let took = ms_since(started);
        println!("acquire timeout {timeout_ms} ms returned after {took} ms");
        assert_eq!(err, Error::Timeout);
        assert!(took >= u128::from(timeout_ms), "{took} ms");
        assert!(
            took < u128::from(timeout_ms) + crate::common::TIMER_SLACK_MS,
            "{took} ms"
        );
        // The delete of our node was queued before acquire returned, so a read on the same
        // client already sees it gone.
        let left = children(&other, &b).await;
        assert_eq!(left, vec![holder.node().rsplit('/').next().unwrap()]);
    }
    drop(holder);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_acquire_removes_its_node() {
    let zk = connect().await;
    let other = connect().await;
    let b = base(&zk, "cancel").await;
    let holder = within(5, Lock::new(&zk, &b).acquire(None)).await.unwrap();
    let lock = Lock::new(&other, &b);

    // Cancelled while waiting in line.
    let waiting = tokio::spawn({
        let lock = lock.clone();
        async move { lock.acquire(None).await }
    });
    wait_children(&zk, &b, 5, |c| c.len() == 2).await;
    waiting.abort();
    let left = wait_children(&zk, &b, 5, |c| c.len() == 1).await;
    assert!(holder.node().ends_with(&left[0]));

    // Cancelled right after the create was sent, before its reply: the node is found by
    // its guid and deleted.
    for _ in 0..5 {
        let fut = lock.acquire(None);
        let _ = tokio::time::timeout(Duration::ZERO, fut).await;
    }
    let started = Instant::now();
    wait_children(&zk, &b, 5, |c| c.len() == 1).await;
    println!(
        "nodes of 5 acquisitions cancelled mid-create gone after {} ms",
        ms_since(started)
    );
    drop(holder);
    wait_children(&zk, &b, 5, |c| c.is_empty()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_guard_releases() {
    let zk = connect().await;
    let other = connect().await;
    let b = base(&zk, "drop").await;
    let guard = within(5, Lock::new(&zk, &b).acquire(None)).await.unwrap();
    let lost = guard.lost();
    let waiter = tokio::spawn({
        let lock = Lock::new(&other, &b);
        async move { lock.acquire(Some(Duration::from_secs(10))).await }
    });
    wait_children(&zk, &b, 5, |c| c.len() == 2).await;
    drop(guard);
    assert_eq!(lost.reason(), Some(LossReason::Released));
    // The delete was queued by drop, so it is answered before this read.
    assert_eq!(children(&zk, &b).await.len(), 1);
    let next = within(10, waiter).await.unwrap().unwrap();
    assert!(next.is_held());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_release_releases_its_guards() {
    let zk = connect().await;
    let b = base(&zk, "lockrelease").await;
    let lock = Lock::new(&zk, &b);
    let guard = within(5, lock.acquire(None)).await.unwrap();
    assert!(lock.is_held());
    lock.release().await.unwrap();
    assert!(!lock.is_held());
    assert!(!guard.is_held());
    assert_eq!(guard.lost_reason(), Some(LossReason::Released));
    assert!(children(&zk, &b).await.is_empty());
    // Releasing again, or with nothing held, is fine.
    lock.release().await.unwrap();
    drop(guard);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_node_fires_the_loss_signal() {
    let zk = connect().await;
    let admin = connect().await;
    let b = base(&zk, "deleted").await;
    admin.create(&format!("{b}-data"), b"x").await.ok();
    let guard = within(5, Lock::new(&zk, &b).acquire(None)).await.unwrap();
    let started = Instant::now();
    admin.delete(guard.node(), None).await.unwrap();
    let reason = within(5, guard.lost()).await;
    println!(
        "loss signalled {} ms after the node was deleted",
        ms_since(started)
    );
    assert_eq!(reason, LossReason::NodeDeleted);
    assert!(!guard.is_held());
    let err = guard
        .fence()
        .set_data(&format!("{b}-data"), b"y", None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::TransactionFailed { index: 0, .. }),
        "{err:?}"
    );
    // A transaction built after the loss cannot succeed either.
    let err = guard
        .transaction()
        .set_data(&format!("{b}-data"), b"y", -1)
        .commit()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::TransactionFailed { index: 0, .. }),
        "{err:?}"
    );
    assert_eq!(
        admin.get_data(&format!("{b}-data")).await.unwrap().0,
        &b"x"[..]
    );
    admin.delete(&format!("{b}-data"), None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_by_only_waits_for_named_labels() {
    let zk = connect().await;
    let b = base(&zk, "blocked").await;
    let reader = Lock::new(&zk, &b).with_label("read").blocked_by(["write"]);
    let writer = Lock::new(&zk, &b).with_label("write");
    assert_eq!(reader.label(), "read");

    let r1 = within(5, reader.acquire(None)).await.unwrap();
    let r2 = within(5, reader.acquire(None)).await.unwrap();
    assert!(r1.is_held() && r2.is_held());
    assert_eq!(
        writer
            .acquire(Some(Duration::from_millis(200)))
            .await
            .unwrap_err(),
        Error::Timeout
    );
    drop((r1, r2));
    let w = within(5, writer.acquire(None)).await.unwrap();
    assert_eq!(
        reader
            .acquire(Some(Duration::from_millis(200)))
            .await
            .unwrap_err(),
        Error::Timeout
    );
    drop(w);
    let bad = Lock::new(&zk, &b).with_label("a/b");
    assert!(matches!(
        bad.acquire(None).await.unwrap_err(),
        Error::InvalidArgument(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shared_lock_readers_share_writers_exclude() {
    let zk = connect().await;
    let other = connect().await;
    let b = base(&zk, "shared").await;
    let ours = SharedLock::new(&zk, &b);
    let theirs = SharedLock::new(&other, &b);

    let r1 = within(5, ours.acquire_read(None)).await.unwrap();
    let r2 = within(5, theirs.acquire_read(None)).await.unwrap();
    let names = children(&zk, &b).await;
    assert!(names.iter().all(|n| is_aiozk_name(n, "read")), "{names:?}");

    // A writer waits for both readers; a reader arriving after the waiting writer queues
    // behind it (no writer starvation).
    let writer = tokio::spawn({
        let theirs = theirs.clone();
        async move { theirs.acquire_write(Some(Duration::from_secs(10))).await }
    });
    wait_children(&zk, &b, 5, |c| c.len() == 3).await;
    let late_reader = tokio::spawn({
        let ours = ours.clone();
        async move {
            let g = ours.acquire_read(Some(Duration::from_secs(10))).await;
            (g, Instant::now())
        }
    });
    wait_children(&zk, &b, 5, |c| c.len() == 4).await;
    assert!(!writer.is_finished() && !late_reader.is_finished());
    drop(r1);
    drop(r2);
    let w = within(10, writer).await.unwrap().unwrap();
    // The late reader must not get in before the writer lets go.
    let releasing = Instant::now();
    w.release().await.unwrap();
    let (g, reader_got) = within(10, late_reader).await.unwrap();
    assert!(g.unwrap().is_held());
    assert!(
        reader_got > releasing,
        "a reader got in while the writer held"
    );
}
