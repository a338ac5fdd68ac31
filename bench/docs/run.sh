#!/usr/bin/env bash
# ShareDB load: starts a server on a free loopback port with fresh state, runs
# sharedb_load against it with the server's pid (its CPU is reported beside the
# generator's) and prints the generator's JSON line(s) and summary. Results and
# how to read them: docs/benchmarks.md, "Documents: ShareDB load".
#
#   bench/docs/run.sh stock [sharedb_load options...]   # npm sharedb 7, in memory (node)
#   bench/docs/run.sh ours  [sharedb_load options...]   # office-suite serve, /sharedb
#
# Examples:
#   bench/docs/run.sh stock --editors 100 --duration 20
#   bench/docs/run.sh ours --docs 1000 --editors 2 --duration 20 --threads 2
#   bench/docs/run.sh ours --ramp 50,100,200,300,500 --duration 15
#
# Without --doc-ids the documents are created through ShareDB (--create). For
# `ours` the script logs in as the bootstrap admin and passes the access token
# (--token; add --token-in-query to send it as access_token= instead).
# Variables: OFFICE_BIN (default: build/release's office-suite, else build/dev's
# with a warning: sanitizer builds are not for figures), SHAREDB_LOAD_BIN,
# SHAREDB_PATH (default /sharedb).
set -euo pipefail
cd "$(dirname "$0")/../.."
MODE=${1:-}
case "$MODE" in stock | ours) shift ;; *)
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
  ;;
esac
LOAD=${SHAREDB_LOAD_BIN:-build/release/bench/docs/sharedb_load}
[ -x "$LOAD" ] || { echo "build first: cmake --preset release && cmake --build --preset release --target sharedb_load"; exit 1; }
SPATH=${SHAREDB_PATH:-/sharedb}

args=("$@")
label=$MODE
create=(--create)
for a in "$@"; do
  [ "$a" = --doc-ids ] && create=()
  [ "$a" = --label ] && label=""
done
[ -n "$label" ] && args+=(--label "$label")

# One file descriptor per connection on each side.
ulimit -n "$(ulimit -Hn)"

DIR=$(mktemp -d)
PID=
# shellcheck disable=SC2317  # called by the trap
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$DIR"
}
trap cleanup EXIT

token=()
if [ "$MODE" = stock ]; then
  command -v node >/dev/null || { echo "node missing: run scripts/setup.sh"; exit 1; }
  [ -d node_modules/sharedb ] || { echo "npm package sharedb missing: run scripts/setup.sh"; exit 1; }
  node bench/docs/sharedb_server.mjs --port-file "$DIR/port" --path "$SPATH" 2>"$DIR/server.log" &
  PID=$!
else
  BIN=${OFFICE_BIN:-}
  if [ -z "$BIN" ]; then
    for b in build/release/cmd/office-suite/office-suite build/dev/cmd/office-suite/office-suite; do
      [ -x "$b" ] && { BIN=$b; break; }
    done
  fi
  if [ -z "$BIN" ] || [ ! -x "$BIN" ]; then
    echo "build first: make build-release (or set OFFICE_BIN)"
    exit 1
  fi
  case "$BIN" in */dev/*) echo "run.sh: warning: $BIN is the sanitizer build; figures are not comparable" >&2 ;; esac
  # OFFICE_BIN is this script's own variable, not a server key (the server refuses unknown OFFICE_*).
  env -u OFFICE_BIN OFFICE_ADMIN_PASSWORD=bench-password-1 OFFICE_LOG_LEVEL="${OFFICE_LOG_LEVEL:-warn}" \
    "$BIN" serve --listen 127.0.0.1:0 --data-dir "$DIR/data" --port-file "$DIR/port" 2>"$DIR/server.log" &
  PID=$!
fi
for _ in $(seq 100); do [ -s "$DIR/port" ] && break; sleep 0.1; done
[ -s "$DIR/port" ] || { echo "the server did not start:"; cat "$DIR/server.log"; exit 1; }
PORT=$(cat "$DIR/port")
if [ "$MODE" = ours ]; then
  TOKEN=$(curl -sf -X POST "http://127.0.0.1:$PORT/api/v1/auth/login" \
    -d '{"email":"admin@example.com","password":"bench-password-1"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])')
  token=(--token "$TOKEN")
fi

echo "bench: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), server $MODE (pid $PID), load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
rc=0
"$LOAD" --url "ws://127.0.0.1:$PORT$SPATH" --server-pid "$PID" "${create[@]}" "${token[@]}" "${args[@]}" || rc=$?
if [ "$rc" -ne 0 ] && [ -s "$DIR/server.log" ]; then
  echo "--- server log (last 20 lines)" >&2
  tail -20 "$DIR/server.log" >&2
fi
exit "$rc"
