/**
 * Docker's plugin requests -> Switchyard's vocabulary, and the backend's answers -> Docker's
 * responses. Pure. Bad values throw a YardError naming the field (in `docker` CLI terms
 * where there is one: `-o key`, `--subnet`, ...) and the fix.
 */
import type { z } from 'zod';
import { YardError } from '../errors.js';
import { formatAddr, parseAddr, parsePrefix, canonicalPrefix, formatPrefix, prefixContains, prefixContainsPrefix, type Family } from '../ipam/prefix.js';
import { parseBoolOption, checkIfname } from '../drivers/contract.js';
import { GLOBAL_DRIVERS, LOCAL_DRIVERS, type DockerEndpointCreate, type DockerNetworkCreate, type DockerPool, type EndpointAddresses, type JoinResult, type PluginDriver, type PluginScope } from './backend.js';
import { LABEL, type CreateEndpointRequestSchema, type CreateEndpointResponse, type CreateNetworkRequestSchema, type EndpointInterface, type IpamData, type JoinResponse, type StaticRouteWire } from './docker-protocol.js';
import { exposedPortsFrom, portMappingsFrom } from './ports.js';

/** The `-o` key that picks the Switchyard driver of a Docker network: `docker network create -d switchyard -o driver=macvlan`. */
export const DRIVER_SELECTOR = 'driver';

/** The line dockerd shows for a failed call: `<message> (<hint>)`. */
export function errText(e: YardError): string {
  return e.hint ? `${e.message} (${e.hint})` : e.message;
}

function invalid(field: string, message: string, hint: string): YardError {
  return new YardError('INVALID_ARGUMENT', message, { field, hint });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A boolean option as dockerd sends it (a JSON boolean), or a string in Go's spellings. */
function boolOpt(v: unknown, key: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') return parseBoolOption(key, v);
  throw invalid(`Options.${key}`, `Options.${key} is ${JSON.stringify(v)}, not a boolean`, 'send true or false');
}

/** The Switchyard drivers each plugin name offers, and the default. */
export function driversOf(scope: PluginScope): { drivers: readonly PluginDriver[]; dflt: PluginDriver } {
  return scope === 'local' ? { drivers: LOCAL_DRIVERS, dflt: 'bridge' } : { drivers: GLOBAL_DRIVERS, dflt: 'overlay' };
}

/**
 * CreateNetwork's Options -> the Switchyard driver, its options, --ipv6 and --internal.
 * `com.docker.network.generic` is the `-o` map; `driver` is taken out of it.
 */
export function networkOptionsFrom(options: Record<string, unknown> | undefined, scope: PluginScope, plugin: { local: string; global: string }) {
  const o = options ?? {};
  const generic = o[LABEL.generic] ?? {};
  if (!isObject(generic)) {
    throw invalid(`Options.${LABEL.generic}`, `Options.${LABEL.generic} is not a map of -o options`, 'send {"key": "value", ...}');
  }
  const opts: Record<string, string> = {};
  for (const [k, v] of Object.entries(generic)) {
    if (typeof v !== 'string') throw invalid(`-o ${k}`, `-o ${k}: the value ${JSON.stringify(v)} is not a string`, 'give -o key=value');
    opts[k] = v;
  }
  const { drivers, dflt } = driversOf(scope);
  let driver: PluginDriver = dflt;
  if (DRIVER_SELECTOR in opts) {
    const want = opts[DRIVER_SELECTOR]!;
    delete opts[DRIVER_SELECTOR];
    if (!(drivers as readonly string[]).includes(want)) {
      const other = scope === 'local' ? GLOBAL_DRIVERS : LOCAL_DRIVERS;
      const hint = (other as readonly string[]).includes(want)
        ? `${want} networks are ${scope === 'local' ? 'multi-host' : 'local'}: create them with docker network create -d ${scope === 'local' ? plugin.global : plugin.local}`
        : `use -o ${DRIVER_SELECTOR}=${drivers.join('|')} (default ${dflt}) with -d ${scope === 'local' ? plugin.local : plugin.global}`;
      throw new YardError('UNKNOWN_DRIVER', `-o ${DRIVER_SELECTOR}=${want} is not a Switchyard driver of the ${scope === 'local' ? plugin.local : plugin.global} plugin`, { field: `-o ${DRIVER_SELECTOR}`, hint });
    }
    driver = want as PluginDriver;
  }
  return { driver, options: opts, enableIPv6: boolOpt(o[LABEL.enableIPv6], LABEL.enableIPv6), internal: boolOpt(o[LABEL.internal], LABEL.internal) };
}

/** "a.b.c.d/len" or a bare address -> the bare address, canonical. */
export function bareAddress(text: string, field: string, family?: Family): string {
  const slash = text.indexOf('/');
  const a = slash < 0 ? parseAddr(text) : parsePrefix(text) && parseAddr(text.slice(0, slash));
  if (!a) throw invalid(field, `${field} ${JSON.stringify(text)} is not an IP address`, 'give an address such as 172.18.0.1 or 172.18.0.1/16');
  if (family && a.family !== family) throw invalid(field, `${field} ${text} is not an IPv${family} address`, `give an IPv${family} address`);
  return formatAddr(a);
}

/** "addr/len" with the address canonical and the length kept (host bits are the point). */
export function interfaceCidr(text: string, field: string, family: Family): string {
  const p = parsePrefix(text);
  if (!p || p.family !== family) throw invalid(field, `${field} ${JSON.stringify(text)} is not an IPv${family} address with its prefix length`, `give e.g. ${family === 4 ? '172.18.0.2/16' : 'fd00:1::2/64'}`);
  return formatPrefix(p);
}

/** A subnet in canonical form (host bits cleared). */
export function canonicalSubnet(text: string, field: string, family?: Family): string {
  const p = parsePrefix(text);
  if (!p || (family && p.family !== family)) throw invalid(field, `${field} ${JSON.stringify(text)} is not an IPv${family ?? '4 or IPv6'} subnet`, 'write it as address/length, e.g. 10.20.0.0/24 or fd00:1::/64');
  return formatPrefix(canonicalPrefix(p));
}

export function poolsFrom(list: IpamData[] | undefined, family: Family, field: string): DockerPool[] {
  return (list ?? []).map((d, i) => {
    const f = `${field}[${i}]`;
    const subnet = canonicalSubnet(d.Pool, `${f}.Pool`, family);
    const prefix = parsePrefix(subnet)!;
    const inside = (addr: string, what: string) => {
      if (!prefixContains(prefix, parseAddr(addr)!)) throw invalid(what, `${what} ${addr} is outside the subnet ${subnet}`, 'give an address inside the subnet');
      return addr;
    };
    const pool: DockerPool = { addressSpace: d.AddressSpace ?? '', subnet, auxAddresses: {} };
    if (d.Gateway) pool.gateway = inside(bareAddress(d.Gateway, `${f}.Gateway`, family), `${f}.Gateway`);
    for (const [name, a] of Object.entries(d.AuxAddresses ?? {})) pool.auxAddresses[name] = inside(bareAddress(a, `${f}.AuxAddresses.${name}`, family), `${f}.AuxAddresses.${name}`);
    return pool;
  });
}

export function networkCreateFrom(req: z.infer<typeof CreateNetworkRequestSchema>, scope: PluginScope, plugin: { local: string; global: string }): DockerNetworkCreate {
  return {
    id: req.NetworkID,
    scope,
    ...networkOptionsFrom(req.Options, scope, plugin),
    ipv4: poolsFrom(req.IPv4Data, 4, 'IPv4Data'),
    ipv6: poolsFrom(req.IPv6Data, 6, 'IPv6Data'),
  };
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

export function macAddress(text: string, field: string): string {
  if (!MAC_RE.test(text)) throw invalid(field, `${field} ${JSON.stringify(text)} is not a MAC address`, 'write it as six hex pairs, e.g. 02:42:ac:12:00:02');
  return text.toLowerCase();
}

/** The options dockerd itself puts in an endpoint's map; everything else with a string value is a --driver-opt. */
const ENDPOINT_LABELS: readonly string[] = [LABEL.portMap, LABEL.exposedPorts, LABEL.macAddress, LABEL.dnsServers];

export function endpointCreateFrom(req: z.infer<typeof CreateEndpointRequestSchema>): DockerEndpointCreate {
  const i: EndpointInterface = req.Interface ?? {};
  const iface: EndpointAddresses = {};
  if (i.Address) iface.ipv4 = interfaceCidr(i.Address, 'Interface.Address', 4);
  if (i.AddressIPv6) iface.ipv6 = interfaceCidr(i.AddressIPv6, 'Interface.AddressIPv6', 6);
  if (i.MacAddress) iface.mac = macAddress(i.MacAddress, 'Interface.MacAddress');
  const o = req.Options ?? {};
  const driverOpts: Record<string, string> = {};
  for (const [k, v] of Object.entries(o)) if (!ENDPOINT_LABELS.includes(k) && typeof v === 'string') driverOpts[k] = v;
  const dns = o[LABEL.dnsServers];
  if (dns !== undefined && dns !== null && !(Array.isArray(dns) && dns.every((s) => typeof s === 'string'))) {
    throw invalid(`Options.${LABEL.dnsServers}`, `Options.${LABEL.dnsServers} is not a list of addresses`, 'send a JSON list of strings');
  }
  return {
    networkId: req.NetworkID,
    endpointId: req.EndpointID,
    iface,
    driverOpts,
    ports: portMappingsFrom(o[LABEL.portMap], `Options.${LABEL.portMap}`),
    exposed: exposedPortsFrom(o[LABEL.exposedPorts], `Options.${LABEL.exposedPorts}`),
    dnsServers: (dns as string[] | undefined | null) ?? [],
  };
}

/** The backend's interface -> CreateEndpoint's answer: only what dockerd did not set (it refuses a change). */
export function createEndpointResponse(sent: EndpointAddresses, got: EndpointAddresses): CreateEndpointResponse {
  const out: NonNullable<CreateEndpointResponse['Interface']> = {};
  const fields = [
    ['ipv4', 'Address', (t: string) => interfaceCidr(t, 'the driver\'s IPv4 address', 4)],
    ['ipv6', 'AddressIPv6', (t: string) => interfaceCidr(t, 'the driver\'s IPv6 address', 6)],
    ['mac', 'MacAddress', (t: string) => macAddress(t, 'the driver\'s MAC address')],
  ] as const;
  for (const [key, wire, norm] of fields) {
    const g = got[key];
    if (!g) continue;
    const v = norm(g);
    if (sent[key] === undefined) out[wire] = v;
    else if (sent[key] !== v) {
      throw new YardError('INTERNAL', `internal error: the driver changed the endpoint's ${wire} from ${sent[key]} to ${v}`, { hint: 'this is a bug in Switchyard; please report it with the daemon log' });
    }
  }
  return Object.keys(out).length ? { Interface: out } : {};
}

/** The backend's join result -> Join's answer, checked (a bad answer would fail inside dockerd, later and less clearly). */
export function joinResponse(r: JoinResult): JoinResponse {
  const bug = (what: string) => new YardError('INTERNAL', `internal error: the driver's join answer has ${what}`, { hint: 'this is a bug in Switchyard; please report it with the daemon log' });
  try {
    checkIfname('the interface', r.srcName);
  } catch {
    throw bug(`an invalid interface name ${JSON.stringify(r.srcName)}`);
  }
  if (!/^[A-Za-z][A-Za-z0-9]{0,9}$/.test(r.dstPrefix)) throw bug(`an invalid interface prefix ${JSON.stringify(r.dstPrefix)}`);
  const out: JoinResponse = { InterfaceName: { SrcName: r.srcName, DstPrefix: r.dstPrefix } };
  const ip = (t: string, fam: Family) => {
    const a = parseAddr(t);
    if (!a || a.family !== fam) throw bug(`an invalid IPv${fam} address ${JSON.stringify(t)}`);
    return formatAddr(a);
  };
  if (r.gateway) out.Gateway = ip(r.gateway, 4);
  if (r.gatewayIPv6) out.GatewayIPv6 = ip(r.gatewayIPv6, 6);
  if (r.staticRoutes?.length) {
    out.StaticRoutes = r.staticRoutes.map((s): StaticRouteWire => {
      const p = parsePrefix(s.destination);
      if (!p) throw bug(`an invalid route destination ${JSON.stringify(s.destination)}`);
      const dst = formatPrefix(canonicalPrefix(p));
      return s.nextHop ? { Destination: dst, RouteType: 0, NextHop: ip(s.nextHop, p.family) } : { Destination: dst, RouteType: 1 };
    });
  }
  if (r.disableGatewayService) out.DisableGatewayService = true;
  return out;
}

/** RequestPool's Pool/SubPool, checked: SubPool needs Pool and must lie inside it. */
export function poolAndSubPool(pool: string | undefined, subPool: string | undefined): { pool?: string; subPool?: string } {
  if (!pool) {
    if (subPool) throw invalid('--ip-range', `--ip-range ${subPool} is given without --subnet`, 'give the --subnet it belongs to');
    return {};
  }
  const p = canonicalSubnet(pool, '--subnet');
  if (!subPool) return { pool: p };
  const s = canonicalSubnet(subPool, '--ip-range');
  if (!prefixContainsPrefix(parsePrefix(p)!, parsePrefix(s)!)) throw invalid('--ip-range', `--ip-range ${s} is not inside --subnet ${p}`, 'give a range inside the subnet');
  return { pool: p, subPool: s };
}
