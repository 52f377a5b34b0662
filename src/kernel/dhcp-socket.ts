/**
 * The DHCP client's socket: UDP port 68 inside a sandbox's namespace, bound to the
 * endpoint's interface (kernel/netns-socket.ts makes it there; Node adopts the fd). The
 * protocol itself is pure (ipam/dhcp.ts) and driven by the engine's lease room.
 */
import dgram from 'node:dgram';
import { closeFd, dhcpSocketInNetns } from './netns-socket.js';

export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;

export interface DhcpPort {
  /** Send one message to `to`:67 (255.255.255.255 to broadcast on the interface). */
  send(msg: Buffer, to: string): Promise<void>;
  /** The next datagram `accept` takes, or undefined when `deadline` (epoch ms) passes first. */
  receive(accept: (buf: Buffer) => boolean, deadline: number): Promise<Buffer | undefined>;
  close(): void;
}

export async function openDhcpPort(ns: string, ifname: string): Promise<DhcpPort> {
  const fd = dhcpSocketInNetns(ns, ifname, DHCP_CLIENT_PORT);
  const sock = dgram.createSocket({ type: 'udp4' });
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ fd }, () => {
        sock.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    closeFd(fd);
    throw e;
  }
  const queue: Buffer[] = [];
  let waiter: (() => void) | undefined;
  sock.on('message', (buf) => {
    if (queue.length < 64) queue.push(buf);
    waiter?.();
  });
  sock.on('error', () => {});
  let closed = false;
  return {
    send: (msg, to) =>
      new Promise((resolve, reject) => {
        sock.send(msg, DHCP_SERVER_PORT, to, (e) => (e ? reject(e) : resolve()));
      }),
    async receive(accept, deadline) {
      for (;;) {
        while (queue.length) {
          const b = queue.shift()!;
          if (accept(b)) return b;
        }
        const left = deadline - Date.now();
        if (left <= 0 || closed) return undefined;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiter = () => {
            clearTimeout(t);
            resolve();
          };
        });
        waiter = undefined;
      }
    },
    close() {
      if (closed) return;
      closed = true;
      waiter?.();
      sock.close();
    },
  };
}
