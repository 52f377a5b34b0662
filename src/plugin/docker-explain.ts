/**
 * `yard dns explain NAME --from X` when X is a Docker container (or its endpoint's
 * sandbox): what Docker's embedded DNS answers it on the Switchyard networks it is on, from
 * dockerd's own view of those networks (docker-names.ts). Switchyard's resolver is not asked:
 * Docker's containers ask Docker's.
 */
import type { Engine } from '../engine/engine.js';
import type { Explanation } from '../dns/resolver.js';
import type { SandboxRecord } from '../model/types.js';
import { YardError } from '../errors.js';
import { lookupDockerName, type DockerNames, type DockerNetworkView } from './docker-names.js';

/** Docker's TTL for its containers' records. */
const DOCKER_TTL = 600;

const dockerSandboxes = (engine: Engine) => engine.sandboxes().filter((s) => s.runtime?.kind === 'docker' && !s.deleting);

/** The Docker views of the networks that Docker sandboxes are on (one request per network). */
async function views(names: DockerNames, sbs: SandboxRecord[]): Promise<DockerNetworkView[]> {
  const ids = [...new Set(sbs.flatMap((s) => Object.values(s.endpoints).map((e) => e.networkId)))];
  return Promise.all(ids.map((id) => names.network(id)));
}

/** Is `from` a Docker container or one of its endpoints' sandboxes? Then Docker's answer, else undefined. */
export async function explainDockerName(engine: Engine, names: DockerNames, from: string, qname: string, qtype = 'A'): Promise<Explanation | undefined> {
  let sb: SandboxRecord | undefined;
  try {
    sb = engine.findSandbox(from);
  } catch (e) {
    if (!(e instanceof YardError) || e.code !== 'SANDBOX_NOT_FOUND') throw e;
  }
  if (sb && sb.runtime?.kind !== 'docker') return undefined;
  const all = await views(names, dockerSandboxes(engine));
  // The container: by the sandbox's endpoint ID, or by the container's name or ID.
  const me = all.flatMap((v) => v.members).find((m) => (sb ? m.endpointId === sb.id : m.name === from.replace(/^\//, '') || m.containerId.startsWith(from)));
  if (!me) {
    if (!sb) return undefined; // Not Docker's either: the caller says "no such sandbox".
    throw new YardError('SANDBOX_NOT_FOUND', `Docker lists no container with endpoint ${sb.id.slice(0, 12)} (sandbox ${sb.name})`, { hint: 'the container may be stopping; see docker ps' });
  }
  const mine = all.filter((v) => v.members.some((m) => m.containerId === me.containerId));
  const type = qtype.toUpperCase();
  const base = { from: `${me.name} (Docker container ${me.containerId.slice(0, 12)})`, question: { name: qname, type }, networks: mine.map((v) => v.name), upstreams: [] as string[], trace: [] as string[] };
  if (type !== 'A' && type !== 'AAAA') {
    return { ...base, source: 'docker', rcode: '-', records: [], reason: `Docker's embedded DNS answers A and AAAA of its containers' names; a ${type} question goes to the container's DNS servers (dockerd --dns), which Switchyard does not see` };
  }
  for (const v of mine) {
    const hits = lookupDockerName(v, qname);
    if (!hits.length) continue;
    const records = hits.map((h) => (type === 'A' ? h.member.ipv4 : h.member.ipv6)).filter((a): a is string => !!a).map((a) => `${qname} ${DOCKER_TTL} ${type} ${a}`);
    const who = hits.map((h) => `${h.member.name} (${h.kind})`).join(', ');
    return {
      ...base, source: 'docker', network: v.name, rcode: 'NOERROR', records,
      reason: `Docker's embedded DNS: ${who} on network ${v.name}${records.length ? '' : `, which has no ${type} record: empty answer`} (Docker's own resolver in the container answers it; Switchyard carries the packets)`,
    };
  }
  return {
    ...base, source: 'docker', rcode: '-', records: [],
    reason: `no container on ${mine.map((v) => v.name).join(', ')} is called ${qname}: Docker's embedded DNS forwards it to the container's DNS servers (dockerd --dns), which Switchyard does not see`,
  };
}
