/** Parsing what the kernel shows for `yard doctor`: /proc/net sockets, nft's JSON ruleset, rule handles. */
import { describe, expect, it } from 'vitest';
import { parseNftRuleset, parseProcNet, parseProcSections, parseRuleHandles, procAddress } from './doctor-facts.js';

const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 100 0 0 10 0
   2: 020012AC:0050 030012AC:D431 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 100 0 0 10 0
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:0051 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5 1 0000000000000000 100 0 0 10 0
`;
const UDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 0B00007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 6 2 0000000000000000 0
`;

describe('/proc/net', () => {
  it('addresses: IPv4 in host byte order, IPv6 by 32-bit words, v4-mapped shown as IPv4', () => {
    expect(procAddress('0100007F:0050')).toEqual({ addr: '127.0.0.1', port: 80 });
    expect(procAddress('00000000000000000000000001000000:0051')).toEqual({ addr: '::1', port: 81 });
    expect(procAddress('0000000000000000FFFF00000100007F:0016')).toEqual({ addr: '127.0.0.1', port: 22 });
    expect(procAddress('B80D0120000000000000000001000000:0050')).toEqual({ addr: '2001:db8::1', port: 80 });
    expect(procAddress('zz')).toBeNull();
  });

  it('listeners only: TCP in LISTEN, UDP unconnected; sections by file', () => {
    expect(parseProcNet(TCP, 'tcp')).toEqual([{ proto: 'tcp', addr: '127.0.0.1', port: 80 }, { proto: 'tcp', addr: '0.0.0.0', port: 8080 }]);
    const all = parseProcSections(`## tcp\n${TCP}## tcp6\n${TCP6}## udp\n${UDP}## udp6\n`);
    expect(all).toEqual([
      { proto: 'tcp', addr: '127.0.0.1', port: 80 },
      { proto: 'tcp', addr: '0.0.0.0', port: 8080 },
      { proto: 'tcp', addr: '::', port: 80 },
      { proto: 'tcp', addr: '::1', port: 81 },
      { proto: 'udp', addr: '127.0.0.11', port: 53 },
    ]);
  });
});

describe('nft', () => {
  const ruleset = JSON.stringify({
    nftables: [
      { metainfo: { version: '1.0.6' } },
      { table: { family: 'inet', name: 'switchyard', handle: 1 } },
      { set: { family: 'inet', name: 'masq4', table: 'switchyard', type: 'ipv4_addr', flags: ['interval'], elem: [{ prefix: { addr: '172.18.0.0', len: 16 } }, { prefix: { addr: '10.0.0.0', len: 24 } }] } },
      { map: { family: 'inet', name: 'pm4', table: 'switchyard', type: ['ipv4_addr', 'inet_proto', 'inet_service'], map: 'ipv4_addr . inet_service', elem: [[{ concat: [{ prefix: { addr: '0.0.0.0', len: 0 } }, 'tcp', 8080] }, { concat: ['172.18.0.2', 80] }]] } },
      { set: { family: 'inet', name: 'internal', table: 'switchyard', type: 'ifname' } },
      { chain: { family: 'inet', table: 'switchyard', name: 'forward', hook: 'forward', prio: 0, policy: 'accept' } },
      { rule: { family: 'inet', table: 'switchyard', chain: 'forward', handle: 4, expr: [] } },
      { rule: { family: 'inet', table: 'switchyard', chain: 'forward', handle: 5, expr: [] } },
      { chain: { family: 'inet', table: 'hostfw', name: 'fwd', hook: 'forward', prio: 0, policy: 'drop' } },
      { chain: { family: 'ip', table: 'filter', name: 'ufw-user-forward' } },
    ],
  });

  it('chains with hooks, policies and rule counts; element counts; our masquerade prefixes', () => {
    const r = parseNftRuleset(ruleset, 'switchyard');
    expect(r.chains).toEqual([
      { family: 'inet', table: 'switchyard', name: 'forward', hook: 'forward', policy: 'accept', rules: 2 },
      { family: 'inet', table: 'hostfw', name: 'fwd', hook: 'forward', policy: 'drop', rules: 0 },
      { family: 'ip', table: 'filter', name: 'ufw-user-forward', rules: 0 },
    ]);
    expect(Object.fromEntries(r.elements)).toEqual({ 'inet switchyard masq4': 2, 'inet switchyard pm4': 1, 'inet switchyard internal': 0 });
    expect(r.masquerade).toEqual(['172.18.0.0/16', '10.0.0.0/24']);
  });

  it('rule handles from nft -a', () => {
    const text = 'table inet switchyard-user {\n\tchain user-forward { # handle 1\n\t\ttype filter hook forward priority filter - 10; policy accept;\n\t\ttcp dport 8080 drop # handle 4\n\t\tip saddr 10.0.0.0/8 accept # handle 7\n\t}\n}\n';
    expect(parseRuleHandles(text)).toEqual([{ handle: 4, text: 'tcp dport 8080 drop' }, { handle: 7, text: 'ip saddr 10.0.0.0/8 accept' }]);
  });
});
