/**
 * The HTTP side of the Docker plugin: a Hono app serving libnetwork's remote network
 * driver and remote IPAM protocols (docker-protocol.ts) over a backend (backend.ts).
 * One app per plugin name, because a plugin name has one scope: `switchyard` (local:
 * bridge, macvlan, ipvlan; and the IPAM driver) and `switchyard-global` (overlay).
 *
 * Answers: 200 with the call's JSON; 200 with `{"Err"}` (IPAM: `{"Error"}` too) when the
 * backend refuses; 400/413 with `{"Err"}` when the request cannot be decoded; 404 with
 * `{"Err"}` for a call this plugin does not implement. Never a 5xx for bad input.
 */
import { Hono, type Context } from 'hono';
import { getRequestListener } from '@hono/node-server';
import type http from 'node:http';
import type { z } from 'zod';
import { YardError, asYardError } from '../errors.js';
import { BodyError, readBodyOf } from '../api/body.js';
import { parseAddr } from '../ipam/prefix.js';
import type { DockerPluginBackend, PluginScope } from './backend.js';
import {
  AllocateNetworkRequestSchema, CreateEndpointRequestSchema, CreateNetworkRequestSchema, DiscoveryNotificationSchema, EndpointRefSchema,
  IPAM_DRIVER, LABEL, NETWORK_DRIVER, NODE_DISCOVERY, NetworkRefSchema, NodeDiscoveryDataSchema, PLUGIN_MEDIA_TYPE, ProgramExternalConnectivityRequestSchema,
  ReleaseAddressRequestSchema, ReleasePoolRequestSchema, RequestAddressRequestSchema, RequestPoolRequestSchema, JoinRequestSchema,
  type ActivateResponse, type AddressSpacesResponse, type CapabilitiesResponse, type IpamCapabilitiesResponse, type RequestAddressResponse, type RequestPoolResponse,
} from './docker-protocol.js';
import { bareAddress, canonicalSubnet, createEndpointResponse, endpointCreateFrom, errText, interfaceCidr, joinResponse, macAddress, networkCreateFrom, poolAndSubPool } from './translate.js';
import { exposedPortsFrom, portMappingsFrom } from './ports.js';
import { PLUGIN_NAMES, type PluginNames } from './plugin-location.js';

/** IPAM's address spaces: pools of local networks come from the first, of global ones from the second. */
export const ADDRESS_SPACES = { local: 'LocalDefault', global: 'GlobalDefault' } as const;

/** dockerd sends every -p binding in several calls; a 65,535-port range of tcp and udp is about 12 MiB of JSON. */
export const PLUGIN_MAX_BODY_BYTES = 16 * 1024 * 1024;

export interface DockerPluginAppOptions {
  scope: PluginScope;
  /** Both plugin names, for messages that send the user to the other one. */
  names?: PluginNames;
  /** Serve the IpamDriver calls too. Default: the local plugin does, the global one does not. */
  ipam?: boolean;
  maxBodyBytes?: number;
}

/** A request that could not be decoded: answered with an HTTP error status, as the protocol asks. */
class BadRequest extends Error {
  constructor(readonly status: 400 | 413, readonly error: YardError) {
    super(error.message);
  }
}

const HINT = 'send the body of libnetwork\'s remote driver protocol';

async function readJson(c: Context, limit: number): Promise<unknown> {
  const tooLarge = () => new BadRequest(413, new YardError('REQUEST_TOO_LARGE', `request body is larger than the plugin's limit of ${limit} bytes`, { field: 'body', hint: 'send a smaller request' }));
  const len = c.req.header('content-length');
  if (len !== undefined && Number(len) > limit) throw tooLarge();
  try {
    return await readBodyOf(c, limit, 'cancel');
  } catch (e) {
    if (!(e instanceof BodyError)) throw e;
    if (e.problem === 'too-large') throw tooLarge();
    const what = e.problem === 'not-utf8' ? 'not UTF-8 text' : 'not valid JSON';
    throw new BadRequest(400, new YardError('INVALID_ARGUMENT', `request body is ${what}`, { field: 'body', hint: HINT }));
  }
}

function decode<T>(schema: z.ZodType<T>, body: unknown): T {
  const kind = body === null ? 'null' : Array.isArray(body) ? 'a JSON list' : typeof body !== 'object' && body !== undefined ? `a JSON ${typeof body}` : '';
  if (kind) throw new BadRequest(400, new YardError('INVALID_ARGUMENT', `request body is ${kind}, not a JSON object`, { field: 'body', hint: HINT }));
  const r = schema.safeParse(body ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const field = issue.path.join('.') || 'body';
  const msg = issue.message.startsWith(field) ? issue.message : `${field}: ${issue.message}`;
  throw new BadRequest(400, new YardError('INVALID_ARGUMENT', `request field ${msg}`, { field, hint: HINT }));
}

/**
 * The node:http listener for a plugin socket. dockerd 20.10 sends an empty Host header,
 * which @hono/node-server refuses (400 "Missing host header") unless it has a default.
 */
export function pluginRequestListener(app: Hono): http.RequestListener {
  return getRequestListener(app.fetch, { hostname: 'plugin.localhost' });
}

export function dockerPluginApp(backend: DockerPluginBackend, opts: DockerPluginAppOptions): Hono {
  const scope = opts.scope;
  const names = opts.names ?? PLUGIN_NAMES;
  const ipam = opts.ipam ?? scope === 'local';
  const limit = opts.maxBodyBytes ?? PLUGIN_MAX_BODY_BYTES;
  const app = new Hono();

  const reply = (c: Context, body: unknown, status: 200 | 400 | 404 | 413 | 500 = 200) =>
    c.body(JSON.stringify(body), status, { 'Content-Type': PLUGIN_MEDIA_TYPE });

  /** One call: decode (400/413 on failure), run, answer; a refusal is a 200 with the error field(s) of the interface. */
  function call<T>(iface: string, method: string, schema: z.ZodType<T> | null, run: (req: T) => unknown): void {
    app.post(`/${iface}.${method}`, async (c) => {
      let req: T;
      try {
        const body = await readJson(c, limit);
        req = schema ? decode(schema, body) : (undefined as T);
      } catch (e) {
        if (e instanceof BadRequest) return reply(c, { Err: errText(e.error) }, e.status);
        throw e;
      }
      try {
        return reply(c, (await run(req)) ?? {});
      } catch (e) {
        const text = errText(asYardError(e));
        return reply(c, iface === IPAM_DRIVER ? { Error: text, Err: text } : { Err: text });
      }
    });
  }

  app.notFound((c) => reply(c, { Err: `${c.req.method} ${c.req.path} is not a call the ${scope === 'local' ? names.local : names.global} plugin implements` }, 404));
  app.onError((e, c) => reply(c, { Err: errText(asYardError(e)) }, 500));

  call('Plugin', 'Activate', null, (): ActivateResponse => ({ Implements: ipam ? [NETWORK_DRIVER, IPAM_DRIVER] : [NETWORK_DRIVER] }));

  // ------------------------------------------------------------ NetworkDriver
  const N = NETWORK_DRIVER;
  call(N, 'GetCapabilities', null, (): CapabilitiesResponse => ({ Scope: scope, ConnectivityScope: scope }));
  call(N, 'CreateNetwork', CreateNetworkRequestSchema, async (b) => {
    await backend.createNetwork(networkCreateFrom(b, scope, names));
  });
  call(N, 'DeleteNetwork', NetworkRefSchema, async (b) => {
    await backend.deleteNetwork(b.NetworkID);
  });
  call(N, 'CreateEndpoint', CreateEndpointRequestSchema, async (b) => {
    const req = endpointCreateFrom(b);
    return createEndpointResponse(req.iface, (await backend.createEndpoint(req)) ?? {});
  });
  call(N, 'EndpointOperInfo', EndpointRefSchema, async (b) => ({ Value: (await backend.endpointInfo(b.NetworkID, b.EndpointID)) ?? {} }));
  call(N, 'DeleteEndpoint', EndpointRefSchema, async (b) => {
    await backend.deleteEndpoint(b.NetworkID, b.EndpointID);
  });
  // Join's Options are the sandbox's labels (its -p bindings again): ProgramExternalConnectivity acts on them.
  call(N, 'Join', JoinRequestSchema, async (b) => joinResponse(await backend.join(b.NetworkID, b.EndpointID, b.SandboxKey)));
  call(N, 'Leave', EndpointRefSchema, async (b) => {
    await backend.leave(b.NetworkID, b.EndpointID);
  });
  call(N, 'ProgramExternalConnectivity', ProgramExternalConnectivityRequestSchema, async (b) => {
    const o = b.Options ?? {};
    await backend.programExternalConnectivity(b.NetworkID, b.EndpointID, {
      ports: portMappingsFrom(o[LABEL.portMap], `Options.${LABEL.portMap}`),
      exposed: exposedPortsFrom(o[LABEL.exposedPorts], `Options.${LABEL.exposedPorts}`),
    });
  });
  call(N, 'RevokeExternalConnectivity', EndpointRefSchema, async (b) => {
    await backend.revokeExternalConnectivity(b.NetworkID, b.EndpointID);
  });
  for (const [method, event] of [['DiscoverNew', 'new'], ['DiscoverDelete', 'delete']] as const) {
    call(N, method, DiscoveryNotificationSchema, async (b) => {
      // Only node discovery is sent to remote drivers; anything else is acknowledged.
      if (b.DiscoveryType !== NODE_DISCOVERY || !backend.discoverNode) return;
      const r = NodeDiscoveryDataSchema.safeParse(b.DiscoveryData ?? {});
      if (!r.success) throw new YardError('INVALID_ARGUMENT', `DiscoveryData is not node data: ${r.error.issues[0]!.message}`, { field: 'DiscoveryData', hint: 'send {"Address": ..., "BindAddress": ..., "Self": ...}' });
      await backend.discoverNode(event, { address: r.data.Address ?? '', bindAddress: r.data.BindAddress ?? '', self: !!r.data.Self });
    });
  }
  // Swarm managers allocate global networks through these; Switchyard does not run swarm mode.
  for (const method of ['AllocateNetwork', 'FreeNetwork']) {
    call(N, method, method === 'AllocateNetwork' ? AllocateNetworkRequestSchema : NetworkRefSchema, () => {
      throw new YardError('NOT_IMPLEMENTED', `${names.global} networks are not supported in swarm mode (${method})`, {
        hint: 'run dockerd with a cluster store (--cluster-store etcd://HOST:2379 --cluster-advertise IF) instead of swarm mode',
      });
    });
  }

  if (!ipam) return app;

  // ------------------------------------------------------------ IpamDriver
  const I = IPAM_DRIVER;
  call(I, 'GetCapabilities', null, (): IpamCapabilitiesResponse => ({ RequiresMACAddress: false, RequiresRequestReplay: false }));
  call(I, 'GetDefaultAddressSpaces', null, (): AddressSpacesResponse => ({ LocalDefaultAddressSpace: ADDRESS_SPACES.local, GlobalDefaultAddressSpace: ADDRESS_SPACES.global }));
  call(I, 'RequestPool', RequestPoolRequestSchema, async (b): Promise<RequestPoolResponse> => {
    const space = (Object.keys(ADDRESS_SPACES) as PluginScope[]).find((k) => ADDRESS_SPACES[k] === b.AddressSpace);
    if (!space) {
      throw new YardError('INVALID_ARGUMENT', `address space ${JSON.stringify(b.AddressSpace)} is not one of ${names.local}'s`, { field: 'AddressSpace', hint: `use ${ADDRESS_SPACES.local} or ${ADDRESS_SPACES.global}` });
    }
    const ps = poolAndSubPool(b.Pool, b.SubPool);
    const v6 = !!b.V6;
    if (ps.pool && ps.pool.includes(':') !== v6) {
      throw new YardError('INVALID_ARGUMENT', `--subnet ${ps.pool} is not an IPv${v6 ? 6 : 4} subnet`, { field: '--subnet', hint: `give IPv${v6 ? 6 : 4} subnets in the IPv${v6 ? 6 : 4} list` });
    }
    const g = await backend.requestPool({ scope: space, ...ps, options: b.Options ?? {}, v6 });
    const data: Record<string, string> = { ...(g.data ?? {}) };
    if (g.gateway) data[LABEL.gateway] = interfaceCidr(g.gateway, 'the pool\'s gateway', v6 ? 6 : 4);
    if (!g.poolId) throw new YardError('INTERNAL', 'internal error: IPAM granted a pool without an ID', { hint: 'this is a bug in Switchyard; please report it with the daemon log' });
    return { PoolID: g.poolId, Pool: canonicalSubnet(g.pool, 'the granted pool', v6 ? 6 : 4), Data: data };
  });
  call(I, 'ReleasePool', ReleasePoolRequestSchema, async (b) => {
    await backend.releasePool(b.PoolID);
  });
  call(I, 'RequestAddress', RequestAddressRequestSchema, async (b): Promise<RequestAddressResponse> => {
    const o = b.Options ?? {};
    const address = b.Address ? bareAddress(b.Address, b.Address.includes('/') ? 'Address' : '--ip') : undefined;
    const mac = o[LABEL.macAddress] ? macAddress(o[LABEL.macAddress], `Options.${LABEL.macAddress}`) : undefined;
    const g = await backend.requestAddress({ poolId: b.PoolID, ...(address ? { address } : {}), gateway: o[LABEL.requestAddressType] === LABEL.gateway, ...(mac ? { mac } : {}), options: o });
    const fam = parseAddr((g.address ?? '').split('/')[0]!)?.family ?? 4;
    return { Address: interfaceCidr(g.address ?? '', 'the granted address', fam), Data: g.data ?? {} };
  });
  call(I, 'ReleaseAddress', ReleaseAddressRequestSchema, async (b) => {
    await backend.releaseAddress(b.PoolID, bareAddress(b.Address, 'Address'));
  });

  return app;
}
