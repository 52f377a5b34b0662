/**
 * `yard demo`: brings up a throwaway two-host lab, plays the scenarios of
 * src/lab/scenarios/ as a user would (the `yard` and `docker` CLIs inside lab host 1),
 * prints SCENARIO | EXPECTATION | RESULT | TIME and takes the lab down again, also after a
 * failure or ^C. Later features add rows by appending to SCENARIOS.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { table } from '../client/table.js';
import { labDown, labList, labUp, processGone, type LabInfo } from './lab.js';
import { CORE_SCENARIOS } from './scenarios/core.js';
import { DNS_SCENARIOS } from './scenarios/dns.js';
import { DOCKER_SCENARIOS } from './scenarios/docker.js';
import { FIREWALL_SCENARIOS } from './scenarios/firewall.js';
import { MACVLAN_SCENARIOS } from './scenarios/macvlan.js';
import { OVERLAY_SCENARIOS } from './scenarios/overlay.js';
import { DemoFailure, makeDemoLab, type Scenario } from './scenarios/kit.js';

export const SCENARIOS: Scenario[] = [...CORE_SCENARIOS, ...DNS_SCENARIOS, ...FIREWALL_SCENARIOS, ...MACVLAN_SCENARIOS, ...OVERLAY_SCENARIOS, ...DOCKER_SCENARIOS];

export interface DemoResult {
  name: string;
  expectation: string;
  passed: boolean;
  ms: number;
  detail: string;
}

export interface DemoOptions {
  out: (line: string) => void;
  /** Progress and evidence lines. */
  err: (line: string) => void;
  scenarios?: Scenario[];
}

const LAB_PREFIX = 'demo-';

/** Labs left by a demo that was killed outright (its PID is in the name and gone). */
async function removeStaleDemoLabs(err: (line: string) => void): Promise<void> {
  for (const lab of labList()) {
    const pid = Number(lab.name.slice(LAB_PREFIX.length));
    if (lab.name.startsWith(LAB_PREFIX) && Number.isInteger(pid) && pid > 0 && processGone(pid)) {
      err(`removing lab ${lab.name}, left behind by an earlier demo`);
      await labDown(lab.name);
    }
  }
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export async function runDemo(opts: DemoOptions): Promise<DemoResult[]> {
  const { out, err } = opts;
  const scenarios = opts.scenarios ?? SCENARIOS;
  const name = `${LAB_PREFIX}${process.pid}`;
  const t0 = Date.now();
  let info: LabInfo | undefined;
  let dir: string | undefined;
  let interrupted = false;

  let down: Promise<void> | undefined;
  const teardown = () =>
    (down ??= (async () => {
      err(`taking lab ${name} down`);
      await labDown(name).catch((e: Error) => err(`lab down failed: ${e.message}; run \`yard lab down --name ${name}\``));
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    })());
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    err(`${sig}: stopping the demo`);
    void teardown().then(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const results: DemoResult[] = [];
  try {
    await removeStaleDemoLabs(err);
    err(`bringing up lab ${name} (2 hosts)`);
    info = await labUp({ name, hosts: 2, onProgress: (m) => err(`  ${m}`) });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yard-demo-'));
    // The sandbox's httpd runs as root, but the web root must be readable like any other.
    fs.chmodSync(dir, 0o755);
    const lab = makeDemoLab(info, dir);
    err(`lab ready in ${seconds(Date.now() - t0)}; playing ${scenarios.length} scenarios in ${info.hosts[0]!.name}`);

    for (const s of scenarios) {
      if (interrupted) break;
      const s0 = Date.now();
      let passed = true;
      let detail = '';
      try {
        detail = (await s.run(lab)) ?? '';
      } catch (e) {
        passed = false;
        detail = e instanceof DemoFailure ? e.message : `unexpected: ${(e as Error).stack ?? String(e)}`;
      }
      const ms = Date.now() - s0;
      results.push({ name: s.name, expectation: s.expectation, passed, ms, detail });
      err(`  ${passed ? 'PASS' : 'FAIL'} ${s.name} (${seconds(ms)})${detail ? `: ${detail}` : ''}`);
    }
  } finally {
    await teardown();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  const rows = results.map((r) => [r.name, r.expectation, r.passed ? 'PASS' : 'FAIL', seconds(r.ms)]);
  out('');
  for (const line of table(['SCENARIO', 'EXPECTATION', 'RESULT', 'TIME'], rows)) out(line);
  const failed = results.filter((r) => !r.passed);
  for (const f of failed) out(`FAIL ${f.name}: ${f.detail}`);
  out(`${results.length - failed.length} passed, ${failed.length} failed, ${scenarios.length - results.length} not run; ${seconds(Date.now() - t0)} in all`);
  return results;
}

/** Exit code: 0 iff every scenario ran and passed. */
export function demoExitCode(results: DemoResult[], expected: number): number {
  return results.length === expected && results.every((r) => r.passed) ? 0 : 1;
}
