#!/usr/bin/env bash
# Starts a local ZooKeeper on a free loopback port, runs the getting-started example against
# it, and stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-zookeeper.sh
cargo build -q -p aiozk-testkit --bin zk-testkit
cargo build -q -p aiozk --example getting_started
fifo=$(mktemp -u)
mkfifo "$fifo"
# The server runs until its stdin closes: keep it open with a sleeping writer we control.
sleep infinity > "$fifo" &
holder=$!
target/debug/zk-testkit serve < "$fifo" > "$fifo.out" &
server=$!
trap 'kill $holder 2>/dev/null; wait $server 2>/dev/null; rm -f "$fifo" "$fifo.out"' EXIT
for _ in $(seq 1 300); do
  [ -s "$fifo.out" ] && break
  kill -0 $server 2>/dev/null || { echo "ZooKeeper failed to start" >&2; exit 1; }
  sleep 0.1
done
ZK_SERVERS=$(head -n1 "$fifo.out")
echo "ZooKeeper is up at $ZK_SERVERS" >&2
ZK_SERVERS="$ZK_SERVERS" target/debug/examples/getting_started
