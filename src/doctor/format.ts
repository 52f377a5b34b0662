/** `yard doctor`'s text output: problems in full (checked, found, fix), passed checks one line each. Pure. */
import type { DoctorReport, Finding } from './checks.js';

const MARK: Record<Finding['status'], string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL', skip: 'skip' };

export function formatReport(r: DoctorReport, opts: { verbose?: boolean } = {}): string[] {
  const lines: string[] = [];
  const subjects = [...new Set(r.findings.map((f) => f.subject))];
  for (const subject of subjects) {
    const mine = r.findings.filter((f) => f.subject === subject);
    lines.push(subject === 'host' ? 'host:' : `sandbox ${subject}:`);
    for (const f of mine) {
      if (f.status === 'ok' || f.status === 'skip') {
        lines.push(`  ${MARK[f.status]} ${f.check}: ${f.found}`);
        if (opts.verbose) lines.push(`       checked: ${f.checked}`);
        continue;
      }
      lines.push(`  ${MARK[f.status]} ${f.check}: ${f.found}`);
      lines.push(`       checked: ${f.checked}`);
      if (f.fix) lines.push(`       fix: ${f.fix}`);
    }
  }
  const s = r.summary;
  const counts = `${s.ok} ok, ${s.warn} warning${s.warn === 1 ? '' : 's'}, ${s.fail} problem${s.fail === 1 ? '' : 's'}${s.skip ? `, ${s.skip} not checked` : ''}`;
  lines.push(r.healthy ? `healthy: every check passed (${counts})` : `not healthy: ${counts}`);
  return lines;
}
