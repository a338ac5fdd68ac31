#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan: the `fuzz` preset) and runs
# each for SECONDS (default 60) on its committed corpus. New inputs go to a
# scratch directory, so the committed corpus only changes by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
cmake --preset fuzz >/dev/null
# Only the fuzz targets (and what they link), not the whole tree.
mapfile -t names < <(grep -ho 'office_fuzzer(NAME [a-z0-9_]*' fuzz/*/CMakeLists.txt | awk '{print $2}')
cmake --build --preset fuzz -j "$(nproc)" --target "${names[@]/#/fuzz_}"
status=0
for short in "${names[@]}"; do
  name="fuzz_$short"
  fuzzer=$(find build/fuzz/fuzz -type f -executable -name "$name" | head -1)
  corpus="$(dirname "$(grep -l "office_fuzzer(NAME $short " fuzz/*/CMakeLists.txt | head -1)")/corpus"
  # A directory with several fuzzers keeps each one's seeds in corpus/<name>/.
  [ -d "$corpus/$short" ] && corpus="$corpus/$short"
  scratch=$(mktemp -d)
  echo "fuzz: $name for ${SECONDS_EACH}s (corpus: $corpus)"
  args=("$scratch")
  [ -d "$corpus" ] && args+=("$corpus")
  if ! "$fuzzer" -max_total_time="$SECONDS_EACH" -print_final_stats=1 -rss_limit_mb=2048 \
        "${args[@]}" > "build/fuzz/$name.log" 2>&1; then
    tail -50 "build/fuzz/$name.log"
    echo "fuzz: $name FAILED"
    status=1
  else
    grep -E "stat::number_of_executed_units|Done" "build/fuzz/$name.log" | tail -2
  fi
  rm -rf "$scratch"
done
exit $status
