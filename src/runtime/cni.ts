/**
 * The CNI contract, pure: what a CNI runtime hands the `switchyard` plugin (environment and
 * network configuration on stdin), the call the plugin posts to the daemon, and the
 * results and errors printed back (CNI spec 1.0.0, plus GC and STATUS of 1.1.0; results
 * are also given in the 0.3.x/0.4.0 shape when the configuration asks for it).
 *
 * The plugin and the daemon both validate with this module: the plugin to answer a bad
 * configuration without a round trip, the daemon because its socket is an entry point too.
 */

/** Versions this plugin answers for (VERSION). */
export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export const LATEST_VERSION = '1.1.0';
export const PLUGIN_TYPE = 'switchyard';

export const COMMANDS = ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION'] as const;
export type CniCommand = (typeof COMMANDS)[number];

/** Well-known CNI error codes (0-99) and this plugin's own (100+). */
export const CNI_CODES = {
  INCOMPATIBLE_VERSION: 1,
  UNSUPPORTED_FIELD: 2,
  UNKNOWN_CONTAINER: 3,
  INVALID_ENV: 4,
  IO_FAILURE: 5,
  DECODE_FAILURE: 6,
  INVALID_CONFIG: 7,
  TRY_AGAIN_LATER: 11,
  NOT_AVAILABLE: 50,
  /** The daemon refused the change (its error code is in the details). */
  REFUSED: 100,
  /** The interface is missing from the namespace or differs from what was given (CHECK). */
  CHECK_FAILED: 101,
  /** The container already has an interface on this network under another name. */
  IFNAME_CONFLICT: 102,
} as const;

export class CniError extends Error {
  constructor(
    readonly code: number,
    msg: string,
    readonly details?: string,
  ) {
    super(msg);
    this.name = 'CniError';
  }
}

export interface CniErrorJson {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

export function errorJson(cniVersion: string | undefined, e: CniError): CniErrorJson {
  return { cniVersion: cniVersion && isSupported(cniVersion) ? cniVersion : LATEST_VERSION, code: e.code, msg: e.message, ...(e.details ? { details: e.details } : {}) };
}

export function isSupported(v: string): boolean {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

export function versionResult(cniVersion?: string): { cniVersion: string; supportedVersions: string[] } {
  return { cniVersion: cniVersion && isSupported(cniVersion) ? cniVersion : LATEST_VERSION, supportedVersions: [...SUPPORTED_VERSIONS] };
}

/** The environment of one call, checked. */
export interface CniEnv {
  command: CniCommand;
  containerId?: string;
  netns?: string;
  ifname?: string;
  /** CNI_ARGS, `K=V;K2=V2`. */
  args: Record<string, string>;
  path: string[];
}

/** One call as the plugin posts it to the daemon (`POST /yard/v1/cni`). */
export interface CniRequest {
  command: CniCommand;
  containerId?: string;
  netns?: string;
  ifname?: string;
  args?: Record<string, string>;
  /** The network configuration as the runtime gave it on stdin. */
  config: unknown;
  /** The plugin's own PID: the daemon opens `netns` as that process sees it. */
  pid?: number;
}

/** The network configuration, checked; only what Switchyard reads. */
export interface CniConfig {
  cniVersion: string;
  name: string;
  /** The Switchyard network to join: `network`, else the configuration's `name`. */
  network: string;
  /** The daemon's socket, when the configuration names one. */
  socket?: string;
  /** Addresses asked for (args.cni.ips, runtimeConfig.ips, CNI_ARGS IP=), without prefix length. */
  ipv4?: string;
  ipv6?: string;
  /** MAC asked for (args.cni.mac, runtimeConfig.mac, CNI_ARGS MAC=), lowercase. */
  mac?: string;
  /** The container's name (CNI_ARGS K8S_POD_NAME, which Kubernetes and Podman pass): its DNS name. */
  containerName?: string;
  /** DNS aliases on this network (capability `aliases`: runtimeConfig.aliases[<name>], as Podman passes them). */
  aliases?: string[];
  prevResult?: unknown;
  /** The configuration's own `dns` (passed through to the result). */
  dns?: { nameservers?: string[]; search?: string[]; options?: string[] };
  /** GC: the attachments the runtime still uses (`cni.dev/valid-attachments`). */
  validAttachments?: { containerID: string; ifname: string }[];
}

// CNI's own rules for names (spec: network name, container ID) and Linux's for interfaces.
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const CONTAINER_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const IFNAME_RE = /^[^\s/:]{1,15}$/;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

const invalidEnv = (name: string, msg: string, fix: string) => new CniError(CNI_CODES.INVALID_ENV, `${name} ${msg}`, fix);
const invalidConfig = (field: string, msg: string, fix: string) => new CniError(CNI_CODES.INVALID_CONFIG, `network configuration: ${field} ${msg}`, fix);

function parseCniArgs(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!raw) return out;
  for (const part of raw.split(';')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw invalidEnv('CNI_ARGS', `part ${JSON.stringify(part.slice(0, 80))} is not KEY=VALUE`, 'give CNI_ARGS as KEY=VALUE pairs separated by ";"');
    out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

/** The environment (CNI_*) of one call; what each command needs is required. */
export function parseEnv(env: Record<string, string | undefined>): CniEnv {
  const cmd = env.CNI_COMMAND;
  if (!cmd) throw invalidEnv('CNI_COMMAND', 'is not set', `set it to one of ${COMMANDS.join(', ')}`);
  if (!(COMMANDS as readonly string[]).includes(cmd)) throw invalidEnv('CNI_COMMAND', `${JSON.stringify(cmd.slice(0, 40))} is not a CNI command`, `set it to one of ${COMMANDS.join(', ')}`);
  const command = cmd as CniCommand;
  const out: CniEnv = { command, args: {}, path: (env.CNI_PATH ?? '').split(':').filter(Boolean) };
  if (command === 'VERSION' || command === 'GC' || command === 'STATUS') return out;
  out.args = parseCniArgs(env.CNI_ARGS);
  out.containerId = checkContainerId(env.CNI_CONTAINERID, 'CNI_CONTAINERID');
  out.ifname = checkIfname(env.CNI_IFNAME, 'CNI_IFNAME');
  const netns = env.CNI_NETNS;
  if (netns) out.netns = checkNetns(netns, 'CNI_NETNS');
  else if (command !== 'DEL') throw invalidEnv('CNI_NETNS', 'is not set', "set it to the path of the container's network namespace, e.g. /run/netns/<name>");
  return out;
}

function checkContainerId(v: unknown, name: string): string {
  if (typeof v !== 'string' || !v) throw invalidEnv(name, 'is not set', "set it to the runtime's container ID");
  if (!CONTAINER_RE.test(v)) throw invalidEnv(name, `${JSON.stringify(v.slice(0, 80))} is not 1 to 128 letters, digits, _ . or -`, "set it to the runtime's container ID");
  return v;
}
function checkIfname(v: unknown, name: string): string {
  if (typeof v !== 'string' || !v) throw invalidEnv(name, 'is not set', 'set it to the interface name to create in the container, e.g. eth0');
  if (!IFNAME_RE.test(v) || v === '.' || v === '..') throw invalidEnv(name, `${JSON.stringify(v.slice(0, 40))} is not an interface name`, 'give 1 to 15 characters without spaces, "/" or ":", e.g. eth0');
  return v;
}
function checkNetns(v: unknown, name: string): string {
  if (typeof v !== 'string' || !v.startsWith('/') || v.includes('\0') || v.length > 4096) {
    throw invalidEnv(name, `${JSON.stringify(String(v).slice(0, 80))} is not an absolute path`, "set it to the path of the container's network namespace, e.g. /run/netns/<name>");
  }
  return v;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** stdin as JSON (code 6 when it is not). */
export function decodeConfig(stdin: string): unknown {
  try {
    return JSON.parse(stdin);
  } catch (e) {
    throw new CniError(CNI_CODES.DECODE_FAILURE, 'the network configuration on stdin is not JSON', `${(e as Error).message}; give the configuration as a JSON object`);
  }
}

/** An address as asked: "10.1.2.3" or "10.1.2.3/24" (the prefix length is the network's). */
function splitIp(v: unknown, field: string): { v4?: string; v6?: string } {
  if (typeof v !== 'string') throw invalidConfig(field, 'is not a string', 'give an address such as "10.88.0.5" or "10.88.0.5/24"');
  const addr = v.includes('/') ? v.slice(0, v.indexOf('/')) : v;
  const plen = v.includes('/') ? v.slice(v.indexOf('/') + 1) : undefined;
  if (plen !== undefined && !/^\d{1,3}$/.test(plen)) throw invalidConfig(field, `${JSON.stringify(v.slice(0, 60))} has a malformed prefix length`, 'give an address such as "10.88.0.5" or "10.88.0.5/24"');
  if (IPV4_RE.test(addr)) return { v4: addr };
  if (/^[0-9a-fA-F:.]+$/.test(addr) && addr.includes(':')) return { v6: addr.toLowerCase() };
  throw invalidConfig(field, `${JSON.stringify(v.slice(0, 60))} is not an IP address`, 'give an address such as "10.88.0.5" or "10.88.0.5/24"');
}

/**
 * The network configuration (stdin) of a call, checked against what this plugin knows.
 * `cniArgs` is CNI_ARGS (IP=, MAC=); unknown keys there are ignored, as the conventions say
 * (IgnoreUnknown aside, runtimes pass their own).
 */
export function parseConfig(raw: unknown, command: CniCommand, cniArgs: Record<string, string> = {}): CniConfig {
  if (!isObject(raw)) throw new CniError(CNI_CODES.DECODE_FAILURE, 'the network configuration on stdin is not a JSON object', 'give the configuration as a JSON object');
  const v = raw.cniVersion;
  if (typeof v !== 'string' || !v) throw invalidConfig('cniVersion', 'is missing', `set "cniVersion" to one of ${SUPPORTED_VERSIONS.join(', ')}`);
  if (!isSupported(v)) throw new CniError(CNI_CODES.INCOMPATIBLE_VERSION, `CNI version ${JSON.stringify(v.slice(0, 20))} is not supported`, `set "cniVersion" to one of ${SUPPORTED_VERSIONS.join(', ')}`);
  if (command === 'VERSION') return { cniVersion: v, name: '', network: '' };
  const name = raw.name;
  if (typeof name !== 'string' || !name) throw invalidConfig('name', 'is missing', 'give the network a name, e.g. "name": "app"');
  if (!NAME_RE.test(name)) throw invalidConfig('name', `${JSON.stringify(name.slice(0, 80))} is not a network name`, 'start with a letter or digit, then letters, digits, _ . or -');
  if (raw.type !== PLUGIN_TYPE) throw invalidConfig('type', `is ${JSON.stringify(raw.type)}, not "${PLUGIN_TYPE}"`, `set "type": "${PLUGIN_TYPE}" (the plugin's file name in CNI_PATH)`);
  const cfg: CniConfig = { cniVersion: v, name, network: name };
  if (raw.network !== undefined) {
    if (typeof raw.network !== 'string' || !NAME_RE.test(raw.network) || raw.network.length > 64) {
      throw invalidConfig('network', `${JSON.stringify(raw.network)} is not a Switchyard network name or ID`, 'name a network that `yard network ls` lists, or leave "network" out to use "name"');
    }
    cfg.network = raw.network;
  }
  if (raw.socket !== undefined) {
    if (typeof raw.socket !== 'string' || !raw.socket.startsWith('/') || raw.socket.includes('\0')) {
      throw invalidConfig('socket', `${JSON.stringify(raw.socket)} is not an absolute path`, "give the daemon's socket, e.g. /run/switchyard/default/yard.sock, or leave it out");
    }
    cfg.socket = raw.socket;
  }
  if (raw.ipam !== undefined) throw invalidConfig('ipam', 'is not used by this plugin', "leave \"ipam\" out: addresses come from the Switchyard network's own IPAM (ask for one with args.cni.ips or runtimeConfig.ips)");
  // Requested addresses: the conventions' args.cni.ips and runtimeConfig.ips, and CNI_ARGS IP=.
  const asked: { from: string; values: unknown[] }[] = [];
  const argsCni = isObject(raw.args) && isObject(raw.args.cni) ? raw.args.cni : undefined;
  const rc = isObject(raw.runtimeConfig) ? raw.runtimeConfig : undefined;
  if (argsCni?.ips !== undefined) asked.push({ from: 'args.cni.ips', values: Array.isArray(argsCni.ips) ? argsCni.ips : [argsCni.ips] });
  if (rc?.ips !== undefined) asked.push({ from: 'runtimeConfig.ips', values: Array.isArray(rc.ips) ? rc.ips : [rc.ips] });
  if (cniArgs.IP) asked.push({ from: 'CNI_ARGS IP', values: cniArgs.IP.split(',') });
  for (const a of asked) {
    for (const val of a.values) {
      const { v4, v6 } = splitIp(val, a.from);
      if (v4 && cfg.ipv4 && cfg.ipv4 !== v4) throw invalidConfig(a.from, `asks for ${v4} but ${cfg.ipv4} is asked for too`, 'ask for one IPv4 address per interface');
      if (v6 && cfg.ipv6 && cfg.ipv6 !== v6) throw invalidConfig(a.from, `asks for ${v6} but ${cfg.ipv6} is asked for too`, 'ask for one IPv6 address per interface');
      if (v4) cfg.ipv4 = v4;
      if (v6) cfg.ipv6 = v6;
    }
  }
  const macs: [string, unknown][] = [];
  if (argsCni?.mac !== undefined) macs.push(['args.cni.mac', argsCni.mac]);
  if (rc?.mac !== undefined) macs.push(['runtimeConfig.mac', rc.mac]);
  if (cniArgs.MAC) macs.push(['CNI_ARGS MAC', cniArgs.MAC]);
  for (const [from, m] of macs) {
    if (typeof m !== 'string' || !MAC_RE.test(m.toLowerCase())) throw invalidConfig(from, `${JSON.stringify(m)} is not a MAC address`, 'give six colon-separated hex pairs, e.g. 02:42:0a:58:00:05');
    cfg.mac = m.toLowerCase();
  }
  // Names: the pod or container name, and aliases per network (Podman's `aliases` capability).
  const DNS_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
  if (cniArgs.K8S_POD_NAME !== undefined && DNS_NAME_RE.test(cniArgs.K8S_POD_NAME)) cfg.containerName = cniArgs.K8S_POD_NAME;
  if (rc?.aliases !== undefined) {
    const mine = isObject(rc.aliases) ? rc.aliases[cfg.name] : undefined;
    if (!isObject(rc.aliases) || (mine !== undefined && (!Array.isArray(mine) || mine.some((a) => typeof a !== 'string' || !DNS_NAME_RE.test(a))))) {
      throw invalidConfig('runtimeConfig.aliases', `is not {"<network>": ["alias", ...]} of names`, 'give aliases of letters, digits, _ . or - per network name');
    }
    if (mine?.length) cfg.aliases = [...new Set(mine as string[])];
  }
  if (raw.prevResult !== undefined) {
    if (!isObject(raw.prevResult)) throw invalidConfig('prevResult', 'is not an object', "pass the previous plugin's result as it printed it");
    cfg.prevResult = raw.prevResult;
  }
  if (raw.dns !== undefined) {
    const d = raw.dns;
    const list = (k: string) => (isObject(d) && d[k] !== undefined ? d[k] : []);
    const ok = (x: unknown): x is string[] => Array.isArray(x) && x.every((s) => typeof s === 'string' && s.length < 256);
    if (!isObject(d) || !ok(list('nameservers')) || !ok(list('search')) || !ok(list('options'))) {
      throw invalidConfig('dns', 'is not {"nameservers": [...], "search": [...], "options": [...]} of strings', 'give lists of strings, or leave "dns" out');
    }
    cfg.dns = { nameservers: list('nameservers') as string[], search: list('search') as string[], options: list('options') as string[] };
  }
  if (command === 'GC') {
    const va = raw['cni.dev/valid-attachments'];
    if (va !== undefined) {
      if (!Array.isArray(va)) throw invalidConfig('cni.dev/valid-attachments', 'is not a list', 'give a list of {"containerID": ..., "ifname": ...}');
      cfg.validAttachments = va.map((a, i) => {
        if (!isObject(a) || typeof a.containerID !== 'string' || typeof a.ifname !== 'string') {
          throw invalidConfig(`cni.dev/valid-attachments[${i}]`, 'is not {"containerID": string, "ifname": string}', 'give each attachment the runtime still uses as {"containerID": ..., "ifname": ...}');
        }
        return { containerID: a.containerID, ifname: a.ifname };
      });
    } else cfg.validAttachments = [];
  }
  return cfg;
}

/** A call the daemon received, checked in full: environment facts and configuration. */
export interface CheckedCall {
  command: CniCommand;
  containerId?: string;
  netns?: string;
  ifname?: string;
  pid?: number;
  config: CniConfig;
}

/** The daemon's check of a posted call (the same rules as the plugin's). */
export function checkRequest(body: unknown): CheckedCall {
  if (!isObject(body)) throw new CniError(CNI_CODES.DECODE_FAILURE, 'the request is not a JSON object', 'post {"command", "containerId", "netns", "ifname", "args", "config", "pid"}');
  const env: Record<string, string | undefined> = {
    CNI_COMMAND: typeof body.command === 'string' ? body.command : undefined,
    CNI_CONTAINERID: typeof body.containerId === 'string' ? body.containerId : undefined,
    CNI_NETNS: typeof body.netns === 'string' ? body.netns : undefined,
    CNI_IFNAME: typeof body.ifname === 'string' ? body.ifname : undefined,
  };
  const e = parseEnv(env);
  const args: Record<string, string> = {};
  if (isObject(body.args)) for (const [k, v] of Object.entries(body.args)) if (typeof v === 'string') args[k] = v;
  const config = parseConfig(body.config, e.command, args);
  let pid: number | undefined;
  if (body.pid !== undefined) {
    if (typeof body.pid !== 'number' || !Number.isInteger(body.pid) || body.pid <= 0) throw invalidEnv('pid', `${JSON.stringify(body.pid)} is not a process ID`, "give the plugin's own PID");
    pid = body.pid;
  }
  return { command: e.command, ...(e.containerId ? { containerId: e.containerId } : {}), ...(e.netns ? { netns: e.netns } : {}), ...(e.ifname ? { ifname: e.ifname } : {}), ...(pid ? { pid } : {}), config };
}

/** What the daemon knows about one attachment, to build the result from. */
export interface AttachmentFacts {
  ifname: string;
  mac?: string;
  /** The namespace path as the runtime gave it (the result's `sandbox`). */
  sandbox: string;
  hostIfname?: string;
  hostMac?: string;
  /** "a.b.c.d/len" */
  ipv4?: string;
  ipv6?: string;
  gateway4?: string;
  gateway6?: string;
  /** This interface carries the namespace's default route(s). */
  defaultRoute: boolean;
  mtu?: number;
  dns?: { nameservers?: string[]; search?: string[]; options?: string[] };
}

export interface CniResult {
  cniVersion: string;
  interfaces: { name: string; mac?: string; mtu?: number; sandbox?: string }[];
  ips: { version?: '4' | '6'; address: string; gateway?: string; interface: number }[];
  routes: { dst: string; gw?: string }[];
  dns: { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] };
}

/** The ADD result: host side first (when there is one), then the container's interface. */
export function buildResult(cniVersion: string, f: AttachmentFacts): CniResult {
  const interfaces: CniResult['interfaces'] = [];
  if (f.hostIfname) interfaces.push({ name: f.hostIfname, ...(f.hostMac ? { mac: f.hostMac } : {}) });
  const idx = interfaces.length;
  interfaces.push({ name: f.ifname, ...(f.mac ? { mac: f.mac } : {}), ...(f.mtu ? { mtu: f.mtu } : {}), sandbox: f.sandbox });
  const legacy = cniVersion.startsWith('0.');
  const ips: CniResult['ips'] = [];
  if (f.ipv4) ips.push({ ...(legacy ? { version: '4' as const } : {}), address: f.ipv4, ...(f.gateway4 ? { gateway: f.gateway4 } : {}), interface: idx });
  if (f.ipv6) ips.push({ ...(legacy ? { version: '6' as const } : {}), address: f.ipv6, ...(f.gateway6 ? { gateway: f.gateway6 } : {}), interface: idx });
  const routes: CniResult['routes'] = [];
  if (f.defaultRoute && f.ipv4 && f.gateway4) routes.push({ dst: '0.0.0.0/0', gw: f.gateway4 });
  if (f.defaultRoute && f.ipv6 && f.gateway6) routes.push({ dst: '::/0', gw: f.gateway6 });
  const dns: CniResult['dns'] = {};
  if (f.dns?.nameservers?.length) dns.nameservers = [...f.dns.nameservers];
  if (f.dns?.search?.length) dns.search = [...f.dns.search];
  if (f.dns?.options?.length) dns.options = [...f.dns.options];
  return { cniVersion, interfaces, ips, routes, dns };
}

/**
 * The answer when the daemon cannot be reached: STATUS says the plugin is not available
 * (50); the other commands ask the runtime to try again later (11).
 */
export function unreachableError(command: CniCommand, socket: string, cause: string): CniError {
  const fix = `start the Switchyard daemon (yard daemon), or set "socket" in the network configuration to its socket`;
  return new CniError(command === 'STATUS' ? CNI_CODES.NOT_AVAILABLE : CNI_CODES.TRY_AGAIN_LATER, `the Switchyard daemon at ${socket} cannot be reached (${cause})`, fix);
}
