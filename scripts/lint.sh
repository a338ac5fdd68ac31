#!/usr/bin/env bash
# make lint: clang-format check, then clang-tidy (.clang-tidy: hand-picked checks,
# all errors) over our sources, using build/dev's compile_commands.json.
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t files < <(git ls-files '*.cpp' '*.hpp')
echo "lint: clang-format on ${#files[@]} files"
clang-format --dry-run --Werror "${files[@]}"

[ -f build/dev/compile_commands.json ] || { echo "lint: run 'make build' first"; exit 1; }
# Sources only (tests follow gtest idioms clang-tidy dislikes); headers are
# checked through them (HeaderFilterRegex).
mapfile -t srcs < <(git ls-files 'src/*.cpp' 'cmd/*.cpp' | grep -v '_test\.cpp$')
echo "lint: clang-tidy on ${#srcs[@]} sources"
run-clang-tidy -quiet -p build/dev -j "$(nproc)" "${srcs[@]}" > build/clang-tidy.log 2>&1 || {
  grep -E "error:|warning:" build/clang-tidy.log | sort -u | head -100
  echo "lint: clang-tidy found problems (full log: build/clang-tidy.log)"
  exit 1
}
echo "lint: clean"
