#!/usr/bin/env bash
# Proof under faults: one seeded run of a workload against a real 3-member ZooKeeper
# ensemble in a private network namespace, with a nemesis injecting faults, then the
# checkers. Needs root, iproute2, nftables, setpriv and java (the ZooKeeper install of
# scripts/install-zookeeper.sh).
#
#   scripts/proof.sh [--seed N] [--duration SECS] [--workload NAME] [--nemesis NAME]
#                    [--client rust|python] [--mutant NAME] [--members 3|5]
#   scripts/proof.sh --mutants [--duration SECS] [--only a,b]
#
# Prints one summary line `proof: seed=N workload=W nemesis=X client=C ops=... faults=...
# violations=K` and exits non-zero when K > 0; the history, the fault schedule and the
# checker's report are under target/proof/<run>/. `--mutants` runs every mutant with the
# workload and nemesis meant to catch it and prints `mutants caught: K of M`.
set -euo pipefail
cd "$(dirname "$0")/.."
target=$(realpath -m "${CARGO_TARGET_DIR:-target}")
mode=run
features=()
python=0
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --mutants) mode=mutants ;;
        --mutant) features=(--features mutants); args+=("$1" "$2"); shift ;;
        --client) [ "$2" = python ] && python=1; args+=("$1" "$2"); shift ;;
        *) args+=("$1") ;;
    esac
    shift
done
if [ "$mode" = mutants ]; then
    features=(--features mutants)
fi

[ -n "${AIOZK_PROOF_NO_INSTALL:-}" ] || ZK_RELEASES=${ZK_RELEASES:-3.9.5} scripts/install-zookeeper.sh
# The network tools of the namespace (Debian's packages), when missing.
if ! command -v nft > /dev/null || ! command -v ip > /dev/null || ! command -v setpriv > /dev/null; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nftables iproute2 util-linux > /dev/null
fi

cargo build -q -p aiozk-proof "${features[@]}"

if [ "$python" = 1 ]; then
    # The Python package as users get it: a wheel built by maturin, in the venv that
    # crates/aiozk-py/scripts/test.sh also uses.
    venv=${AIOZK_PY_VENV:-$target/aiozk-pyo3-venv}
    py=$venv/bin/python
    if ! { [ -x "$py" ] && (cd /tmp && "$py" -c 'import aiozk._aiozk' 2>/dev/null); }; then
        [ -x "$py" ] || python3 -m venv "$venv"
        "$py" -m pip install -q maturin
        rm -rf "$target/aiozk-proof-wheels"
        "$venv/bin/maturin" build -q -o "$target/aiozk-proof-wheels" \
            --manifest-path crates/aiozk-py/Cargo.toml --interpreter "$py"
        "$py" -m pip install -q --force-reinstall --no-deps "$target"/aiozk-proof-wheels/aiozk_rs-*.whl
    fi
    export AIOZK_PROOF_PYTHON=$py
fi

if [ "$mode" = mutants ]; then
    exec "$target/debug/aiozk-proof" mutants --out "$target/proof" "${args[@]}"
fi
exec "$target/debug/aiozk-proof" run --out "$target/proof" "${args[@]}"
