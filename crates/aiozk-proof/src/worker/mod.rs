//! A worker process: one client session driving one workload, writing every operation and
//! event it sees as a JSON line on stdout. The controller reads those lines into the run's
//! history. A worker stops when its stdin closes, at its deadline, or after its operation
//! budget, and it never waits on one call for longer than [`OP_LIMIT`]: a call that takes
//! longer is recorded as `hang`, which the checkers count as a violation.

mod counter;
mod ids;
mod lock;
mod queue;
mod register;
mod watch;

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aiozk::{Client, Error, SessionEvent};
use serde_json::{json, Map, Value};
use tokio::io::AsyncReadExt;

use crate::clock::now_ns;
use crate::rng::Rng;
use crate::Workload;

/// The longest any single call may take before it counts as hanging.
pub(crate) const OP_LIMIT: Duration = Duration::from_secs(25);

/// What a worker is told on its command line.
#[derive(Debug, Clone)]
pub(crate) struct WorkerConfig {
    pub(crate) id: u32,
    pub(crate) workload: Workload,
    pub(crate) seed: u64,
    pub(crate) connect: String,
    pub(crate) session_timeout_ms: u64,
    /// Stop issuing operations at this monotonic time.
    pub(crate) deadline_ns: u64,
    pub(crate) max_ops: u64,
}

/// Runs a worker to the end; returns the process exit code.
pub(crate) fn run(cfg: WorkerConfig) -> u8 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("worker {}: no runtime: {e}", cfg.id);
            return 2;
        }
    };
    rt.block_on(main_async(cfg))
}

async fn main_async(cfg: WorkerConfig) -> u8 {
    let out = Out { id: cfg.id };
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut stdin = tokio::io::stdin();
            let mut buf = [0u8; 64];
            // Any byte or end of file means stop.
            let _ = stdin.read(&mut buf).await;
            stop.store(true, Ordering::Release);
        });
    }
    let Some(client) = connect(&cfg, &out, &stop).await else {
        out.event("done", json!({"connected": false}));
        return 0;
    };
    watch_session(&client, out.clone());
    let ctx = Ctx {
        client: client.clone(),
        out: out.clone(),
        rng: std::sync::Mutex::new(Rng::new(cfg.seed ^ (u64::from(cfg.id) << 32))),
        stop,
        ops: AtomicU64::new(0),
        cfg: cfg.clone(),
        server: std::sync::Mutex::new(None),
    };
    match cfg.workload {
        Workload::Register => register::run(&ctx).await,
        Workload::Ids => ids::run(&ctx).await,
        Workload::Counter => counter::run(&ctx).await,
        Workload::Queue => queue::run(&ctx).await,
        Workload::Lock => lock::run(&ctx, false).await,
        Workload::Election => lock::run(&ctx, true).await,
        Workload::Watch => watch::run(&ctx).await,
        Workload::All => {}
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), client.close()).await;
    out.event("done", json!({"ops": ctx.ops.load(Ordering::Relaxed)}));
    0
}

async fn connect(cfg: &WorkerConfig, out: &Out, stop: &AtomicBool) -> Option<Client> {
    loop {
        if stop.load(Ordering::Acquire) || now_ns() >= cfg.deadline_ns {
            return None;
        }
        let builder = Client::builder(&cfg.connect)
            .session_timeout(Duration::from_millis(cfg.session_timeout_ms))
            .connect_timeout(Duration::from_secs(5));
        match builder.connect().await {
            Ok(client) => {
                out.event(
                    "connected",
                    json!({"sid": client.session_id(), "timeout_ms": client.session_timeout().as_millis() as u64}),
                );
                return Some(client);
            }
            Err(e) => {
                out.event("connect-failed", json!({"err": err_name(&e)}));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Records every session transition: the checkers need session boundaries and the time
/// each loss of connection was noticed.
fn watch_session(client: &Client, out: Out) {
    let mut events = client.state_changes();
    let c = client.clone();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(SessionEvent::State(state, cause)) => out.event(
                    "state",
                    json!({"state": format!("{state:?}"), "cause": format!("{cause:?}"), "sid": c.session_id()}),
                ),
                Ok(SessionEvent::NewSession { session_id }) => {
                    out.event("session", json!({"sid": session_id}))
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    out.event("lagged", json!({"missed": n}))
                }
                Err(_) => return,
            }
        }
    });
}

/// Writes this worker's lines to stdout, each flushed at once (the process may be frozen
/// or killed at any moment).
#[derive(Debug, Clone)]
pub(crate) struct Out {
    id: u32,
}

impl Out {
    pub(crate) fn line(&self, mut v: Map<String, Value>) {
        v.insert("w".into(), json!(self.id));
        let text = Value::Object(v).to_string();
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{text}");
        let _ = stdout.flush();
    }

    pub(crate) fn event(&self, name: &str, fields: Value) {
        let mut m = match fields {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        m.insert("type".into(), json!("ev"));
        m.insert("ev".into(), json!(name));
        m.insert("t".into(), json!(now_ns()));
        self.line(m);
    }
}

/// Everything a workload needs.
pub(crate) struct Ctx {
    pub(crate) client: Client,
    pub(crate) out: Out,
    pub(crate) rng: std::sync::Mutex<Rng>,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) ops: AtomicU64,
    pub(crate) cfg: WorkerConfig,
    server: std::sync::Mutex<Option<String>>,
}

/// How one call ended.
pub(crate) enum Outcome<T> {
    Ok(T),
    /// The call failed (definitely or not: the history line says which).
    Failed,
    /// No answer within [`OP_LIMIT`].
    Hang,
}

impl Ctx {
    /// True while the workload should go on.
    pub(crate) fn running(&self) -> bool {
        !self.stop.load(Ordering::Acquire)
            && now_ns() < self.cfg.deadline_ns
            && self.ops.load(Ordering::Relaxed) < self.cfg.max_ops
    }

    pub(crate) fn rand(&self, n: u64) -> u64 {
        self.rng.lock().unwrap_or_else(|e| e.into_inner()).below(n)
    }

    pub(crate) fn range(&self, lo: u64, hi: u64) -> u64 {
        self.rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .range(lo, hi)
    }

    /// A value no other operation of the run writes.
    pub(crate) fn tag(&self) -> String {
        format!("w{}-{}", self.cfg.id, self.ops.load(Ordering::Relaxed))
    }

    /// Notes the server this client talks to when it changed (for the nemesis that
    /// isolates a client's member).
    fn note_server(&self) {
        let now = self.client.connected_server();
        let mut last = self.server.lock().unwrap_or_else(|e| e.into_inner());
        if *last != now {
            if let Some(s) = &now {
                self.out.event("server", json!({"addr": s}));
            }
            *last = now;
        }
    }

    /// Runs one call with the hang limit and records it as an `op` line: `f` its name,
    /// `fields` what was asked, `ok` what to record of a success.
    pub(crate) async fn op<T>(
        &self,
        f: &str,
        fields: Value,
        fut: impl std::future::Future<Output = aiozk::Result<T>>,
        ok: impl FnOnce(&T) -> Value,
    ) -> Outcome<T> {
        self.note_server();
        let sid = self.client.session_id();
        let t0 = now_ns();
        let result = tokio::time::timeout(OP_LIMIT, fut).await;
        let t1 = now_ns();
        self.ops.fetch_add(1, Ordering::Relaxed);
        let mut m = match fields {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        m.insert("type".into(), json!("op"));
        m.insert("f".into(), json!(f));
        m.insert("t0".into(), json!(t0));
        m.insert("t1".into(), json!(t1));
        m.insert("sid".into(), json!(sid));
        m.insert("sid1".into(), json!(self.client.session_id()));
        m.insert("lz".into(), json!(self.client.last_zxid()));
        let outcome = match result {
            Ok(Ok(v)) => {
                m.insert("r".into(), json!("ok"));
                if let Value::Object(extra) = ok(&v) {
                    m.extend(extra);
                }
                Outcome::Ok(v)
            }
            Ok(Err(e)) => {
                m.insert(
                    "r".into(),
                    json!(if definite(&e) { "fail" } else { "info" }),
                );
                m.insert("err".into(), json!(err_name(&e)));
                Outcome::Failed
            }
            Err(_) => {
                m.insert("r".into(), json!("hang"));
                Outcome::Hang
            }
        };
        self.out.line(m);
        outcome
    }

    /// Sleeps a little between operations, so histories stay small enough to check.
    pub(crate) async fn pace(&self, lo_ms: u64, hi_ms: u64) {
        tokio::time::sleep(Duration::from_millis(self.range(lo_ms, hi_ms))).await;
    }
}

/// True when the server (or the client's own validation) said no: nothing was applied.
/// Everything else (connection loss, timeouts, expiry while in flight) leaves the outcome
/// unknown.
pub(crate) fn definite(e: &Error) -> bool {
    match e {
        Error::RetriesExhausted { last, .. } => definite(last),
        Error::NoNode
        | Error::NodeExists
        | Error::BadVersion
        | Error::NotEmpty
        | Error::BadArguments
        | Error::NoAuth
        | Error::NoChildrenForEphemerals
        | Error::InvalidPath { .. }
        | Error::InvalidArgument(_)
        | Error::TransactionFailed { .. } => true,
        _ => false,
    }
}

/// A short name of an error for the history.
pub(crate) fn err_name(e: &Error) -> String {
    match e {
        Error::RetriesExhausted { last, .. } => format!("RetriesExhausted({})", err_name(last)),
        Error::TransactionFailed { index, error, .. } => {
            format!("TransactionFailed({index},{})", err_name(error))
        }
        other => {
            let s = format!("{other:?}");
            s.split(['(', ' ', '{']).next().unwrap_or("?").to_owned()
        }
    }
}

/// Where the workloads keep their nodes (the controller creates the bases).
pub(crate) fn ids_base() -> &'static str {
    ids::BASE
}
pub(crate) fn queue_base() -> &'static str {
    queue::BASE
}
pub(crate) fn lock_base() -> &'static str {
    lock::BASE
}
pub(crate) fn election_base() -> &'static str {
    lock::ELECTION
}
pub(crate) fn lock_data() -> &'static str {
    lock::DATA
}
pub(crate) fn counter_path() -> &'static str {
    counter::PATH
}
pub(crate) fn watch_base() -> &'static str {
    watch::BASE
}
pub(crate) fn register_keys() -> u64 {
    register::KEYS
}
pub(crate) fn register_path(k: u64) -> String {
    register::key_path(k)
}
pub(crate) fn watch_nodes() -> u64 {
    watch::NODES + 1
}
pub(crate) fn watch_node(k: u64) -> String {
    watch::node(k)
}
