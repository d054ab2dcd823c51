#!/usr/bin/env bash
# The client benchmark: aiozk, zookeeper-client (Rust), kazoo, aiozk (Python) and aiozk on
# uvloop, side by side against one real ZooKeeper server; writes crates/aiozk-bench/RESULTS.md.
# Options go to `aiozk-bench run` (`--quick` for a smoke run, `--help` for the rest).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-zookeeper.sh
cargo build --release -p aiozk-bench --bins
exec target/release/aiozk-bench run "$@"
