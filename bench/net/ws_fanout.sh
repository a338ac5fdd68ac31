#!/usr/bin/env bash
# One message broadcast to many local WebSockets (default 10,000), and the
# server's memory per idle connection. Starts `ws_fanout server` (release
# build), then `ws_fanout client` against it; prints the client's report.
# Results go in docs/benchmarks.md.
#   bench/net/ws_fanout.sh [CONNECTIONS] [ROUNDS] [MESSAGE_BYTES]
set -euo pipefail
cd "$(dirname "$0")/../.."
CONNS=${1:-10000}
ROUNDS=${2:-100}
SIZE=${3:-256}
BIN=${WS_FANOUT_BIN:-build/release/bench/net/ws_fanout}
[ -x "$BIN" ] || { echo "build first: cmake --build --preset release --target ws_fanout"; exit 1; }
# One file descriptor per socket on each side (plus the warm-up connections).
ulimit -n "$(ulimit -Hn)"
need=$((CONNS + 1000))
[ "$(ulimit -n)" -ge "$need" ] || { echo "need ulimit -n >= $need (hard limit $(ulimit -Hn))"; exit 1; }
DIR=$(mktemp -d)
"$BIN" server --port-file "$DIR/port" 2>"$DIR/server.log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 100); do [ -s "$DIR/port" ] && break; sleep 0.1; done
[ -s "$DIR/port" ] || { cat "$DIR/server.log"; exit 1; }
echo "bench: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), ulimit -n $(ulimit -n), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$BIN" client --port "$(cat "$DIR/port")" --server-pid "$PID" --connections "$CONNS" \
  --rounds "$ROUNDS" --size "$SIZE"
