#!/usr/bin/env bash
# Fails when a configuration key of the binary is not in docs/configuration.md.
set -euo pipefail
bin=$1 doc=$2
n=0 missing=0
while read -r key _; do
  n=$((n + 1))
  grep -qF "\`$key\`" "$doc" || { echo "missing in $doc: $key"; missing=$((missing + 1)); }
done < <("$bin" config-keys)
[ "$n" -gt 0 ] || { echo "config-keys printed nothing"; exit 1; }
echo "$((n - missing)) passed, $missing failed"
[ "$missing" -eq 0 ]
