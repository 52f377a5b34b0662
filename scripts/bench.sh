#!/usr/bin/env bash
# `make bench`: set up, then measure the core engine in a throwaway lab (yard bench): prints
# the table, writes bench/results/latest.md and the summary in docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node dist/bench/parts.js "$@"
