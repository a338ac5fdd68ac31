#!/usr/bin/env bash
# Durable single-row writes per second at 1, 10 and 100 concurrent writers,
# group commit beside one transaction per write, in one run. SQLite (WAL,
# synchronous=FULL) in a directory on the data disk; with --postgres also a
# throwaway durable PostgreSQL (fsync on) from tests/pg/pg_server.sh.
#   bench/storage/group_commit.sh [SECONDS] [--postgres]
# Prints one JSON line per run; results go in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_EACH=${1:-10}
PG=${2:-}
BIN=${BENCH_BIN:-build/release/bench/storage/group_commit_bench}
[ -x "$BIN" ] || { echo "build first: cmake --preset release && cmake --build --preset release"; exit 1; }
DIR=$(mktemp -d -p "${BENCH_DIR:-$PWD/build}")
PGDIR="$DIR/pg"
cleanup() { [ -n "$PG" ] && tests/pg/pg_server.sh stop "$PGDIR" || true; rm -rf "$DIR"; }
trap cleanup EXIT
echo "bench: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); data on $(df -h "$DIR" | tail -1 | awk '{print $1}')"
for writers in 1 10 100; do
  for batch in 1 512; do
    "$BIN" --backend sqlite --dir "$DIR" --writers "$writers" --seconds "$SECONDS_EACH" --max-batch "$batch"
  done
done
if [ "$PG" = "--postgres" ]; then
  tests/pg/pg_server.sh start "$PGDIR" --durable
  URL=$(cat "$PGDIR/url")
  for writers in 1 10 100; do
    for batch in 1 512; do
      "$BIN" --backend postgres --url "$URL" --writers "$writers" --seconds "$SECONDS_EACH" --max-batch "$batch"
    done
  done
fi
