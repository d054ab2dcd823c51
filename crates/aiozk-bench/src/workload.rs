//! The workloads, run by one client in one process: `aiozk-bench client --client ours|zkc`.
//!
//! The process prints JSON lines on stdout: `{"mark":"start"}` and `{"mark":"end"}` around
//! the measured phase (the harness samples the server's CPU time at each),
//! `{"mark":"registered"}` once the watches are set (the harness then cuts the connection),
//! and finally one `{"result":{...}}` line with the figures.

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::sys;

/// The znodes the harness creates before any client runs.
pub mod paths {
    /// 100 bytes of data.
    pub const DATA100: &str = "/bench/data100";
    /// 1,000,000 bytes of data.
    pub const BIG: &str = "/bench/big";
    /// The node with many children.
    pub const CHILDREN: &str = "/bench/children";
    /// The node with [`super::CHILDREN100_COUNT`] children.
    pub const CHILDREN100: &str = "/bench/children100";
    /// The node set_data writes to.
    pub const SET: &str = "/bench/set";
    /// The parent of create+delete pairs.
    pub const CD: &str = "/bench/cd";
    /// The parent (never created) of the watched paths.
    pub const WATCH: &str = "/bench/w";
}

/// Size of the data of [`paths::BIG`] (the server's default frame limit is 1 MiB - 1).
pub const BIG_LEN: usize = 1_000_000;

/// Children of [`paths::CHILDREN100`].
pub const CHILDREN100_COUNT: usize = 100;

/// Sessions of the spread workloads (`spread_get1`, `spread_get3`).
pub const SPREAD_SESSIONS: usize = 100;

/// Reads in flight on each session of the spread workloads.
pub const SPREAD_INFLIGHT: usize = 10;

/// Everything one client run needs.
#[derive(Clone, Debug)]
pub struct RunSpec {
    /// `ours` or `zkc`.
    pub client: String,
    /// The workload name (see [`WORKLOADS`]).
    pub workload: String,
    /// `host:port`; for the spread workloads, a comma-separated list of members (session `k`
    /// connects to member `k` modulo their number).
    pub server: String,
    /// Duration of a timed workload.
    pub seconds: f64,
    /// Count for counted workloads (sessions, watches).
    pub count: usize,
    /// A unique tag for node names.
    pub tag: String,
}

/// Every workload: name, description, requests in flight, timed (true) or counted (false).
pub const WORKLOADS: &[(&str, &str, usize, bool)] = &[
    ("get1", "get_data, 100 B, 1 in flight", 1, true),
    ("get100", "get_data, 100 B, 100 in flight", 100, true),
    ("exists100", "exists, 100 in flight", 100, true),
    ("set100", "set_data, 100 B, 100 in flight", 100, true),
    (
        "create_delete100",
        "create+delete pairs, 100 in flight",
        100,
        true,
    ),
    (
        "children10k",
        "get_children, 10,000 children, 1 in flight",
        1,
        true,
    ),
    ("get1mb", "get_data, 1 MB, 1 in flight", 1, true),
    (
        "children100",
        "get_children, 100 children, 100 in flight",
        100,
        true,
    ),
    (
        "spread_get1",
        "get_data, 100 B, 100 sessions × 10 in flight, one server",
        SPREAD_SESSIONS * SPREAD_INFLIGHT,
        true,
    ),
    (
        "spread_get3",
        "get_data, 100 B, 100 sessions × 10 in flight, spread over a 3-member ensemble",
        SPREAD_SESSIONS * SPREAD_INFLIGHT,
        true,
    ),
    (
        "sessions",
        "sessions opened in one process (+1 get each)",
        // 16 connects at a time: with 100, both Rust clients overflow the server's listen
        // backlog (50) and wait for the 1 s SYN retransmission, which measures luck.
        16,
        false,
    ),
    (
        "watches",
        "one-shot watches (exists), registered then re-registered after a reconnect",
        100,
        false,
    ),
    (
        "pwatches",
        "persistent watches, registered then re-registered after a reconnect",
        100,
        false,
    ),
];

/// Requests in flight of a workload.
pub fn inflight(workload: &str) -> usize {
    WORKLOADS
        .iter()
        .find(|w| w.0 == workload)
        .map_or(1, |w| w.2)
}

/// Prints one JSON line and flushes.
pub fn emit(v: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

fn mark(name: &str) {
    emit(&json!({ "mark": name }));
}

/// What the worker tasks of a timed workload measured.
#[derive(Default)]
struct Tally {
    lat_ns: Vec<u32>,
    ops: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.lat_ns.extend(other.lat_ns);
        self.ops += other.ops;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// Runs `$n` tasks, each with its own clone of `$client`, each repeating `$body` (an
/// expression of type `Result<(), String>`, which may `.await`) until `$deadline`.
macro_rules! timed_workers {
    ($n:expr, $deadline:expr, $client:expr, |$c:ident, $w:ident, $i:ident| $body:expr) => {{
        let mut handles = Vec::new();
        for $w in 0..$n {
            let $c = $client.clone();
            let deadline: Instant = $deadline;
            handles.push(tokio::spawn(async move {
                let mut tally = Tally {
                    lat_ns: Vec::with_capacity(1 << 16),
                    ..Tally::default()
                };
                let mut $i: u64 = 0;
                loop {
                    let t0 = Instant::now();
                    if t0 >= deadline {
                        break;
                    }
                    let r: Result<(), String> = $body;
                    let ns = t0.elapsed().as_nanos().min(u128::from(u32::MAX)) as u32;
                    match r {
                        Ok(()) => {
                            tally.ops += 1;
                            tally.lat_ns.push(ns);
                        }
                        Err(e) => {
                            tally.errors += 1;
                            tally.first_error.get_or_insert(e);
                        }
                    }
                    $i += 1;
                }
                let _ = $w;
                tally
            }));
        }
        let mut total = Tally::default();
        for h in handles {
            total.merge(h.await.map_err(|e| e.to_string())?);
        }
        total
    }};
}

/// Runs `$n` tasks over indexes `0..$count` (task `w` takes `w`, `w + n`, ...), each with its
/// own clone of `$client`; `$body` yields `Result<T, String>`; returns one `Vec<T>` per task.
macro_rules! counted_workers {
    ($n:expr, $count:expr, $client:expr, |$c:ident, $i:ident| $body:expr) => {{
        let n: usize = $n;
        let count: usize = $count;
        let mut handles = Vec::new();
        for w in 0..n {
            let $c = $client.clone();
            handles.push(tokio::spawn(async move {
                let mut out = Vec::with_capacity(count / n + 1);
                let mut $i = w;
                while $i < count {
                    out.push($body?);
                    $i += n;
                }
                Ok::<_, String>(out)
            }));
        }
        let mut all = Vec::new();
        for h in handles {
            all.push(h.await.map_err(|e| e.to_string())??);
        }
        all
    }};
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[idx]) / 1000.0
}

/// The figures of a timed run.
fn timed_result(spec: &RunSpec, mut t: Tally, elapsed: Duration, cpu: Duration) -> Value {
    t.lat_ns.sort_unstable();
    json!({
        "client": spec.client,
        "workload": spec.workload,
        "ops": t.ops,
        "errors": t.errors,
        "first_error": t.first_error,
        "elapsed_s": elapsed.as_secs_f64(),
        "cpu_s": cpu.as_secs_f64(),
        "p50_us": percentile(&t.lat_ns, 0.50),
        "p99_us": percentile(&t.lat_ns, 0.99),
        "peak_rss": sys::peak_rss(),
    })
}

fn watch_path(i: usize) -> String {
    format!("{}/{i:08}", paths::WATCH)
}

/// The length of every watched path.
pub fn watch_path_len() -> usize {
    watch_path(0).len()
}

/// Runs one workload with one Rust client, printing the JSON lines.
pub fn run(spec: &RunSpec) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let result = rt.block_on(async {
        match spec.client.as_str() {
            "ours" | "ours-eager" | "ours-plain" => ours::run(spec).await,
            "ours-metrics" => {
                // What recording costs: the same client with a recorder that keeps
                // everything (the others run with none, where recording is a no-op).
                metrics_exporter_prometheus::PrometheusBuilder::new()
                    .install_recorder()
                    .map_err(|e| e.to_string())?;
                ours::run(spec).await
            }
            "zkc" => zkc::run(spec).await,
            other => Err(format!("unknown Rust client {other}")),
        }
    })?;
    emit(&json!({ "result": result }));
    Ok(())
}

/// Measures a timed workload: marks, CPU and wall time around `$workers`.
macro_rules! measure {
    ($spec:expr, $tally:expr) => {{
        mark("start");
        let cpu0 = sys::process_cpu();
        let t0 = Instant::now();
        let tally = $tally;
        let elapsed = t0.elapsed();
        let cpu = sys::process_cpu() - cpu0;
        mark("end");
        Ok(timed_result($spec, tally, elapsed, cpu))
    }};
}

/// Figures of the sessions and watches workloads.
struct Counted {
    fields: Map<String, Value>,
}

impl Counted {
    fn new(spec: &RunSpec) -> Self {
        let mut fields = Map::new();
        fields.insert("client".into(), json!(spec.client));
        fields.insert("workload".into(), json!(spec.workload));
        fields.insert("errors".into(), json!(0));
        Self { fields }
    }

    fn set(&mut self, k: &str, v: Value) {
        self.fields.insert(k.into(), v);
    }

    /// Records ops, elapsed, CPU, and memory per item relative to a baseline.
    fn phase(&mut self, ops: usize, t0: Instant, cpu0: Duration, rss0: u64, heap0: Option<usize>) {
        let elapsed = t0.elapsed();
        let cpu = sys::process_cpu() - cpu0;
        let n = ops.max(1) as f64;
        self.set("ops", json!(ops));
        self.set("elapsed_s", json!(elapsed.as_secs_f64()));
        self.set("cpu_s", json!(cpu.as_secs_f64()));
        self.set("rss_per_item", json!((sys::rss() as f64 - rss0 as f64) / n));
        if let (Some(h0), Some(h1)) = (heap0, sys::heap()) {
            self.set("heap_per_item", json!((h1 as f64 - h0 as f64) / n));
        }
    }

    /// Records the times after a forced reconnect: (lost, reconnected, first reply), or why
    /// the client did not recover.
    fn recovery(&mut self, r: Result<(Instant, Instant, Instant), String>) {
        match r {
            Ok((lost, connected, done)) => {
                self.set("recover_ms", json!((done - lost).as_secs_f64() * 1e3));
                self.set("rereg_ms", json!((done - connected).as_secs_f64() * 1e3));
            }
            Err(e) => self.set("recover_error", json!(e)),
        }
    }

    fn finish(mut self) -> Value {
        self.set("peak_rss", json!(sys::peak_rss()));
        Value::Object(self.fields)
    }
}

async fn timeout<T>(what: &str, f: impl std::future::Future<Output = T>) -> Result<T, String> {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .map_err(|_| format!("timed out waiting for {what}"))
}

mod ours {
    use super::*;
    use aiozk::{Client, SessionEvent, SessionState};

    /// `ours-eager` writes every request at once (no joint writes under deep pipelining);
    /// `ours-plain` sends every read alone (no read coalescing).
    async fn connect(server: &str, client: &str) -> Result<Client, String> {
        let mut builder = Client::builder(server).session_timeout(Duration::from_secs(30));
        if client == "ours-eager" {
            builder = builder.max_write_delay(Duration::ZERO);
        }
        if client == "ours-plain" {
            builder = builder.coalesce_reads(false);
        }
        builder.connect().await.map_err(|e| e.to_string())
    }

    fn err(e: aiozk::Error) -> String {
        e.to_string()
    }

    pub(super) async fn run(spec: &RunSpec) -> Result<Value, String> {
        let w = spec.workload.as_str();
        if w == "sessions" {
            return sessions(spec).await;
        }
        if w.starts_with("spread_") {
            return spread(spec).await;
        }
        let zk = connect(&spec.server, &spec.client).await?;
        let deadline = || Instant::now() + Duration::from_secs_f64(spec.seconds);
        let n = inflight(w);
        let res = match w {
            "get1" | "get100" => measure!(
                spec,
                timed_workers!(n, deadline(), zk, |c, _w, _i| c
                    .get_data(paths::DATA100)
                    .await
                    .map(drop)
                    .map_err(err))
            ),
            "exists100" => measure!(
                spec,
                timed_workers!(n, deadline(), zk, |c, _w, _i| c
                    .exists(paths::DATA100)
                    .await
                    .map(drop)
                    .map_err(err))
            ),
            "set100" => measure!(
                spec,
                timed_workers!(n, deadline(), zk, |c, _w, _i| c
                    .set_data(paths::SET, &[7u8; 100], None)
                    .await
                    .map(drop)
                    .map_err(err))
            ),
            "create_delete100" => {
                let ctx = (zk.clone(), spec.tag.clone());
                measure!(
                    spec,
                    timed_workers!(n, deadline(), ctx, |c, w, i| {
                        let (c, tag) = &c;
                        let p = format!("{}/{tag}-{w}-{i}", paths::CD);
                        match c.create(&p, b"").await {
                            Ok(_) => c.delete(&p, None).await.map_err(err),
                            Err(e) => Err(err(e)),
                        }
                    })
                )
            }
            "children10k" => measure!(
                spec,
                timed_workers!(n, deadline(), zk, |c, _w, _i| c
                    .get_children(paths::CHILDREN)
                    .await
                    .map(drop)
                    .map_err(err))
            ),
            "children100" => measure!(
                spec,
                timed_workers!(n, deadline(), zk, |c, _w, _i| c
                    .get_children(paths::CHILDREN100)
                    .await
                    .map(drop)
                    .map_err(err))
            ),
            "get1mb" => measure!(
                spec,
                timed_workers!(n, deadline(), zk, |c, _w, _i| c
                    .get_data(paths::BIG)
                    .await
                    .map(|(d, _)| assert_eq!(d.len(), BIG_LEN))
                    .map_err(err))
            ),
            "watches" | "pwatches" => watches(spec, &zk).await,
            other => Err(format!("unknown workload {other}")),
        };
        let stats = zk.stats();
        zk.close().await;
        res.map(|mut v| {
            if let Some(obj) = v.as_object_mut() {
                obj.insert("coalesced_reads".into(), json!(stats.coalesced_reads));
                obj.insert("multi_read_batches".into(), json!(stats.multi_read_batches));
                obj.insert("writes".into(), json!(stats.writes));
            }
            v
        })
    }

    /// 100 sessions spread over the members, each with 10 get_data in flight.
    async fn spread(spec: &RunSpec) -> Result<Value, String> {
        let members: Vec<&str> = spec.server.split(',').collect();
        let mut sessions = Vec::new();
        for k in 0..SPREAD_SESSIONS {
            sessions.push(connect(members[k % members.len()], &spec.client).await?);
        }
        let sessions = std::sync::Arc::new(sessions);
        let deadline = Instant::now() + Duration::from_secs_f64(spec.seconds);
        let res = measure!(
            spec,
            timed_workers!(
                SPREAD_SESSIONS * SPREAD_INFLIGHT,
                deadline,
                sessions,
                |all, w, _i| all[w % SPREAD_SESSIONS]
                    .get_data(paths::DATA100)
                    .await
                    .map(drop)
                    .map_err(err)
            )
        );
        for zk in sessions.iter() {
            zk.close().await;
        }
        res
    }

    async fn sessions(spec: &RunSpec) -> Result<Value, String> {
        let mut out = Counted::new(spec);
        let (rss0, heap0) = (sys::rss(), sys::heap());
        mark("start");
        let (cpu0, t0) = (sys::process_cpu(), Instant::now());
        let target = (spec.server.clone(), spec.client.clone());
        let clients = counted_workers!(inflight("sessions"), spec.count, target, |s, _i| {
            let zk = connect(&s.0, &s.1).await?;
            zk.get_data(paths::DATA100).await.map_err(err)?;
            Ok::<_, String>(zk)
        });
        out.phase(spec.count, t0, cpu0, rss0, heap0);
        mark("end");
        let mut closing = Vec::new();
        for zk in clients.into_iter().flatten() {
            closing.push(tokio::spawn(async move { zk.close().await }));
        }
        for c in closing {
            let _ = c.await;
        }
        Ok(out.finish())
    }

    async fn watches(spec: &RunSpec, zk: &Client) -> Result<Value, String> {
        let persistent = spec.workload == "pwatches";
        let mut out = Counted::new(spec);
        out.set("path_len", json!(watch_path_len()));
        // Settle the runtime's and the client's buffers before the baseline.
        zk.exists("/").await.map_err(err)?;
        let (rss0, heap0) = (sys::rss(), sys::heap());
        mark("start");
        let (cpu0, t0) = (sys::process_cpu(), Instant::now());
        let (oneshot, streams) = if persistent {
            let s = counted_workers!(inflight("pwatches"), spec.count, zk, |c, i| c
                .add_watch(&watch_path(i), false)
                .await
                .map_err(err));
            (Vec::new(), s)
        } else {
            let o = counted_workers!(inflight("watches"), spec.count, zk, |c, i| c
                .exists_watched(&watch_path(i))
                .await
                .map(|(_, w)| w)
                .map_err(err));
            (o, Vec::new())
        };
        out.phase(spec.count, t0, cpu0, rss0, heap0);
        mark("end");
        let mut events = zk.state_changes();
        mark("registered");
        let recovery = async {
            timeout("the disconnection", async {
                loop {
                    match events.recv().await {
                        Ok(SessionEvent::State(SessionState::Disconnected, _)) => break Ok(()),
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(e) => break Err(e.to_string()),
                    }
                }
            })
            .await??;
            let lost = Instant::now();
            timeout("the reconnection", async {
                loop {
                    match events.recv().await {
                        Ok(SessionEvent::State(SessionState::Connected, _)) => break Ok(()),
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(e) => break Err(e.to_string()),
                    }
                }
            })
            .await??;
            let connected = Instant::now();
            // Watches are re-registered before anything else: this reply comes after theirs.
            timeout("a reply", zk.exists("/")).await?.map_err(err)?;
            Ok::<_, String>((lost, connected, Instant::now()))
        };
        out.recovery(recovery.await);
        out.set("live", json!(zk.stats().live_watches));
        drop((oneshot, streams));
        Ok(out.finish())
    }
}

mod zkc {
    use super::*;
    use zookeeper_client as zk;

    async fn connect(server: &str) -> Result<zk::Client, String> {
        zk::Client::connector()
            .with_session_timeout(Duration::from_secs(30))
            .connect(server)
            .await
            .map_err(|e| e.to_string())
    }

    fn err(e: zk::Error) -> String {
        e.to_string()
    }

    pub(super) async fn run(spec: &RunSpec) -> Result<Value, String> {
        let w = spec.workload.as_str();
        if w == "sessions" {
            return sessions(spec).await;
        }
        if w.starts_with("spread_") {
            return spread(spec).await;
        }
        let client = connect(&spec.server).await?;
        let deadline = || Instant::now() + Duration::from_secs_f64(spec.seconds);
        let n = inflight(w);
        let res = match w {
            "get1" | "get100" => measure!(
                spec,
                timed_workers!(n, deadline(), client, |c, _w, _i| c
                    .get_data(paths::DATA100)
                    .await
                    .map(drop)
                    .map_err(err))
            ),
            "exists100" => measure!(
                spec,
                timed_workers!(n, deadline(), client, |c, _w, _i| c
                    .check_stat(paths::DATA100)
                    .await
                    .map(drop)
                    .map_err(err))
            ),
            "set100" => measure!(
                spec,
                timed_workers!(n, deadline(), client, |c, _w, _i| c
                    .set_data(paths::SET, &[7u8; 100], None)
                    .await
                    .map(drop)
                    .map_err(err))
            ),
            "create_delete100" => {
                let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
                let ctx = (client.clone(), spec.tag.clone(), options);
                measure!(
                    spec,
                    timed_workers!(n, deadline(), ctx, |c, w, i| {
                        let (c, tag, options) = &c;
                        let p = format!("{}/{tag}-{w}-{i}", paths::CD);
                        match c.create(&p, b"", options).await {
                            Ok(_) => c.delete(&p, None).await.map_err(err),
                            Err(e) => Err(err(e)),
                        }
                    })
                )
            }
            "children10k" => measure!(
                spec,
                timed_workers!(n, deadline(), client, |c, _w, _i| c
                    .list_children(paths::CHILDREN)
                    .await
                    .map(drop)
                    .map_err(err))
            ),
            "children100" => measure!(
                spec,
                timed_workers!(n, deadline(), client, |c, _w, _i| c
                    .list_children(paths::CHILDREN100)
                    .await
                    .map(drop)
                    .map_err(err))
            ),
            "get1mb" => measure!(
                spec,
                timed_workers!(n, deadline(), client, |c, _w, _i| c
                    .get_data(paths::BIG)
                    .await
                    .map(|(d, _)| assert_eq!(d.len(), BIG_LEN))
                    .map_err(err))
            ),
            "watches" | "pwatches" => watches(spec, &client).await,
            other => Err(format!("unknown workload {other}")),
        };
        res
    }

    /// 100 sessions spread over the members, each with 10 get_data in flight.
    async fn spread(spec: &RunSpec) -> Result<Value, String> {
        let members: Vec<&str> = spec.server.split(',').collect();
        let mut sessions = Vec::new();
        for k in 0..SPREAD_SESSIONS {
            sessions.push(connect(members[k % members.len()]).await?);
        }
        let sessions = std::sync::Arc::new(sessions);
        let deadline = Instant::now() + Duration::from_secs_f64(spec.seconds);
        measure!(
            spec,
            timed_workers!(
                SPREAD_SESSIONS * SPREAD_INFLIGHT,
                deadline,
                sessions,
                |all, w, _i| all[w % SPREAD_SESSIONS]
                    .get_data(paths::DATA100)
                    .await
                    .map(drop)
                    .map_err(err)
            )
        )
    }

    async fn sessions(spec: &RunSpec) -> Result<Value, String> {
        let mut out = Counted::new(spec);
        let (rss0, heap0) = (sys::rss(), sys::heap());
        mark("start");
        let (cpu0, t0) = (sys::process_cpu(), Instant::now());
        let server = spec.server.clone();
        let clients = counted_workers!(inflight("sessions"), spec.count, server, |s, _i| {
            let c = connect(&s).await?;
            c.get_data(paths::DATA100).await.map_err(err)?;
            Ok::<_, String>(c)
        });
        out.phase(spec.count, t0, cpu0, rss0, heap0);
        mark("end");
        drop(clients);
        // Dropping a client closes its session in the background.
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok(out.finish())
    }

    async fn watches(spec: &RunSpec, client: &zk::Client) -> Result<Value, String> {
        let persistent = spec.workload == "pwatches";
        let mut out = Counted::new(spec);
        out.set("path_len", json!(watch_path_len()));
        client.check_stat("/").await.map_err(err)?;
        let (rss0, heap0) = (sys::rss(), sys::heap());
        mark("start");
        let (cpu0, t0) = (sys::process_cpu(), Instant::now());
        let (oneshot, streams) = if persistent {
            let s = counted_workers!(inflight("pwatches"), spec.count, client, |c, i| c
                .watch(&watch_path(i), zk::AddWatchMode::Persistent)
                .await
                .map_err(err));
            (Vec::new(), s)
        } else {
            let o = counted_workers!(inflight("watches"), spec.count, client, |c, i| c
                .check_and_watch_stat(&watch_path(i))
                .await
                .map(|(_, w)| w)
                .map_err(err));
            (o, Vec::new())
        };
        out.phase(spec.count, t0, cpu0, rss0, heap0);
        mark("end");
        let mut states = client.state_watcher();
        mark("registered");
        let recovery = async {
            timeout("the disconnection", async {
                while states.changed().await != zk::SessionState::Disconnected {}
            })
            .await?;
            let lost = Instant::now();
            timeout("the reconnection", async {
                while states.changed().await != zk::SessionState::SyncConnected {}
            })
            .await?;
            let connected = Instant::now();
            timeout("a reply", client.check_stat("/"))
                .await?
                .map_err(err)?;
            Ok::<_, String>((lost, connected, Instant::now()))
        };
        out.recovery(recovery.await);
        drop((oneshot, streams));
        Ok(out.finish())
    }
}
