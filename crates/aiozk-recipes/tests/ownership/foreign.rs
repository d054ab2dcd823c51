//! Interoperability with Apache Curator and kazoo, each in its own process (see
//! `aiozk_testkit::Peer`): in their layouts, our locks, read/write locks and elections and
//! theirs exclude each other on the same path, both ways round (they wait for us, we wait
//! for them), and both libraries' nodes look alike.
//!
//! Curator is fetched with Maven and kazoo with pip on first use; the tests fail, saying
//! why, when that is impossible.

use std::time::Duration;

use aiozk::{Client, Error};
use aiozk_recipes::{Layout, LeaderElection, Lock, Semaphore, SharedLock};
use aiozk_testkit::Peer;

use crate::common::{base, children, connect, server, within};

const SESSION: Duration = Duration::from_secs(10);
/// How long a waiting side is watched to be still waiting.
const STILL_WAITING: Duration = Duration::from_millis(400);
const ANSWER: Duration = Duration::from_secs(30);

fn curator() -> Peer {
    Peer::curator(&server().connect_string(), SESSION).expect("start the Curator peer")
}

fn kazoo() -> Peer {
    Peer::kazoo(&server().connect_string(), SESSION).expect("start the kazoo peer")
}

/// `_c_<36-character uuid>-<name><10 digits>`: Curator's protected sequential name.
fn is_curator_name(child: &str, name: &str) -> bool {
    let Some(rest) = child.strip_prefix("_c_") else {
        return false;
    };
    let uuid_ok = rest.len() > 36
        && rest[..36].char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit() && !c.is_ascii_uppercase(),
        });
    uuid_ok
        && rest[36..].strip_prefix('-').is_some_and(|tail| {
            tail.len() == name.len() + 10
                && tail.starts_with(name)
                && tail[name.len()..].bytes().all(|b| b.is_ascii_digit())
        })
}

/// `<32 hex digits><name><10 digits>`: kazoo's lock node name.
fn is_kazoo_name(child: &str, name: &str) -> bool {
    child.len() == 32 + name.len() + 10
        && child[..32]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        && &child[32..32 + name.len()] == name
        && child[32 + name.len()..].bytes().all(|b| b.is_ascii_digit())
}

async fn data_of(zk: &Client, parent: &str, child: &str) -> Vec<u8> {
    zk.get_data(&format!("{parent}/{child}"))
        .await
        .expect("get_data")
        .0
        .to_vec()
}

/// The exchange both directions share: `ours` locks, the peer waits (`take` then `untake`
/// are its commands), and the other way round. Returns the children seen while both were
/// in line, ours first.
async fn both_ways(
    zk: &Client,
    peer: &mut Peer,
    lock: &Lock,
    take: &str,
    untake: &str,
    seconds: bool,
) -> (String, String) {
    let path = lock.path().to_owned();
    let t = |ms: u64| {
        if seconds {
            format!("{}", ms as f64 / 1000.0)
        } else {
            ms.to_string()
        }
    };
    // They wait for us.
    let guard = within(20, lock.acquire(Some(Duration::from_secs(10))))
        .await
        .expect("ours first");
    assert_eq!(
        peer.ask(&format!("{take} {path} {}", t(300)), ANSWER)
            .unwrap(),
        "timeout",
        "the peer must not get the lock we hold"
    );
    peer.send(&format!("{take} {path} {}", t(30_000))).unwrap();
    assert!(
        peer.answer(STILL_WAITING).is_err(),
        "the peer got the lock while we held it"
    );
    let kids = children(zk, &path).await;
    assert_eq!(kids.len(), 2, "{kids:?}");
    let ours = aiozk::path::basename(guard.node()).to_owned();
    let theirs = kids.iter().find(|k| **k != ours).unwrap().clone();
    within(20, guard.release()).await.unwrap();
    assert_eq!(peer.answer(ANSWER).unwrap(), "acquired");

    // We wait for them.
    let timed_out = within(20, lock.acquire(Some(Duration::from_millis(300)))).await;
    assert_eq!(
        timed_out.err(),
        Some(Error::Timeout),
        "we got the lock they hold"
    );
    let waiting = tokio::spawn({
        let lock = lock.clone();
        async move { lock.acquire(Some(Duration::from_secs(30))).await }
    });
    tokio::time::sleep(STILL_WAITING).await;
    assert!(!waiting.is_finished(), "we got the lock while they held it");
    assert_eq!(
        peer.ask(&format!("{untake} {path}"), ANSWER).unwrap(),
        "released"
    );
    let guard = within(30, waiting)
        .await
        .unwrap()
        .expect("ours after theirs");
    within(20, guard.release()).await.unwrap();
    // Nothing is left (in Curator's layout the empty container may already be gone).
    within(10, async {
        loop {
            match zk.get_children(&path).await {
                Ok(c) if !c.is_empty() => tokio::time::sleep(Duration::from_millis(20)).await,
                Ok(_) | Err(Error::NoNode) => break,
                Err(e) => panic!("get_children: {e}"),
            }
        }
    })
    .await;
    (ours, theirs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curator_mutex_and_our_lock_exclude_each_other() {
    let zk = connect().await;
    let b = base(&zk, "curator-mutex").await;
    let mut peer = curator();
    let lock = Lock::new(&zk, &format!("{b}/lock")).with_layout(Layout::Curator);
    assert_eq!(lock.label(), "lock-");

    // Byte for byte: both names are protected `lock-` names, and our node carries the
    // data Curator writes (its default: the local address).
    let path = lock.path().to_owned();
    assert_eq!(
        peer.ask(&format!("lock {path} 5000"), ANSWER).unwrap(),
        "acquired"
    );
    let waiting = tokio::spawn({
        let lock = lock.clone();
        async move { lock.acquire(Some(Duration::from_secs(30))).await }
    });
    let kids = crate::common::wait_children(&zk, &path, 10, |c| c.len() == 2).await;
    for k in &kids {
        assert!(is_curator_name(k, "lock-"), "{k}");
    }
    assert_eq!(
        data_of(&zk, &path, &kids[0]).await,
        data_of(&zk, &path, &kids[1]).await,
        "node data differs from Curator's"
    );
    assert_eq!(
        peer.ask(&format!("unlock {path}"), ANSWER).unwrap(),
        "released"
    );
    within(30, waiting)
        .await
        .unwrap()
        .unwrap()
        .release()
        .await
        .unwrap();

    let (ours, theirs) = both_ways(&zk, &mut peer, &lock, "lock", "unlock", false).await;
    assert!(is_curator_name(&ours, "lock-"), "{ours}");
    assert!(is_curator_name(&theirs, "lock-"), "{theirs}");

    // Like Curator, we create a missing lock path as container nodes: the server removes
    // them once the last lock node is gone (the test servers reap within half a second).
    let fresh = Lock::new(&zk, &format!("{b}/fresh/lock")).with_layout(Layout::Curator);
    within(20, fresh.acquire(None))
        .await
        .unwrap()
        .release()
        .await
        .unwrap();
    within(15, async {
        loop {
            match zk.exists_watched(&format!("{b}/fresh")).await.unwrap() {
                (None, _) => break,
                (Some(_), watcher) => {
                    // The parent goes after its child: look again on either event.
                    let _ = tokio::time::timeout(Duration::from_millis(500), watcher).await;
                }
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kazoo_lock_and_our_lock_exclude_each_other() {
    let zk = connect().await;
    let b = base(&zk, "kazoo-lock").await;
    let mut peer = kazoo();
    let lock = Lock::new(&zk, &format!("{b}/lock"))
        .with_layout(Layout::Kazoo)
        .with_data("kazoo-peer");
    assert_eq!(lock.label(), "__lock__");
    let (ours, theirs) = both_ways(&zk, &mut peer, &lock, "lock", "unlock", true).await;
    assert!(is_kazoo_name(&ours, "__lock__"), "{ours}");
    assert!(is_kazoo_name(&theirs, "__lock__"), "{theirs}");

    // kazoo's identifier is the node data: ours reads as theirs.
    let path = lock.path().to_owned();
    assert_eq!(
        peer.ask(&format!("lock {path} 5"), ANSWER).unwrap(),
        "acquired"
    );
    let guard = tokio::spawn({
        let lock = lock.clone();
        async move { lock.acquire(Some(Duration::from_secs(30))).await }
    });
    let kids = crate::common::wait_children(&zk, &path, 10, |c| c.len() == 2).await;
    assert_eq!(data_of(&zk, &path, &kids[0]).await, b"kazoo-peer");
    assert_eq!(data_of(&zk, &path, &kids[1]).await, b"kazoo-peer");
    assert_eq!(
        peer.ask(&format!("unlock {path}"), ANSWER).unwrap(),
        "released"
    );
    within(30, guard)
        .await
        .unwrap()
        .unwrap()
        .release()
        .await
        .unwrap();
}

/// Read/write locks: a foreign writer excludes our readers and writers, a foreign reader
/// shares with our readers and excludes our writer; and the other way round.
async fn shared_lock_both_ways(peer: &mut Peer, layout: Layout, seconds: bool) {
    let zk = connect().await;
    let b = base(&zk, &format!("{layout}-rw")).await;
    let path = format!("{b}/rw");
    let lock = SharedLock::with_layout(&zk, &path, layout);
    let t = |ms: u64| {
        if seconds {
            format!("{}", ms as f64 / 1000.0)
        } else {
            ms.to_string()
        }
    };
    let short = Some(Duration::from_millis(300));
    // Their writer holds: we neither read nor write.
    assert_eq!(
        peer.ask(&format!("write {path} {}", t(5000)), ANSWER)
            .unwrap(),
        "acquired"
    );
    assert_eq!(lock.acquire_read(short).await.err(), Some(Error::Timeout));
    assert_eq!(lock.acquire_write(short).await.err(), Some(Error::Timeout));
    assert_eq!(
        peer.ask(&format!("unwrite {path}"), ANSWER).unwrap(),
        "released"
    );
    // Their reader holds: we read, but do not write.
    assert_eq!(
        peer.ask(&format!("read {path} {}", t(5000)), ANSWER)
            .unwrap(),
        "acquired"
    );
    let reading = lock.acquire_read(short).await.expect("readers share");
    assert_eq!(lock.acquire_write(short).await.err(), Some(Error::Timeout));
    assert_eq!(
        peer.ask(&format!("unread {path}"), ANSWER).unwrap(),
        "released"
    );
    // Our reader holds: they read, but do not write.
    assert_eq!(
        peer.ask(&format!("read {path} {}", t(5000)), ANSWER)
            .unwrap(),
        "acquired"
    );
    assert_eq!(
        peer.ask(&format!("unread {path}"), ANSWER).unwrap(),
        "released"
    );
    assert_eq!(
        peer.ask(&format!("write {path} {}", t(300)), ANSWER)
            .unwrap(),
        "timeout"
    );
    reading.release().await.unwrap();
    // Our writer holds: they neither read nor write; they wait, and get it after us.
    let writing = lock.acquire_write(short).await.expect("write");
    assert_eq!(
        peer.ask(&format!("read {path} {}", t(300)), ANSWER)
            .unwrap(),
        "timeout"
    );
    peer.send(&format!("write {path} {}", t(30_000))).unwrap();
    assert!(
        peer.answer(STILL_WAITING).is_err(),
        "their writer overlapped ours"
    );
    writing.release().await.unwrap();
    assert_eq!(peer.answer(ANSWER).unwrap(), "acquired");
    assert_eq!(
        peer.ask(&format!("unwrite {path}"), ANSWER).unwrap(),
        "released"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curator_read_write_lock_and_ours_exclude_each_other() {
    shared_lock_both_ways(&mut curator(), Layout::Curator, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kazoo_read_write_locks_and_ours_exclude_each_other() {
    shared_lock_both_ways(&mut kazoo(), Layout::Kazoo, true).await;
}

/// Elections: the foreign candidate leads first and we wait; then we lead and it waits.
/// `join`/`leave` are the peer's commands, `left` its answer to `leave`, `name` the
/// recipe's part of the node names.
async fn election_both_ways(peer: &mut Peer, layout: Layout, commands: [&str; 3], name: &str) {
    let [join, leave, left] = commands;
    let zk = connect().await;
    let b = base(&zk, &format!("{layout}-election")).await;
    let path = format!("{b}/election");
    let t = |ms: u64| {
        if layout == Layout::Kazoo {
            format!("{}", ms as f64 / 1000.0)
        } else {
            ms.to_string()
        }
    };
    assert_eq!(
        peer.ask(&format!("{join} {path} peer"), ANSWER).unwrap(),
        "started"
    );
    assert_eq!(
        peer.ask(&format!("leader {path} {}", t(20_000)), ANSWER)
            .unwrap(),
        "leader"
    );
    let election = LeaderElection::new(&zk, &path).with_layout(layout);
    election.volunteer().await.unwrap();
    let kids = children(&zk, &path).await;
    assert_eq!(kids.len(), 2, "{kids:?}");
    for k in &kids {
        let ok = match layout {
            Layout::Curator => is_curator_name(k, name),
            _ => is_kazoo_name(k, name),
        };
        assert!(ok, "{k}");
    }
    assert_eq!(
        election
            .wait_for_leadership(Some(STILL_WAITING))
            .await
            .err(),
        Some(Error::Timeout),
        "we lead while they do"
    );
    assert_eq!(peer.ask(&format!("{leave} {path}"), ANSWER).unwrap(), left);
    let leadership = within(20, election.wait_for_leadership(None))
        .await
        .unwrap();
    assert!(leadership.is_held());
    // Now they wait for us.
    assert_eq!(
        peer.ask(&format!("{join} {path} peer"), ANSWER).unwrap(),
        "started"
    );
    assert_eq!(
        peer.ask(&format!("leader {path} {}", t(400)), ANSWER)
            .unwrap(),
        "timeout"
    );
    election.resign().await.unwrap();
    assert_eq!(
        peer.ask(&format!("leader {path} {}", t(20_000)), ANSWER)
            .unwrap(),
        "leader"
    );
    assert_eq!(peer.ask(&format!("{leave} {path}"), ANSWER).unwrap(), left);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curator_leader_latch_and_our_election_take_turns() {
    election_both_ways(
        &mut curator(),
        Layout::Curator,
        ["latch", "unlatch", "closed"],
        "latch-",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kazoo_election_and_ours_take_turns() {
    election_both_ways(
        &mut kazoo(),
        Layout::Kazoo,
        ["elect", "unelect", "stopped"],
        "__lock__",
    )
    .await;
}

/// A semaphore of 2 permits shared with the peer: 1 + 1 fill it; a third contender on
/// either side waits until the other side returns a permit.
async fn semaphore_both_ways(peer: &mut Peer, layout: Layout) {
    let zk = connect().await;
    let b = base(&zk, &format!("{layout}-semaphore")).await;
    let path = format!("{b}/sem");
    let t = |ms: u64| {
        if layout == Layout::Kazoo {
            format!("{}", ms as f64 / 1000.0)
        } else {
            ms.to_string()
        }
    };
    let sem = Semaphore::new(&zk, &path, 2).with_layout(layout);
    let short = Some(Duration::from_millis(300));
    let ours = within(20, sem.acquire(Some(Duration::from_secs(10))))
        .await
        .unwrap();
    assert_eq!(
        peer.ask(&format!("sem {path} 2 {}", t(10_000)), ANSWER)
            .unwrap(),
        "acquired"
    );
    // Full: neither side gets a third permit.
    assert_eq!(
        within(20, sem.acquire(short)).await.err(),
        Some(Error::Timeout)
    );
    assert_eq!(
        peer.ask(&format!("sem {path} 2 {}", t(300)), ANSWER)
            .unwrap(),
        "timeout"
    );
    // They wait for us.
    peer.send(&format!("sem {path} 2 {}", t(30_000))).unwrap();
    assert!(
        peer.answer(STILL_WAITING).is_err(),
        "a third permit was granted"
    );
    within(20, ours.release()).await.unwrap();
    assert_eq!(peer.answer(ANSWER).unwrap(), "acquired");
    // We wait for them.
    let waiting = tokio::spawn({
        let sem = sem.clone();
        async move { sem.acquire(Some(Duration::from_secs(30))).await }
    });
    tokio::time::sleep(STILL_WAITING).await;
    assert!(!waiting.is_finished(), "a third permit was granted");
    assert_eq!(
        peer.ask(&format!("unsem {path}"), ANSWER).unwrap(),
        "released"
    );
    let ours = within(30, waiting)
        .await
        .unwrap()
        .expect("a permit after theirs");
    within(20, ours.release()).await.unwrap();
    assert_eq!(
        peer.ask(&format!("unsem {path}"), ANSWER).unwrap(),
        "released"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curator_semaphore_and_ours_share_the_permits() {
    semaphore_both_ways(&mut curator(), Layout::Curator).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kazoo_semaphore_and_ours_share_the_permits() {
    semaphore_both_ways(&mut kazoo(), Layout::Kazoo).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kazoo_semaphore_refuses_another_number_of_permits() {
    let zk = connect().await;
    let b = base(&zk, "kazoo-semaphore-limit").await;
    let path = format!("{b}/sem");
    let first = Semaphore::new(&zk, &path, 3).with_layout(Layout::Kazoo);
    within(20, first.acquire(None))
        .await
        .unwrap()
        .release()
        .await
        .unwrap();
    assert_eq!(zk.get_data(&path).await.unwrap().0.as_ref(), b"3");
    let other = Semaphore::new(&zk, &path, 2).with_layout(Layout::Kazoo);
    assert!(matches!(
        within(20, other.acquire(None)).await,
        Err(Error::InvalidArgument(_))
    ));
}

/// Curator's `LeaderSelector` is an `InterProcessMutex` whose nodes hold the participant
/// id: our Lock in Curator's layout, with the id as data, takes turns with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curator_leader_selector_and_our_curator_lock_take_turns() {
    let zk = connect().await;
    let b = base(&zk, "curator-selector").await;
    let path = format!("{b}/selector");
    let mut peer = curator();
    let lock = Lock::new(&zk, &path)
        .with_layout(Layout::Curator)
        .with_data("rust");
    assert_eq!(
        peer.ask(&format!("select {path} java"), ANSWER).unwrap(),
        "started"
    );
    assert_eq!(
        peer.ask(&format!("selected {path} 20000"), ANSWER).unwrap(),
        "leader"
    );
    assert_eq!(
        within(20, lock.acquire(Some(STILL_WAITING))).await.err(),
        Some(Error::Timeout),
        "we lead while the selector does"
    );
    let waiting = tokio::spawn({
        let lock = lock.clone();
        async move { lock.acquire(Some(Duration::from_secs(30))).await }
    });
    let kids = crate::common::wait_children(&zk, &path, 10, |c| c.len() == 2).await;
    let mut data = Vec::new();
    for k in &kids {
        assert!(is_curator_name(k, "lock-"), "{k}");
        data.push(data_of(&zk, &path, k).await);
    }
    data.sort();
    assert_eq!(data, [b"java".to_vec(), b"rust".to_vec()]);
    assert_eq!(
        peer.ask(&format!("unselect {path}"), ANSWER).unwrap(),
        "closed"
    );
    let guard = within(30, waiting)
        .await
        .unwrap()
        .expect("ours after the selector");
    // Now the selector waits for us.
    assert_eq!(
        peer.ask(&format!("select {path} java"), ANSWER).unwrap(),
        "started"
    );
    assert_eq!(
        peer.ask(&format!("selected {path} 400"), ANSWER).unwrap(),
        "timeout"
    );
    within(20, guard.release()).await.unwrap();
    assert_eq!(
        peer.ask(&format!("selected {path} 20000"), ANSWER).unwrap(),
        "leader"
    );
    assert_eq!(
        peer.ask(&format!("unselect {path}"), ANSWER).unwrap(),
        "closed"
    );
}

/// In the foreign layouts too, a fenced write succeeds while the ownership lasts, the loss
/// signal fires when the node goes (deleted here by another client, as an operator or a
/// foreign library's cleanup would), and fenced writes fail from then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fences_and_loss_signals_work_in_every_layout() {
    let zk = connect().await;
    let admin = connect().await;
    let b = base(&zk, "layout-fences").await;
    let target = format!("{b}-target");
    admin.create(&target, b"").await.ok();
    for layout in [Layout::Aiozk, Layout::Curator, Layout::Kazoo] {
        let mut guards = vec![(
            "lock",
            Lock::new(&zk, &format!("{b}/{layout}-lock"))
                .with_layout(layout)
                .acquire(Some(Duration::from_secs(10)))
                .await
                .unwrap(),
        )];
        guards.push((
            "semaphore",
            Semaphore::new(&zk, &format!("{b}/{layout}-sem"), 2)
                .with_layout(layout)
                .acquire(Some(Duration::from_secs(10)))
                .await
                .unwrap(),
        ));
        for (what, guard) in guards {
            guard
                .fence()
                .set_data(&target, what.as_bytes(), None)
                .await
                .unwrap_or_else(|e| panic!("{layout} {what}: fenced write: {e}"));
            admin.delete(guard.node(), None).await.unwrap();
            let reason = within(10, guard.lost()).await;
            assert_eq!(
                reason,
                aiozk_recipes::LossReason::NodeDeleted,
                "{layout} {what}"
            );
            assert!(!guard.is_held());
            let refused = guard.fence().set_data(&target, b"late", None).await;
            assert!(
                refused.is_err(),
                "{layout} {what}: a fenced write after the loss"
            );
        }
    }
    assert_ne!(admin.get_data(&target).await.unwrap().0.as_ref(), b"late");
}
