#!/usr/bin/env bash
# The whole test suite: unit tests (pure code) and lab tests (real kernel, inside
# throwaway lab namespaces), then a check that the machine's real namespace is unchanged.
# Ends with the line `N passed, N failed`.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1

export CI="${CI:-true}"
report=$(mktemp /tmp/yard-vitest.XXXXXX.json)
before=$(mktemp /tmp/yard-hostns.XXXXXX)
node dist/lab/hostcheck.js snapshot > "$before"

npx --no-install vitest run --reporter=default --reporter=json --outputFile="$report" "$@"
vitest_rc=$?

host_ok=1
if ! node dist/lab/hostcheck.js compare "$before"; then host_ok=0; fi

node -e '
  const fs = require("fs");
  let r = { numPassedTests: 0, numFailedTests: 0, numPendingTests: 0, numTodoTests: 0 };
  try { r = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); } catch { r.numFailedTests = 1; console.error("no vitest report: the runner itself failed"); }
  const hostOk = process.argv[2] === "1";
  const runnerOk = process.argv[3] === "0";
  const passed = r.numPassedTests + (hostOk ? 1 : 0);
  // A runner that failed without a failing test (a config error, an unhandled error, a
  // file that did not load) is a failure too, never a silent pass.
  const runnerFailure = !runnerOk && r.numFailedTests === 0 ? 1 : 0;
  if (runnerFailure) console.log("the test runner itself failed (see above)");
  const failed = r.numFailedTests + (hostOk ? 0 : 1) + runnerFailure;
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`real namespace unchanged: ${hostOk ? "yes" : "NO"}`);
  console.log(`${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$report" "$host_ok" "$vitest_rc"
rm -f "$report" "$before"
[ "$vitest_rc" = 0 ] && [ "$host_ok" = 1 ]
