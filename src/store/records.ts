/**
 * What a stored record must look like before the daemon acts on it. A record that fails
 * these checks is damaged (a torn disk, a hand edit, another program's file): the store
 * quarantines it instead of loading it, so nothing is created, repaired, stopped or
 * deleted on its account. The schemas check structure and the few fields that point at
 * things in the kernel (IDs, the namespace name, PIDs); they keep every field as stored.
 */
import { RUNTIME_NETNS_INFIX } from '../paths.js';
import type { z } from 'zod';
import { lazySchema } from '../model/zod.js';

/** The schemas, built when the first record is checked (model/zod.ts): a daemon with no state never loads zod. */
export const recordSchemas = lazySchema((z) => {
  const id = z.string().regex(/^[0-9a-f]{64}$/, 'not a 64-hex ID');
  const strings = z.array(z.string());
  const stringMap = z.record(z.string(), z.string());
  const scalarMap = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));

  const pool = z.object({
    subnet: z.string().min(1),
    gateway: z.string().optional(),
    gatewayChosen: z.literal(true).optional(),
    ipRange: z.string().optional(),
    auxAddresses: stringMap,
  });

  const networkRecordSchema = z.object({
    id,
    name: z.string().min(1),
    driver: z.string().min(1),
    scope: z.enum(['local', 'global', 'swarm']),
    created: z.string(),
    internal: z.boolean(),
    attachable: z.boolean(),
    ipv6: z.boolean(),
    ipam: z.object({ driver: z.string(), options: stringMap.nullable(), config: z.array(pool) }),
    options: stringMap,
    labels: stringMap,
    driverState: scalarMap,
    predefined: z.boolean().optional(),
    configOnly: z.boolean().optional(),
    configFrom: z.string().optional(),
    deleting: z.boolean().optional(),
  });

  const endpoint = z.object({
    id,
    networkId: id,
    ifname: z.string(),
    hostIfname: z.string().optional(),
    mac: z.string().optional(),
    ipv4: z.string().optional(),
    ipv6: z.string().optional(),
    requestedIpv4: z.string().optional(),
    requestedIpv6: z.string().optional(),
    aliases: strings,
    links: strings.optional(),
    driverOpts: stringMap.optional(),
    order: z.number().int().nonnegative(),
    driverState: scalarMap.optional(),
    lease: z
      .object({
        address: z.string(),
        server: z.string(),
        router: z.string().optional(),
        dns: strings,
        leaseSeconds: z.number(),
        obtained: z.string(),
        renewAt: z.string(),
        rebindAt: z.string(),
        expires: z.string(),
        clientId: z.string().regex(/^[0-9a-f]{4,510}$/),
      })
      .optional(),
  });

  const port = z.object({
    proto: z.enum(['tcp', 'udp', 'sctp']),
    containerPort: z.number().int(),
    containerPortEnd: z.number().int(),
    hostIp: z.string(),
    hostPort: z.number().int(),
    hostPortEnd: z.number().int(),
    hostRangeChoice: z.boolean().optional(),
  });

  const sandboxRecordSchema = z.object({
    id,
    name: z.string().min(1),
    created: z.string(),
    netns: z.string().nullable(),
    hostname: z.string(),
    command: strings,
    detached: z.boolean(),
    status: z.enum(['created', 'running', 'exited']),
    pid: z.number().int().positive().optional(),
    pidStart: z.string().optional(),
    exitCode: z.number().int().optional(),
    startedAt: z.string().optional(),
    finishedAt: z.string().optional(),
    dns: strings,
    dnsSearch: strings,
    dnsOptions: strings,
    extraHosts: strings,
    labels: stringMap,
    endpoints: z.record(z.string(), endpoint),
    ports: z.array(port).optional(),
    runtime: z
      .object({ kind: z.enum(['docker', 'cni', 'netavark']), mode: z.enum(['handover', 'configure']), path: z.string().min(1).optional(), container: z.string().min(1).optional() })
      .refine((r) => r.mode === 'handover' || r.path?.startsWith('/'), { message: 'a configure-mode sandbox needs the absolute path of its namespace' })
      .optional(),
    deleting: z.boolean().optional(),
  });

  return { network: networkRecordSchema, sandbox: sandboxRecordSchema };
});

/** Why a parsed record is damaged, or undefined when it is sound. `fileId` is the file's name without `.json`. */
export function recordProblem(kind: 'network' | 'sandbox', value: unknown, fileId: string, netnsPrefix?: string): string | undefined {
  const schema = recordSchemas()[kind];
  const r = schema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    return `field ${issue.path.join('.') || '(record)'}: ${issue.message}`;
  }
  if (r.data.id !== fileId) return `its id ${r.data.id.slice(0, 12)} does not match its file name`;
  if (kind === 'sandbox') {
    const sb = r.data as z.infer<ReturnType<typeof recordSchemas>['sandbox']>;
    // The namespace name is what removal deletes and whose processes it stops: it must be
    // the one this daemon would have given the sandbox, never any other.
    const own = `${netnsPrefix}${sb.runtime?.mode === 'configure' ? RUNTIME_NETNS_INFIX : ''}${sb.id.slice(0, 12)}`;
    if (sb.netns !== null && netnsPrefix !== undefined && sb.netns !== own) {
      return `field netns: ${sb.netns} is not this sandbox's namespace (${own})`;
    }
    if (sb.runtime?.mode === 'handover' && sb.netns !== null) return `field netns: a handover sandbox has no namespace of its own`;
    for (const [key, ep] of Object.entries(sb.endpoints)) {
      if (ep.networkId !== key) return `field endpoints.${key.slice(0, 12)}: keyed by another network than its networkId`;
    }
  }
  return undefined;
}
