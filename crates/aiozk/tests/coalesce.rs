//! Read coalescing against a real server: a client that sends consecutive unwatched reads
//! as one MultiRead gives every caller exactly what a client without coalescing gives for
//! the same calls, and resolves the futures in call order.

mod common;

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use aiozk::{Client, Error, EventType, OneshotWatcher, Stat};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The parts of a Stat that two runs of the same calls in two namespaces share (zxids and
/// times differ).
#[derive(Debug, Clone, PartialEq, Eq)]
struct StatKey {
    version: i32,
    cversion: i32,
    aversion: i32,
    data_length: i32,
    num_children: i32,
}

impl From<Stat> for StatKey {
    fn from(s: Stat) -> Self {
        Self {
            version: s.version,
            cversion: s.cversion,
            aversion: s.aversion,
            data_length: s.data_length,
            num_children: s.num_children,
        }
    }
}

/// What one call returned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Data(Vec<u8>, StatKey),
    DataOpt(Option<Vec<u8>>, StatKey),
    Children(Vec<String>),
    ChildrenStat(Vec<String>, StatKey),
    Exists(Option<StatKey>),
    Created(String),
    Stat(StatKey),
    Deleted,
    /// A watched read, with the number of its watcher.
    Watched(Box<Outcome>, usize),
    Failed(Error),
}

type Call = Pin<Box<dyn Future<Output = Outcome>>>;

/// One step of a schedule.
#[derive(Debug, Clone)]
enum Step {
    /// Call a method (its future joins the outstanding ones).
    Call(Op),
    /// Wait until at most this many calls are outstanding.
    Drain(usize),
}

#[derive(Debug, Clone)]
enum Op {
    GetData(String),
    GetDataOpt(String),
    GetChildren(String),
    GetChildrenStat(String),
    Exists(String),
    GetDataWatched(String),
    GetChildrenWatched(String),
    ExistsWatched(String),
    Create(String, Vec<u8>),
    SetData(String, Vec<u8>, Option<i32>),
    Delete(String, Option<i32>),
}

/// A few parents with a few children each, some of which exist at the start: reads hit
/// missing nodes (NoNode), writes collide (NodeExists, NotEmpty, BadVersion).
fn random_path(rng: &mut StdRng) -> String {
    let parent = rng.gen_range(0..4);
    if rng.gen_bool(0.4) {
        format!("/n{parent}")
    } else {
        format!("/n{parent}/c{}", rng.gen_range(0..4))
    }
}

/// A seeded schedule of `calls` calls: mostly unwatched reads, in bursts issued without
/// waiting (so that many reads are on the wire and consecutive ones can be coalesced), with
/// writes and watched reads between them, and waits that let the depth rise and fall.
fn schedule(seed: u64, calls: usize) -> Vec<Step> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut steps = Vec::new();
    let mut issued = 0;
    while issued < calls {
        let burst = rng.gen_range(1..=60).min(calls - issued);
        for _ in 0..burst {
            let path = random_path(&mut rng);
            let data = vec![b'a' + rng.gen_range(0..26u8); rng.gen_range(0..40)];
            let op = match rng.gen_range(0..100) {
                0..=29 => Op::GetData(path),
                30..=44 => Op::GetDataOpt(path),
                45..=59 => Op::GetChildren(path),
                60..=64 => Op::GetChildrenStat(path),
                65..=69 => Op::Exists(path),
                70..=72 => Op::GetDataWatched(path),
                73..=74 => Op::GetChildrenWatched(path),
                75..=76 => Op::ExistsWatched(path),
                77..=84 => Op::Create(path, data),
                85..=93 => {
                    let version = rng.gen_bool(0.3).then(|| rng.gen_range(0..3));
                    Op::SetData(path, data, version)
                }
                _ => {
                    let version = rng.gen_bool(0.3).then(|| rng.gen_range(0..3));
                    Op::Delete(path, version)
                }
            };
            steps.push(Step::Call(op));
        }
        issued += burst;
        steps.push(Step::Drain(rng.gen_range(0..=120)));
    }
    steps.push(Step::Drain(0));
    steps
}

fn failed(e: Error) -> Outcome {
    Outcome::Failed(e)
}

/// The watchers of one run, numbered in call order; a watched read leaves its watcher here
/// once its reply arrives.
type Watchers = Rc<RefCell<Vec<Option<OneshotWatcher>>>>;

/// Calls `op` on `zk` now (the request is queued at once); the future yields its outcome.
fn call(zk: &Client, op: &Op, watchers: &Watchers) -> Call {
    let slot = watchers.borrow().len();
    match op.clone() {
        Op::GetData(p) => {
            let f = zk.get_data(&p);
            Box::pin(async move {
                f.await
                    .map_or_else(failed, |(d, s)| Outcome::Data(d.to_vec(), s.into()))
            })
        }
        Op::GetDataOpt(p) => {
            let f = zk.get_data_opt(&p);
            Box::pin(async move {
                f.await.map_or_else(failed, |(d, s)| {
                    Outcome::DataOpt(d.map(|d| d.to_vec()), s.into())
                })
            })
        }
        Op::GetChildren(p) => {
            let f = zk.get_children(&p);
            Box::pin(async move {
                f.await.map_or_else(failed, |mut c| {
                    c.sort();
                    Outcome::Children(c)
                })
            })
        }
        Op::GetChildrenStat(p) => {
            let f = zk.get_children_stat(&p);
            Box::pin(async move {
                f.await.map_or_else(failed, |(mut c, s)| {
                    c.sort();
                    Outcome::ChildrenStat(c, s.into())
                })
            })
        }
        Op::Exists(p) => {
            let f = zk.exists(&p);
            Box::pin(async move {
                f.await
                    .map_or_else(failed, |s| Outcome::Exists(s.map(Into::into)))
            })
        }
        Op::GetDataWatched(p) => {
            watchers.borrow_mut().push(None);
            let f = zk.get_data_watched(&p);
            let cell = watchers.clone();
            Box::pin(async move {
                match f.await {
                    Ok((d, s, w)) => {
                        cell.borrow_mut()[slot] = Some(w);
                        Outcome::Watched(Box::new(Outcome::Data(d.to_vec(), s.into())), slot)
                    }
                    Err(e) => failed(e),
                }
            })
        }
        Op::GetChildrenWatched(p) => {
            watchers.borrow_mut().push(None);
            let f = zk.get_children_watched(&p);
            let cell = watchers.clone();
            Box::pin(async move {
                match f.await {
                    Ok((mut c, s, w)) => {
                        cell.borrow_mut()[slot] = Some(w);
                        c.sort();
                        Outcome::Watched(Box::new(Outcome::ChildrenStat(c, s.into())), slot)
                    }
                    Err(e) => failed(e),
                }
            })
        }
        Op::ExistsWatched(p) => {
            watchers.borrow_mut().push(None);
            let f = zk.exists_watched(&p);
            let cell = watchers.clone();
            Box::pin(async move {
                match f.await {
                    Ok((s, w)) => {
                        cell.borrow_mut()[slot] = Some(w);
                        Outcome::Watched(Box::new(Outcome::Exists(s.map(Into::into))), slot)
                    }
                    Err(e) => failed(e),
                }
            })
        }
        Op::Create(p, d) => {
            let f = zk.create(&p, &d);
            Box::pin(async move {
                f.await
                    .map_or_else(failed, |(path, _)| Outcome::Created(path))
            })
        }
        Op::SetData(p, d, v) => {
            let f = zk.set_data(&p, &d, v);
            Box::pin(async move { f.await.map_or_else(failed, |s| Outcome::Stat(s.into())) })
        }
        Op::Delete(p, v) => {
            let f = zk.delete(&p, v);
            Box::pin(async move { f.await.map_or_else(failed, |()| Outcome::Deleted) })
        }
    }
}

/// Everything one run observed: each call's outcome in call order, and for each watcher the
/// event it got by the end (`None`: it has not fired).
#[derive(Debug, PartialEq, Eq)]
struct Observed {
    outcomes: Vec<Outcome>,
    events: Vec<Option<(EventType, String)>>,
}

/// Runs `steps` on `zk`, checking at every poll that the calls resolve in call order: with
/// one thread, nothing runs while the outstanding calls are polled, so a later call that is
/// ready while an earlier one is not was completed first.
async fn run(zk: &Client, steps: &[Step]) -> Observed {
    let mut outstanding: std::collections::VecDeque<(usize, Call)> = Default::default();
    let mut outcomes: Vec<Option<Outcome>> = Vec::new();
    let watchers = Watchers::default();
    let mut next = 0;
    for step in steps {
        match step {
            Step::Call(op) => {
                outstanding.push_back((next, call(zk, op, &watchers)));
                outcomes.push(None);
                next += 1;
            }
            Step::Drain(depth) => {
                while outstanding.len() > *depth {
                    std::future::poll_fn(|cx| {
                        let mut any = false;
                        let mut blocked = None;
                        let mut i = 0;
                        while i < outstanding.len() {
                            let (index, fut) = &mut outstanding[i];
                            match fut.as_mut().poll(cx) {
                                Poll::Ready(outcome) => {
                                    if let Some(earlier) = blocked {
                                        panic!(
                                            "call {index} resolved before call {earlier} \
                                             ({outcome:?})"
                                        );
                                    }
                                    outcomes[*index] = Some(outcome);
                                    outstanding.remove(i);
                                    any = true;
                                }
                                Poll::Pending => {
                                    blocked.get_or_insert(*index);
                                    i += 1;
                                }
                            }
                        }
                        if any {
                            Poll::Ready(())
                        } else {
                            Poll::Pending
                        }
                    })
                    .await;
                }
            }
        }
    }
    // A watch event for a change made by this session arrives before the reply to the
    // change, so by now every event the calls caused has been delivered.
    let mut events = Vec::new();
    for w in watchers.take() {
        events.push(match w {
            None => None,
            Some(mut w) => {
                std::future::poll_fn(|cx| {
                    Poll::Ready(match Pin::new(&mut w).poll(cx) {
                        Poll::Ready(ev) => Some((ev.event_type, ev.path)),
                        Poll::Pending => None,
                    })
                })
                .await
            }
        });
    }
    Observed {
        outcomes: outcomes
            .into_iter()
            .map(|o| o.expect("every call resolved"))
            .collect(),
        events,
    }
}

/// A client rooted at a fresh namespace holding the same starting tree for every run.
async fn namespace(name: &str, coalesce: bool) -> Client {
    let admin = common::connect("").await;
    let base = common::base(&admin, name).await;
    for parent in 0..4 {
        if parent % 2 == 0 {
            admin
                .create(&format!("{base}/n{parent}"), b"seed")
                .await
                .expect("seed node");
            admin
                .create(&format!("{base}/n{parent}/c0"), b"")
                .await
                .expect("seed child");
        }
    }
    admin.close().await;
    Client::builder(&format!("{}{base}", common::server().connect_string()))
        .session_timeout(Duration::from_secs(10))
        .coalesce_reads(coalesce)
        .connect()
        .await
        .expect("connect")
}

#[tokio::test]
async fn coalesced_reads_give_every_caller_what_single_reads_give() {
    let mut batches = 0;
    let mut coalesced = 0;
    for seed in 1..=6u64 {
        let steps = schedule(seed, 1500);
        let plain = namespace(&format!("eq-{seed}-plain"), false).await;
        let expected = common::within(60, run(&plain, &steps)).await;
        assert_eq!(plain.stats().multi_read_batches, 0);
        assert_eq!(plain.stats().coalesced_reads, 0);
        plain.close().await;

        let zk = namespace(&format!("eq-{seed}-coalesced"), true).await;
        let got = common::within(60, run(&zk, &steps)).await;
        let stats = zk.stats();
        zk.close().await;
        assert_eq!(got.outcomes.len(), expected.outcomes.len());
        for (i, (a, b)) in got.outcomes.iter().zip(&expected.outcomes).enumerate() {
            assert_eq!(a, b, "seed {seed}, call {i}: {:?}", steps_call(&steps, i));
        }
        assert_eq!(got.events, expected.events, "seed {seed}: watch events");
        batches += stats.multi_read_batches;
        coalesced += stats.coalesced_reads;
        // Some NoNode answers came back inside batches, for their callers only.
        assert!(
            expected.outcomes.contains(&Outcome::Failed(Error::NoNode)),
            "the schedule reads missing nodes"
        );
    }
    println!("{coalesced} reads sent in {batches} MultiRead batches");
    assert!(batches > 0, "no reads were coalesced");
    assert!(coalesced >= 2 * batches);
}

fn steps_call(steps: &[Step], i: usize) -> Option<&Op> {
    steps
        .iter()
        .filter_map(|s| match s {
            Step::Call(op) => Some(op),
            Step::Drain(_) => None,
        })
        .nth(i)
}

/// A loopback proxy in front of the real server that behaves like a server without
/// MultiRead (3.5): it answers a request of opcode 22 with Unimplemented and closes the
/// connection, as ZooKeeper's UnimplementedRequestProcessor does, and forwards everything
/// else.
struct NoMultiReadProxy {
    addr: std::net::SocketAddr,
    /// MultiRead requests refused so far.
    refused: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// Connections accepted so far.
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for NoMultiReadProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl NoMultiReadProxy {
    async fn start(upstream: std::net::SocketAddr) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let refused = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (r, a) = (refused.clone(), accepted.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                a.fetch_add(1, Ordering::SeqCst);
                let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                    continue;
                };
                tokio::spawn(Self::serve(client, server, r.clone()));
            }
        });
        Self {
            addr,
            refused,
            accepted,
            task,
        }
    }

    async fn serve(
        client: tokio::net::TcpStream,
        server: tokio::net::TcpStream,
        refused: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    ) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut from_client, to_client) = client.into_split();
        let (mut from_server, mut to_server) = server.into_split();
        let to_client = std::sync::Arc::new(tokio::sync::Mutex::new(to_client));
        let down = to_client.clone();
        // Server to client, a whole frame at a time, so that a refusal never lands inside
        // a reply.
        let downstream = tokio::spawn(async move {
            loop {
                let mut len = [0u8; 4];
                if from_server.read_exact(&mut len).await.is_err() {
                    break;
                }
                let mut frame = vec![0u8; u32::from_be_bytes(len) as usize];
                if from_server.read_exact(&mut frame).await.is_err() {
                    break;
                }
                let mut w = down.lock().await;
                if w.write_all(&len).await.is_err() || w.write_all(&frame).await.is_err() {
                    break;
                }
            }
        });
        let mut first = true;
        loop {
            let mut len = [0u8; 4];
            if from_client.read_exact(&mut len).await.is_err() {
                break;
            }
            let mut frame = vec![0u8; u32::from_be_bytes(len) as usize];
            if from_client.read_exact(&mut frame).await.is_err() {
                break;
            }
            let op = (!first && frame.len() >= 8)
                .then(|| i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]));
            first = false;
            if op == Some(22) {
                refused.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut reply = Vec::new();
                reply.extend_from_slice(&16u32.to_be_bytes());
                reply.extend_from_slice(&frame[..4]);
                reply.extend_from_slice(&0i64.to_be_bytes());
                reply.extend_from_slice(&(-6i32).to_be_bytes());
                let mut w = to_client.lock().await;
                let _ = w.write_all(&reply).await;
                let _ = w.shutdown().await;
                break;
            }
            if to_server.write_all(&len).await.is_err()
                || to_server.write_all(&frame).await.is_err()
            {
                break;
            }
        }
        downstream.abort();
    }
}

#[tokio::test]
async fn a_server_without_multi_read_gets_single_reads_and_no_request_fails() {
    use std::sync::atomic::Ordering;
    let admin = common::connect("").await;
    let base = common::base(&admin, "no-multi-read").await;
    admin
        .create(&format!("{base}/x"), b"payload")
        .await
        .expect("create");
    admin.close().await;

    let proxy = NoMultiReadProxy::start(common::server().member_addr(0)).await;
    let zk = Client::builder(&format!("{}{base}", proxy.addr))
        .session_timeout(Duration::from_secs(10))
        .coalesce_reads(true)
        .start()
        .expect("start");
    // Calls made before the session is up wait for it, and must not be lost to the
    // connection the server closes.
    let early: Vec<_> = (0..50).map(|_| zk.get_data("/x")).collect();
    let missing = zk.get_data("/missing");
    for f in early {
        let (data, _) = common::within(30, f).await.expect("read before the probe");
        assert_eq!(&data[..], b"payload");
    }
    assert_eq!(common::within(30, missing).await, Err(Error::NoNode));
    // Deep pipelining afterwards: every read goes alone.
    let reads: Vec<_> = (0..300).map(|_| zk.get_data("/x")).collect();
    for f in reads {
        common::within(30, f).await.expect("read");
    }
    let stats = zk.stats();
    assert_eq!(stats.multi_read_batches, 0);
    assert_eq!(stats.coalesced_reads, 0);
    assert_eq!(stats.errors, 1, "only the read of the missing node failed");
    assert_eq!(
        proxy.refused.load(Ordering::SeqCst),
        1,
        "one probe, then none"
    );
    assert_eq!(proxy.accepted.load(Ordering::SeqCst), 2);
    assert_eq!(stats.sessions, 1, "the session survived the refusal");
    zk.close().await;
}
