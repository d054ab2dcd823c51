#!/usr/bin/env bash
# A sweep of seeded proof runs (scripts/proof.sh) and a table of their results.
#
#   scripts/proof-sweep.sh                 the short sweep run by scripts/test.sh: six
#                                          20 s runs across workloads, nemeses and both
#                                          clients (the proxy and rolling restarts run in
#                                          the mutant sweep), then the mutant sweep
#   scripts/proof-sweep.sh --long N SECS   N seeds of SECS seconds each, every seed with the
#                                          workload `all` and the nemesis `mixed` (the
#                                          table for the README comes from `--long 30 60`)
#
# Exits non-zero when any run reports a violation or a mutant escapes.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
ZK_RELEASES=${ZK_RELEASES:-3.9.5} scripts/install-zookeeper.sh
export AIOZK_PROOF_NO_INSTALL=1
runs=()
mutants=1
if [ "${1:-}" = --long ]; then
    n=${2:?--long N SECS}
    secs=${3:?--long N SECS}
    for seed in $(seq 1 "$n"); do
        runs+=("$seed all mixed rust $secs")
    done
    mutants=0
else
    runs=(
        "1 all mixed rust 20"
        "2 register partitions rust 20"
        "3 lock client-pause rust 20"
        "4 watch kill rust 20"
        "5 all loss python 20"
        "6 queue pause rust 20"
    )
fi
failed=0
total_ops=0
total_faults=0
total_violations=0
printf '| seed | workload | nemesis | client | s | ops | faults | violations |\n|---|---|---|---|---|---|---|---|\n' > /tmp/aiozk-proof-sweep.$$
for spec in "${runs[@]}"; do
    read -r seed workload nemesis client secs <<< "$spec"
    out=$(scripts/proof.sh --seed "$seed" --duration "$secs" --workload "$workload" \
        --nemesis "$nemesis" --client "$client" 2>&1) || true
    printf '%s\n' "$out"
    line=$(grep '^proof: ' <<< "$out" | tail -1) || true
    ops=$(sed -n 's/.* ops=\([0-9]*\).*/\1/p' <<< "$line")
    faults=$(sed -n 's/.* faults=\([0-9]*\).*/\1/p' <<< "$line")
    violations=$(sed -n 's/.* violations=\([0-9]*\).*/\1/p' <<< "$line")
    if [ -z "$violations" ]; then
        violations=error
        failed=1
    elif [ "$violations" != 0 ]; then
        failed=1
    fi
    total_ops=$((total_ops + ${ops:-0}))
    total_faults=$((total_faults + ${faults:-0}))
    [ "$violations" = error ] || total_violations=$((total_violations + violations))
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$seed" "$workload" "$nemesis" "$client" \
        "$secs" "${ops:-?}" "${faults:-?}" "$violations" >> /tmp/aiozk-proof-sweep.$$
done
caught=""
# AIOZK_PROOF_MUTANTS=0 leaves the mutant sweep out (about eight minutes on two cores).
if [ "$mutants" = 1 ] && [ "${AIOZK_PROOF_MUTANTS:-1}" != 0 ]; then
    out=$(scripts/proof.sh --mutants --duration 20 2>&1) || failed=1
    printf '%s\n' "$out"
    caught=$(grep '^mutants caught:' <<< "$out") || failed=1
fi
echo
cat /tmp/aiozk-proof-sweep.$$
rm -f /tmp/aiozk-proof-sweep.$$
echo "runs: ${#runs[@]}, operations: $total_ops, faults: $total_faults, violations: $total_violations"
[ -n "$caught" ] && echo "$caught"
echo "proof sweep took $(( $(date +%s) - started )) s"
exit "$failed"
