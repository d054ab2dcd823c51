//! LeaderElection, Lease and Semaphore on a real server.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aiozk::Error;
use aiozk_recipes::{LeaderElection, Lease, LossReason, Semaphore};

use crate::common::{base, children, connect, is_aiozk_name, ms_since, wait_children, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_leader_at_a_time_and_resign_hands_over() {
    let zk = connect().await;
    let b = base(&zk, "election").await;
    let mut clients = Vec::new();
    let mut elections = Vec::new();
    for _ in 0..3 {
        let c = connect().await;
        elections.push(LeaderElection::new(&c, &b));
        clients.push(c);
    }
    // Waiting before volunteering is allowed (aiozk's early wait).
    let early = {
        let e = &elections[0];
        let fut = e.wait_for_leadership(Some(Duration::from_secs(10)));
        e.volunteer().await.unwrap();
        within(10, fut).await.unwrap()
    };
    assert!(early.is_held());
    let names = children(&zk, &b).await;
    assert!(is_aiozk_name(&names[0], "candidate"), "{names:?}");
    assert_eq!(
        elections[0].volunteer().await.unwrap_err(),
        Error::NodeExists
    );
    for e in &elections[1..] {
        e.volunteer().await.unwrap();
    }
    let leaders = || elections.iter().filter(|e| e.has_leadership()).count();
    assert_eq!(leaders(), 1);
    assert!(elections[0].has_leadership());

    // Timed waits of a non-leader time out on time and can be repeated.
    for timeout_ms in [100u64, 300] {
        let started = Instant::now();
        let err = elections[1]
            .wait_for_leadership(Some(Duration::from_millis(timeout_ms)))
            .await
            .unwrap_err();
        let took = ms_since(started);
        println!("wait_for_leadership timeout {timeout_ms} ms returned after {took} ms");
        assert_eq!(err, Error::Timeout);
        assert!(
            took >= u128::from(timeout_ms)
                && took < u128::from(timeout_ms) + crate::common::TIMER_SLACK_MS,
            "{took} ms"
        );
    }

    // Leadership passes in volunteering order; never two leaders.
    let lost = early.lost();
    elections[0].resign().await.unwrap();
    assert_eq!(lost.reason(), Some(LossReason::Released));
    assert!(!elections[0].has_leadership());
    let second = within(10, elections[1].wait_for_leadership(None))
        .await
        .unwrap();
    assert!(second.is_held());
    assert_eq!(leaders(), 1);
    assert!(!elections[2].has_leadership());

    // Resign then volunteer again: back at the end of the line, not a stale leader
    // (aiozk's stale-future bug).
    elections[0].volunteer().await.unwrap();
    assert!(!elections[0].has_leadership());
    assert_eq!(
        elections[0]
            .wait_for_leadership(Some(Duration::from_millis(100)))
            .await
            .unwrap_err(),
        Error::Timeout
    );

    // A leader whose session ends (client closed) hands over.
    clients[1].close().await;
    let third = within(10, elections[2].wait_for_leadership(None))
        .await
        .unwrap();
    // Closing deletes the session's nodes first (their watch fires), then the client stops.
    let reason = within(5, second.lost()).await;
    assert!(
        matches!(reason, LossReason::ClientClosed | LossReason::NodeDeleted),
        "{reason:?}"
    );
    assert!(third.is_held());
    assert!(!elections[1].has_leadership());
    elections[2].resign().await.unwrap();
    within(10, elections[0].wait_for_leadership(None))
        .await
        .unwrap();
    drop(elections);
    wait_children(&zk, &b, 5, |c| c.is_empty()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leadership_fences_writes() {
    let zk = connect().await;
    let b = base(&zk, "election-fence").await;
    let e = LeaderElection::new(&zk, &b);
    e.volunteer().await.unwrap();
    let l = within(5, e.wait_for_leadership(None)).await.unwrap();
    let mark = format!("{b}-mark");
    let created = l
        .fence()
        .create(&mark, b"leader", &Default::default())
        .await;
    assert_eq!(created.unwrap(), mark);
    e.resign().await.unwrap();
    let err = l.fence().delete(&mark, None).await.unwrap_err();
    assert!(matches!(err, Error::TransactionFailed { index: 0, .. }));
    zk.delete(&mark, None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_election_resigns() {
    let zk = connect().await;
    let b = base(&zk, "election-drop").await;
    let e = LeaderElection::new(&zk, &b);
    e.volunteer().await.unwrap();
    let l = within(5, e.wait_for_leadership(None)).await.unwrap();
    drop(e);
    assert_eq!(l.lost_reason(), Some(LossReason::Released));
    wait_children(&zk, &b, 5, |c| c.is_empty()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lease_has_at_most_limit_holders() {
    let zk = connect().await;
    let b = base(&zk, "lease").await;
    // A missing path is created (aiozk fails with NoNode here).
    let path = format!("{b}/fresh");
    let mut clients = Vec::new();
    for _ in 0..6 {
        clients.push(connect().await);
    }
    // Six concurrent obtainers, limit 2.
    let attempts: Vec<_> = clients
        .iter()
        .map(|c| {
            let lease = Lease::new(c, &path, 2);
            tokio::spawn(async move { lease.obtain(Duration::from_secs(30)).await })
        })
        .collect();
    let mut held = Vec::new();
    for a in attempts {
        if let Some(g) = within(10, a).await.unwrap().unwrap() {
            held.push(g);
        }
    }
    println!("6 concurrent obtains with limit 2: {} granted", held.len());
    assert!((1..=2).contains(&held.len()));
    let names = wait_children(&zk, &path, 5, |c| c.len() == held.len()).await;
    assert!(names.iter().all(|n| is_aiozk_name(n, "lease")), "{names:?}");
    // The node holds the expiry as Unix seconds, as aiozk writes it.
    let (data, _) = zk.get_data(held[0].node()).await.unwrap();
    let expiry: f64 = std::str::from_utf8(&data).unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        expiry > now + 20.0 && expiry < now + 31.0,
        "{expiry} vs {now}"
    );

    // Fill up to the limit, then one more is refused.
    let lease = Lease::new(&clients[0], &path, 2);
    while held.len() < 2 {
        held.push(
            lease
                .obtain(Duration::from_secs(30))
                .await
                .unwrap()
                .unwrap(),
        );
    }
    assert!(lease
        .obtain(Duration::from_secs(30))
        .await
        .unwrap()
        .is_none());
    assert_eq!(children(&zk, &path).await.len(), 2);
    held.pop().unwrap().release().await.unwrap();
    let again = lease.obtain(Duration::from_secs(30)).await.unwrap();
    assert!(again.is_some());
    drop(again);
    drop(held);
    wait_children(&zk, &path, 5, |c| c.is_empty()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_ends_after_its_duration() {
    let zk = connect().await;
    let b = base(&zk, "lease-expiry").await;
    let lease = Lease::new(&zk, &b, 1);
    let duration = Duration::from_millis(400);
    let started = Instant::now();
    let guard = lease.obtain(duration).await.unwrap().unwrap();
    assert!(guard.expires_at().is_some());
    let target = format!("{b}-data");
    zk.create(&target, b"").await.unwrap();
    guard.fence().set_data(&target, b"ok", None).await.unwrap();
    let reason = within(5, guard.lost()).await;
    let took = ms_since(started);
    println!("lease of 400 ms ended after {took} ms ({reason:?})");
    assert_eq!(reason, LossReason::LeaseExpired);
    assert!(
        (400..400 + crate::common::TIMER_SLACK_MS).contains(&took),
        "{took} ms"
    );
    // The node is deleted at expiry, so someone else can have the lease.
    wait_children(&zk, &b, 5, |c| c.is_empty()).await;
    let other = connect().await;
    let next = Lease::new(&other, &b, 1)
        .obtain(Duration::from_secs(5))
        .await
        .unwrap();
    assert!(next.is_some());
    let err = guard
        .fence()
        .set_data(&target, b"late", None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TransactionFailed { index: 0, .. }));
    zk.delete(&target, None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn semaphore_admits_at_most_n_in_order() {
    let zk = connect().await;
    let b = base(&zk, "semaphore").await;
    const PERMITS: u32 = 2;
    // Our two permits below count as inside until released.
    let inside = Arc::new(AtomicUsize::new(2));
    let peak = Arc::new(AtomicUsize::new(0));
    let order = Arc::new(Mutex::new(Vec::new()));
    let first = Semaphore::new(&zk, &b, PERMITS);
    // Two permits taken up front so that the others queue in a known order.
    let p1 = within(5, first.acquire(None)).await.unwrap();
    let p2 = within(5, first.acquire(None)).await.unwrap();
    assert_eq!(
        first
            .acquire(Some(Duration::from_millis(200)))
            .await
            .unwrap_err(),
        Error::Timeout
    );
    let mut tasks = Vec::new();
    for i in 0..6 {
        let c = connect().await;
        let sem = Semaphore::new(&c, &b, PERMITS);
        let (inside, peak, order) = (inside.clone(), peak.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            let permit = sem.acquire(Some(Duration::from_secs(20))).await.unwrap();
            let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            order.lock().unwrap().push(i);
            tokio::time::sleep(Duration::from_millis(30)).await;
            inside.fetch_sub(1, Ordering::SeqCst);
            permit.release().await.unwrap();
            c.close().await;
        }));
        wait_children(&zk, &b, 5, |c| c.len() == i + 3).await;
    }
    inside.fetch_sub(1, Ordering::SeqCst);
    p1.release().await.unwrap();
    inside.fetch_sub(1, Ordering::SeqCst);
    p2.release().await.unwrap();
    for t in tasks {
        within(20, t).await.unwrap();
    }
    let order = order.lock().unwrap().clone();
    println!(
        "semaphore of {PERMITS}: peak {} holders, grant order {order:?}",
        peak.load(Ordering::SeqCst)
    );
    assert!(peak.load(Ordering::SeqCst) <= PERMITS as usize);
    assert_eq!(peak.load(Ordering::SeqCst), PERMITS as usize);
    // Granted in arrival order, give or take the two that enter together.
    for w in order.windows(3) {
        assert!(w[0] < w[2], "{order:?}");
    }
    wait_children(&zk, &b, 5, |c| c.is_empty()).await;
    assert!(matches!(
        Semaphore::new(&zk, &b, 0).acquire(None).await.unwrap_err(),
        Error::InvalidArgument(_)
    ));
}
