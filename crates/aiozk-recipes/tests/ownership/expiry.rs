//! Ownership and session loss: the owner must learn it lost a lock or leadership before
//! anyone else can be granted it, and its fenced writes must fail afterwards.
//!
//! The owner talks to the server through a FaultProxy with a 2 s session; the proxy is
//! black-holed so the session expires on the server while the owner is cut off.

use std::time::{Duration, Instant};

use aiozk::{Client, Error, SessionEvent, SessionState};
use aiozk_recipes::{LeaderElection, Lock, LossReason};
use aiozk_testkit::FaultProxy;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::common::{base, connect, connect_to, server, wait_children, within};

const SESSION: Duration = Duration::from_secs(2);

/// Resolves with the instant the client reports `Expired`, if it ever does.
fn expiry_instant(client: &Client) -> JoinHandle<Option<Instant>> {
    let mut events = client.state_changes();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(SessionEvent::State(SessionState::Expired, _)) => return Some(Instant::now()),
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return None,
            }
        }
    })
}

/// Waits for a new session (other than `old`) on `events`, then for the connection.
/// (`events` must be subscribed before the new session can start; the session id is
/// taken from the event because `Client::session_id` is published after the events.)
async fn new_session(client: &Client, mut events: broadcast::Receiver<SessionEvent>, old: i64) {
    within(30, async {
        loop {
            match events.recv().await {
                Ok(SessionEvent::NewSession { session_id }) if session_id != old => break,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("{e}"),
            }
        }
        client
            .state_watch()
            .wait_for(|s| s.is_connected())
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lock_loss_is_signalled_before_anyone_else_gets_the_lock() {
    let admin = connect().await;
    let b = base(&admin, "expiry-lock").await;
    let counter = format!("{b}-counter");
    admin.create(&counter, b"0").await.ok();
    admin.set_data(&counter, b"0", None).await.unwrap();

    let proxy = FaultProxy::start(server().member_addr(0)).await.unwrap();
    let victim = connect_to(&proxy.addr().to_string(), SESSION).await;
    let old_session = victim.session_id();
    let guard = within(5, Lock::new(&victim, &b).acquire(None))
        .await
        .unwrap();
    // Prepared while holding, committed only after the loss: the server must refuse it.
    let prepared = guard.transaction().set_data(&counter, b"stale", -1);

    let lost = guard.lost();
    let lost_at = tokio::spawn(async move {
        let reason = lost.await;
        (reason, Instant::now())
    });
    let expired_at = expiry_instant(&victim);
    let other = connect().await;
    let contender = tokio::spawn({
        let lock = Lock::new(&other, &b);
        async move {
            let guard = lock.acquire(Some(Duration::from_secs(30))).await;
            (guard, Instant::now())
        }
    });
    wait_children(&admin, &b, 5, |c| c.len() == 2).await;

    let cut = Instant::now();
    proxy.blackhole(true);
    let (reason, lost_t) = within(20, lost_at).await.unwrap();
    let (granted, granted_t) = within(20, contender).await.unwrap();
    let granted = granted.unwrap();
    let client_expired = within(20, expired_at).await.unwrap();
    let ms = |t: Instant| t.duration_since(cut).as_millis();
    println!(
        "session {:?}: loss ({reason:?}) signalled {} ms after the black hole; the other \
         client got the lock after {} ms; the client itself reported Expired after {} ms",
        victim.session_timeout(),
        ms(lost_t),
        ms(granted_t),
        client_expired.map_or("never".into(), |t| ms(t).to_string()),
    );
    assert!(
        lost_t < granted_t,
        "the loss was signalled after someone else got the lock"
    );
    assert!(
        matches!(reason, LossReason::Suspended | LossReason::SessionExpired),
        "{reason:?}"
    );
    assert!(!guard.is_held());
    assert!(granted.is_held());

    // Fenced writes after the loss fail, without a round trip...
    let err = guard
        .fence()
        .set_data(&counter, b"late", None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::TransactionFailed { index: 0, .. }),
        "{err:?}"
    );
    // ...and a transaction prepared before the loss fails at the server.
    let events = victim.state_changes();
    proxy.blackhole(false);
    new_session(&victim, events, old_session).await;
    let err = within(10, prepared.commit()).await.unwrap_err();
    println!("the transaction prepared while holding failed with: {err}");
    assert!(
        matches!(err, Error::TransactionFailed { index: 0, ref error, .. } if **error == Error::NoNode),
        "{err:?}"
    );
    // The new holder's fenced write goes through; nothing else changed the counter.
    let (data, stat) = admin.get_data(&counter).await.unwrap();
    assert_eq!(&data[..], b"0");
    granted
        .fence()
        .set_data(&counter, b"1", Some(stat.version))
        .await
        .unwrap();
    assert_eq!(admin.get_data(&counter).await.unwrap().0, &b"1"[..]);
    drop(granted);
    drop(guard);
    wait_children(&admin, &b, 5, |c| c.is_empty()).await;
    admin.delete(&counter, None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leadership_loss_is_signalled_before_the_next_leader_takes_over() {
    let admin = connect().await;
    let b = base(&admin, "expiry-leader").await;
    let proxy = FaultProxy::start(server().member_addr(0)).await.unwrap();
    let victim = connect_to(&proxy.addr().to_string(), SESSION).await;
    let old_session = victim.session_id();
    let ours = LeaderElection::new(&victim, &b);
    ours.volunteer().await.unwrap();
    let leadership = within(5, ours.wait_for_leadership(None)).await.unwrap();
    assert!(ours.has_leadership());

    let other = connect().await;
    let theirs = LeaderElection::new(&other, &b);
    theirs.volunteer().await.unwrap();
    assert!(!theirs.has_leadership());

    let lost = leadership.lost();
    let lost_at = tokio::spawn(async move {
        let reason = lost.await;
        (reason, Instant::now())
    });
    let cut = Instant::now();
    proxy.blackhole(true);
    let (reason, lost_t) = within(20, lost_at).await.unwrap();
    let theirs_leadership = within(20, theirs.wait_for_leadership(None)).await.unwrap();
    let took_over = Instant::now();
    println!(
        "leadership loss ({reason:?}) signalled {} ms after the black hole; the next leader \
         saw its leadership after {} ms",
        lost_t.duration_since(cut).as_millis(),
        took_over.duration_since(cut).as_millis()
    );
    assert!(lost_t < took_over);
    assert!(!ours.has_leadership());
    assert!(theirs_leadership.is_held());
    let err = leadership
        .fence()
        .create(&format!("{b}-mark"), b"", &Default::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::TransactionFailed { index: 0, .. }),
        "{err:?}"
    );
    let events = victim.state_changes();
    proxy.blackhole(false);
    // After the loss the old leader is out of the election until it volunteers again.
    new_session(&victim, events, old_session).await;
    assert!(!ours.is_candidate());
    ours.volunteer().await.unwrap();
    theirs.resign().await.unwrap();
    let again = within(10, ours.wait_for_leadership(None)).await.unwrap();
    assert!(again.is_held());
    ours.resign().await.unwrap();
    wait_children(&admin, &b, 5, |c| c.is_empty()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_short_connection_drop_keeps_the_lock() {
    let admin = connect().await;
    let b = base(&admin, "short-drop").await;
    let proxy = FaultProxy::start(server().member_addr(0)).await.unwrap();
    let victim = connect_to(&proxy.addr().to_string(), SESSION).await;
    let session = victim.session_id();
    let guard = within(5, Lock::new(&victim, &b).acquire(None))
        .await
        .unwrap();
    let mut events = victim.state_changes();
    let cut = Instant::now();
    proxy.cut_rst().await;
    within(10, async {
        let mut dropped = false;
        loop {
            match events.recv().await.unwrap() {
                SessionEvent::State(SessionState::Disconnected, _) => dropped = true,
                SessionEvent::State(SessionState::Connected, _) if dropped => return,
                _ => {}
            }
        }
    })
    .await;
    println!("reconnected {} ms after the cut", cut.elapsed().as_millis());
    assert_eq!(victim.session_id(), session);
    assert_eq!(guard.lost_reason(), None);
    assert!(guard.is_held());
    guard.release().await.unwrap();
    assert!(admin.get_children(&b).await.unwrap().is_empty());
}
