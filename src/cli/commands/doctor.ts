/**
 * `yard doctor [SANDBOX] [--to TARGET] [--json]`: the network triage cheat sheet,
 * automated. Without a sandbox: the host-level checks, then every sandbox (one request
 * each, with a progress line on a terminal when there are many). Exit code 1 when a
 * problem or warning is found, so scripts can use it.
 */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { YardError } from '../../errors.js';
import { mergeReports, type DoctorReport } from '../../doctor/checks.js';
import { formatReport } from '../../doctor/format.js';

/** Above this many sandboxes a terminal gets a progress line per sandbox. */
const PROGRESS_FROM = 5;
/** Sandboxes checked at once. */
const CONCURRENCY = 4;

export function register(program: Command, ctx: CliContext): void {
  program
    .command('doctor')
    .description('Check the host and sandboxes for the usual network faults (names, published ports, outbound access, address conflicts, host firewalls, overlay MTU, rule growth) and print the fix for each; exits 1 when something is wrong')
    .argument('[sandbox]', 'check only this sandbox (name or ID), besides the host-level checks')
    .option('--to <target>', 'focus on reaching TARGET from the sandbox: a name, an address, or address:port')
    .option('--json', 'JSON output: {version, healthy, scope, summary, findings: [{check, subject, status, checked, found, fix}]}')
    .option('-v, --verbose', 'also say what each passed check looked at')
    .action(async (ref: string | undefined, o: { to?: string; json?: boolean; verbose?: boolean }) => {
      const client = ctx.client();
      let r: DoctorReport;
      if (ref) {
        const qs = new URLSearchParams({ sandbox: ref, ...(o.to !== undefined ? { to: o.to } : {}) });
        r = await client.get<DoctorReport>(`/yard/v1/doctor?${qs}`);
      } else {
        if (o.to !== undefined) throw new YardError('INVALID_ARGUMENT', '--to needs a sandbox to try from', { field: '--to', hint: 'yard doctor SANDBOX --to TARGET' });
        const parts = [await client.get<DoctorReport>('/yard/v1/doctor?host=1')];
        const list = await client.get<{ Id: string; Name: string }[]>('/yard/v1/sandboxes?all=1');
        const progress = !o.json && process.stderr.isTTY && list.length > PROGRESS_FROM;
        // A few sandboxes at a time (each is a handful of short reads in the daemon), reported in order.
        const results: (DoctorReport | undefined)[] = new Array(list.length);
        let next = 0;
        let done = 0;
        const worker = async () => {
          for (let i = next++; i < list.length; i = next++) {
            const s = list[i]!;
            try {
              results[i] = await client.get<DoctorReport>(`/yard/v1/doctor?sandbox=${encodeURIComponent(s.Id)}&host=0`);
            } catch (e) {
              // Removed while we were checking: nothing left to diagnose.
              if (!(e instanceof YardError) || e.code !== 'SANDBOX_NOT_FOUND') throw e;
            }
            done++;
            if (progress) process.stderr.write(`\rchecked sandbox ${done}/${list.length}: ${s.Name.replace(/^\//, '')}\x1b[K`);
          }
        };
        await Promise.all(Array.from({ length: Math.min(CONCURRENCY, list.length) }, worker));
        parts.push(...results.filter((x): x is DoctorReport => !!x));
        if (progress) process.stderr.write('\r\x1b[K');
        r = mergeReports(parts);
      }
      if (o.json) ctx.out(JSON.stringify(r, null, 2));
      else for (const l of formatReport(r, { verbose: o.verbose })) ctx.out(l);
      if (!r.healthy) ctx.exitCode = 1;
    });
}
