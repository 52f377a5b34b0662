#!/usr/bin/env bash
# `make demo`: set up (packages, npm dependencies, build), then play the user scenarios in a
# throwaway lab (yard demo). Exit code 0 iff every scenario passed; the lab is always removed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node dist/cli/main.js demo "$@"
