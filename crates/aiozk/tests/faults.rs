//! Real-server fault tests: failover, cut and stalled connections, black holes past the
//! session timeout, read-only mode, mass watch re-registration, refused connections.
//!
//! Every test starts its own servers, so the tests are independent of each other. Run with
//! `--nocapture` to see the figures they print.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use aiozk::{
    Client, ClientBuilder, CreateOptions, Error, EventKind, EventType, OneshotWatcher,
    PersistentWatcher, RetryPolicy, SessionEvent, SessionState, StateCause, WatchedEvent,
};
use aiozk_testkit::{Ensemble, FaultProxy, ServerConfig};
use tokio::sync::broadcast;

// ---------------------------------------------------------------------------- helpers

/// Starts `n` servers (async, so proxies on this runtime keep forwarding meanwhile).
async fn start(n: usize, config: ServerConfig) -> Ensemble {
    // Generous: several JVMs start at once, maybe on a busy machine.
    Ensemble::start_async(n, config.startup_timeout(Duration::from_secs(90)))
        .await
        .expect("start ZooKeeper (scripts/install-zookeeper.sh installs it)")
}

fn builder(connect: &str, timeout: Duration) -> ClientBuilder {
    Client::builder(connect).session_timeout(timeout)
}

async fn connect(connect: &str, timeout: Duration) -> Client {
    builder(connect, timeout).connect().await.expect("connect")
}

/// Waits for `fut` at most `secs` seconds; panics with `what` otherwise.
async fn within<T>(secs: u64, what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(secs), fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {secs} s waiting for {what}"),
    }
}

/// Waits until the client's state satisfies `pred` (at most `secs` seconds).
async fn wait_state(
    client: &Client,
    secs: u64,
    pred: impl FnMut(&SessionState) -> bool,
) -> SessionState {
    let mut rx = client.state_watch();
    let what = format!("a state change of {client:?}");
    let got = within(secs, &what, rx.wait_for(pred)).await.map(|s| *s);
    got.expect("the driver is gone")
}

/// The output of `fut` if it is ready at its first poll (`now_or_never` without the futures
/// crate). Unconstrained, so that tokio's cooperative budget cannot make a ready future
/// look pending when many are checked in a row.
async fn ready_now<F: Future + Unpin>(fut: &mut F) -> Option<F::Output> {
    let poll = tokio::task::unconstrained(std::future::poll_fn(|cx| {
        Poll::Ready(Pin::new(&mut *fut).poll(cx))
    }))
    .await;
    match poll {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

/// Records the session events of a client, with the time each one was seen.
struct EventLog {
    rx: broadcast::Receiver<SessionEvent>,
    seen: Vec<(Instant, SessionEvent)>,
}

impl EventLog {
    fn new(client: &Client) -> Self {
        Self {
            rx: client.state_changes(),
            seen: Vec::new(),
        }
    }

    /// Waits for the next event matching `pred` (recording everything on the way) and
    /// returns it with the time it was seen.
    async fn until(
        &mut self,
        secs: u64,
        what: &str,
        mut pred: impl FnMut(&SessionEvent) -> bool,
    ) -> (Instant, SessionEvent) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let ev = match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Ok(ev)) => ev,
                Ok(Err(e)) => panic!("session events: {e} (seen {:?})", self.events()),
                Err(_) => panic!(
                    "timed out after {secs} s waiting for {what}; seen {:?}",
                    self.events()
                ),
            };
            let at = Instant::now();
            self.seen.push((at, ev.clone()));
            if pred(&ev) {
                return (at, ev);
            }
        }
    }

    /// Waits for the state `state`; returns when it was seen and its cause.
    async fn state(&mut self, secs: u64, state: SessionState) -> (Instant, StateCause) {
        let what = format!("state {state:?}");
        match self
            .until(
                secs,
                &what,
                |e| matches!(e, SessionEvent::State(s, _) if *s == state),
            )
            .await
        {
            (at, SessionEvent::State(_, cause)) => (at, cause),
            _ => unreachable!("the predicate only accepts state events"),
        }
    }

    /// Everything seen so far (without the times).
    fn events(&self) -> Vec<SessionEvent> {
        self.seen.iter().map(|(_, e)| e.clone()).collect()
    }

    /// The states seen so far, in order.
    fn states(&self) -> Vec<SessionState> {
        self.seen
            .iter()
            .filter_map(|(_, e)| match e {
                SessionEvent::State(s, _) => Some(*s),
                SessionEvent::NewSession { .. } => None,
            })
            .collect()
    }
}

/// The index of the ensemble member whose client address is `server` ("127.0.0.1:PORT").
fn member_of(zk: &Ensemble, server: &str) -> usize {
    (0..zk.len())
        .find(|&i| zk.member_addr(i).to_string() == server)
        .unwrap_or_else(|| panic!("{server} is not a member of {}", zk.connect_string()))
}

/// The connect string of the members in `members`.
fn members(zk: &Ensemble, members: &[usize]) -> String {
    members
        .iter()
        .map(|&i| zk.member_addr(i).to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn assert_event(ev: &WatchedEvent, event_type: EventType, path: &str) {
    assert_eq!(
        (ev.event_type, ev.path.as_str(), ev.state),
        (event_type, path, SessionState::Connected),
        "{ev:?}"
    );
}

/// Polls `check` every 50 ms until it returns true (at most `secs` seconds).
async fn poll_until<F, Fut>(secs: u64, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out after {secs} s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The next event of a persistent watch if one is already there.
async fn next_now(w: &mut PersistentWatcher) -> Option<Option<WatchedEvent>> {
    ready_now(&mut Box::pin(w.next())).await
}

/// One request round trip on `client`: every notification the server sent before the
/// reply has been delivered to its watchers when this returns.
async fn round_trip(client: &Client) {
    within(30, "a round trip", client.exists("/"))
        .await
        .expect("round trip");
}

/// The session events show one reconnect of the same session: Disconnected then Connected,
/// no expiry and no new session.
fn assert_plain_reconnect(log: &EventLog) {
    assert_eq!(
        log.states(),
        [SessionState::Disconnected, SessionState::Connected],
        "{:?}",
        log.events()
    );
    assert!(
        !log.events()
            .iter()
            .any(|e| matches!(e, SessionEvent::NewSession { .. })),
        "{:?}",
        log.events()
    );
}

// ---------------------------------------------------------------------------- 1. failover

/// What the writers of the failover test saw.
#[derive(Default)]
struct Writes {
    /// Acknowledged sequential creates: path and data.
    created: Vec<(String, String)>,
    /// The last acknowledged value written to /counter.
    counter: Option<u64>,
    /// Failed writes, with how long each took to fail.
    failed: Vec<(Error, Duration)>,
}

/// Kills the member a client is connected to while several tasks write steadily: the
/// client moves to another member with the same session, its ephemeral node survives, every
/// acknowledged write is there afterwards, and failed writes failed promptly with
/// ConnectionLoss.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_under_write_load_keeps_the_session_and_every_acknowledged_write() {
    // initLimit 4 ticks (2 s): when a follower fails to sync with the new leader (3.8.0
    // sometimes rejects the first NEWLEADER ack as "from a different epoch"), the election
    // is redone after initLimit, which at the default 10 ticks can outlast the session.
    let config = ServerConfig::new()
        .tick_time_ms(500)
        .cfg_line("initLimit=4");
    let zk = start(3, config).await;
    let client = connect(&zk.connect_string(), Duration::from_secs(8)).await;
    // Published before connect() returns (the driver used to publish it just after the
    // state change, so a multi-threaded caller could read 0 here).
    let session = client.session_id();
    assert_ne!(session, 0);
    client
        .create_with("/eph", b"", &CreateOptions::new().ephemeral())
        .await
        .unwrap();
    client.create("/w", b"").await.unwrap();
    client.create("/counter", b"0").await.unwrap();

    let writes = Arc::new(Mutex::new(Writes::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..3u64 {
        let (client, writes, stop) = (client.clone(), writes.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let seq = CreateOptions::new().sequential();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let data = format!("{w}-{i}");
                // Writer 0 also overwrites /counter with a growing value.
                let result = if w == 0 && i % 2 == 1 {
                    client
                        .set_data("/counter", i.to_string().as_bytes(), None)
                        .await
                        .map(|_| None)
                } else {
                    client
                        .create_with("/w/n-", data.as_bytes(), &seq)
                        .await
                        .map(|(path, _)| Some(path))
                };
                let took = started.elapsed();
                assert!(took < Duration::from_secs(15), "a write took {took:?}");
                let mut writes = writes.lock().unwrap();
                match result {
                    Ok(Some(path)) => writes.created.push((path, data)),
                    Ok(None) => writes.counter = Some(i),
                    Err(e) => writes.failed.push((e, took)),
                }
                i += 1;
            }
        }));
    }
    let acked = || writes.lock().unwrap().created.len();
    poll_until(30, "writes before the kill", || async { acked() >= 100 }).await;

    let server = client.connected_server().expect("connected");
    let victim = member_of(&zk, &server);
    let mode = zk.mode_async(victim).await;
    let mut log = EventLog::new(&client);
    let before = acked();
    let killed = Instant::now();
    zk.kill(victim).unwrap();
    let (down, _) = log.state(30, SessionState::Disconnected).await;
    let (up, _) = log.state(30, SessionState::Connected).await;
    let after_reconnect = acked();
    poll_until(30, "writes after the reconnect", || async {
        acked() >= after_reconnect + 100
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        within(30, "the writers to stop", w).await.unwrap();
    }
    let new_server = client.connected_server().expect("connected");
    println!(
        "killed member {victim} ({mode:?}); Disconnected after {:?}, Connected to {new_server} \
         after {:?}; {} writes acknowledged before the kill, {} in all",
        down - killed,
        up - killed,
        before,
        acked()
    );

    // Same session, no expiry; only Disconnected/Connected changes (a member that had not
    // yet noticed the failure may accept the client once and then drop it).
    let mut states = log.states();
    while let Ok(ev) = log.rx.try_recv() {
        if let SessionEvent::State(s, _) = ev {
            states.push(s);
        }
    }
    assert!(
        states.chunks(2).all(|c| c[0] == SessionState::Disconnected
            && c.get(1).is_none_or(|s| *s == SessionState::Connected)),
        "{states:?}"
    );
    assert_eq!(client.state(), SessionState::Connected);
    assert!(
        !log.events()
            .iter()
            .any(|e| matches!(e, SessionEvent::NewSession { .. })),
        "{:?}",
        log.events()
    );
    assert_eq!(client.session_id(), session);
    assert_ne!(member_of(&zk, &new_server), victim);

    let writes = std::mem::take(&mut *writes.lock().unwrap());
    let slowest = writes.failed.iter().map(|(_, d)| *d).max();
    println!(
        "{} writes failed (slowest failure after {slowest:?}): {:?}",
        writes.failed.len(),
        writes.failed.iter().map(|(e, _)| e).collect::<Vec<_>>()
    );
    for (e, _) in &writes.failed {
        assert_eq!(*e, Error::ConnectionLoss);
        assert!(e.is_retryable());
    }

    // Checked from another session on the surviving members.
    let survivors: Vec<usize> = (0..3).filter(|&i| i != victim).collect();
    let other = connect(&members(&zk, &survivors), Duration::from_secs(10)).await;
    other.sync("/").await.unwrap();
    let eph = other
        .exists("/eph")
        .await
        .unwrap()
        .expect("the ephemeral survived");
    assert_eq!(eph.ephemeral_owner, session);
    let reads: Vec<_> = writes
        .created
        .iter()
        .map(|(path, data)| (path, data, other.get_data(path)))
        .collect();
    for (path, data, read) in reads {
        let (got, _) = read.await.unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(&got[..], data.as_bytes(), "{path}");
    }
    let last = writes.counter.expect("a counter write was acknowledged");
    let (counter, _) = other.get_data("/counter").await.unwrap();
    let counter: u64 = std::str::from_utf8(&counter).unwrap().parse().unwrap();
    assert!(
        counter >= last,
        "/counter is {counter}, {last} was acknowledged"
    );
    client.close().await;
    other.close().await;
}

// ---------------------------------------------------------------------------- 2. watches

/// Watches set before a stalled-then-cut connection: after the reconnect (same server, same
/// session) each one-shot watch gets exactly the event it missed, an unchanged node's watch
/// stays armed, the persistent watch gets the change it missed once, and the recursive one
/// (without a cache) that change and a `Resync`.
#[tokio::test]
async fn watches_catch_up_after_a_cut() {
    let zk = start(1, ServerConfig::new().min_session_timeout_ms(1000)).await;
    let proxy = FaultProxy::start(zk.member_addr(0)).await.unwrap();
    let timeout = Duration::from_secs(20);
    let client = connect(&proxy.addr().to_string(), timeout).await;
    let direct = connect(&zk.connect_string(), timeout).await;
    for p in ["/a", "/b", "/d", "/e", "/p"] {
        direct.create(p, b"0").await.unwrap();
    }

    let (_, _, wa) = client.get_data_watched("/a").await.unwrap();
    let (stat_b, wb) = client.exists_watched("/b").await.unwrap();
    assert!(stat_b.is_some());
    let (stat_c, wc) = client.exists_watched("/c").await.unwrap();
    assert!(stat_c.is_none());
    let (children, _, wd) = client.get_children_watched("/d").await.unwrap();
    assert!(children.is_empty());
    let (_, _, mut we) = client.get_data_watched("/e").await.unwrap();
    let mut persistent = client.add_watch("/p", false).await.unwrap();
    let mut recursive = client.add_watch("/p", true).await.unwrap();
    assert_eq!(client.stats().live_watches, 7);
    let session = client.session_id();
    let batches = client.stats().set_watches_batches;
    let mut log = EventLog::new(&client);

    // The client hears nothing while the others change four of the watched nodes and /p.
    proxy.stall();
    direct.set_data("/a", b"1", None).await.unwrap();
    direct.delete("/b", None).await.unwrap();
    direct.create("/c", b"").await.unwrap();
    direct.create("/d/child", b"").await.unwrap();
    direct.set_data("/p", b"missed", None).await.unwrap();
    assert_eq!(client.state(), SessionState::Connected);
    let cut = Instant::now();
    proxy.cut_rst().await;
    proxy.resume();

    log.state(30, SessionState::Disconnected).await;
    let (up, _) = log.state(30, SessionState::Connected).await;
    assert_plain_reconnect(&log);
    assert_eq!(client.session_id(), session);
    assert_eq!(client.connected_server(), Some(proxy.addr().to_string()));
    assert_eq!(client.stats().set_watches_batches, batches + 1);

    let ea = within(10, "the /a watch", wa).await;
    let eb = within(10, "the /b watch", wb).await;
    let ec = within(10, "the /c watch", wc).await;
    let ed = within(10, "the /d watch", wd).await;
    println!(
        "reconnected {:?} after the cut; missed events delivered {:?} after the reconnect",
        up - cut,
        up.elapsed()
    );
    assert_event(&ea, EventType::NodeDataChanged, "/a");
    assert_event(&eb, EventType::NodeDeleted, "/b");
    assert_event(&ec, EventType::NodeCreated, "/c");
    assert_event(&ed, EventType::NodeChildrenChanged, "/d");

    for ev in [&ea, &eb, &ec, &ed] {
        assert_eq!(ev.kind, EventKind::CatchUp, "{ev:?}");
    }

    // Catch-up notifications precede the SetWatches reply, which precedes any later reply:
    // after a round trip nothing more can be on its way for /e or /p.
    round_trip(&client).await;
    assert!(
        tokio::time::timeout(Duration::from_secs(1), &mut we)
            .await
            .is_err(),
        "the /e watch fired although /e did not change"
    );
    // The persistent watch gets the change it missed, once; so does the recursive one,
    // which then hears that changes below /p may have been missed too (it has no cache).
    let ep = next_now(&mut persistent).await.flatten().expect("catch-up");
    assert_event(&ep, EventType::NodeDataChanged, "/p");
    assert_eq!((ep.kind, ep.zxid), (EventKind::CatchUp, None));
    assert_eq!(next_now(&mut persistent).await, None, "a duplicate");
    let er = next_now(&mut recursive).await.flatten().expect("catch-up");
    assert_event(&er, EventType::NodeDataChanged, "/p");
    assert_eq!(er.kind, EventKind::CatchUp);
    let resync = next_now(&mut recursive).await.flatten().expect("resync");
    assert_eq!(
        (resync.event_type, resync.kind, resync.path.as_str()),
        (EventType::None, EventKind::Resync, "/p")
    );
    assert_eq!(next_now(&mut recursive).await, None);

    // The re-armed watches fire for new changes, once each.
    direct.set_data("/e", b"1", None).await.unwrap();
    let ee = within(10, "the /e watch", we).await;
    assert_event(&ee, EventType::NodeDataChanged, "/e");
    direct.set_data("/p", b"new", None).await.unwrap();
    let ep = within(10, "the persistent watch", persistent.next())
        .await
        .unwrap();
    let er = within(10, "the recursive watch", recursive.next())
        .await
        .unwrap();
    assert_event(&ep, EventType::NodeDataChanged, "/p");
    assert_event(&er, EventType::NodeDataChanged, "/p");
    assert_eq!((ep.kind, er.kind), (EventKind::Change, EventKind::Change));
    round_trip(&client).await;
    assert_eq!(next_now(&mut persistent).await, None, "a duplicate event");
    assert_eq!(next_now(&mut recursive).await, None, "a duplicate event");
    // The one-shot watches are gone, the two persistent ones remain.
    assert_eq!(client.stats().live_watches, 2);
    assert_eq!(log.rx.len(), 0, "{:?}", log.events());
    client.close().await;
    direct.close().await;
}

/// Retries a write until it is known to be applied: `done` reads whether it is (a write
/// whose reply was lost to a failover may or may not have been).
async fn write_surely<W, D>(what: &str, mut write: impl FnMut() -> W, mut done: impl FnMut() -> D)
where
    W: Future<Output = aiozk::Result<()>>,
    D: Future<Output = bool>,
{
    within(60, what, async {
        loop {
            match write().await {
                Ok(()) => return,
                Err(e) if e.is_retryable() => {
                    if done().await {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("{what}: {e}"),
            }
        }
    })
    .await;
}

/// A persistent watcher on a 3-member ensemble; its server is killed, and while it
/// reconnects another client writes three times (data, a child, data again). Once back,
/// the watcher gets exactly those changes, each kind once (the two data changes come as
/// one event, as a one-shot watch reports them), marked as catch-up and not repeating the
/// live event it had before; then the final data is readable and the next change is live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persistent_watcher_whose_server_is_killed_gets_exactly_the_changes_it_missed() {
    let config = ServerConfig::new()
        .tick_time_ms(500)
        .max_session_timeout_ms(30_000)
        .cfg_line("initLimit=4");
    let zk = start(3, config).await;
    // The watcher reaches every member through a proxy, which holds its reconnection back
    // until the writes are done.
    let mut proxies = Vec::new();
    for i in 0..3 {
        proxies.push(FaultProxy::start(zk.member_addr(i)).await.unwrap());
    }
    let through: Vec<String> = proxies.iter().map(|p| p.addr().to_string()).collect();
    let watcher = connect(&through.join(","), Duration::from_secs(20)).await;
    let server = watcher.connected_server().expect("connected");
    let victim = through.iter().position(|a| *a == server).expect("a proxy");
    let survivors: Vec<usize> = (0..3).filter(|&i| i != victim).collect();
    let writer = connect(&members(&zk, &survivors), Duration::from_secs(20)).await;
    writer.create("/w", b"0").await.unwrap();
    let mut w = watcher.add_watch("/w", false).await.unwrap();
    writer.set_data("/w", b"live", None).await.unwrap();
    let live = within(10, "the live event", w.next())
        .await
        .expect("stream");
    assert_event(&live, EventType::NodeDataChanged, "/w");
    assert_eq!(live.kind, EventKind::Change);

    for p in &proxies {
        p.refuse(true);
    }
    let mut log = EventLog::new(&watcher);
    let mode = zk.mode_async(victim).await;
    zk.kill(victim).unwrap();
    log.state(30, SessionState::Disconnected).await;
    let read = |want: &'static [u8]| {
        let writer = writer.clone();
        move || {
            let writer = writer.clone();
            async move { matches!(writer.get_data("/w").await, Ok((d, _)) if d[..] == *want) }
        }
    };
    write_surely(
        "the first write",
        || {
            let f = writer.set_data("/w", b"1", None);
            async { f.await.map(drop) }
        },
        read(b"1"),
    )
    .await;
    write_surely(
        "the second write",
        || {
            let f = writer.create("/w/kid", b"");
            async {
                match f.await {
                    Ok(_) | Err(Error::NodeExists) => Ok(()),
                    Err(e) => Err(e),
                }
            }
        },
        || async { true },
    )
    .await;
    write_surely(
        "the third write",
        || {
            let f = writer.set_data("/w", b"3", None);
            async { f.await.map(drop) }
        },
        read(b"3"),
    )
    .await;
    for &i in &survivors {
        proxies[i].refuse(false);
    }
    log.state(60, SessionState::Connected).await;
    // Catch-up events precede the SetWatches reply, which precedes any later reply.
    round_trip(&watcher).await;
    // Same session; a member that had not yet settled may have accepted the watcher once
    // and dropped it again.
    while let Ok(ev) = log.rx.try_recv() {
        log.seen.push((Instant::now(), ev));
    }
    let states = log.states();
    assert!(
        states.chunks(2).all(|c| c[0] == SessionState::Disconnected
            && c.get(1).is_none_or(|s| *s == SessionState::Connected)),
        "{:?}",
        log.events()
    );
    assert!(
        !log.events()
            .iter()
            .any(|e| matches!(e, SessionEvent::NewSession { .. })),
        "{:?}",
        log.events()
    );
    assert_ne!(member_of_proxies(&through, &watcher), victim);
    let mut got = Vec::new();
    while let Some(Some(ev)) = next_now(&mut w).await {
        got.push(ev);
    }
    println!("killed member {victim} ({mode:?}); after the reconnect the watcher got {got:?}");
    let seen: Vec<_> = got
        .iter()
        .map(|e| (e.event_type, e.path.as_str(), e.kind, e.state))
        .collect();
    assert_eq!(
        seen,
        [
            (
                EventType::NodeDataChanged,
                "/w",
                EventKind::CatchUp,
                SessionState::Connected
            ),
            (
                EventType::NodeChildrenChanged,
                "/w",
                EventKind::CatchUp,
                SessionState::Connected
            ),
        ]
    );
    let (data, stat) = watcher.get_data("/w").await.unwrap();
    assert_eq!(&data[..], b"3");
    assert_eq!(watcher.get_children("/w").await.unwrap(), ["kid"]);

    writer.set_data("/w", b"after", None).await.unwrap();
    let next = within(10, "a live event", w.next()).await.expect("stream");
    assert_event(&next, EventType::NodeDataChanged, "/w");
    assert_eq!(next.kind, EventKind::Change);
    // From 3.9 a live event carries the zxid of its change (ZOOKEEPER-4655).
    let (_, after) = writer.get_data("/w").await.unwrap();
    let srvr = zk.four_letter_async(survivors[0], "srvr").await.unwrap();
    let version = aiozk::fourlw::parse_srvr_version(&srvr).expect("a version");
    let zxid = (version >= (3, 9, 0)).then_some(after.mzxid);
    assert_eq!(next.zxid, zxid, "{version:?}");
    assert!(after.mzxid > stat.mzxid);
    watcher.close().await;
    writer.close().await;
}

/// The index of the proxy (in `through`) that `client` is connected through.
fn member_of_proxies(through: &[String], client: &Client) -> usize {
    let server = client.connected_server().expect("connected");
    through
        .iter()
        .position(|a| *a == server)
        .unwrap_or_else(|| panic!("{server} is not one of {through:?}"))
}

// ---------------------------------------------------------------------------- 3. black hole

/// Server config for the session-timeout tests: a 500 ms tick so the server expires
/// sessions promptly, sessions from 1 s to 10 s.
fn quick_expiry() -> ServerConfig {
    ServerConfig::new()
        .tick_time_ms(500)
        .min_session_timeout_ms(1000)
}

/// A black hole longer than the session timeout: the client reports Disconnected within the
/// read timeout and Expired later, the server drops the ephemeral node, calls and watches
/// of the old session end, and a new session comes up once the network is back. A second
/// client built with `reconnect_after_expiry(false)` stays expired.
///
/// Expiry is due one session timeout after the server was last heard from, also while a
/// connection attempt that the black hole swallows is under way.
#[tokio::test]
async fn blackhole_past_the_session_timeout_expires_the_session() {
    let zk = start(1, quick_expiry()).await;
    let proxy = FaultProxy::start(zk.member_addr(0)).await.unwrap();
    let requested = Duration::from_secs(3);
    let client = connect(&proxy.addr().to_string(), requested).await;
    let t = client.session_timeout();
    assert_eq!(t, requested, "negotiated timeout");
    let stays = builder(&proxy.addr().to_string(), requested)
        .reconnect_after_expiry(false)
        .retry_policy(RetryPolicy::none())
        .connect()
        .await
        .unwrap();
    let direct = connect(&zk.connect_string(), Duration::from_secs(10)).await;
    direct.create("/w", b"w").await.unwrap();
    client
        .create_with("/eph", b"", &CreateOptions::new().ephemeral())
        .await
        .unwrap();
    let (_, _, watcher) = client.get_data_watched("/w").await.unwrap();
    let old_session = client.session_id();
    let once = client.with_retry(RetryPolicy::none());
    let mut log = EventLog::new(&client);
    let mut stays_log = EventLog::new(&stays);

    proxy.blackhole(true);
    let t0 = Instant::now();
    // Sent on the dead connection: fails when the connection is declared lost.
    let in_flight = tokio::spawn(once.get_data("/w"));
    let (disconnected, cause) = log.state(30, SessionState::Disconnected).await;
    let to_disconnect = disconnected - t0;
    assert!(matches!(cause, StateCause::ConnectionLost(_)), "{cause:?}");
    stays_log.state(30, SessionState::Disconnected).await;
    // Made while disconnected: queued for the next connection.
    let queued = tokio::spawn(once.get_data("/w"));
    let stays_queued = tokio::spawn(stays.get_data("/w"));
    let (expired, cause) = log.state(30, SessionState::Expired).await;
    let to_expire = expired - t0;
    println!(
        "black hole, session timeout {t:?}: Disconnected after {to_disconnect:?}, \
         Expired ({cause:?}) after {to_expire:?}"
    );
    assert!(
        to_disconnect <= t * 2 / 3 + Duration::from_millis(500),
        "Disconnected only after {to_disconnect:?}"
    );
    assert!(
        matches!(cause, StateCause::ClientExpired | StateCause::ServerExpired),
        "{cause:?}"
    );
    assert!(
        to_expire >= t - Duration::from_secs(1) && to_expire <= t + Duration::from_millis(500),
        "Expired after {to_expire:?}, session timeout {t:?}"
    );

    let ev = within(5, "the watch of the expired session", watcher).await;
    assert_eq!(
        (ev.event_type, ev.state),
        (EventType::None, SessionState::Expired),
        "{ev:?}"
    );
    let r = within(5, "the call in flight", in_flight).await.unwrap();
    assert_eq!(r.unwrap_err(), Error::ConnectionLoss);
    // A call queued while disconnected belonged to the old session: it fails with it.
    let r = within(5, "the queued call", queued).await.unwrap();
    assert_eq!(r.unwrap_err(), Error::SessionExpired);

    // The server expires the session on its own and deletes the ephemeral node.
    poll_until(30, "the ephemeral to go", || async {
        direct.exists("/eph").await.unwrap().is_none()
    })
    .await;
    println!(
        "ephemeral gone (seen by a direct client) {:?} after the black hole began",
        t0.elapsed()
    );

    // Also without reconnect_after_expiry.
    stays_log.state(30, SessionState::Expired).await;
    let r = within(5, "the queued call", stays_queued).await.unwrap();
    assert_eq!(r.unwrap_err(), Error::SessionExpired);

    proxy.blackhole(false);
    let back = Instant::now();
    let (_, new) = log
        .until(30, "a new session", |e| {
            matches!(e, SessionEvent::NewSession { .. })
        })
        .await;
    let SessionEvent::NewSession { session_id } = new else {
        unreachable!("the predicate only accepts new sessions")
    };
    assert_ne!(session_id, old_session);
    let (connected, _) = log.state(30, SessionState::Connected).await;
    println!(
        "new session {session_id:#x} connected {:?} after the black hole ended",
        connected - back
    );
    assert_eq!(client.session_id(), session_id);
    assert_eq!(
        log.states(),
        [
            SessionState::Disconnected,
            SessionState::Expired,
            SessionState::Connecting,
            SessionState::Connected
        ],
        "{:?}",
        log.events()
    );
    // The new session works; the old ephemeral is not back.
    assert_eq!(client.exists("/eph").await.unwrap(), None);
    assert_eq!(client.stats().sessions, 2);

    // The other client stays expired although the network is back.
    assert_eq!(stays.exists("/w").await.unwrap_err(), Error::SessionExpired);
    assert_eq!(stays.state(), SessionState::Expired);
    client.close().await;
    direct.close().await;
}

// ---------------------------------------------------------------------------- 4. read-only

/// Two of three members die: a client that allows read-only servers ends up read-only on
/// the survivor (reads work, writes fail with NotReadOnly); once the others are back, its
/// `isro` probe finds a read-write server and it moves there, and writes work again.
///
/// Sessions: a 3.8 server in read-only mode refuses to resume a global session ("Refusing
/// global session reconnection in RO mode"), and creates sessions for read-only clients only
/// when `localSessionsEnabled=true` (otherwise it answers the ConnectRequest with a bare
/// NOTREADONLY reply header). With local sessions on, the first session is local to the
/// member it was made on, so the read-only server reports it expired; the client then
/// opens a read-only session, valid on that server only, and on reaching a read-write server
/// again it opens a third session (it never saw a read-write server in the read-only one,
/// so it sends session id 0), announced by `SessionEvent::NewSession`.
#[tokio::test]
async fn read_only_mode_and_back() {
    let config = ServerConfig::new()
        .tick_time_ms(500)
        .cfg_line("initLimit=4")
        .cfg_line("localSessionsEnabled=true")
        .max_session_timeout_ms(20_000)
        .read_only_mode(true);
    let zk = start(3, config).await;
    let survivor = 0;
    // The survivor is reached through a proxy, so that its closing of our connection when it
    // rejoins the quorum can be hidden: the switch back must then come from the probe.
    let proxy = FaultProxy::start(zk.member_addr(survivor)).await.unwrap();
    let servers = format!("{},{}", proxy.addr(), members(&zk, &[1, 2]));
    // Long enough that the read timeout cannot end the stalled read-only connection before
    // the probe (100 ms, doubling) finds the read-write server.
    let client = builder(&servers, Duration::from_secs(20))
        .allow_read_only(true)
        .connect()
        .await
        .unwrap();
    assert_eq!(client.state(), SessionState::Connected);
    let first_session = client.session_id();
    client.create("/ro", b"data").await.unwrap();
    let mut log = EventLog::new(&client);

    let killed = Instant::now();
    for i in 1..3 {
        zk.kill(i).unwrap();
    }
    let (ro_at, _) = log.state(60, SessionState::ConnectedReadOnly).await;
    println!(
        "ConnectedReadOnly {:?} after the kills; events {:?}",
        ro_at - killed,
        log.events()
    );
    let states = log.states();
    assert_eq!(
        states.first(),
        Some(&SessionState::Disconnected),
        "{states:?}"
    );
    assert!(
        log.seen.iter().any(|(_, e)| matches!(
            e,
            SessionEvent::State(
                SessionState::Expired,
                StateCause::ServerExpired | StateCause::ClientExpired
            )
        )),
        "the first session cannot live on a read-only server: {:?}",
        log.events()
    );
    let ro_session = client.session_id();
    assert!(ro_session != 0 && ro_session != first_session);
    assert_eq!(client.connected_server(), Some(proxy.addr().to_string()));
    let (data, _) = client.get_data("/ro").await.unwrap();
    assert_eq!(&data[..], b"data");
    assert_eq!(
        client.create("/ro2", b"").await.unwrap_err(),
        Error::NotReadOnly
    );
    assert_eq!(
        client.set_data("/ro", b"x", None).await.unwrap_err(),
        Error::NotReadOnly
    );
    assert_eq!(client.state(), SessionState::ConnectedReadOnly);

    let mut log = EventLog::new(&client);
    proxy.stall();
    let restarting = Instant::now();
    // Member 1 is ready once it has a quorum (with the survivor): read-write service is back.
    zk.restart_async(1).await.unwrap();
    let quorum = Instant::now();
    zk.restart_async(2).await.unwrap();
    let (down, cause) = log.state(60, SessionState::Disconnected).await;
    let (rw_at, _) = log.state(60, SessionState::Connected).await;
    println!(
        "quorum back {:?} after the restarts began; back to Connected {:?} later (the probe \
         dropped the read-only connection after {:?}); sessions: first {first_session:#x}, \
         read-only {ro_session:#x}, now {:#x}",
        quorum - restarting,
        rw_at.saturating_duration_since(quorum),
        down.saturating_duration_since(quorum),
        client.session_id(),
    );
    // Dropped by the client on the probe's finding, not by the stalled server.
    assert_eq!(cause, StateCause::ConnectionLost(Error::ConnectionLoss));
    assert_eq!(
        log.states(),
        [SessionState::Disconnected, SessionState::Connected],
        "{:?}",
        log.events()
    );
    let new_session = client.session_id();
    assert!(
        log.events().contains(&SessionEvent::NewSession {
            session_id: new_session
        }),
        "{:?}",
        log.events()
    );
    assert!(new_session != ro_session && new_session != first_session);
    let server = client.connected_server().unwrap();
    assert!(
        server != proxy.addr().to_string() && member_of(&zk, &server) != survivor,
        "{server}"
    );
    client.create("/ro2", b"").await.unwrap();
    client.set_data("/ro", b"x", None).await.unwrap();
    client.close().await;
}

// ---------------------------------------------------------------------------- 5. many watches

/// How many watches of each kind `many_watches` sets, out of `n`.
struct Mix {
    data: usize,
    exist: usize,
    child: usize,
    persistent: usize,
    recursive: usize,
}

impl Mix {
    fn of(n: usize) -> Self {
        Self {
            data: n * 4 / 10,
            exist: n * 2 / 10,
            child: n * 2 / 10,
            persistent: n / 10,
            recursive: n / 10,
        }
    }
}

/// Every `step`-th index below `len`, `count` of them.
fn spread(len: usize, count: usize) -> Vec<usize> {
    let step = (len / count).max(1);
    (0..count).map(|k| k * step).collect()
}

/// Awaits pipelined futures in call order, panicking on the first error.
async fn all<T, F>(what: &str, futures: Vec<F>) -> Vec<T>
where
    F: Future<Output = aiozk::Result<T>>,
{
    let mut out = Vec::with_capacity(futures.len());
    for f in futures {
        out.push(
            within(120, what, f)
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}")),
        );
    }
    out
}

/// `n` watches of every kind through a proxy; 1,000 watched nodes change while the proxy is
/// stalled; after a cut the client reconnects and re-registers everything in several
/// SetWatches batches: exactly the changed one-shot and persistent watches fire, once, no
/// other watch does, and each recursive watch (without a cache) is told to resync; then
/// the watches survive a server restart.
async fn many_watches(n: usize) {
    let mix = Mix::of(n);
    let zk = start(1, ServerConfig::new().jvm_flag("-Xmx512m")).await;
    let proxy = FaultProxy::start(zk.member_addr(0)).await.unwrap();
    let timeout = Duration::from_secs(30);
    let client = connect(&proxy.addr().to_string(), timeout).await;
    let direct = connect(&zk.connect_string(), timeout).await;
    let (d, x, c, p, r) = ("/m/data", "/m/exist", "/m/child", "/m/pers", "/m/rec");
    for path in ["/m", d, x, c, p, r] {
        direct.create(path, b"").await.unwrap();
    }
    let started = Instant::now();
    let creates: Vec<_> = (0..mix.data)
        .map(|i| direct.create(&format!("{d}/{i}"), b"0"))
        .chain((0..mix.child).map(|i| direct.create(&format!("{c}/{i}"), b"")))
        .collect();
    all("create", creates).await;
    let created = started.elapsed();

    let started = Instant::now();
    let data_futs: Vec<_> = (0..mix.data)
        .map(|i| client.get_data_watched(&format!("{d}/{i}")))
        .collect();
    let exist_futs: Vec<_> = (0..mix.exist)
        .map(|i| client.exists_watched(&format!("{x}/{i}")))
        .collect();
    let child_futs: Vec<_> = (0..mix.child)
        .map(|i| client.get_children_watched(&format!("{c}/{i}")))
        .collect();
    let pers_futs: Vec<_> = (0..mix.persistent)
        .map(|i| client.add_watch(&format!("{p}/{i}"), false))
        .chain((0..mix.recursive).map(|i| client.add_watch(&format!("{r}/{i}"), true)))
        .collect();
    let mut data: Vec<Option<OneshotWatcher>> = all("getData", data_futs)
        .await
        .into_iter()
        .map(|(_, _, w)| Some(w))
        .collect();
    let mut exist: Vec<Option<OneshotWatcher>> = all("exists", exist_futs)
        .await
        .into_iter()
        .map(|(stat, w)| {
            assert!(stat.is_none());
            Some(w)
        })
        .collect();
    let mut child: Vec<Option<OneshotWatcher>> = all("getChildren", child_futs)
        .await
        .into_iter()
        .map(|(_, _, w)| Some(w))
        .collect();
    let mut streams: Vec<PersistentWatcher> = all("addWatch", pers_futs).await;
    let set = started.elapsed();
    assert_eq!(client.stats().live_watches, n);
    println!("{n} watches: nodes created in {created:?}, watches set in {set:?}");

    // 1,000 changes the client does not hear about.
    let changed_data = spread(mix.data, 400);
    let changed_exist = spread(mix.exist, 200);
    let changed_child = spread(mix.child, 200);
    let changed_pers = spread(mix.persistent, 100);
    let changed_rec = spread(mix.recursive, 100);
    let session = client.session_id();
    let batches = client.stats().set_watches_batches;
    let mut log = EventLog::new(&client);
    proxy.stall();
    let changes: Vec<_> = changed_data
        .iter()
        .map(|i| direct.set_data(&format!("{d}/{i}"), b"1", None))
        .collect();
    all("setData", changes).await;
    let creates: Vec<_> = changed_exist
        .iter()
        .map(|i| format!("{x}/{i}"))
        .chain(changed_child.iter().map(|i| format!("{c}/{i}/kid")))
        .chain(changed_pers.iter().map(|i| format!("{p}/{i}")))
        .chain(changed_rec.iter().map(|i| format!("{r}/{i}")))
        .map(|path| direct.create(&path, b""))
        .collect();
    all("create", creates).await;
    proxy.cut_rst().await;
    proxy.resume();

    let (up, _) = log.state(60, SessionState::Connected).await;
    assert_plain_reconnect(&log);
    assert_eq!(client.session_id(), session);
    let expected = [
        (&mut data, &changed_data, EventType::NodeDataChanged, d),
        (&mut exist, &changed_exist, EventType::NodeCreated, x),
        (
            &mut child,
            &changed_child,
            EventType::NodeChildrenChanged,
            c,
        ),
    ];
    let mut fired = 0;
    for (watchers, changed, event_type, base) in expected {
        for &i in changed.iter() {
            let w = watchers[i].take().expect("each index once");
            let ev = within(60, "a catch-up event", w).await;
            assert_event(&ev, event_type, &format!("{base}/{i}"));
            fired += 1;
        }
    }
    for &i in &changed_pers {
        let ev = within(60, "a catch-up event", streams[i].next())
            .await
            .expect("stream");
        assert_event(&ev, EventType::NodeCreated, &format!("{p}/{i}"));
        assert_eq!(ev.kind, EventKind::CatchUp);
        fired += 1;
    }
    for (i, s) in streams.iter_mut().enumerate().skip(mix.persistent) {
        let ev = within(60, "a resync", s.next()).await.expect("stream");
        let path = format!("{r}/{}", i - mix.persistent);
        assert_eq!((ev.kind, ev.path), (EventKind::Resync, path));
    }
    let caught_up = up.elapsed();
    round_trip(&client).await;
    let reregistered = up.elapsed();
    let sent = client.stats().set_watches_batches - batches;
    println!(
        "re-registered {n} watches in {sent} batches: {fired} catch-up events in \
         {caught_up:?}, every batch answered in {reregistered:?} after the reconnect"
    );
    assert!(sent >= 2, "{sent} SetWatches batches for {n} watches");

    // Nothing else fired: every other one-shot watch is still pending, every stream empty.
    let mut pending = 0;
    for w in data
        .iter_mut()
        .chain(&mut exist)
        .chain(&mut child)
        .flatten()
    {
        assert!(
            ready_now(w).await.is_none(),
            "a watch fired without a change"
        );
        pending += 1;
    }
    for s in &mut streams {
        assert_eq!(next_now(s).await, None, "a second catch-up event");
    }
    assert_eq!(pending + fired + streams.len() - changed_pers.len(), n);
    assert_eq!(client.stats().live_watches, n - fired + changed_pers.len());

    // The watches survive a server restart within the session timeout.
    let mut log = EventLog::new(&client);
    let restarting = Instant::now();
    zk.restart_async(0).await.unwrap();
    log.state(60, SessionState::Disconnected).await;
    let (up, _) = log.state(60, SessionState::Connected).await;
    assert_plain_reconnect(&log);
    assert_eq!(client.session_id(), session);
    round_trip(&client).await;
    println!(
        "server restarted: reconnected {:?} after the restart began, {} watches re-registered \
         {:?} after the reconnect",
        up - restarting,
        n - fired + changed_pers.len(),
        up.elapsed()
    );
    // Nothing changed for the watches; the recursive ones are told to resync when the
    // server's zxid moved meanwhile (other sessions came and went).
    for (i, s) in streams.iter_mut().enumerate() {
        if let Some(ev) = next_now(s).await.flatten() {
            assert!(i >= mix.persistent, "{ev:?}");
            assert_eq!(ev.kind, EventKind::Resync, "{ev:?}");
        }
    }
    wait_state(&direct, 60, |s| *s == SessionState::Connected).await;
    // One unchanged watch of each kind fires for a new change; the persistent ones too.
    let (di, xi, ci) = (
        changed_data[0] + 1,
        changed_exist[0] + 1,
        changed_child[0] + 1,
    );
    direct
        .set_data(&format!("{d}/{di}"), b"2", None)
        .await
        .unwrap();
    direct.create(&format!("{x}/{xi}"), b"").await.unwrap();
    direct.create(&format!("{c}/{ci}/kid"), b"").await.unwrap();
    let (pi, ri) = (changed_pers[0], mix.persistent + changed_rec[0]);
    direct
        .set_data(&format!("{p}/{pi}"), b"2", None)
        .await
        .unwrap();
    direct
        .set_data(&format!("{r}/{}", changed_rec[0]), b"2", None)
        .await
        .unwrap();
    // The notifications precede the reply to any later request of the watching client.
    round_trip(&client).await;
    let ev = ready_now(data[di].as_mut().unwrap())
        .await
        .expect("data watch");
    assert_event(&ev, EventType::NodeDataChanged, &format!("{d}/{di}"));
    let ev = ready_now(exist[xi].as_mut().unwrap())
        .await
        .expect("exist watch");
    assert_event(&ev, EventType::NodeCreated, &format!("{x}/{xi}"));
    let ev = ready_now(child[ci].as_mut().unwrap())
        .await
        .expect("child watch");
    assert_event(&ev, EventType::NodeChildrenChanged, &format!("{c}/{ci}"));
    let ev = next_now(&mut streams[pi])
        .await
        .flatten()
        .expect("persistent watch");
    assert_event(&ev, EventType::NodeDataChanged, &format!("{p}/{pi}"));
    let ev = next_now(&mut streams[ri])
        .await
        .flatten()
        .expect("recursive watch");
    assert_event(
        &ev,
        EventType::NodeDataChanged,
        &format!("{r}/{}", changed_rec[0]),
    );
    assert_eq!(next_now(&mut streams[pi]).await, None);
    assert_eq!(next_now(&mut streams[ri]).await, None);
    client.close().await;
    direct.close().await;
}

#[tokio::test]
async fn many_watches_20k() {
    many_watches(20_000).await;
}

/// The full size; run with
/// `cargo test -p aiozk --test faults -- --ignored --nocapture many_watches_100k`.
#[tokio::test]
#[ignore = "slow: 100,000 watches"]
async fn many_watches_100k() {
    many_watches(100_000).await;
}

// ---------------------------------------------------------------------------- 6. refusals

/// Of three addresses, one is a dead port and two are proxies to the same server. The proxy
/// the client uses starts refusing connections (accept, then RST) and cuts the open one; for
/// a while the other refuses too, so that the client is sure to meet refusals: it keeps
/// trying and ends up on the other proxy with its session intact.
#[tokio::test]
async fn refused_connections_move_the_client_without_losing_the_session() {
    let zk = start(1, ServerConfig::new()).await;
    let p1 = FaultProxy::start(zk.member_addr(0)).await.unwrap();
    let p2 = FaultProxy::start(zk.member_addr(0)).await.unwrap();
    let dead = aiozk_testkit::free_port().unwrap();
    let servers = format!("{},{},127.0.0.1:{dead}", p1.addr(), p2.addr());
    let client = connect(&servers, Duration::from_secs(15)).await;
    let session = client.session_id();
    client
        .create_with("/eph", b"", &CreateOptions::new().ephemeral())
        .await
        .unwrap();
    let on = client.connected_server().unwrap();
    let (current, other) = if on == p1.addr().to_string() {
        (&p1, &p2)
    } else {
        assert_eq!(on, p2.addr().to_string());
        (&p2, &p1)
    };
    let mut log = EventLog::new(&client);

    current.refuse(true);
    other.refuse(true);
    let (current_before, other_before) = (current.accepted(), other.accepted());
    let cut = Instant::now();
    current.cut_rst().await;
    log.state(30, SessionState::Disconnected).await;
    poll_until(30, "refused attempts on both proxies", || async {
        current.accepted() > current_before && other.accepted() > other_before
    })
    .await;
    other.refuse(false);
    let (up, _) = log.state(30, SessionState::Connected).await;
    println!(
        "moved to the other proxy {:?} after the cut, after {} refused connections",
        up - cut,
        current.accepted() - current_before + other.accepted() - other_before - 1
    );
    assert_plain_reconnect(&log);
    assert_eq!(client.session_id(), session);
    assert_eq!(client.connected_server(), Some(other.addr().to_string()));
    assert_eq!(client.stats().sessions, 1);
    let stat = client.exists("/eph").await.unwrap().expect("the ephemeral");
    assert_eq!(stat.ephemeral_owner, session);
    client.close().await;
}

/// `close()` must not hang when no server can be reached: at once when the client already
/// knows the connection is gone (black hole or dead server), and within the read timeout
/// when the closeSession request disappears into a black hole.
#[tokio::test]
async fn close_returns_promptly_without_a_reachable_server() {
    let zk = start(1, quick_expiry()).await;
    let proxy = FaultProxy::start(zk.member_addr(0)).await.unwrap();
    let t = Duration::from_secs(3);
    let through_proxy = proxy.addr().to_string();
    let a = connect(&through_proxy, t).await;
    let b = connect(&through_proxy, t).await;
    let direct = connect(&zk.connect_string(), t).await;

    proxy.blackhole(true);
    // B: the connection is still believed alive (its read timeout is at least 1 s away);
    // closeSession goes into the hole.
    assert_eq!(b.state(), SessionState::Connected);
    let started = Instant::now();
    within(10, "close (B)", b.close()).await;
    let took_b = started.elapsed();
    // A: the black hole is noticed (Disconnected, then connection attempts that hang).
    wait_state(&a, 30, |s| *s == SessionState::Disconnected).await;
    let started = Instant::now();
    within(10, "close (A)", a.close()).await;
    let took_a = started.elapsed();

    // C: the server is dead.
    zk.kill(0).unwrap();
    wait_state(&direct, 30, |s| *s == SessionState::Disconnected).await;
    let started = Instant::now();
    within(10, "close (C)", direct.close()).await;
    let took_c = started.elapsed();
    println!(
        "close() without a server: {took_a:?} (black hole, disconnected), {took_b:?} (black \
         hole, still connected; read timeout {:?}), {took_c:?} (server killed)",
        t * 2 / 3
    );
    assert!(took_a < Duration::from_secs(2), "{took_a:?}");
    assert!(took_c < Duration::from_secs(2), "{took_c:?}");
    assert!(
        took_b <= t * 2 / 3 + Duration::from_millis(500),
        "{took_b:?}"
    );
    for c in [&a, &b, &direct] {
        assert_eq!(c.state(), SessionState::Closed);
        assert_eq!(c.exists("/").await.unwrap_err(), Error::Closed);
    }
}

#[tokio::test]
async fn request_timeout_bounds_a_call_to_a_stalled_server() {
    let zk = start(1, ServerConfig::new()).await;
    let proxy = FaultProxy::start(zk.member_addr(0)).await.unwrap();
    let client = builder(&proxy.addr().to_string(), Duration::from_secs(20))
        .request_timeout(Duration::from_millis(300))
        .retry_policy(RetryPolicy::once())
        .connect()
        .await
        .expect("connect");
    assert!(client.exists("/").await.unwrap().is_some());
    proxy.stall();
    let started = Instant::now();
    let err = within(10, "a timed-out call", client.exists("/"))
        .await
        .unwrap_err();
    let took = started.elapsed();
    println!(
        "request timeout 300 ms returned after {} ms",
        took.as_millis()
    );
    assert_eq!(err, Error::RequestTimeout);
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
    // The session is untouched: once the server answers again, calls work. The first call
    // after the resume may itself time out while the server works off the stalled backlog on
    // a loaded machine, so it is repeated until one answers; none may fail otherwise.
    let session = client.session_id();
    proxy.resume();
    let answered = within(20, "a call after resume", async {
        loop {
            match client.exists("/").await {
                Err(Error::RequestTimeout) => continue,
                other => break other,
            }
        }
    })
    .await;
    assert!(answered.unwrap().is_some());
    assert_eq!(client.session_id(), session);
    client.close().await;
}

/// A compare-and-set or versioned delete whose reply is lost is retried; when the retry
/// meets the effect of its own first attempt (BadVersion, NoNode), the call reports the
/// connection loss (outcome unknown), never a definite failure of a write that happened.
#[tokio::test]
async fn versioned_writes_whose_reply_was_lost_never_claim_a_definite_failure() {
    let zk = start(1, ServerConfig::new()).await;
    let proxy = FaultProxy::start(zk.member_addr(0)).await.unwrap();
    // Long sessions: no ping is due during the test, so the next frame is our request.
    let client = connect(&proxy.addr().to_string(), Duration::from_secs(30)).await;
    client.create("/cas", b"0").await.unwrap();

    proxy.cut_after_requests(1);
    let cas = within(30, "the CAS", client.set_data("/cas", b"1", Some(0))).await;
    let (data, stat) = client.get_data("/cas").await.unwrap();
    assert_eq!(
        (&data[..], stat.version),
        (&b"1"[..], 1),
        "the first attempt was applied"
    );
    assert_eq!(cas, Err(Error::ConnectionLoss));

    proxy.cut_after_requests(1);
    let delete = within(30, "the delete", client.delete("/cas", Some(1))).await;
    assert_eq!(
        client.exists("/cas").await.unwrap(),
        None,
        "the first attempt was applied"
    );
    assert_eq!(delete, Err(Error::ConnectionLoss));

    // A versioned write that really fails still says so after a retry.
    client.create("/cas", b"0").await.unwrap();
    assert_eq!(
        client.set_data("/cas", b"x", Some(7)).await,
        Err(Error::BadVersion)
    );
}

/// A protected sequential create of a persistent node whose reply is lost, while the
/// session expires before the client can look for it, is looked for on the next session
/// and found: before, the expiry was returned, and a caller that created again (the queue
/// recipe) made a second node.
#[tokio::test]
async fn a_protected_create_is_found_again_after_its_session_expired() {
    let zk = start(
        1,
        ServerConfig::new()
            .tick_time_ms(500)
            .min_session_timeout_ms(1000),
    )
    .await;
    let proxy = FaultProxy::start(zk.member_addr(0)).await.unwrap();
    let client = connect(&proxy.addr().to_string(), Duration::from_secs(3)).await;
    client.create("/q", b"").await.unwrap();
    let session = client.session_id();
    let mut events = client.state_changes();

    // Just after a reply no ping is due for a second: the next frame is the create. It
    // reaches the server, its reply does not come back, and no reconnect is let through
    // until the session has expired.
    proxy.refuse(true);
    proxy.cut_after_requests(1);
    let options = CreateOptions::new().sequential().protected();
    let create = tokio::spawn(client.create_with("/q/item-", b"x", &options));
    within(30, "the expiry", async {
        loop {
            if let Ok(SessionEvent::State(SessionState::Expired, _)) = events.recv().await {
                break;
            }
        }
    })
    .await;
    proxy.refuse(false);

    let created = within(30, "the create", create).await.unwrap();
    let (path, _) = created.expect("the node is found on the next session");
    assert_ne!(client.session_id(), session);
    let children = client.get_children("/q").await.unwrap();
    assert_eq!(children.len(), 1, "{children:?}");
    assert_eq!(path, format!("/q/{}", children[0]));
}
