/**
 * The names Docker's embedded DNS gives containers on Switchyard networks. dockerd never
 * tells a network plugin a container's name or aliases (CreateEndpoint and Join carry IDs
 * only), and Docker's own resolver (127.0.0.11 in each container) answers them, so
 * `yard dns explain` asks dockerd: `GET /networks/{id}` lists the network's containers with
 * their endpoint IDs and addresses, `GET /containers/{id}/json` their aliases there.
 *
 * Docker's rules on a user-defined network (which every Switchyard network is to Docker):
 * a container answers by its name, its aliases on the network and its short ID (12 hex),
 * each also as `<that>.<network name>`; case-insensitive; a container sees only the
 * networks it is on, and names not found go to the container's DNS servers.
 */
import path from 'node:path';
import { unixHttp } from '../client/daemon-client.js';
import { YardError } from '../errors.js';

/** dockerd's API socket beside a plugin directory: `/run/docker/plugins` -> `/run/docker.sock`. */
export function dockerSocketBeside(pluginDir: string): string {
  return path.join(path.dirname(path.dirname(pluginDir)), 'docker.sock');
}

/** One container on one Docker network, as dockerd reports it. */
export interface DockerMember {
  containerId: string;
  name: string;
  endpointId: string;
  aliases: string[];
  ipv4?: string;
  ipv6?: string;
}

export interface DockerNetworkView {
  id: string;
  name: string;
  members: DockerMember[];
}

type Json = Record<string, unknown>;
const str = (v: unknown) => (typeof v === 'string' ? v : '');
const bare = (cidr: unknown) => str(cidr).split('/')[0] || undefined;

/** Pure: a network's members from dockerd's answers (`GET /networks/{id}`, and each member's `GET /containers/{id}/json`). */
export function membersOf(network: Json, containers: Map<string, Json>): DockerNetworkView {
  const name = str(network.Name);
  const members: DockerMember[] = [];
  for (const [cid, raw] of Object.entries((network.Containers as Record<string, Json> | null) ?? {})) {
    const c = containers.get(cid);
    const settings = ((c?.NetworkSettings as Json | undefined)?.Networks as Record<string, Json> | undefined)?.[name];
    const aliases = Array.isArray(settings?.Aliases) ? (settings!.Aliases as unknown[]).map(str).filter(Boolean) : [];
    members.push({
      containerId: cid,
      name: str(raw.Name).replace(/^\//, ''),
      endpointId: str(raw.EndpointID),
      aliases,
      ...(bare(raw.IPv4Address) ? { ipv4: bare(raw.IPv4Address) } : {}),
      ...(bare(raw.IPv6Address) ? { ipv6: bare(raw.IPv6Address) } : {}),
    });
  }
  return { id: str(network.Id), name, members };
}

/** Pure: which members a name means on a network, by Docker's rules, and how. */
export function lookupDockerName(view: DockerNetworkView, qname: string): { member: DockerMember; kind: 'name' | 'alias' | 'short-id' }[] {
  let q = qname.toLowerCase().replace(/\.$/, '');
  const suffix = `.${view.name.toLowerCase()}`;
  if (q.endsWith(suffix)) q = q.slice(0, -suffix.length);
  const out: { member: DockerMember; kind: 'name' | 'alias' | 'short-id' }[] = [];
  for (const m of view.members) {
    if (m.name.toLowerCase() === q) out.push({ member: m, kind: 'name' });
    else if (m.aliases.some((a) => a.toLowerCase() === q)) out.push({ member: m, kind: 'alias' });
    else if (q.length === 12 && m.containerId.startsWith(q)) out.push({ member: m, kind: 'short-id' });
  }
  return out;
}

/** Asks dockerd (the engine whose plugin this daemon is) about its networks. */
export class DockerNames {
  constructor(readonly socket: string) {}

  private async get(p: string): Promise<Json> {
    let r;
    try {
      r = await unixHttp(this.socket, 'GET', `/v1.41${p}`, undefined, { timeoutMs: 10_000 });
    } catch (e) {
      throw new YardError('DAEMON_UNREACHABLE', `cannot ask Docker for its container names at ${this.socket}: ${(e as Error).message}`, {
        hint: "Docker's names are Docker's own: start dockerd, or ask Docker (docker network inspect)",
      });
    }
    if (r.status >= 400) {
      throw new YardError(r.status === 404 ? 'SANDBOX_NOT_FOUND' : 'DAEMON_UNREACHABLE', `Docker answered ${r.status} for ${p}: ${r.text.trim().slice(0, 200)}`, { hint: 'check the network and container with docker inspect' });
    }
    return JSON.parse(r.text) as Json;
  }

  /** A Docker network (same ID as the Switchyard network) with its containers' names and aliases. */
  async network(id: string): Promise<DockerNetworkView> {
    const net = await this.get(`/networks/${encodeURIComponent(id)}`);
    const containers = new Map<string, Json>();
    for (const cid of Object.keys((net.Containers as Json | null) ?? {})) {
      try {
        containers.set(cid, await this.get(`/containers/${encodeURIComponent(cid)}/json`));
      } catch {
        /* gone meanwhile: its name still comes from the network's list */
      }
    }
    return membersOf(net, containers);
  }
}
