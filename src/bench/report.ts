/**
 * The benchmark's table: which series are shown, with which goal, published netavark figure
 * and floor; rendered for the terminal and as markdown (bench/results/latest.md and the
 * generated block of docs/performance.md).
 */
import fs from 'node:fs';
import path from 'node:path';
import { table } from '../client/table.js';
import type { Series } from './measure.js';
import { summarize, type Stats } from './stats.js';

interface RowSpec {
  key: string;
  label: string;
  unit?: 'ms' | 'MiB' | 'KiB' | '×';
  /**
   * Met when the median is at or below it: a figure in the row's unit, or another row's
   * median (`key`) measured in the same run.
   */
  goal?: number | { key: string; label: string };
  /** netavark's published figure (ms), a constant: not measured in this run. */
  netavark?: string;
  /** Ratio of this median to `scale` times the floor's median. */
  floor?: { key: string; scale: number; label: string };
}

// Docker is measured in the same run by the api and docker parts (api-side.ts, docker.ts), never
// quoted here; netavark's published figures are constants, labelled as such in the header.
const ROWS: RowSpec[] = [
  { key: 'floor.veth', label: 'floor: veth add+del, 2 × `ip -n`' },
  { key: 'floor.veth.add', label: 'floor: veth add, 1 × `ip -n`' },
  { key: 'floor.veth.del', label: 'floor: veth del, 1 × `ip -n`' },
  { key: 'floor.veth.batch', label: 'floor: veth add+del, 1 × `ip -n -batch -`' },
  { key: 'floor.bridge', label: 'floor: bridge add+del, 2 × `ip -n`' },
  { key: 'floor.sb.create', label: 'floor: sandbox netns add + veth into it, 2 × `ip`' },
  { key: 'floor.sb.removeLinkDel', label: 'floor: sandbox removal, `link del` + `netns del`' },
  { key: 'floor.sb.removeNetnsDel', label: 'floor: sandbox removal, `netns del` only' },
  { key: 'floor.nl.veth.add', label: 'floor: veth add, rtnetlink in-process' },
  { key: 'floor.nl.veth.down', label: 'floor: veth set down, rtnetlink in-process' },
  { key: 'floor.nl.veth.del', label: 'floor: veth del, rtnetlink in-process' },
  { key: 'floor.nl.bridge', label: 'floor: bridge add+del, rtnetlink in-process' },
  { key: 'floor.ping', label: 'floor: GET /_ping round trip' },
  { key: 'net.create', label: 'network create (POST /networks/create)' },
  { key: 'net.remove', label: 'network remove (DELETE /networks/{id})' },
  {
    key: 'net.pair',
    label: 'network create + remove (API)',
    goal: 30,
    floor: { key: 'floor.nl.bridge', scale: 1, label: 'bridge add+del (rtnetlink)' },
  },
  {
    key: 'connect',
    label: 'connect a running sandbox',
    goal: 10,
    netavark: '83',
    floor: { key: 'floor.nl.veth.add', scale: 1, label: 'veth add (rtnetlink)' },
  },
  {
    key: 'disconnect',
    label: 'disconnect it',
    goal: 25,
    netavark: '92',
    floor: { key: 'floor.nl.veth.down', scale: 1, label: 'veth set down (rtnetlink)' },
  },
  {
    key: 'fifty.create',
    label: '50 sandboxes created in a row, total',
    goal: 500,
    netavark: '5 300',
    floor: { key: 'floor.sb.create', scale: 50, label: '50 × sandbox floor' },
  },
  {
    key: 'fifty.remove',
    label: '50 sandboxes removed (force), total',
    goal: 500,
    netavark: '5 700',
    floor: { key: 'floor.sb.removeLinkDel', scale: 50, label: '50 × link del + netns del' },
  },
  { key: 'fifty.concurrent', label: '50 sandboxes created by 8 concurrent clients, total', goal: 250 },
  { key: 'fifty.each', label: 'one sandbox create (of the 50s)', floor: { key: 'floor.sb.create', scale: 1, label: 'sandbox floor' } },
  { key: 'fifty.removeEach', label: 'one sandbox remove (of the 50s)', floor: { key: 'floor.sb.removeLinkDel', scale: 1, label: 'link del + netns del' } },
  { key: 'many.first50', label: 'sandbox create, #1-50 of MANY' },
  { key: 'many.last50', label: 'sandbox create, last 50 of MANY' },
  { key: 'many.ratio', label: 'sandbox create, last 50 / first 50 of MANY (medians)', unit: '×', goal: 1.1 },
  { key: 'many.floor.link0', label: 'kernel floor: veth into a namespace + bridge port (rtnetlink in-process), 0 sandboxes' },
  { key: 'many.floor.linkN', label: 'kernel floor: the same with MANY sandboxes present' },
  { key: 'many.floor.linkRatio', label: 'kernel floor: veth + port, MANY present / 0 (medians)', unit: '×' },
  { key: 'many.floor.netns0', label: 'kernel floor: namespace add (in-process), 0 sandboxes' },
  { key: 'many.floor.netnsN', label: 'kernel floor: namespace add with MANY present' },
  { key: 'many.floor.netnsRatio', label: 'kernel floor: namespace add, MANY present / 0 (medians)', unit: '×' },
  { key: 'many.remove', label: 'sandbox remove, each of MANY' },
  { key: 'rss.fresh', label: 'daemon VmRSS, idle just after start', unit: 'MiB', goal: 70 },
  { key: 'rss.0', label: 'daemon VmRSS, 0 sandboxes (after the rows above)', unit: 'MiB' },
  { key: 'rss.many', label: 'daemon VmRSS, MANY sandboxes (5 s after the last create)', unit: 'MiB' },
  { key: 'rss.perSandbox', label: 'daemon VmRSS per sandbox, (MANY - 0) / MANY', unit: 'KiB', goal: 30 },
  {
    key: 'rss.after',
    label: 'daemon VmRSS, 5 s after removing them',
    unit: 'MiB',
    goal: { key: 'rss.many', label: 'the MANY figure' },
    floor: { key: 'rss.0', scale: 1, label: 'the 0-sandbox figure' },
  },
];

export const HEADERS = ['measurement', 'n', 'median', 'p99', 'min', 'goal', 'netavark, published (ms; not this run)', 'ratio to floor'];

function num(v: number): string {
  if (!Number.isFinite(v)) return '-';
  if (v < 10) return v.toFixed(2);
  if (v < 100) return v.toFixed(1);
  return String(Math.round(v));
}

export interface ReportRow {
  key: string;
  cells: string[];
  stats: Stats;
  goalMet?: boolean;
}

/** `many`: the sandbox count of the memory pass, for the labels. */
export function buildRows(series: Series, many: number): ReportRow[] {
  const out: ReportRow[] = [];
  for (const spec of ROWS) {
    const samples = series.get(spec.key);
    if (!samples?.length) continue;
    const s = summarize(samples);
    const unit = spec.unit ?? 'ms';
    const single = s.n === 1;
    const goalSeries = typeof spec.goal === 'object' ? series.get(spec.goal.key) : undefined;
    const goal = typeof spec.goal === 'object' ? (goalSeries?.length ? summarize(goalSeries).median : undefined) : spec.goal;
    const goalMet = goal === undefined ? undefined : s.median <= goal;
    const goalText = typeof spec.goal === 'object' ? spec.goal.label.replace('MANY', String(many)) : unit === '×' ? `${spec.goal}×` : `${spec.goal} ${unit}`;
    const floor = spec.floor && series.get(spec.floor.key)?.length ? summarize(series.get(spec.floor.key)!).median * spec.floor.scale : NaN;
    out.push({
      key: spec.key,
      stats: s,
      goalMet,
      cells: [
        spec.label.replaceAll('MANY', String(many)),
        String(s.n),
        unit === '×' ? `${num(s.median)}×` : `${num(s.median)} ${unit}`,
        single ? '' : `${num(s.p99)} ${unit}`,
        single ? '' : `${num(s.min)} ${unit}`,
        goal === undefined ? '' : `≤ ${goalText}: ${goalMet ? 'met' : 'MISSED'}`,
        spec.netavark ?? '',
        spec.floor && Number.isFinite(floor) ? `${(s.median / floor).toFixed(1)}× ${spec.floor.label}` : '',
      ],
    });
  }
  return out;
}

export function terminalTable(rows: ReportRow[]): string[] {
  return table(HEADERS, rows.map((r) => r.cells));
}

export function markdownTable(rows: ReportRow[]): string[] {
  const esc = (c: string) => c.replace(/\|/g, '\\|');
  return [
    `| ${HEADERS.join(' | ')} |`,
    `|${HEADERS.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...rows.map((r) => `| ${r.cells.map(esc).join(' | ')} |`),
  ];
}

export interface RunFacts {
  date: string;
  machine: string;
  runs: number;
  seconds: number;
  notes: string[];
}

export function markdownReport(rows: ReportRow[], facts: RunFacts): string {
  return [
    `Run ${facts.date} on ${facts.machine}; ${facts.runs} recorded runs per measurement after 2 warm-ups ` +
      `(3 rounds for the 50-sandbox totals, one pass for memory); ${facts.seconds.toFixed(0)} s in all.`,
    '',
    ...markdownTable(rows),
    ...(facts.notes.length ? ['', ...facts.notes.map((n) => `- ${n}`)] : []),
  ].join('\n');
}

const BEGIN = '<!-- bench:begin (written by `make bench`; edit outside the markers) -->';
const END = '<!-- bench:end -->';

/** Replace the generated block of docs/performance.md, keeping the prose around it. */
export function updatePerformanceDoc(file: string, block: string): void {
  let text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : `# Performance\n\n${BEGIN}\n${END}\n`;
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  if (a < 0 || b < a) text = `${text.trimEnd()}\n\n${BEGIN}\n${END}\n`;
  const start = text.indexOf(BEGIN) + BEGIN.length;
  const end = text.indexOf(END);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${text.slice(0, start)}\n${block}\n${text.slice(end)}`);
}
