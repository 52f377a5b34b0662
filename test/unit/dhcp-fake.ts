/** DHCP server replies for unit tests, built byte by byte (not with the client's encoder). */
import { OPT } from '../../src/ipam/dhcp.js';

export const MAC = '02:5a:ab:ab:ab:ab';
export const ip = (s: string) => s.split('.').map(Number);
export const u32 = (n: number) => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];

/** A server's reply as dnsmasq would send it: the request's header turned into a BOOTREPLY with our options. */
export function reply(xid: number, type: number, yiaddr: string, opts: [number, number[]][], chaddr = MAC): Buffer {
  const head = Buffer.alloc(240);
  head[0] = 2;
  head[1] = 1;
  head[2] = 6;
  head.writeUInt32BE(xid >>> 0, 4);
  Buffer.from(yiaddr.split('.').map(Number)).copy(head, 16);
  Buffer.from(chaddr.split(':').map((h) => parseInt(h, 16))).copy(head, 28);
  head.writeUInt32BE(0x63825363, 236);
  const body = [[OPT.msgType, [type]] as [number, number[]], ...opts].flatMap(([c, v]) => [c, v.length, ...v]);
  return Buffer.concat([head, Buffer.from([...body, 255])]);
}
