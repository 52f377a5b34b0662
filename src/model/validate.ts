/**
 * Validation of what a sandbox request writes into files and DNS records: the host name
 * (/etc/hosts, the embedded resolver), --dns/--dns-search/--dns-option (/etc/resolv.conf),
 * --add-host (/etc/hosts), network aliases (DNS names), labels, the environment and the
 * command (process arguments). Everything is checked before anything is created, so a
 * refused request changes nothing; a value that passes cannot add a line to a file or a
 * name to DNS beyond the one it stands for. Pure.
 *
 * The rules (docs/api.md lists them too):
 *   host name      RFC 1123: labels of letters, digits and "-" (not first or last), each
 *                  1-63 characters, the whole at most 253
 *   DNS names      (aliases, search domains, --add-host names) the same, "_" also allowed
 *   --dns          a unicast IP address: not 0.0.0.0/::, not multicast, not 255.255.255.255
 *   --dns-search   at most 6 domains (glibc's MAXDNSRCH), 256 characters together; "."
 *                  alone means "no search domains"
 *   --dns-option   resolv.conf option syntax `^[a-z0-9-]+(:[0-9]+)?$`, at most 16
 *   --add-host     NAME:IP, IP a valid address (IPv6 may be in brackets) or host-gateway
 *   aliases        at most 64 per endpoint
 *   labels         at most 256; keys 1-256 characters, values at most 4096; no control
 *                  characters in keys, no NUL in values
 *   env            keys `^[A-Za-z_][A-Za-z0-9_]*$`, values without NUL, at most 1024
 *   command        arguments without NUL, at most 4096 of them
 */
import { YardError } from '../errors.js';
import { formatAddr, parseAddr, type Addr } from '../ipam/prefix.js';

export const LIMITS = {
  nameChars: 253,
  labelChars: 63,
  dnsServers: 16,
  dnsSearch: 6,
  dnsSearchChars: 256,
  dnsOptions: 16,
  dnsOptionChars: 64,
  extraHosts: 256,
  aliases: 64,
  labels: 256,
  labelKeyChars: 256,
  labelValueChars: 4096,
  envVars: 1024,
  envValueChars: 65536,
  commandArgs: 4096,
} as const;

/** Shown in messages: short, on one line, control characters visible. */
export function quote(v: unknown, max = 40): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
  const q = JSON.stringify(s.length > max ? `${s.slice(0, max)}...` : s);
  return q;
}

function invalid(field: string, message: string, hint: string): YardError {
  return new YardError('INVALID_ARGUMENT', message, { field, hint });
}

const HOST_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const DNS_LABEL = /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

/** Why `name` is not a DNS name (labels by `label`), or null when it is one. A trailing dot is allowed when `fqdn`. */
function dnsNameProblem(name: string, label: RegExp, fqdn = false): string | null {
  if (name.length === 0) return 'is empty';
  const bare = fqdn && name.endsWith('.') && name.length > 1 ? name.slice(0, -1) : name;
  if (bare.length > LIMITS.nameChars) return `is ${name.length} characters long (at most ${LIMITS.nameChars})`;
  for (const l of bare.split('.')) {
    if (l.length === 0) return 'has an empty label (".." or a leading or trailing ".")';
    if (l.length > LIMITS.labelChars) return `has a label of ${l.length} characters (at most ${LIMITS.labelChars})`;
    if (!label.test(l)) return `has a label ${quote(l)} with characters other than letters, digits${label === DNS_LABEL ? ', "_"' : ''} and "-" inside`;
  }
  return null;
}

function asString(field: string, v: unknown, what: string): string {
  if (typeof v !== 'string') throw invalid(field, `${field} ${quote(v)} is not a string`, `give ${what} as a string`);
  return v;
}

function asList(field: string, v: unknown, max: number, what: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalid(field, `${field} is not a list`, `give a list of ${what}`);
  if (v.length > max) throw invalid(field, `${field} has ${v.length} entries; at most ${max} are allowed`, `give at most ${max} ${what}`);
  return v;
}

/** A sandbox host name: RFC 1123 (letters, digits, "-"; labels of 1-63, at most 253 in all). */
export function validateHostname(v: unknown, field = '--hostname'): string {
  const h = asString(field, v, 'a host name');
  const why = dnsNameProblem(h, HOST_LABEL);
  if (why) throw invalid(field, `${field} ${quote(h)} ${why}`, 'use letters, digits and "-" (not first or last) in dot-separated labels of at most 63 characters, e.g. web-1 or db.internal');
  return h;
}

/** A DNS name (network alias, --add-host name): as a host name, "_" also allowed. */
export function validateDnsName(v: unknown, field: string): string {
  const n = asString(field, v, 'a DNS name');
  const why = dnsNameProblem(n, DNS_LABEL);
  if (why) throw invalid(field, `${field} ${quote(n)} ${why}`, 'use letters, digits, "_" and "-" in dot-separated labels of at most 63 characters (253 in all), e.g. db or api.v2');
  return n;
}

/** Network aliases of one endpoint. */
export function validateAliases(v: unknown, field = '--alias'): string[] {
  return asList(field, v, LIMITS.aliases, 'aliases').map((a) => validateDnsName(a, field));
}

/** A unicast address: not unspecified, multicast or the limited broadcast. */
function unicastProblem(a: Addr): string | null {
  if (a.value === 0n) return 'is the unspecified address';
  if (a.family === 4 && a.value >> 28n === 0xen) return 'is a multicast address';
  if (a.family === 4 && a.value === 0xffffffffn) return 'is the broadcast address';
  if (a.family === 6 && a.value >> 120n === 0xffn) return 'is a multicast address';
  return null;
}

/** --dns servers: unicast IP addresses, canonical form. */
export function validateDnsServers(v: unknown, field = '--dns'): string[] {
  return asList(field, v, LIMITS.dnsServers, 'servers').map((s) => {
    const text = asString(field, s, 'an IP address');
    const a = parseAddr(text);
    if (!a) throw invalid(field, `${field} ${quote(text)} is not an IP address`, 'give the address of a DNS server, e.g. 10.231.0.1 or fd00:231::1');
    const why = unicastProblem(a);
    if (why) throw invalid(field, `${field} ${text} ${why}`, 'give the unicast address of a DNS server, e.g. 10.231.0.1');
    return formatAddr(a);
  });
}

/** --dns-search domains. "." alone stands for "no search domains" (Docker's rule). */
export function validateDnsSearch(v: unknown, field = '--dns-search'): string[] {
  const list = asList(field, v, LIMITS.dnsSearch, 'search domains (glibc reads at most 6)').map((d) => asString(field, d, 'a domain'));
  if (list.length === 1 && list[0] === '.') return list;
  for (const d of list) {
    const why = dnsNameProblem(d, DNS_LABEL, true);
    if (why) throw invalid(field, `${field} ${quote(d)} ${why}`, 'give a domain name such as lab or corp.example (or "." alone for none)');
  }
  const total = list.join(' ').length;
  if (total > LIMITS.dnsSearchChars) {
    throw invalid(field, `${field}: the search domains take ${total} characters together; resolv.conf allows ${LIMITS.dnsSearchChars}`, 'give fewer or shorter search domains');
  }
  return list;
}

const DNS_OPTION = /^[a-z0-9-]+(:[0-9]+)?$/;

/** --dns-option: resolv.conf's `options` words, e.g. ndots:2, timeout:1, attempts:3, rotate, edns0. */
export function validateDnsOptions(v: unknown, field = '--dns-option'): string[] {
  return asList(field, v, LIMITS.dnsOptions, 'options').map((o) => {
    const text = asString(field, o, 'an option');
    if (text.length > LIMITS.dnsOptionChars || !DNS_OPTION.test(text)) {
      throw invalid(field, `${field} ${quote(text)} is not a resolv.conf option`, 'write NAME or NAME:NUMBER in lowercase letters, digits and "-", e.g. ndots:2, timeout:1, rotate, edns0');
    }
    return text;
  });
}

/** One --add-host value, NAME:IP (IP may be [v6] or host-gateway), as `name:ip` with the address canonical. */
export function parseExtraHost(v: unknown, field = '--add-host'): string {
  const text = asString(field, v, 'NAME:IP');
  const i = text.indexOf(':');
  if (i < 0) throw invalid(field, `${field} ${quote(text)} is not NAME:IP`, 'write it as name:1.2.3.4 (or name:host-gateway)');
  const name = text.slice(0, i);
  let ip = text.slice(i + 1);
  const why = dnsNameProblem(name, DNS_LABEL);
  if (why) throw invalid(field, `${field} ${quote(text)}: the name ${quote(name)} ${why}`, 'write it as name:1.2.3.4 with a host name of letters, digits, "_", "-" and "."');
  if (ip === 'host-gateway') return `${name}:${ip}`;
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  const a = parseAddr(ip);
  if (!a) throw invalid(field, `${field} ${quote(text)}: ${quote(ip)} is not an IP address`, 'write it as name:1.2.3.4, name:fd00::1 or name:host-gateway');
  return `${name}:${formatAddr(a)}`;
}

export function validateExtraHosts(v: unknown, field = '--add-host'): string[] {
  return asList(field, v, LIMITS.extraHosts, 'entries').map((h) => parseExtraHost(h, field));
}

function asRecord(field: string, v: unknown, max: number, what: string): [string, unknown][] {
  if (v === undefined || v === null) return [];
  if (typeof v !== 'object' || Array.isArray(v)) throw invalid(field, `${field} is not a map of ${what}`, `give ${what} as an object of strings`);
  const entries = Object.entries(v);
  if (entries.length > max) throw invalid(field, `${field} has ${entries.length} entries; at most ${max} are allowed`, `give at most ${max} ${what}`);
  return entries;
}

// Control characters (C0, DEL, C1): none of them belongs in a key.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Labels of a network or sandbox (shown by ls/inspect and matched by filters). */
export function validateLabels(v: unknown, field = '--label'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, val] of asRecord(field, v, LIMITS.labels, 'labels')) {
    if (k.length === 0 || k.length > LIMITS.labelKeyChars || CONTROL.test(k)) {
      throw invalid(field, `${field} key ${quote(k)} is empty, longer than ${LIMITS.labelKeyChars} characters or has control characters`, 'use a key such as com.example.team');
    }
    const s = asString(`${field} ${k}`, val, 'the label value');
    if (s.length > LIMITS.labelValueChars || s.includes('\0')) {
      throw invalid(field, `${field} ${k}: the value is longer than ${LIMITS.labelValueChars} characters or has a NUL byte`, `give a value of at most ${LIMITS.labelValueChars} characters`);
    }
    out[k] = s;
  }
  return out;
}

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Environment variables for the sandbox's command. */
export function validateEnv(v: unknown, field = '--env'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, val] of asRecord(field, v, LIMITS.envVars, 'variables')) {
    if (!ENV_KEY.test(k)) throw invalid(field, `${field} ${quote(k)} is not a variable name`, 'use letters, digits and "_", not starting with a digit, e.g. APP_MODE');
    const s = asString(`${field} ${k}`, val, 'the value');
    if (s.includes('\0')) throw invalid(field, `${field} ${k}: the value has a NUL byte`, 'remove the NUL byte: a process environment cannot carry it');
    if (s.length > LIMITS.envValueChars) throw invalid(field, `${field} ${k}: the value is ${s.length} characters long`, `give at most ${LIMITS.envValueChars} characters`);
    out[k] = s;
  }
  return out;
}

/** The command and its arguments. */
export function validateCommand(v: unknown, field = 'COMMAND'): string[] {
  const list = asList(field, v, LIMITS.commandArgs, 'arguments').map((a) => asString(field, a, 'each argument'));
  if (list.length && list[0] === '') throw invalid(field, `${field}: the program name is empty`, 'give the program to run first, e.g. `-- sleep 1000`');
  list.forEach((a, i) => {
    if (a.includes('\0')) throw invalid(field, `${field} argument ${i} ${quote(a)} has a NUL byte`, 'remove the NUL byte: a process argument cannot carry it');
  });
  return list;
}

/** Everything of a sandbox request that reaches files, DNS or the process, validated and normalised. */
export interface SandboxInput {
  hostname?: string;
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  /** `name:ip` (or `name:host-gateway`, resolved later). */
  extraHosts: string[];
  labels: Record<string, string>;
  env: Record<string, string>;
  command: string[];
}

export function validateSandboxInput(req: {
  hostname?: unknown;
  dns?: unknown;
  dnsSearch?: unknown;
  dnsOptions?: unknown;
  extraHosts?: unknown;
  labels?: unknown;
  env?: unknown;
  command?: unknown;
}): SandboxInput {
  return {
    ...(req.hostname !== undefined && req.hostname !== '' ? { hostname: validateHostname(req.hostname) } : {}),
    dns: validateDnsServers(req.dns),
    dnsSearch: validateDnsSearch(req.dnsSearch),
    dnsOptions: validateDnsOptions(req.dnsOptions),
    extraHosts: validateExtraHosts(req.extraHosts),
    labels: validateLabels(req.labels),
    env: validateEnv(req.env),
    command: validateCommand(req.command),
  };
}
