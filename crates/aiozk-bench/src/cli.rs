//! The command line, shared by `aiozk-bench` and `aiozk-bench-heap`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::harness;
use crate::options::{Options, CLIENTS};
use crate::workload::{self, RunSpec};

/// Benchmark aiozk and other ZooKeeper clients side by side.
#[derive(Parser, Debug)]
#[command(name = "aiozk-bench")]
pub struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Start a server, run every workload with every client, write the report.
    Run {
        /// Tiny counts, one round, no warm-up: proves the harness works in seconds.
        #[arg(long)]
        quick: bool,
        /// Rounds of every (workload, client) pair [default: 5, quick: 1].
        #[arg(long)]
        rounds: Option<usize>,
        /// Comma-separated clients [default: all: ours,ours-eager,ours-plain,ours-metrics,zkc,java,
        /// kazoo,aiozk-py,aiozk-py-uvloop,aiozk-rs,aiozk-rs-uvloop].
        #[arg(long, value_delimiter = ',')]
        clients: Option<Vec<String>>,
        /// Comma-separated workloads [default: all].
        #[arg(long, value_delimiter = ',')]
        workloads: Option<Vec<String>>,
        /// Seconds per timed run [default: 3, quick: 0.2].
        #[arg(long)]
        seconds: Option<f64>,
        /// Sessions per run of the sessions workload [default: 1000, quick: 20].
        #[arg(long)]
        sessions: Option<usize>,
        /// Watches per run of the watch workloads [default: 100000, quick: 500].
        #[arg(long)]
        watches: Option<usize>,
        /// The Markdown report [default: crates/aiozk-bench/RESULTS.md, quick:
        /// target/bench/quick.md].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Wait (up to 20 minutes) for the load average to drop below this first; 0 to
        /// start at once [default: 0.5, quick: 0].
        #[arg(long)]
        max_load: Option<f64>,
    },
    /// Start the benchmark's server with its znodes and wait for Ctrl-C (for profiling).
    Serve {
        /// Children of the get_children node.
        #[arg(long, default_value_t = 10_000)]
        children: usize,
    },
    /// Run one workload with one Rust client and print JSON lines (used by `run`).
    Client {
        /// `ours` or `zkc`.
        #[arg(long)]
        client: String,
        /// The workload.
        #[arg(long)]
        workload: String,
        /// `host:port` of the server.
        #[arg(long)]
        server: String,
        /// Seconds of a timed workload.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Sessions or watches of a counted workload.
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// A tag for node names.
        #[arg(long, default_value = "x")]
        tag: String,
    },
}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Serve { children } => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
            .and_then(|rt| rt.block_on(harness::serve(children))),
        Cmd::Client {
            client,
            workload,
            server,
            seconds,
            count,
            tag,
        } => workload::run(&RunSpec {
            client,
            workload,
            server,
            seconds,
            count,
            tag,
        }),
        Cmd::Run {
            quick,
            rounds,
            clients,
            workloads,
            seconds,
            sessions,
            watches,
            out,
            max_load,
        } => {
            let root = harness::workspace_root();
            let opts = Options {
                quick,
                rounds: rounds.unwrap_or(if quick { 1 } else { 5 }),
                clients: clients
                    .unwrap_or_else(|| CLIENTS.iter().map(|c| c.0.to_owned()).collect()),
                workloads: workloads.unwrap_or_else(harness::all_workloads),
                seconds: seconds.unwrap_or(if quick { 0.2 } else { 3.0 }),
                children: if quick { 100 } else { 10_000 },
                sessions: sessions.unwrap_or(if quick { 20 } else { 1000 }),
                watches: watches.unwrap_or(if quick { 500 } else { 100_000 }),
                warmup_seconds: if quick { 0.4 } else { 20.0 },
                out: out.clone().unwrap_or_else(|| {
                    if quick {
                        root.join("target/bench/quick.md")
                    } else {
                        root.join("crates/aiozk-bench/RESULTS.md")
                    }
                }),
                json_out: out.map(|o| o.with_extension("json")).unwrap_or_else(|| {
                    root.join(if quick {
                        "target/bench/quick.json"
                    } else {
                        "target/bench/results.json"
                    })
                }),
                venv: root.join("target/bench-venv"),
                venv_rs: root.join("target/bench-venv-rs"),
                max_load: max_load.unwrap_or(if quick { 0.0 } else { 0.5 }),
            };
            let known = |list: &[String], all: &[&str], what: &str| match list
                .iter()
                .find(|x| !all.contains(&x.as_str()))
            {
                Some(x) => Err(format!("unknown {what} {x} (known: {})", all.join(", "))),
                None => Ok(()),
            };
            let names: Vec<&str> = CLIENTS.iter().map(|c| c.0).collect();
            let wl: Vec<&str> = workload::WORKLOADS.iter().map(|w| w.0).collect();
            known(&opts.clients, &names, "client")
                .and_then(|()| known(&opts.workloads, &wl, "workload"))
                .and_then(|()| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| e.to_string())?
                        .block_on(harness::run(opts))
                })
        }
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("aiozk-bench: {e}");
            1
        }
    }
}
