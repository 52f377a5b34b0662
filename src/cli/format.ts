import { YardError } from '../errors.js';
/** Docker-style output helpers: tables (src/client/table.ts), human times, flag parsing. */
export { table } from '../client/table.js';

export function ago(iso: string | undefined, now = Date.now()): string {
  if (!iso || iso.startsWith('0001')) return '';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 1) return 'Less than a second';
  if (s < 60) return `${s} second${s === 1 ? '' : 's'}`;
  const m = Math.round(s / 60);
  if (m < 60) return m === 1 ? 'About a minute' : `${m} minutes`;
  const h = Math.round(m / 60);
  if (h < 48) return h === 1 ? 'About an hour' : `${h} hours`;
  return `${Math.round(h / 24)} days`;
}

export function truncate(s: string, n: number): string {
  return s.length <= n ? s : s.slice(0, n - 1) + '…';
}

/** Collects repeated flags (`--opt a=b --opt c=d`). */
export const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Parses `key=value` pairs (-o, --label, --aux-address) into a map, naming the flag on error. */
export function keyValues(flag: string, items: string[] | undefined, { valueRequired = true } = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items ?? []) {
    const i = item.indexOf('=');
    if (i === 0 || (i < 0 && valueRequired)) {
      throw new YardError('INVALID_ARGUMENT', `${flag} ${item} is not key=value`, { field: flag, hint: `write it as ${flag} key=value` });
    }
    out[i < 0 ? item : item.slice(0, i)] = i < 0 ? '' : item.slice(i + 1);
  }
  return out;
}


/**
 * Docker's multi-argument commands (`rm a b c`, `inspect a b`): act on every reference,
 * print each failure but the last as it happens, and throw the last one (exit 1) after
 * the others were tried. `skip` lets a failure pass silently (e.g. `rm -f` of a missing one).
 */
export async function forEachRef(refs: string[], err: (line: string) => void, act: (ref: string) => Promise<void>, skip?: (e: unknown) => boolean): Promise<void> {
  let failed: unknown;
  for (const r of refs) {
    try {
      await act(r);
    } catch (e) {
      if (skip?.(e)) continue;
      if (failed) err(`error: ${failed instanceof YardError ? failed.line : String(failed)}`);
      failed = e;
    }
  }
  if (failed) throw failed;
}
