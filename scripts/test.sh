#!/usr/bin/env bash
# The whole test suite: installs ZooKeeper if needed, checks formatting and lints, and runs
# every test (unit, property and integration tests against real servers).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-zookeeper.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace --all-targets
cargo test --workspace --doc
scripts/check-packaging.sh
crates/aiozk-py/scripts/test.sh
