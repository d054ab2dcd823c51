//! A benchmark that measures aiozk and other ZooKeeper clients side by side, in the same
//! run, against the same real server, and reports ratios.
//!
//! `scripts/bench.sh` (or `aiozk-bench run`) is the one command; see the README's
//! "Performance" section. `aiozk-bench client` runs one workload with one Rust client and
//! prints JSON lines; `python/bench_clients.py` does the same for the Python clients.

pub mod cli;
pub mod harness;
pub mod java;
pub mod options;
pub mod report;
pub mod sample;
pub mod sys;
pub mod workload;
