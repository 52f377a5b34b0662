/**
 * DHCP leases (`--ipam-driver dhcp` on macvlan and ipvlan l2 networks): the engine's room
 * that gets, renews and gives back each endpoint's lease from the LAN's DHCP server.
 *
 *   acquire   at create and connect, after the endpoint's link exists in the sandbox's
 *             namespace (with its MAC) and before the commit: DISCOVER, OFFER, REQUEST,
 *             ACK within the network's bound (`--ipam-opt timeout`, 10 s); the address,
 *             gateway and DNS servers then go into the plan and the endpoint's record
 *   renew     at T1 (unicast to the server), rebind from T2 (broadcast), and after expiry
 *             or a daemon start an INIT-REBOOT REQUEST for the recorded address; each
 *             answer is written to the endpoint's record, then kept in memory
 *   release   DHCPRELEASE when the endpoint goes (rm, disconnect), before its link does
 *
 * State is the truth: timers are only memory, derived from the records at start (every
 * recorded lease is asked for again) and after each commit. A daemon killed at any instant
 * loses at most a renewal in flight; a lease granted but never committed (killed during a
 * create) is left to expire at the server, since its link is removed as a leftover.
 */
import { YardError } from '../errors.js';
import {
  clientIdFor,
  decodeMessage,
  dhcpTimeoutMs,
  encodeMessage,
  isAnswerTo,
  leaseFromAck,
  messageType,
  MSG,
  nakReason,
  newXid,
  retransmitDelays,
  DHCP_IPAM,
  type DhcpLease,
  type DhcpMessage,
  type EncodeInput,
} from '../ipam/dhcp.js';
import type { DhcpPort } from '../kernel/index.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../model/types.js';
import type { Plan } from '../plan/ops.js';
import type { EngineCore } from './core.js';

export const isDhcpNetwork = (net: NetworkRecord | undefined): boolean => net?.ipam.driver === DHCP_IPAM;

/** How long a renewal, rebind or re-request waits for its answer before the next try. */
const RENEW_WAIT_MS = 4_000;
/** Retry spacing after a renewal got no answer: half the time to the next deadline, within these bounds. */
const RETRY_MIN_MS = 5_000;
const RETRY_MAX_MS = 60_000;
const BROADCAST = '255.255.255.255';

type Outcome = { ack: DhcpMessage } | { nak: string } | undefined;

export class Leases {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private stopped = false;

  constructor(
    private readonly core: EngineCore,
    /** Whether the endpoint gives its sandbox the default route (endpoints.ts decides). */
    private readonly isGateway: (sb: SandboxRecord, ep: EndpointRecord) => boolean,
  ) {}

  // ------------------------------------------------------------ acquisition (create, connect)

  /**
   * Get a lease for each DHCP endpoint of `sb` that has none (its link exists and is up),
   * filling `ep.ipv4` and `ep.lease`. All or nothing: a failure gives back the leases
   * already granted and throws. Returns their release, or undefined if none was needed.
   */
  async acquireFor(sb: SandboxRecord, eps: EndpointRecord[]): Promise<(() => Promise<void>) | undefined> {
    const pending = eps.filter((ep) => !ep.lease && isDhcpNetwork(this.core.state.networks.get(ep.networkId)));
    if (!pending.length) return undefined;
    const granted: EndpointRecord[] = [];
    const releaseAll = async () => {
      for (const ep of granted) await this.release(sb, ep);
    };
    try {
      for (const ep of pending) {
        const net = this.core.state.networks.get(ep.networkId)!;
        const lease = await this.acquire(net, sb, ep);
        ep.lease = lease;
        ep.ipv4 = lease.address;
        granted.push(ep);
      }
    } catch (e) {
      await releaseAll();
      for (const ep of pending) {
        delete ep.lease;
        delete ep.ipv4;
      }
      throw e;
    }
    return releaseAll;
  }

  /** DISCOVER .. ACK within the network's bound; `requested` asks for an address (after a restart). */
  private async acquire(net: NetworkRecord, sb: SandboxRecord, ep: EndpointRecord, requested?: string): Promise<DhcpLease> {
    const timeoutMs = dhcpTimeoutMs(net.ipam.options);
    const deadline = Date.now() + timeoutMs;
    const id = await this.identity(net, sb, ep);
    const port = await this.open(sb, ep);
    try {
      let lastNak: string | undefined;
      for (let attempt = 0; attempt < 3 && Date.now() < deadline; attempt++) {
        const xid = newXid();
        const base = { xid, mac: id.mac, clientId: id.clientId, hostname: sb.hostname, broadcast: true };
        const discover = encodeMessage({ ...base, type: MSG.DISCOVER, ...(requested && !lastNak ? { requestedIp: requested } : {}) });
        const offer = await this.exchange(port, discover, BROADCAST, xid, id.clientId, [MSG.OFFER], deadline);
        if (!offer || !('ack' in offer)) break;
        const server = offer.ack.options.get(54);
        const serverId = server && server.length >= 4 ? `${server[0]}.${server[1]}.${server[2]}.${server[3]}` : undefined;
        const request = encodeMessage({ ...base, type: MSG.REQUEST, requestedIp: offer.ack.yiaddr, ...(serverId ? { serverId } : {}) });
        const answer = await this.exchange(port, request, BROADCAST, xid, id.clientId, [MSG.ACK, MSG.NAK], deadline);
        if (!answer) break;
        if ('nak' in answer) {
          lastNak = answer.nak;
          continue;
        }
        const { lease, reason } = leaseFromAck(answer.ack, id.clientId, new Date());
        if (!lease) {
          await port.send(encodeMessage({ ...base, type: MSG.DECLINE, requestedIp: answer.ack.yiaddr, ...(serverId ? { serverId } : {}), broadcast: false }), BROADCAST).catch(() => {});
          throw this.refused(net, sb, ep, `its answer cannot be used: ${reason}`);
        }
        return lease;
      }
      if (lastNak) throw this.refused(net, sb, ep, `it refused the request (DHCPNAK: ${lastNak})`);
      const parent = String(net.driverState.parent);
      throw new YardError(
        'DHCP_NO_ANSWER',
        `no DHCP server answered on network ${net.name} within ${timeoutMs / 1000} s: sandbox ${sb.name} got no address for ${ep.ifname} (parent ${parent})`,
        {
          field: '--ipam-driver',
          hint: `check that a DHCP server serves the LAN behind ${parent} (its VLAN, if any), that it has free addresses and that nothing filters UDP ports 67 and 68; a slow server needs a longer --ipam-opt timeout=SECONDS`,
        },
      );
    } finally {
      port.close();
    }
  }

  private refused(net: NetworkRecord, sb: SandboxRecord, ep: EndpointRecord, why: string): YardError {
    return new YardError('DHCP_REFUSED', `the DHCP server on network ${net.name} gave sandbox ${sb.name} no usable lease for ${ep.ifname}: ${why}`, {
      field: '--ipam-driver',
      hint: "check the DHCP server's configuration (its range, reservations and lease file) for this network",
    });
  }

  /** Send `msg`, resend it on the RFC's back-off until an accepted answer or the deadline. */
  private async exchange(port: DhcpPort, msg: Buffer, to: string, xid: number, clientId: Buffer, want: number[], deadline: number): Promise<Outcome> {
    const waits = [...retransmitDelays(Math.max(0, deadline - Date.now())), Infinity];
    for (const wait of waits) {
      await port.send(msg, to).catch((e) => this.core.log(`dhcp: sending to ${to}: ${(e as Error).message}`));
      const until = Math.min(deadline, Date.now() + wait);
      let got: DhcpMessage | undefined;
      const buf = await port.receive((b) => {
        const m = decodeMessage(b);
        const t = m && messageType(m);
        if (!m || !t || !want.includes(t) || !isAnswerTo(m, xid, clientId)) return false;
        got = m;
        return true;
      }, until);
      if (buf && got) return messageType(got) === MSG.NAK ? { nak: nakReason(got) } : { ack: got };
      if (Date.now() >= deadline) return undefined;
    }
    return undefined;
  }

  private async open(sb: SandboxRecord, ep: EndpointRecord): Promise<DhcpPort> {
    if (!this.core.kernel.openDhcpPort || !sb.netns) throw new YardError('INTERNAL', 'this kernel room has no DHCP client sockets');
    return this.core.kernel.openDhcpPort(sb.netns, ep.ifname);
  }

  /** chaddr and option 61: ipvlan children carry the parent's MAC, read from the interface. */
  private async identity(net: NetworkRecord, sb: SandboxRecord, ep: EndpointRecord): Promise<{ mac: string; clientId: Buffer }> {
    const shared = net.driver === 'ipvlan';
    let mac = ep.mac;
    if (!mac || shared) {
      const ns = await this.core.kernel.readNamespace(sb.netns ?? undefined);
      mac = ns.links.get(ep.ifname)?.mac ?? '00:00:00:00:00:00';
    }
    return { mac, clientId: clientIdFor(ep, shared) };
  }

  // ------------------------------------------------------------ release (rm, disconnect)

  /** DHCPRELEASE, best effort (the protocol has no answer): unicast to the server, broadcast without an address. */
  async release(sb: SandboxRecord, ep: EndpointRecord): Promise<void> {
    this.cancel(sb.id, ep.networkId);
    const lease = ep.lease;
    const net = this.core.state.networks.get(ep.networkId);
    if (!lease || !net || !sb.netns) return;
    try {
      const id = await this.identity(net, sb, ep);
      const port = await this.open(sb, ep);
      try {
        const msg = encodeMessage({ type: MSG.RELEASE, xid: newXid(), mac: id.mac, clientId: Buffer.from(lease.clientId, 'hex'), ciaddr: lease.address.split('/')[0], serverId: lease.server });
        await port.send(msg, lease.server).catch(() => port.send(msg, BROADCAST));
      } finally {
        port.close();
      }
      this.core.log(`dhcp: released ${lease.address} of sandbox ${sb.name} on ${net.name} (server ${lease.server})`);
    } catch (e) {
      this.core.log(`dhcp: releasing ${lease.address} of sandbox ${sb.name}: ${(e as Error).message} (the server keeps it until ${lease.expires})`);
    }
  }

  async releaseAll(sb: SandboxRecord): Promise<void> {
    for (const ep of Object.values(sb.endpoints)) if (ep.lease) await this.release(sb, ep);
  }

  // ------------------------------------------------------------ renewal

  /** At daemon start (after reconcile): ask again for every recorded lease, then keep them renewed. */
  start(): void {
    this.stopped = false;
    for (const sb of this.core.sandboxes()) {
      for (const ep of Object.values(sb.endpoints)) if (ep.lease) this.arm(sb.id, ep.networkId, 0, true);
    }
  }

  /** Daemon shutdown: timers stop, leases stay (the next start asks for them again). */
  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  /** After a commit that added a lease: renew it at T1. */
  track(sb: SandboxRecord): void {
    for (const ep of Object.values(sb.endpoints)) if (ep.lease && !this.timers.has(key(sb.id, ep.networkId))) this.arm(sb.id, ep.networkId, Date.parse(ep.lease.renewAt) - Date.now());
  }

  cancel(sbId: string, netId: string): void {
    const k = key(sbId, netId);
    clearTimeout(this.timers.get(k));
    this.timers.delete(k);
  }

  private arm(sbId: string, netId: string, delayMs: number, reboot = false): void {
    if (this.stopped) return;
    this.cancel(sbId, netId);
    const t = setTimeout(() => {
      this.timers.delete(key(sbId, netId));
      this.renew(sbId, netId, reboot).catch((e) => this.core.log(`dhcp: renewal: ${(e as Error).message}`));
    }, Math.max(0, Math.min(delayMs, 2 ** 31 - 1)));
    t.unref();
    this.timers.set(key(sbId, netId), t);
  }

  /**
   * One renewal step, chosen by the clock and the record: before T2 a unicast REQUEST to
   * the server, before expiry a broadcast one, after it (or after a daemon start) an
   * INIT-REBOOT REQUEST for the recorded address. A NAK starts over with DISCOVER, asking
   * for the same address. Runs outside the engine's queue; only the commit is queued.
   */
  async renew(sbId: string, netId: string, reboot = false): Promise<void> {
    const sb = this.core.state.sandboxes.get(sbId);
    const ep = sb?.endpoints[netId];
    const net = this.core.state.networks.get(netId);
    if (!sb || sb.deleting || !ep?.lease || !net) return;
    const lease = ep.lease;
    const now = Date.now();
    const addr = lease.address.split('/')[0]!;
    const phase = reboot || now >= Date.parse(lease.expires) ? 'reboot' : now >= Date.parse(lease.rebindAt) ? 'rebind' : 'renew';
    const clientId = Buffer.from(lease.clientId, 'hex');
    let outcome: Outcome;
    let fresh: DhcpLease | undefined;
    let failure: string | undefined;
    try {
      const id = await this.identity(net, sb, ep);
      const port = await this.open(sb, ep);
      try {
        const xid = newXid();
        const base: EncodeInput = { type: MSG.REQUEST, xid, mac: id.mac, clientId, hostname: sb.hostname };
        const msg = phase === 'reboot' ? encodeMessage({ ...base, requestedIp: addr, broadcast: true }) : encodeMessage({ ...base, ciaddr: addr });
        outcome = await this.exchange(port, msg, phase === 'renew' ? lease.server : BROADCAST, xid, clientId, [MSG.ACK, MSG.NAK], Date.now() + RENEW_WAIT_MS);
      } finally {
        port.close();
      }
      if (outcome && 'ack' in outcome) {
        const got = leaseFromAck(outcome.ack, clientId, new Date());
        if (got.lease && got.lease.address.split('/')[0] === addr) fresh = got.lease;
        else failure = got.reason ?? `the server answered with another address (${got.lease?.address})`;
      } else if (outcome && 'nak' in outcome) {
        // The server no longer grants this address to us: ask for it (or any) from scratch.
        fresh = await this.acquire(net, sb, ep, addr).catch((e) => {
          failure = (e as Error).message;
          return undefined;
        });
      } else {
        failure = `no answer from ${phase === 'renew' ? `server ${lease.server}` : 'any server'} within ${RENEW_WAIT_MS / 1000} s`;
      }
    } catch (e) {
      failure = (e as Error).message;
    }
    if (fresh) {
      await this.commitLease(sbId, netId, lease, fresh, phase);
      return;
    }
    const nextDeadline = phase === 'renew' ? Date.parse(lease.rebindAt) : phase === 'rebind' ? Date.parse(lease.expires) : Infinity;
    const wait = Math.max(RETRY_MIN_MS, Math.min(RETRY_MAX_MS, Number.isFinite(nextDeadline) ? (nextDeadline - Date.now()) / 2 : RETRY_MAX_MS));
    const expired = Date.now() >= Date.parse(lease.expires);
    this.core.log(`dhcp: ${phase} of ${lease.address} for sandbox ${sb.name} on ${net.name} failed: ${failure}; ${expired ? 'the lease has expired (the address stays configured); ' : ''}next try in ${Math.round(wait / 1000)} s`);
    this.arm(sbId, netId, wait, phase === 'reboot');
  }

  /**
   * Write the renewed lease into the endpoint's record (queued, after checking the endpoint
   * still holds the lease we renewed), then arm the next renewal. When the server gave a
   * different address (after a NAK), the interface, its routes and files follow.
   */
  private async commitLease(sbId: string, netId: string, old: DhcpLease, fresh: DhcpLease, phase: string): Promise<void> {
    await this.core.serial(async () => {
      const sb = this.core.state.sandboxes.get(sbId);
      const ep = sb?.endpoints[netId];
      if (!sb || sb.deleting || !ep?.lease || ep.lease.clientId !== old.clientId || ep.lease.address !== old.address) {
        // The endpoint went while we asked: give the lease back again.
        if (sb && ep) await this.release(sb, { ...ep, lease: fresh, ipv4: fresh.address });
        return;
      }
      const nextEp: EndpointRecord = { ...ep, lease: fresh, ipv4: fresh.address };
      const next: SandboxRecord = { ...sb, endpoints: { ...sb.endpoints, [netId]: nextEp } };
      if (fresh.address !== old.address || fresh.router !== old.router) {
        const net = this.core.state.networks.get(netId)!;
        const plan: Plan = [
          { op: 'addr.add', ns: sb.netns ?? undefined, dev: ep.ifname, cidr: fresh.address },
          ...(fresh.address !== old.address ? [{ op: 'addr.del' as const, ns: sb.netns ?? undefined, dev: ep.ifname, cidr: old.address }] : []),
          ...(fresh.router && this.isGateway(next, nextEp) ? [{ op: 'route.add' as const, ns: sb.netns ?? undefined, dst: 'default', via: fresh.router, dev: ep.ifname }] : []),
        ];
        for (const e of await this.core.kernel.applyBestEffort(plan)) this.core.log(`dhcp: new address for sandbox ${sb.name} on ${net.name}: ${e}`);
        this.core.log(`dhcp: sandbox ${sb.name} on ${net.name}: the server moved it from ${old.address} to ${fresh.address}`);
      }
      this.core.commitSandbox(next);
      if (sb.netns && fresh.address !== old.address) await this.core.rewriteFiles(sb.netns, next);
      this.core.log(`dhcp: ${phase === 'reboot' ? 're-acquired' : phase === 'rebind' ? 'rebound' : 'renewed'} ${fresh.address} for sandbox ${sb.name} (server ${fresh.server}, expires ${fresh.expires})`);
    });
    this.arm(sbId, netId, Date.parse(fresh.renewAt) - Date.now());
  }
}

const key = (sbId: string, netId: string) => `${sbId}/${netId}`;
