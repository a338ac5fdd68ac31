#!/usr/bin/env bash
# Installs everything office-suite needs to build, run and test, from Debian's
# packages and the npm registry only. Idempotent: a second run does nothing
# when everything is present. This is the one list of dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config clang clang-tidy clang-format
  libclang-rt-14-dev
  # libraries
  libboost1.81-dev libboost-url1.81-dev libsqlite3-dev libpq-dev libspdlog-dev libfmt-dev
  nlohmann-json3-dev
  libyaml-cpp-dev libcli11-dev libsodium-dev libssl-dev zlib1g-dev
  libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc
  libgtest-dev libgmock-dev libbenchmark-dev
  # tools used by tests and benchmarks
  wrk curl python3 hyperfine
  # the browser the end-to-end tests drive (tests/e2e, playwright-core), and
  # fonts for the emoji and CJK text in its screenshots
  chromium fonts-noto-color-emoji fonts-noto-cjk
  # a throwaway PostgreSQL server per test run (tests/pg/pg_server.sh)
  postgresql
  # the event bus on NATS JetStream (src/bus/nats_*, tests start their own nats-server -js)
  nats-server libnats-dev
  # the allocator of office-suite and the benchmarks (CMakeLists.txt, OFFICE_MALLOC)
  libjemalloc-dev
)
# Node.js: Debian's nodejs+npm unless a Node.js with npm is already there
# (some images ship NodeSource's nodejs, which bundles npm and conflicts with Debian's npm).
command -v node >/dev/null && command -v npm >/dev/null || APT_PACKAGES+=(nodejs npm)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm packages (pinned in package.json / package-lock.json).
if [ -f package.json ]; then
  if [ ! -d node_modules ] || [ package.json -nt node_modules/.setup-stamp ] || \
     { [ -f package-lock.json ] && [ package-lock.json -nt node_modules/.setup-stamp ]; }; then
    echo "setup: installing npm packages"
    if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error
    else npm install --no-audit --no-fund --loglevel=error; fi
    touch node_modules/.setup-stamp
  fi
fi
