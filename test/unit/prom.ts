/**
 * Prometheus's own parser (Debian's python3-prometheus-client, so /usr/bin/python3) over a metrics text: every
 * sample as {name, labels, value}. A text it cannot parse throws with the parser's words.
 */
import { execFileSync } from 'node:child_process';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SCRIPT = `
import json, math, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        v = s.value
        out.append({"family": fam.name, "type": fam.type, "name": s.name, "labels": s.labels, "value": v if math.isfinite(v) else str(v)})
print(json.dumps(out))
`;

export function parseMetrics(text: string): (Sample & { family: string; type: string })[] {
  return JSON.parse(execFileSync('/usr/bin/python3', ['-c', SCRIPT], { input: text, encoding: 'utf8', timeout: 20_000 }));
}

/** The value of one sample (labels must match exactly those given, others absent); undefined when there is none. */
export function sampleValue(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels);
  const hit = samples.find((s) => s.name === name && Object.keys(s.labels).length === want.length && want.every(([k, v]) => s.labels[k] === v));
  return hit?.value;
}

/**
 * The sample lines of a metrics text, read in-process (no Python start): for tests that
 * read many scrapes. One test per text producer still runs `parseMetrics` over it.
 */
export function readSamples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    out.push({ name: m[1]!, labels, value: m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]) });
  }
  return out;
}
