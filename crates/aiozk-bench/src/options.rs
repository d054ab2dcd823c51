//! What a harness run is asked to measure: the clients it knows, and its options.

use std::path::PathBuf;

/// Every client the harness knows: name, description, implemented by the Python script.
pub const CLIENTS: &[(&str, &str, bool)] = &[
    (
        "ours",
        "aiozk (this crate), tokio current-thread runtime",
        false,
    ),
    (
        "ours-eager",
        "aiozk (this crate) writing every request at once (`max_write_delay(0)`)",
        false,
    ),
    (
        "ours-plain",
        "aiozk (this crate) sending every read alone (`coalesce_reads(false)`)",
        false,
    ),
    (
        "ours-metrics",
        "aiozk (this crate) with a metrics recorder installed (`metrics-exporter-prometheus`)",
        false,
    ),
    (
        "zkc",
        "zookeeper-client (Rust), tokio current-thread runtime",
        false,
    ),
    (
        "java",
        "the ZooKeeper Java client 3.9.5 (asynchronous API, warmed up in the same process first)",
        false,
    ),
    ("kazoo", "kazoo (Python, threads)", true),
    ("aiozk-py", "aiozk (Python, asyncio)", true),
    ("aiozk-py-uvloop", "aiozk (Python, asyncio on uvloop)", true),
    (
        "aiozk-rs",
        "aiozk-rs: this workspace's Python package (aiozk's API on this crate), asyncio",
        true,
    ),
    (
        "aiozk-rs-uvloop",
        "aiozk-rs: this workspace's Python package, asyncio on uvloop",
        true,
    ),
];

/// Options of a harness run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Tiny counts and one round: proves the harness works, measures nothing.
    pub quick: bool,
    /// Rounds of every (workload, client) pair.
    pub rounds: usize,
    /// Clients to run.
    pub clients: Vec<String>,
    /// Workloads to run.
    pub workloads: Vec<String>,
    /// Seconds per timed run.
    pub seconds: f64,
    /// Children of the get_children node.
    pub children: usize,
    /// Sessions opened by the sessions workload.
    pub sessions: usize,
    /// Watches registered by the watch workloads.
    pub watches: usize,
    /// Seconds of warm-up load before the first measured run.
    pub warmup_seconds: f64,
    /// Where the Markdown report goes.
    pub out: PathBuf,
    /// Where the raw JSON results go.
    pub json_out: PathBuf,
    /// The Python virtual environment of the PyPI clients (created when missing).
    pub venv: PathBuf,
    /// The Python virtual environment of this workspace's package, `aiozk-rs` (created when
    /// missing; the package is rebuilt, in release mode, at every run).
    pub venv_rs: PathBuf,
    /// Wait until the 1-minute load average is below this before starting (0: don't wait).
    pub max_load: f64,
}
