#!/usr/bin/env bash
# The whole test suite: unit tests (pure code) and lab tests (real kernel, inside
# throwaway lab namespaces), then a check that the machine's real namespace is unchanged.
# Ends with the line `N passed, N failed`. A skipped or todo test counts as failed, and a
# full run (no arguments) fails when it executes fewer tests than test/expected-count.txt
# says. Arguments go to vitest (e.g. `--project unit`, or test files).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1

export CI="${CI:-true}"
# Every process the run starts inherits this tag: the host check finds any left running.
export YARD_TEST_RUN="${YARD_TEST_RUN:-$(date +%s)-$$}"
report=$(mktemp /tmp/yard-vitest.XXXXXX.json)
before=$(mktemp /tmp/yard-hostns.XXXXXX)
node dist/lab/hostcheck.js snapshot > "$before"

npx --no-install vitest run --reporter=default --reporter=json --outputFile="$report" "$@"
vitest_rc=$?

host_ok=1
if ! node dist/lab/hostcheck.js compare "$before"; then host_ok=0; fi

# Only a full run (no arguments) is held to the floor: a filtered run executes fewer tests.
full_run=0
[ "$#" = 0 ] && full_run=1
summary_ok=1
node -e '
  const fs = require("fs");
  const [reportFile, hostFlag, rcFlag, fullFlag, floorFile] = process.argv.slice(1);
  let r = { numPassedTests: 0, numFailedTests: 0, numPendingTests: 0, numTodoTests: 0, numTotalTests: 0, testResults: [] };
  try { r = JSON.parse(fs.readFileSync(reportFile, "utf8")); } catch { r.numFailedTests = 1; console.error("no vitest report: the runner itself failed"); }
  const hostOk = hostFlag === "1";
  const runnerOk = rcFlag === "0";
  // A runner that failed without a failing test (a config error, an unhandled error, a
  // file that did not load) is a failure too, never a silent pass.
  const runnerFailure = !runnerOk && r.numFailedTests === 0 ? 1 : 0;
  if (runnerFailure) console.log("the test runner itself failed (see above)");
  // A skipped or todo test is a failure: it proves nothing and hides that it does not.
  const skippedTests = [];
  for (const f of r.testResults ?? []) {
    for (const a of f.assertionResults ?? []) {
      if (["pending", "skipped", "todo", "disabled"].includes(a.status)) skippedTests.push(`${String(f.name).replace(process.cwd() + "/", "")} > ${a.fullName} (${a.status})`);
    }
  }
  const skipped = Math.max(skippedTests.length, (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0));
  for (const t of skippedTests) console.log(`skipped: ${t}`);
  // The floor: a full run executes at least as many tests as test/expected-count.txt says.
  const executed = r.numPassedTests + r.numFailedTests;
  let floorFailure = 0;
  if (fullFlag === "1") {
    let floor = NaN;
    try { floor = Number(fs.readFileSync(floorFile, "utf8").split("\n").find((l) => /^\s*\d+\s*$/.test(l))); } catch {}
    if (!Number.isInteger(floor)) { console.log(`no test floor: ${floorFile} must hold the minimum number of tests on a line of its own`); floorFailure = 1; }
    else if (executed < floor) { console.log(`too few tests: ${executed} executed, the floor in ${floorFile} is ${floor} (a test file that no longer loads, or tests removed)`); floorFailure = 1; }
    else console.log(`tests executed: ${executed} (floor ${floor})`);
  }
  const passed = r.numPassedTests + (hostOk ? 1 : 0);
  const failed = r.numFailedTests + (hostOk ? 0 : 1) + runnerFailure + skipped + floorFailure;
  console.log(`machine unchanged (real namespace, sysctls, namespaces, files, processes): ${hostOk ? "yes" : "NO"}`);
  console.log(`${passed} passed, ${failed} failed` + (skipped ? ` (${skipped} skipped, counted as failed)` : ""));
  process.exitCode = failed ? 1 : 0;
' "$report" "$host_ok" "$vitest_rc" "$full_run" test/expected-count.txt || summary_ok=0
rm -f "$report" "$before"
[ "$vitest_rc" = 0 ] && [ "$host_ok" = 1 ] && [ "$summary_ok" = 1 ]
