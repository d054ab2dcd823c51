//! Several clients fight for one lock while their connections are cut at random moments.
//!
//! Each client reaches the server through its own FaultProxy, which every 50 to 500 ms
//! either resets the connection (TCP RST) or arms a cut right after one of the next few
//! requests reaches the server (so its reply is lost). Inside the lock a client reads a counter and writes it
//! back incremented, with a version check and fenced by its lock node. Checked:
//! * never two holders at once: when a client is granted the lock, every other grant has
//!   already been released or signalled lost, and no counter write ever hits a
//!   `BadVersion` (someone else wrote while we held the lock);
//! * the final count equals the number of increments that succeeded;
//! * no acquire returns later than its timeout (plus scheduling slack);
//! * no lock node is left over at the end (checked while every session is alive);
//! * almost no acquire times out (holds are short, the timeout is 10 s).
//!
//! The default run makes 5 × 10 acquisitions. The full 5 × 40 variant is ignored by
//! default; run it with
//! `cargo test -p aiozk-recipes --test ownership stress:: -- --ignored --nocapture`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aiozk::{Client, Error, Stat};
use aiozk_recipes::{Lock, LockGuard, LostSignal};
use aiozk_testkit::FaultProxy;
use bytes::Bytes;

use crate::common::{base, connect, connect_to, server, wait_children, within};

const SESSION: Duration = Duration::from_secs(4);
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// How much later than its timeout an acquire may return (scheduling noise).
const SLACK: Duration = Duration::from_millis(250);

#[derive(Default)]
struct Tally {
    granted: AtomicUsize,
    timeouts: AtomicUsize,
    increments: AtomicUsize,
    unknown_outcomes: AtomicUsize,
    /// Increments whose outcome stayed unknown: the lock was lost before a read could tell.
    unresolved: AtomicUsize,
    cuts: AtomicUsize,
    losses: Mutex<BTreeMap<String, usize>>,
    max_acquire: Mutex<Duration>,
}

/// 5 clients × 40 acquisitions (200 in all) under random connection cuts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lock_under_random_connection_cuts_200() {
    stress("cuts", 5, 40).await;
}

async fn stress(name: &str, clients: usize, per_client: usize) {
    let admin = connect().await;
    let b = base(&admin, name).await;
    let counter = format!("{b}-counter");
    admin.create(&counter, b"0:init").await.ok();
    admin.set_data(&counter, b"0:init", None).await.unwrap();

    let tally = Arc::new(Tally::default());
    let holders: Arc<Mutex<Vec<(usize, LostSignal)>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut proxies = Vec::new();
    let mut workers = Vec::new();
    let mut cutters = Vec::new();
    for id in 0..clients {
        let proxy = Arc::new(FaultProxy::start(server().member_addr(0)).await.unwrap());
        let client = connect_to(&proxy.addr().to_string(), SESSION).await;
        cutters.push(tokio::spawn({
            let (proxy, done, tally) = (proxy.clone(), done.clone(), tally.clone());
            async move {
                while !done.load(Ordering::Acquire) {
                    let pause = 50 + rand::random::<u64>() % 450;
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                    if rand::random::<bool>() {
                        proxy.cut_rst().await;
                    } else {
                        // Cut right after a request reached the server: its reply is lost,
                        // so a create's outcome is unknown to the client.
                        proxy.cut_after_requests(1 + rand::random::<u64>() % 6);
                    }
                    tally.cuts.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
        proxies.push(proxy);
        let lock = Lock::new(&client, &b);
        let (counter, tally, holders) = (counter.clone(), tally.clone(), holders.clone());
        workers.push(tokio::spawn(async move {
            for round in 0..per_client {
                let asked = Instant::now();
                let result = lock.acquire(Some(ACQUIRE_TIMEOUT)).await;
                let waited = asked.elapsed();
                {
                    let mut max = tally.max_acquire.lock().unwrap();
                    *max = (*max).max(waited);
                }
                assert!(
                    waited <= ACQUIRE_TIMEOUT + SLACK,
                    "acquire returned after {waited:?}"
                );
                let guard = match result {
                    Ok(g) => g,
                    Err(Error::Timeout) => {
                        tally.timeouts.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    Err(e) => panic!("client {id}: acquire failed: {e}"),
                };
                tally.granted.fetch_add(1, Ordering::Relaxed);
                {
                    let mut h = holders.lock().unwrap();
                    for (other, signal) in h.iter() {
                        assert!(
                            signal.is_lost(),
                            "client {id} was granted the lock while client {other} held it"
                        );
                    }
                    h.retain(|(_, s)| !s.is_lost());
                    h.push((id, guard.lost()));
                }
                increment(&client, &guard, &counter, &format!("{id}-{round}"), &tally).await;
                if let Some(reason) = guard.lost_reason() {
                    *tally
                        .losses
                        .lock()
                        .unwrap()
                        .entry(format!("{reason:?}"))
                        .or_default() += 1;
                }
                holders.lock().unwrap().retain(|(k, _)| *k != id);
                guard.release().await.unwrap();
            }
            client
        }));
    }
    let mut clients_alive = Vec::new();
    for w in workers {
        clients_alive.push(within(600, w).await.unwrap());
    }
    done.store(true, Ordering::Release);
    for c in cutters {
        within(10, c).await.unwrap();
    }
    let elapsed = started.elapsed();
    let (data, _) = admin.get_data(&counter).await.unwrap();
    let count: usize = std::str::from_utf8(&data)
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // Checked while every session is still alive: a duplicate node left by a blindly
    // repeated create would still be there (and would have blocked its owner).
    let leftover = Instant::now();
    wait_children(&admin, &b, 10, |c| c.is_empty()).await;
    let leftover_ms = leftover.elapsed().as_millis();
    for c in clients_alive {
        c.close().await;
    }
    println!(
        "{clients} clients x {per_client} acquisitions in {elapsed:?}: {} granted, {} timed \
         out, {} increments ({} after an unknown outcome), final count {count}, {} connection \
         cuts, losses {:?}, longest acquire {:?}, nodes gone {} ms after the end",
        tally.granted.load(Ordering::Relaxed),
        tally.timeouts.load(Ordering::Relaxed),
        tally.increments.load(Ordering::Relaxed),
        tally.unknown_outcomes.load(Ordering::Relaxed),
        tally.cuts.load(Ordering::Relaxed),
        tally.losses.lock().unwrap(),
        tally.max_acquire.lock().unwrap(),
        leftover_ms,
    );
    let increments = tally.increments.load(Ordering::Relaxed);
    let unresolved = tally.unresolved.load(Ordering::Relaxed);
    assert!(
        (increments..=increments + unresolved).contains(&count),
        "count {count}, increments {increments}, unresolved {unresolved}"
    );
    // Holds last milliseconds, so a 10 s timeout only passes when something is stuck (for
    // instance a client queued behind its own orphan node); allow a few for bad luck.
    let attempts = clients * per_client;
    assert!(
        tally.timeouts.load(Ordering::Relaxed) * 20 <= attempts,
        "too many acquire timeouts"
    );
    admin.delete(&counter, None).await.unwrap();
    drop(proxies);
}

/// Reads the counter and writes it back incremented, tagged with `tag`, fenced by the
/// lock. A write whose reply was lost is checked by reading the tag back.
async fn increment(client: &Client, guard: &LockGuard, counter: &str, tag: &str, tally: &Tally) {
    let fence = guard.fence();
    loop {
        if guard.lost_reason().is_some() {
            return;
        }
        let Some((data, stat)) = read(client, guard, counter).await else {
            return;
        };
        let text = String::from_utf8(data.to_vec()).unwrap();
        let (n, _) = text.split_once(':').unwrap();
        let next = format!("{}:{tag}", n.parse::<usize>().unwrap() + 1);
        match fence
            .set_data(counter, next.as_bytes(), Some(stat.version))
            .await
        {
            Ok(_) => {
                tally.increments.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(Error::BadVersion) => {
                panic!("the counter changed while we held the lock ({tag})")
            }
            Err(Error::TransactionFailed { index: 0, .. }) => {
                // Our node is gone: the loss signal fires (it may lag the server a little).
                within(30, guard.lost()).await;
                return;
            }
            Err(e) if e.is_connection_loss() || e == Error::SessionExpired => {
                // Unknown outcome: look for our tag.
                match read(client, guard, counter).await {
                    Some((data, _)) if data.ends_with(tag.as_bytes()) => {
                        tally.unknown_outcomes.fetch_add(1, Ordering::Relaxed);
                        tally.increments.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    Some(_) => {}
                    None => {
                        tally.unresolved.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
                if guard.lost_reason().is_some() {
                    // Lost before the retry: a later holder may have overwritten our tag.
                    tally.unresolved.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
            Err(e) => panic!("fenced write failed: {e}"),
        }
    }
}

/// Reads the counter, retrying connection losses, unless the lock is lost meanwhile.
async fn read(client: &Client, guard: &LockGuard, counter: &str) -> Option<(Bytes, Stat)> {
    let lost = guard.lost();
    loop {
        tokio::select! {
            r = client.get_data(counter) => match r {
                Ok(v) => return Some(v),
                Err(e) if e.is_retryable()
                    || e == Error::SessionExpired
                    || matches!(e, Error::RetriesExhausted { .. }) => {}
                Err(e) => panic!("read failed: {e}"),
            },
            _ = lost.wait() => return None,
        }
    }
}
