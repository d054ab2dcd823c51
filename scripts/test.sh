#!/usr/bin/env bash
# The whole test suite: installs ZooKeeper if needed, checks formatting and lints, builds every
# test once, then runs
# - every test (unit, property and integration tests against real servers, the Python
#   package's suites) on ZooKeeper 3.9.5;
# - the protocol, session, watch, fault and recipe tests again on the newest 3.8.x that Maven
#   Central serves (3.8.6: the parent pom of 3.8.7 is not served) and on Debian's 3.8.0.
# Everything is built with the Kerberos feature (`gssapi`) as well. Its test waits for
# tickets to age (a little over two minutes, nearly idle), so it runs beside the first leg.
# Each leg prints how long it took.
set -euo pipefail
cd "$(dirname "$0")/.."
ZK_MAIN=3.9.5
ZK_38=3.8.6
ZK_RELEASES="$ZK_MAIN $ZK_38" scripts/install-zookeeper.sh

legs=()
leg() { # leg NAME SECONDS_AT_START
  local took=$((SECONDS - $2))
  legs+=("$1: $((took / 60)) min $((took % 60)) s")
  echo "=== leg $1 took $((took / 60)) min $((took % 60)) s ===" >&2
}

features=aiozk/gssapi,aiozk-cli/gssapi,aiozk-py/gssapi
# The long Kerberos test (ignored by a plain `cargo test`), by name: run beside the first leg.
long_kerberos=a_session_outlives_its_tickets_through_renewals_and_reconnects

t=$SECONDS
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --features "$features" -- -D warnings
# The default build (no Kerberos) of the library and of zk compiles cleanly too.
cargo clippy -p aiozk -p aiozk-cli -p aiozk-py --lib --bins -- -D warnings
scripts/check-packaging.sh --suite
cargo test --workspace --all-targets --features "$features" --no-run -q
leg "checks and build" "$t"

# The Kerberos session test's binary, started directly (a second cargo would wait for the
# first one's lock on the build directory).
kerberos_bin=$(cargo test --workspace --features "$features" --test kerberos --no-run \
  --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("executable") and m["target"]["src_path"].endswith("crates/aiozk/tests/kerberos.rs"):
        print(m["executable"])')
kerberos_log=$(mktemp)
[ -x "$kerberos_bin" ] || { echo "no Kerberos test binary" >&2; exit 1; }
(cd crates/aiozk && ZK_VERSION=$ZK_MAIN "$kerberos_bin" --ignored --exact "$long_kerberos" --nocapture) \
  >"$kerberos_log" 2>&1 &
kerberos_pid=$!

t=$SECONDS
ZK_VERSION=$ZK_MAIN cargo test --workspace --all-targets --features "$features"
ZK_VERSION=$ZK_MAIN cargo test --workspace --doc --features "$features"
ZK_VERSION=$ZK_MAIN crates/aiozk-py/scripts/test.sh
kerberos_ok=0
wait "$kerberos_pid" || kerberos_ok=$?
echo "=== the Kerberos session test (beside the leg) ===" >&2
cat "$kerberos_log" >&2
rm -f "$kerberos_log"
[ "$kerberos_ok" = 0 ] || { echo "the Kerberos session test failed" >&2; exit 1; }
leg "ZooKeeper $ZK_MAIN, everything (Kerberos beside it)" "$t"

# The tests whose behaviour depends on the server: the protocol (ops, multi, ACLs, chroot,
# the behaviour of each release), sessions and faults, watches, and the recipes. Selected
# with --workspace, so that they are the binaries built above (a -p selection could resolve
# features differently and build again).
again=(--test smoke --test ops --test multi --test acl --test chroot --test versions
       --test watches --test faults --test observe --test ownership)
for v in "$ZK_38" debian; do
  t=$SECONDS
  ZK_VERSION=$v cargo test --workspace --features "$features" "${again[@]}"
  leg "ZooKeeper $v, protocol/session/watch/fault/recipe tests" "$t"
done

# Seeded runs under faults on a partitioned ensemble. The mutant sweep (every deliberate
# client bug must be caught; about six minutes with its build) does not fit in the suite's
# 25 minutes on two cores: AIOZK_PROOF_MUTANTS=1 adds it, `scripts/proof.sh --mutants` runs
# it alone.
t=$SECONDS
AIOZK_PROOF_MUTANTS=${AIOZK_PROOF_MUTANTS:-0} scripts/proof-sweep.sh
leg "proof under faults" "$t"

echo "=== CI legs ===" >&2
printf '  %s\n' "${legs[@]}" >&2
