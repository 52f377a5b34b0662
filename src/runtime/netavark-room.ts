/**
 * Podman's front door in the daemon: carries out netavark's `setup` and `teardown` on the
 * engine (see netavark.ts for the translation). One call at a time (a network is made on
 * first use and removed after its last container, and two containers may start at once).
 *
 *   setup     -> the networks Podman names (created with Podman's ID and name when missing),
 *                then a runtime-owned sandbox (ID = container ID) in Podman's namespace, or,
 *                for a container that already has one (podman network connect), a connect
 *   teardown  -> disconnect, or the sandbox's removal with its last network; a network
 *                Podman made is removed when no container is left on it
 */
import { YardError } from '../errors.js';
import type { Engine } from '../engine/engine.js';
import type { NetworkRecord, SandboxRecord } from '../model/types.js';
import { PODMAN_NETWORK_LABEL, portMappings, sameNetwork, setupSteps, statusBlock, type NetavarkOptions, type NetworkStep, type StatusBlock } from './netavark.js';

export interface NetavarkCall {
  /** The namespace path as Podman gave it. */
  netns: string;
  /** The calling executable's PID (its mount namespace may not be the daemon's). */
  pid?: number;
  options: NetavarkOptions;
}

export class NetavarkRoom {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly engine: Engine) {}

  private one<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => {});
    return next;
  }

  setup(call: NetavarkCall): Promise<Record<string, StatusBlock>> {
    return this.one(async () => {
      const o = call.options;
      const steps = setupSteps(o);
      const ports = portMappings(o);
      if (!steps.length) return {};
      if (!call.netns.startsWith('/')) throw new YardError('INVALID_ARGUMENT', `invalid namespace path ${JSON.stringify(call.netns.slice(0, 80))}: not absolute`, { field: 'netns', hint: 'give the path of the network namespace file' });
      const nets = new Map<string, NetworkRecord>();
      for (const s of steps) nets.set(s.name, await this.ensureNetwork(s));
      let sb = this.engine.state.sandboxes.get(o.container_id);
      if (!sb) {
        const ns = this.engine.kernel.runtimeNamespace(call.netns, call.pid);
        const name = this.freeName(o.container_name, o.container_id);
        // Renamed: the container's own name still answers, as an alias.
        const extra = name === o.container_name ? [] : [o.container_name];
        sb = (
          await this.engine.createSandbox({
            id: o.container_id,
            name,
            networks: steps.map((s) => ({ network: nets.get(s.name)!.id, ...s.attach, aliases: [...(s.attach.aliases ?? []), ...extra] })),
            runtime: { kind: 'netavark', mode: 'configure', ...ns, container: o.container_id },
            labels: { 'io.podman.container.name': o.container_name },
            ports,
            start: false,
          })
        ).sb;
      } else {
        this.owned(sb);
        for (const s of steps) {
          const net = nets.get(s.name)!;
          if (sb.endpoints[net.id]) continue;
          await this.engine.connect(net.id, sb.id, s.attach, false, 'netavark');
        }
        sb = this.engine.state.sandboxes.get(o.container_id)!;
      }
      const out: Record<string, StatusBlock> = {};
      for (const s of steps) {
        const net = nets.get(s.name)!;
        out[s.name] = statusBlock(net, sb.endpoints[net.id]!, s.dns);
      }
      return out;
    });
  }

  teardown(call: NetavarkCall): Promise<void> {
    return this.one(async () => {
      const o = call.options;
      const steps = setupSteps(o);
      const sb = this.engine.state.sandboxes.get(o.container_id);
      const nets = steps.map((s) => this.engine.state.networks.get(s.create.id!)).filter((n): n is NetworkRecord => !!n);
      if (sb) {
        this.owned(sb);
        const leaving = nets.filter((n) => sb.endpoints[n.id]);
        if (leaving.length >= Object.keys(sb.endpoints).length) await this.engine.removeSandbox(sb.id, true, true);
        else for (const n of leaving) await this.engine.disconnect(n.id, sb.id, true, 'netavark');
      }
      // As netavark removes its bridge after the last container: a network made for Podman goes with its last endpoint.
      for (const n of nets) {
        if (n.labels[PODMAN_NETWORK_LABEL] === n.id && !this.engine.endpointsOf(n.id).length) await this.engine.removeNetwork(n.id);
      }
    });
  }

  /** The engine's network for Podman's, made if missing (a stale one of Podman's, unused, is replaced). */
  private async ensureNetwork(s: NetworkStep): Promise<NetworkRecord> {
    const st = this.engine.state;
    const byId = st.networks.get(s.create.id!);
    if (byId) {
      if (!sameNetwork(byId, s.create)) {
        throw new YardError('NETWORK_EXISTS', `network ${s.name} (${s.create.id!.slice(0, 12)}) differs from Podman's definition (driver or subnets changed)`, {
          field: `network_info.${s.name}`,
          hint: 'stop its containers so that Switchyard makes it anew, or recreate the Podman network',
        });
      }
      return byId;
    }
    const byName = [...st.networks.values()].find((n) => n.name === s.create.name);
    if (byName) {
      const podmans = byName.labels[PODMAN_NETWORK_LABEL] === byName.id;
      if (!podmans || this.engine.endpointsOf(byName.id).length) {
        throw new YardError('NETWORK_EXISTS', `network name ${s.create.name} is taken by ${podmans ? 'an older Podman network that still has containers' : 'a Switchyard network Podman did not make'}`, {
          field: `network_info.${s.name}.name`,
          hint: podmans ? 'stop the containers of the old network first' : 'give the Podman network another name, or remove the Switchyard one',
        });
      }
      await this.engine.removeNetwork(byName.id);
    }
    return (await this.engine.createNetwork(s.create)).net;
  }

  /** The container's name, unless a sandbox of someone else has it (then `<name>-<12 hex>`; names still answer through the aliases). */
  private freeName(name: string, id: string): string {
    const taken = [...this.engine.state.sandboxes.values()].some((s) => s.name === name);
    return taken ? `${name}-${id.slice(0, 12)}` : name;
  }

  private owned(sb: SandboxRecord): void {
    if (sb.runtime?.kind !== 'netavark') {
      throw new YardError('SANDBOX_EXISTS', `sandbox ${sb.name} (${sb.id.slice(0, 12)}) exists and is not Podman's`, { field: 'container_id', hint: 'give the container another ID' });
    }
  }
}
