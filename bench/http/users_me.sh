#!/usr/bin/env bash
# wrk against GET /api/v1/users/me with a valid token: 2 threads, 64
# connections, keep-alive. Starts a release-built server on a free port with a
# fresh data dir; prints wrk's report. Results go in docs/benchmarks.md.
#   bench/http/users_me.sh [DURATION_S] [extra `office-suite serve` env, e.g. OFFICE_SERVER_ACCESS_LOG=false]
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-15}
shift || true
BIN=${OFFICE_BIN:-build/release/cmd/office-suite/office-suite}
[ -x "$BIN" ] || { echo "build first: make build-release"; exit 1; }
command -v wrk >/dev/null || { echo "wrk missing: run scripts/setup.sh"; exit 1; }
DIR=$(mktemp -d)
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
# OFFICE_BIN is this script's own variable, not a server key (the server refuses unknown OFFICE_*).
env -u OFFICE_BIN OFFICE_ADMIN_PASSWORD=bench-password-1 OFFICE_LOG_LEVEL=${OFFICE_LOG_LEVEL:-info} "$@" \
  "$BIN" serve --listen 127.0.0.1:0 --data-dir "$DIR" --port-file "$DIR/port" 2>"$DIR/server.log" &
PID=$!
for _ in $(seq 100); do [ -s "$DIR/port" ] && break; sleep 0.1; done
[ -s "$DIR/port" ] || { cat "$DIR/server.log"; exit 1; }
PORT=$(cat "$DIR/port")
TOKEN=$(curl -sf -X POST "http://127.0.0.1:$PORT/api/v1/auth/login" \
  -d '{"email":"admin@example.com","password":"bench-password-1"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])')
curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/v1/users/me" >/dev/null
echo "bench: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), env: ${*:-default config}"
wrk -t2 -c64 -d"${DURATION}s" --latency -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/v1/users/me"
