/**
 * Safety check of the machine's real network namespace: `snapshot` prints its links,
 * addresses, routes and nftables ruleset; `compare FILE` exits 1 (printing the
 * difference) when they changed. scripts/test.sh runs it around the whole suite.
 * Run it in the real namespace only (it reads, never writes).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

function read(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
}

export function snapshotHost(): Record<string, unknown> {
  const links = (JSON.parse(read('ip', ['-j', 'link', 'show']) || '[]') as { ifname: string; flags: string[]; mtu: number; master?: string }[]).map(
    (l) => `${l.ifname} mtu ${l.mtu} ${l.master ? `master ${l.master} ` : ''}${[...l.flags].filter((f) => f !== 'LOWER_UP' && f !== 'NO-CARRIER').sort().join(',')}`,
  );
  const addrs = (JSON.parse(read('ip', ['-j', 'addr', 'show']) || '[]') as { ifname: string; addr_info: { local: string; prefixlen: number }[] }[]).flatMap((l) =>
    l.addr_info.map((a) => `${l.ifname} ${a.local}/${a.prefixlen}`),
  );
  const routes = ['-4', '-6'].flatMap((f) => read('ip', [f, 'route', 'show', 'table', 'all']).split('\n').filter(Boolean)).filter((r) => !/ linkdown| expires /.test(r));
  const rules = ['-4', '-6'].flatMap((f) => read('ip', [f, 'rule', 'show']).split('\n').filter(Boolean));
  const nft = read('nft', ['list', 'ruleset']);
  return { links: links.sort(), addrs: addrs.sort(), routes: routes.sort(), rules, nft };
}

function main(argv: string[]): number {
  if (argv[0] === 'snapshot') {
    process.stdout.write(JSON.stringify(snapshotHost(), null, 1));
    return 0;
  }
  if (argv[0] === 'compare' && argv[1]) {
    const before = JSON.parse(fs.readFileSync(argv[1], 'utf8')) as Record<string, unknown>;
    const after = snapshotHost();
    let same = true;
    for (const k of Object.keys(before)) {
      const a = JSON.stringify(before[k]);
      const b = JSON.stringify(after[k]);
      if (a !== b) {
        same = false;
        process.stderr.write(`real namespace changed: ${k}\n  before: ${a}\n  after:  ${b}\n`);
      }
    }
    return same ? 0 : 1;
  }
  process.stderr.write('usage: hostcheck snapshot | hostcheck compare FILE\n');
  return 2;
}

if (process.argv[1]?.endsWith('hostcheck.js')) process.exitCode = main(process.argv.slice(2));
