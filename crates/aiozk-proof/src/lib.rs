//! Proof under faults: seeded runs of the aiozk client (Rust or Python) against a real
//! ZooKeeper ensemble in a private network namespace, with partitions, packet loss,
//! crashes, pauses, client pauses, proxy stalls and rolling restarts, and checkers for the
//! recorded histories.
//!
//! One run (`aiozk-proof run`, or `scripts/proof.sh`) has three kinds of process:
//! * the **outer** process creates a network namespace, runs the controller inside it and
//!   removes the namespace afterwards;
//! * the **controller** starts the ensemble (members on 127.0.0.2 and up, each as its own
//!   user), the workers and the nemesis, heals everything at the end, reads the final
//!   state and checks the history;
//! * the **workers**, one client session each (127.0.0.101 and up), drive a workload and
//!   print every operation and event as a JSON line.
//!
//! Everything a run produces is written under its output directory: `schedule.json` (the
//! faults drawn from the seed), `faults.jsonl` (the faults as applied, with times and the
//! targets they resolved to), `history.jsonl`, `final.json`, `report.txt`.

mod check;
mod clock;
mod controller;
mod mutants;
mod net;
mod netns;
mod rng;
mod schedule;
mod worker;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// What the workers do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Workload {
    /// CAS registers: reads, writes, compare-and-set.
    Register,
    /// Unique ids from protected sequential creates.
    Ids,
    /// The counter recipe.
    Counter,
    /// The queue recipe.
    Queue,
    /// Locks with fenced writes.
    Lock,
    /// Leader election with fenced writes.
    Election,
    /// One-shot and persistent watches against the servers' transaction logs.
    Watch,
    /// Several workloads side by side.
    All,
}

impl Workload {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Workload::Register => "register",
            Workload::Ids => "ids",
            Workload::Counter => "counter",
            Workload::Queue => "queue",
            Workload::Lock => "lock",
            Workload::Election => "election",
            Workload::Watch => "watch",
            Workload::All => "all",
        }
    }

    /// The workload of each worker.
    pub(crate) fn workers(self, client: ClientKind) -> Vec<Workload> {
        use Workload::*;
        if client == ClientKind::Python {
            // The Python worker drives the workloads whose API the package exposes.
            return match self {
                Register => vec![Register; 4],
                Ids | Counter => vec![self; 3],
                All => vec![Register, Register, Register, Ids, Counter],
                _ => Vec::new(),
            };
        }
        match self {
            Register => vec![Register; 4],
            Lock | Election | Ids | Counter | Queue => vec![self; 3],
            Watch => vec![Watch; 4],
            All => vec![
                Register, Register, Register, Lock, Lock, Ids, Counter, Queue, Queue,
            ],
        }
    }
}

/// Which client the workers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ClientKind {
    /// The Rust crate.
    Rust,
    /// The Python package, built from crates/aiozk-py.
    Python,
}

impl ClientKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            ClientKind::Rust => "rust",
            ClientKind::Python => "python",
        }
    }
}

/// The options of one run.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct RunArgs {
    /// The seed: the same seed gives the same fault schedule.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Length of the run in seconds (faults stop five seconds before).
    #[arg(long, default_value_t = 30)]
    pub(crate) duration: u64,
    #[arg(long, value_enum, default_value_t = Workload::All)]
    pub(crate) workload: Workload,
    /// One of: none, partition-halves, partition-leader, partition-client-member,
    /// isolate-client, bridge, loss, kill, pause, client-pause, proxy, proxy-cut, rolling,
    /// partitions, mixed.
    #[arg(long, default_value = "mixed")]
    pub(crate) nemesis: String,
    #[arg(long, value_enum, default_value_t = ClientKind::Rust)]
    pub(crate) client: ClientKind,
    /// A deliberate client bug to switch on (needs a build with the `mutants` feature).
    #[arg(long)]
    pub(crate) mutant: Option<String>,
    /// Ensemble size: 3 or 5.
    #[arg(long, default_value_t = 3)]
    pub(crate) members: usize,
    /// Operation budget of each worker.
    #[arg(long, default_value_t = 5000)]
    pub(crate) max_ops: u64,
    /// Session timeout the workers ask for, in milliseconds.
    #[arg(long, default_value_t = 3000)]
    pub(crate) session_timeout_ms: u64,
    /// The largest session timeout the servers grant, in milliseconds.
    #[arg(long, default_value_t = 20_000)]
    pub(crate) server_max_session_ms: u64,
    /// Where the run's directory is created.
    #[arg(long, default_value = "target/proof")]
    pub(crate) out: PathBuf,
}

impl RunArgs {
    /// The name of the run's directory.
    pub(crate) fn run_name(&self) -> String {
        let mut name = format!(
            "s{}-{}-{}-{}",
            self.seed,
            self.workload.name(),
            self.nemesis,
            self.client.name()
        );
        if let Some(m) = &self.mutant {
            name.push('-');
            name.push_str(m);
        }
        name
    }

    pub(crate) fn to_args(&self) -> Vec<String> {
        let mut v = vec![
            "--seed".into(),
            self.seed.to_string(),
            "--duration".into(),
            self.duration.to_string(),
            "--workload".into(),
            self.workload.name().into(),
            "--nemesis".into(),
            self.nemesis.clone(),
            "--client".into(),
            self.client.name().into(),
            "--members".into(),
            self.members.to_string(),
            "--max-ops".into(),
            self.max_ops.to_string(),
            "--session-timeout-ms".into(),
            self.session_timeout_ms.to_string(),
            "--server-max-session-ms".into(),
            self.server_max_session_ms.to_string(),
            "--out".into(),
            self.out.display().to_string(),
        ];
        if let Some(m) = &self.mutant {
            v.push("--mutant".into());
            v.push(m.clone());
        }
        v
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "aiozk-proof",
    about = "Seeded fault-injection runs of aiozk over a real ZooKeeper ensemble"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// One seeded run in a fresh network namespace.
    Run(RunArgs),
    /// Every mutant with the workload and nemesis meant to catch it.
    Mutants {
        /// Length of each run in seconds.
        #[arg(long, default_value_t = 20)]
        duration: u64,
        #[arg(long, default_value = "target/proof")]
        out: PathBuf,
        /// Only these mutants (comma-separated names).
        #[arg(long)]
        only: Option<String>,
    },
    /// The controller, inside the namespace (started by `run`).
    #[command(hide = true)]
    Inner(RunArgs),
    /// One worker (started by the controller).
    #[command(hide = true)]
    Worker {
        #[arg(long)]
        id: u32,
        #[arg(long, value_enum)]
        workload: Workload,
        #[arg(long)]
        seed: u64,
        #[arg(long)]
        connect: String,
        #[arg(long)]
        session_timeout_ms: u64,
        #[arg(long)]
        deadline_ns: u64,
        #[arg(long)]
        max_ops: u64,
        #[arg(long)]
        mutant: Option<String>,
    },
}

/// Runs the command line; returns the exit code.
pub fn main() -> u8 {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Run(args) => netns::outer(&args),
        Cmd::Mutants {
            duration,
            out,
            only,
        } => mutants::sweep(duration, &out, only.as_deref()),
        Cmd::Inner(args) => controller::inner(args),
        Cmd::Worker {
            id,
            workload,
            seed,
            connect,
            session_timeout_ms,
            deadline_ns,
            max_ops,
            mutant,
        } => {
            if let Some(m) = mutant {
                if let Err(e) = mutants::activate(&m) {
                    eprintln!("worker {id}: {e}");
                    return 2;
                }
            }
            worker::run(worker::WorkerConfig {
                id,
                workload,
                seed,
                connect,
                session_timeout_ms,
                deadline_ns,
                max_ops,
            })
        }
    }
}
