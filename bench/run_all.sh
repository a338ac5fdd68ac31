#!/usr/bin/env bash
# `make bench`: every benchmark, release build, one after another (they share
# the machine's cores, so never in parallel). Results and how to read them:
# docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== OT (Google Benchmark)"
build/release/bench/ot/ot_bench --benchmark_min_time=0.5
echo "== HTTP: GET /api/v1/users/me (wrk)"
bench/http/users_me.sh 10
echo "== storage: group commit (SQLite and PostgreSQL)"
bench/storage/group_commit.sh 5 --postgres
echo "== documents: ShareDB load, stock ShareDB 7, 50 editors on one document"
# Ours as well once /sharedb lands: bench/docs/run.sh ours --editors 50 --duration 10
bench/docs/run.sh stock --editors 50 --duration 10
