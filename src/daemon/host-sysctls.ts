/**
 * The host-wide sysctls the daemon sets in its namespace (forwarding, by the firewall
 * participant) and what they were before Switchyard first set them there. The values are
 * recorded once, at the first start of an instance, in `<state dir>/host-sysctls.json`;
 * `yard uninstall` puts them back. Per-link sysctls (a bridge's route_localnet) go away
 * with their link.
 */
import fs from 'node:fs';
import path from 'node:path';

/** Every namespace-wide sysctl the daemon writes (src/firewall/participant.ts; a unit test keeps them equal). */
export const HOST_SYSCTLS = ['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding'] as const;
export const HOST_SYSCTLS_FILE = 'host-sysctls.json';

export function readSysctl(key: string): string | undefined {
  try {
    return fs.readFileSync(`/proc/sys/${key.replace(/\./g, '/')}`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Record the current values unless an earlier start already did. Never fails the start. */
export function recordHostSysctls(stateDir: string, log: (m: string) => void = () => {}): void {
  const file = path.join(stateDir, HOST_SYSCTLS_FILE);
  if (fs.existsSync(file)) return;
  const values: Record<string, string> = {};
  for (const k of HOST_SYSCTLS) {
    const v = readSysctl(k);
    if (v !== undefined) values[k] = v;
  }
  try {
    fs.writeFileSync(file, `${JSON.stringify(values, null, 2)}\n`, { mode: 0o600 });
  } catch (e) {
    log(`warning: cannot record the host's sysctls in ${file}: ${(e as Error).message}`);
  }
}

/** The recorded values, only well-formed entries for keys in HOST_SYSCTLS with 0/1 values. */
export function parseRecordedSysctls(text: string): Record<string, string> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return {};
  }
  const out: Record<string, string> = {};
  if (!raw || typeof raw !== 'object') return out;
  for (const k of HOST_SYSCTLS) {
    const v = (raw as Record<string, unknown>)[k];
    if (v === '0' || v === '1') out[k] = v;
  }
  return out;
}
