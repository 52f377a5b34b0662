/**
 * The CNI front door's logic in the daemon: each CNI call (checked by cni.ts) becomes
 * engine operations on runtime-owned sandboxes ('cni', configure mode).
 *
 * One sandbox per container ID (its ID is the SHA-256 of the container ID, its name
 * `cni-<12 hex>`, the container ID kept in `runtime.container`); one endpoint per
 * (network, ifname): a container's first ADD creates the sandbox attached to the runtime's
 * namespace, an ADD on another network connects it, DEL disconnects or (for the last
 * endpoint) removes the sandbox. The namespace stays the runtime's.
 */
import crypto from 'node:crypto';
import { getDriver } from '../drivers/index.js';
import { EMBEDDED_DNS, servesDns } from '../dns/records.js';
import type { Engine } from '../engine/engine.js';
import { ERROR_CODES, YardError } from '../errors.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../model/types.js';
import { buildResult, checkRequest, CNI_CODES, CniError, errorJson, versionResult, type CheckedCall, type CniErrorJson, type CniResult } from './cni.js';

export const CNI_SANDBOX_PREFIX = 'cni-';

export function cniSandboxId(containerId: string): string {
  return crypto.createHash('sha256').update(`cni:${containerId}`).digest('hex');
}

export type CniAnswer = { ok: true; result?: CniResult; version?: ReturnType<typeof versionResult> } | { ok: false; error: CniErrorJson };

export class CniRoom {
  /** CNI calls one at a time: an ADD reads the state, then changes it. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly engine: Engine) {}

  handle(body: unknown): Promise<CniAnswer> {
    const next = this.queue.then(() => this.handleNow(body));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async handleNow(body: unknown): Promise<CniAnswer> {
    let version: string | undefined;
    try {
      const call = checkRequest(body);
      version = call.config.cniVersion;
      switch (call.command) {
        case 'ADD':
          return { ok: true, result: await this.add(call) };
        case 'DEL':
          await this.del(call);
          return { ok: true };
        case 'CHECK':
          await this.check(call);
          return { ok: true };
        case 'GC':
          await this.gc(call);
          return { ok: true };
        case 'STATUS':
          this.network(call, CNI_CODES.NOT_AVAILABLE);
          return { ok: true };
        case 'VERSION':
          return { ok: true, version: versionResult(call.config.cniVersion) };
      }
    } catch (e) {
      if (!version && typeof body === 'object' && body && typeof (body as { config?: { cniVersion?: unknown } }).config?.cniVersion === 'string') {
        version = (body as { config: { cniVersion: string } }).config.cniVersion;
      }
      return { ok: false, error: errorJson(version, toCniError(e)) };
    }
  }

  private network(call: CheckedCall, code: number = CNI_CODES.INVALID_CONFIG): NetworkRecord {
    try {
      return this.engine.findNetwork(call.config.network);
    } catch (e) {
      if (e instanceof YardError && e.code === 'NETWORK_NOT_FOUND') {
        const key = call.config.network === call.config.name ? 'name' : 'network';
        throw new CniError(code, `network configuration: ${key} "${call.config.network}" names no Switchyard network`, 'create it (yard network create ...) or set "network" to a network that `yard network ls` lists');
      }
      throw e;
    }
  }

  private sandboxOf(containerId: string): SandboxRecord | undefined {
    const sb = this.engine.state.sandboxes.get(cniSandboxId(containerId));
    return sb && !sb.deleting && sb.runtime?.kind === 'cni' ? sb : undefined;
  }

  private async add(call: CheckedCall): Promise<CniResult> {
    const net = this.network(call);
    const [containerId, ifname, netns] = [call.containerId!, call.ifname!, call.netns!];
    const id = cniSandboxId(containerId);
    const attach = {
      ifname,
      ...(call.config.ipv4 ? { ip: call.config.ipv4 } : {}),
      ...(call.config.ipv6 ? { ip6: call.config.ipv6 } : {}),
      ...(call.config.mac ? { mac: call.config.mac } : {}),
      ...(call.config.aliases ? { aliases: call.config.aliases } : {}),
    };
    let sb = this.sandboxOf(containerId);
    if (sb && sb.runtime?.path !== netns) {
      // The same container ID in another namespace (the runtime restarted it without a DEL):
      // the old attachments are stale.
      this.engine.log(`CNI ADD of container ${containerId} in ${netns}: releasing its attachments in ${sb.runtime?.path}`);
      await this.engine.removeSandbox(sb.id, true, true);
      sb = undefined;
    }
    if (sb) {
      const ep = sb.endpoints[net.id];
      if (ep) {
        // The same ADD again: answer what is there.
        if (ep.ifname === ifname) return this.result(call, sb, net, ep);
        throw new CniError(CNI_CODES.IFNAME_CONFLICT, `container ${containerId} already has interface ${ep.ifname} on network ${net.name}`, `a container has one interface per network: delete ${ep.ifname} first (CNI DEL), or use another network`);
      }
      const other = Object.values(sb.endpoints).find((e) => e.ifname === ifname);
      if (other) {
        const otherNet = this.engine.state.networks.get(other.networkId)?.name ?? other.networkId.slice(0, 12);
        throw new CniError(CNI_CODES.IFNAME_CONFLICT, `container ${containerId} already has interface ${ifname} on network ${otherNet}`, 'give this attachment another CNI_IFNAME');
      }
      await this.engine.connect(net.id, id, attach, false, 'cni');
    } else {
      await this.engine.createSandbox({
        id,
        name: this.nameFor(call.config.containerName, id),
        networks: [{ network: net.id, ...attach }],
        runtime: { kind: 'cni', mode: 'configure', ...this.engine.kernel.runtimeNamespace(netns, call.pid), container: containerId },
        start: false,
      });
    }
    const now = this.engine.state.sandboxes.get(id)!;
    return this.result(call, now, net, now.endpoints[net.id]!);
  }

  /** The container's own name when it has one that no other sandbox has, else `cni-<12 hex>`. */
  private nameFor(name: string | undefined, id: string): string {
    if (name && ![...this.engine.state.sandboxes.values()].some((s) => s.name === name)) return name;
    return `${CNI_SANDBOX_PREFIX}${id.slice(0, 12)}`;
  }

  private async result(call: CheckedCall, sb: SandboxRecord, net: NetworkRecord, ep: EndpointRecord): Promise<CniResult> {
    const [inside, host] = await Promise.all([this.engine.kernel.readNamespace(sb.netns ?? undefined), ep.hostIfname ? this.engine.kernel.readNamespace() : undefined]);
    const link = inside.links.get(ep.ifname);
    const pool = (v6: boolean) => net.ipam.config.find((p) => p.subnet.includes(':') === v6 && p.gateway);
    return buildResult(call.config.cniVersion, {
      ifname: ep.ifname,
      mac: link?.mac ?? ep.mac,
      ...(link?.mtu ? { mtu: link.mtu } : {}),
      sandbox: call.netns ?? sb.runtime?.path ?? '',
      ...(ep.hostIfname ? { hostIfname: ep.hostIfname, hostMac: host?.links.get(ep.hostIfname)?.mac } : {}),
      ipv4: ep.ipv4,
      ipv6: ep.ipv6,
      gateway4: pool(false)?.gateway,
      gateway6: pool(true)?.gateway,
      defaultRoute: this.gatewayEndpoint(sb)?.id === ep.id,
      // Names answer through the embedded resolver in the container's namespace (a runtime
      // that writes resolv.conf from the result, as Podman does, points it there).
      dns: call.config.dns ?? (servesDns(net) ? { nameservers: [EMBEDDED_DNS] } : undefined),
    });
  }

  /** The endpoint that gives the namespace its default route (the engine's rule: earliest joined that can). */
  private gatewayEndpoint(sb: SandboxRecord): EndpointRecord | undefined {
    return Object.values(sb.endpoints)
      .sort((a, b) => a.order - b.order)
      .find((ep) => {
        const net = this.engine.state.networks.get(ep.networkId);
        return net && getDriver(net.driver).planGatewayRoutes(net, sb, ep).length > 0;
      });
  }

  /** Idempotent: nothing there (a second DEL, or the daemon already released it) is success. */
  private async del(call: CheckedCall): Promise<void> {
    const sb = this.sandboxOf(call.containerId!);
    if (!sb) return;
    let net: NetworkRecord;
    try {
      net = this.network(call);
    } catch {
      return; // No such network: nothing of it to delete.
    }
    const ep = sb.endpoints[net.id];
    if (!ep || ep.ifname !== call.ifname) return;
    await this.release(sb, net);
  }

  private async release(sb: SandboxRecord, net: NetworkRecord): Promise<void> {
    if (Object.keys(sb.endpoints).length <= 1) await this.engine.removeSandbox(sb.id, true, true);
    else await this.engine.disconnect(net.id, sb.id, true, 'cni');
  }

  private async check(call: CheckedCall): Promise<void> {
    const net = this.network(call);
    const sb = this.sandboxOf(call.containerId!);
    const ep = sb?.endpoints[net.id];
    if (!sb || !ep || ep.ifname !== call.ifname) {
      throw new CniError(CNI_CODES.UNKNOWN_CONTAINER, `container ${call.containerId} has no interface ${call.ifname} on network ${net.name}`, 'add it first (CNI ADD)');
    }
    const ns = await this.engine.kernel.readNamespace(sb.netns ?? undefined);
    if (!ns.exists) throw new CniError(CNI_CODES.CHECK_FAILED, `the network namespace of container ${call.containerId} is gone`, 'delete the attachment (CNI DEL) and add it again');
    const link = ns.links.get(ep.ifname);
    if (!link) throw new CniError(CNI_CODES.CHECK_FAILED, `interface ${ep.ifname} is missing in ${call.netns ?? 'the namespace'}`, 'delete the attachment (CNI DEL) and add it again');
    for (const want of [ep.ipv4, ep.ipv6]) {
      if (want && !link.addrs.includes(want)) {
        throw new CniError(CNI_CODES.CHECK_FAILED, `interface ${ep.ifname} does not have address ${want} (it has ${link.addrs.join(', ') || 'none'})`, 'delete the attachment (CNI DEL) and add it again');
      }
    }
    if (!link.up) throw new CniError(CNI_CODES.CHECK_FAILED, `interface ${ep.ifname} is down`, 'delete the attachment (CNI DEL) and add it again');
    // The previous result's addresses on this interface must be the ones it has.
    const prev = call.config.prevResult as { interfaces?: { name?: string; sandbox?: string }[]; ips?: { address?: string; interface?: number }[] } | undefined;
    for (const ip of prev?.ips ?? []) {
      const iface = ip.interface === undefined ? undefined : prev?.interfaces?.[ip.interface];
      if (iface?.name !== ep.ifname || !iface.sandbox || typeof ip.address !== 'string') continue;
      if (!link.addrs.includes(ip.address)) {
        throw new CniError(CNI_CODES.CHECK_FAILED, `interface ${ep.ifname} does not have address ${ip.address} of the previous result`, 'delete the attachment (CNI DEL) and add it again');
      }
    }
  }

  /** Releases this network's CNI attachments the runtime no longer lists. */
  private async gc(call: CheckedCall): Promise<void> {
    let net: NetworkRecord;
    try {
      net = this.network(call);
    } catch {
      return;
    }
    const valid = new Set((call.config.validAttachments ?? []).map((a) => `${a.containerID}\0${a.ifname}`));
    const failed: string[] = [];
    for (const sb of this.engine.sandboxes()) {
      if (sb.deleting || sb.runtime?.kind !== 'cni' || !sb.runtime.container) continue;
      const ep = sb.endpoints[net.id];
      if (!ep || valid.has(`${sb.runtime.container}\0${ep.ifname}`)) continue;
      try {
        await this.release(sb, net);
        this.engine.log(`CNI GC released ${sb.runtime.container}/${ep.ifname} on network ${net.name}`);
      } catch (e) {
        failed.push(`${sb.runtime.container}/${ep.ifname}: ${(e as Error).message}`);
      }
    }
    if (failed.length) throw new CniError(CNI_CODES.REFUSED, `garbage collection left ${failed.length} attachment(s) on network ${net.name}`, failed.join('; '));
  }
}

/** A failure as a CNI error: configuration problems 7, the daemon's temporary ones 11, the rest 100. */
export function toCniError(e: unknown): CniError {
  if (e instanceof CniError) return e;
  if (e instanceof YardError) {
    const cls = ERROR_CODES[e.code]?.[0];
    const details = `${e.code}${e.field ? ` (${e.field})` : ''}${e.hint ? `: ${e.hint}` : ''}`;
    // The runtime's namespace path or PID did not do: its environment is wrong.
    if (e.field === 'netns' || e.field === 'pid') return new CniError(CNI_CODES.INVALID_ENV, e.message, details);
    if (cls === 'unavailable') return new CniError(CNI_CODES.TRY_AGAIN_LATER, e.message, details);
    if (cls === 'invalid' || e.code === 'NETWORK_NOT_FOUND') return new CniError(CNI_CODES.INVALID_CONFIG, e.message, details);
    return new CniError(CNI_CODES.REFUSED, e.message, details);
  }
  return new CniError(CNI_CODES.REFUSED, (e as Error)?.message ?? String(e));
}
