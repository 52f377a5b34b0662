/**
 * Reads the host's other firewalls and changes the rules Switchyard keeps in them (see
 * firewall/host-firewall.ts, pure). Runs in the daemon's network namespace, like nft.ts.
 *
 *   nft -j -t list ruleset        every table, chain and rule (no set elements: cheap with
 *   nft -a -t list ruleset        10,000 published ports); the text for iptables-nft's xt matches
 *   iptables-legacy-save          when the binary is installed (x_tables rules nft cannot see)
 */
import fs from 'node:fs';
import { run } from './exec.js';
import type { Nft } from './nft.js';
import { COMMENT_PREFIX, withRuleTexts, type CoexistencePlan, type NftJsonObject } from '../firewall/host-firewall.js';

export interface HostFirewallRead {
  ruleset: { nftables: NftJsonObject[] };
  /** `iptables-legacy-save` / `ip6tables-legacy-save` output ('' when not installed or empty). */
  legacy4: string;
  legacy6: string;
}

const LEGACY_DIRS = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'];
const which = (bin: string) => LEGACY_DIRS.map((d) => `${d}/${bin}`).find((p) => fs.existsSync(p));

export class HostFirewallKernel {
  constructor(private readonly nft: Nft) {}

  async read(): Promise<HostFirewallRead> {
    const json = (await this.nft.json(['-t', 'list', 'ruleset'])) as { nftables?: NftJsonObject[] };
    const text = await this.nft.list(['-a', '-t', 'list', 'ruleset']);
    return { ruleset: withRuleTexts(json, text), legacy4: await this.legacySave('iptables-legacy-save', 'ip_tables_names'), legacy6: await this.legacySave('ip6tables-legacy-save', 'ip6_tables_names') };
  }

  /**
   * `iptables-legacy-save`, only when this namespace has x_tables tables at all
   * (/proc/net/ip_tables_names is per namespace): the check runs every second.
   */
  private async legacySave(bin: string, names: string): Promise<string> {
    let tables = '';
    try {
      tables = fs.readFileSync(`/proc/net/${names}`, 'utf8');
    } catch {
      return '';
    }
    if (!tables.trim()) return '';
    const path = which(bin);
    if (!path) return '';
    const r = await run(path, [], { timeoutMs: 10_000 });
    return r.code === 0 ? r.stdout : '';
  }

  /** Removes, then inserts (at the top of each chain), as planned. nft changes are one transaction. */
  async apply(plan: Pick<CoexistencePlan, 'add' | 'remove'>): Promise<void> {
    const lines: string[] = [];
    for (const r of plan.remove) if (r.handle >= 0) lines.push(`delete rule ${r.family} ${r.table} ${r.chain} handle ${r.handle}`);
    for (const r of plan.add) if (!r.chain.legacy) lines.push(`insert rule ${r.chain.family} ${r.chain.table} ${r.chain.chain} ${r.nft}`);
    if (lines.length) await this.nft.apply(lines.join('\n') + '\n');
    for (const r of plan.remove) {
      if (r.handle >= 0) continue;
      const m = new RegExp(`^${COMMENT_PREFIX} (in|out) (\\S+)$`).exec(r.comment);
      if (!m) continue;
      await this.legacy(r.family, ['-D', r.chain, m[1] === 'in' ? '-i' : '-o', m[2]!, '-m', 'comment', '--comment', r.comment, '-j', 'ACCEPT']);
    }
    for (const r of plan.add) if (r.chain.legacy) await this.legacy(r.chain.family, ['-I', r.chain.chain, '1', ...r.iptables]);
  }

  private async legacy(family: string, args: string[]): Promise<void> {
    const bin = which(family === 'ip6' ? 'ip6tables-legacy' : 'iptables-legacy');
    if (!bin) throw new Error(`${family === 'ip6' ? 'ip6tables-legacy' : 'iptables-legacy'} is not installed`);
    const r = await run(bin, ['-w', '5', ...args], { timeoutMs: 15_000 });
    if (r.code !== 0) throw new Error(`${bin} ${args.join(' ')}: ${r.stderr.trim() || 'failed'}`);
  }
}
