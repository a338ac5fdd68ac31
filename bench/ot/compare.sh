#!/usr/bin/env bash
# Runs the OT replay comparison (C++ vs npm ot-text-unicode vs Yjs) on the
# release build. Usage: bench/ot/compare.sh [TRACE.json.gz ...]
# Env: BUILD_DIR (default build/release), REPEAT (10), JS_REPEAT (1).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build/release}
exec node bench/ot/compare.mjs --ot-replay "$BUILD_DIR/cmd/ot-replay/ot-replay" \
  --repeat "${REPEAT:-10}" --js-repeat "${JS_REPEAT:-1}" "$@"
