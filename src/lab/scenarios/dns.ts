/**
 * The embedded DNS's demo rows: names on a user-defined network, aliases shared by
 * two sandboxes, reverse lookups, forwarding to the lab's upstream, names scoped to the
 * networks a sandbox is on (connect and disconnect), and the default bridge that resolves
 * nothing (as Docker's). Self-contained: its own networks and sandboxes; the scoping row
 * removes its own, the last row the rest.
 */
import { check, type DemoLab, type Scenario } from './kit.js';

const NET = 'dns-net';
const OTHER = 'dns-other';

/** dig's status and A records for a name, asked from inside a sandbox. */
async function lookup(lab: DemoLab, sandbox: string, name: string): Promise<{ status: string; addrs: string[] }> {
  const out = await lab.inSandbox(sandbox, ['dig', '+tries=1', '+time=2', name]);
  const status = /status: (\w+)/.exec(out)?.[1] ?? `no reply:\n${out}`;
  const addrs = [...out.matchAll(/^\S+\s+\d+\s+IN\s+A\s+(\S+)$/gm)].map((m) => m[1]!);
  return { status, addrs };
}

export const DNS_SCENARIOS: Scenario[] = [
  {
    name: 'dns: sandboxes on a user network',
    expectation: 'resolv.conf says nameserver 127.0.0.11 and options ndots:0',
    async run(lab) {
      await lab.yard('network', 'create', '--subnet', '10.77.0.0/24', NET);
      await lab.yard('run', '-d', '--name', 'api1', '--network', NET, '--network-alias', 'api', '--', 'sleep', '1000');
      await lab.yard('run', '-d', '--name', 'api2', '--network', NET, '--network-alias', 'api', '--', 'sleep', '1000');
      await lab.yard('run', '-d', '--name', 'client', '--network', NET, '--', 'sleep', '1000');
      const conf = await lab.inSandbox('client', ['cat', '/etc/resolv.conf']);
      check(/^nameserver 127\.0\.0\.11$/m.test(conf) && /ndots:0/.test(conf), `resolv.conf is:\n${conf}`);
      return 'nameserver 127.0.0.11, options ndots:0';
    },
  },
  {
    name: 'dns: a name resolves and answers',
    expectation: 'client pings api1 by name',
    async run(lab) {
      const out = await lab.inSandbox('client', ['ping', '-c1', '-W2', 'api1']);
      check(/1 received/.test(out), `ping api1:\n${out}`);
      return out.split('\n')[0];
    },
  },
  {
    name: 'dns: an alias shared by two sandboxes',
    expectation: 'one answer carries both addresses',
    async run(lab) {
      const out = await lab.inSandbox('client', ['dig', '+short', 'api']);
      const addrs = out.trim().split('\n').filter(Boolean).sort();
      check(addrs.length === 2, `dig api gave: ${out}`);
      return addrs.join(', ');
    },
  },
  {
    name: 'dns: reverse lookup',
    expectation: 'PTR of api1\'s address is api1.dns-net.',
    async run(lab) {
      const ip = (await lab.inspect('api1')).NetworkSettings.Networks[NET]!.IPAddress;
      const out = (await lab.inSandbox('client', ['dig', '+short', '-x', ip])).trim();
      check(out === `api1.${NET}.`, `dig -x ${ip} gave: ${out}`);
      return `${ip} -> ${out}`;
    },
  },
  {
    name: 'dns: unknown names go upstream',
    expectation: 'foo.lab is answered by the lab\'s resolver (10.231.0.99)',
    async run(lab) {
      const out = (await lab.inSandbox('client', ['dig', '+short', 'foo.lab'])).trim();
      check(out === '10.231.0.99', `dig foo.lab gave: ${out}`);
      return out;
    },
  },
  {
    name: 'dns: names are scoped to the networks',
    expectation: `from dns-other, api1 is NXDOMAIN from upstream; after connect ${NET} it resolves; after disconnect not`,
    async run(lab) {
      // Its own network and sandbox, removed here even when a step fails, so the cleanup row stays complete.
      await lab.yard('network', 'create', '--subnet', '10.78.0.0/24', OTHER);
      try {
        await lab.yard('run', '-d', '--name', 'outsider', '--network', OTHER, '--', 'sleep', '1000');
        const before = await lookup(lab, 'outsider', 'api1');
        check(before.status === 'NXDOMAIN' && !before.addrs.length, `api1 from outsider (on ${OTHER} only): ${before.status} ${before.addrs.join(' ')}`);
        const why = await lab.yard('dns', 'explain', 'api1', '--from', 'outsider');
        check(/upstream/.test(why) && /10\.231\.0\.1/.test(why), `yard dns explain api1 --from outsider does not say the lab resolver answered:\n${why}`);
        await lab.yard('network', 'connect', NET, 'outsider');
        const ip = (await lab.inspect('api1')).NetworkSettings.Networks[NET]!.IPAddress;
        const connected = await lookup(lab, 'outsider', 'api1');
        check(connected.status === 'NOERROR' && connected.addrs.join() === ip, `api1 from outsider after connect ${NET}: ${connected.status} ${connected.addrs.join(' ')} (api1 is ${ip})`);
        await lab.yard('network', 'disconnect', NET, 'outsider');
        const after = await lookup(lab, 'outsider', 'api1');
        check(after.status === 'NXDOMAIN' && !after.addrs.length, `api1 from outsider after disconnect: ${after.status} ${after.addrs.join(' ')}`);
        return `before: NXDOMAIN (upstream); connected: ${ip}; disconnected: NXDOMAIN`;
      } finally {
        await lab.sh(['yard', 'rm', '-f', 'outsider']);
        await lab.sh(['yard', 'network', 'rm', OTHER]);
      }
    },
  },
  {
    name: 'dns: the default bridge has no names',
    expectation: 'a sandbox on bridge gets NXDOMAIN for api1 from the upstream (as in Docker), which answers it foo.lab',
    async run(lab) {
      try {
        await lab.yard('run', '-d', '--name', 'plain', '--', 'sleep', '1000');
        const conf = await lab.inSandbox('plain', ['cat', '/etc/resolv.conf']);
        check(!/127\.0\.0\.11/.test(conf), `default bridge resolv.conf is:\n${conf}`);
        // An exact NXDOMAIN (not a timeout or SERVFAIL), beside a name the same upstream does answer.
        const api1 = await lookup(lab, 'plain', 'api1');
        check(api1.status === 'NXDOMAIN' && !api1.addrs.length, `api1 from plain (default bridge): ${api1.status} ${api1.addrs.join(' ')}`);
        const known = await lookup(lab, 'plain', 'foo.lab');
        check(known.status === 'NOERROR' && known.addrs.join() === '10.231.0.99', `foo.lab from plain: ${known.status} ${known.addrs.join(' ')}`);
        const fromPeer = await lookup(lab, 'client', 'api1');
        check(fromPeer.status === 'NOERROR' && fromPeer.addrs.length === 1, `api1 from client (on ${NET}): ${fromPeer.status} ${fromPeer.addrs.join(' ')}`);
        return 'api1: NXDOMAIN from the upstream (foo.lab: 10.231.0.99; api1 from client resolves); cleaned up';
      } finally {
        await lab.sh(['yard', 'rm', '-f', 'api1', 'api2', 'client', 'plain']);
        await lab.sh(['yard', 'network', 'rm', NET]);
      }
    },
  },
];
