/**
 * The macvlan demo rows: a sandbox straight on the LAN that another host reaches
 * at its own address, the host-access gotcha (the sandbox's own host cannot reach it) shown
 * failing and then fixed by `-o host_access=true`, and ipvlan refused at once on a kernel
 * without ipvlan support.
 */
import fs from 'node:fs';
import type { LabHost } from '../lab.js';
import { check, eventually, type DemoLab, type Scenario } from './kit.js';

const PAGE = 'hello from the LAN';
const SANDBOX_IP = '10.231.0.200';
const LAN = ['--subnet', '10.231.0.0/24', '--gateway', '10.231.0.1', '--ip-range', '10.231.0.192/27', '-o', 'parent=lan0'];

const other = (lab: DemoLab): LabHost => lab.info.hosts[1]!;

async function fetches(lab: DemoLab, host: LabHost, waitS = '5'): Promise<boolean> {
  const r = await lab.sh(['timeout', waitS, 'busybox', 'wget', '-q', '-O', '-', `http://${SANDBOX_IP}/`], { host });
  return r.code === 0 && r.stdout.trim() === PAGE;
}

async function mustFetch(lab: DemoLab, host: LabHost, who: string): Promise<void> {
  const ok = await eventually(async () => {
    if (!(await fetches(lab, host))) throw new Error('no page');
    return true;
  }, 10, 150).catch(() => false);
  check(ok, `${who}: GET http://${SANDBOX_IP}/ did not return the page`);
}

async function runWeb(lab: DemoLab, name: string, network: string): Promise<void> {
  const root = `${lab.dir}/lan`;
  fs.mkdirSync(root, { recursive: true, mode: 0o755 });
  fs.writeFileSync(`${root}/index.html`, `${PAGE}\n`);
  await lab.yard('run', '-d', '--name', name, '--network', network, '--ip', SANDBOX_IP, '--', 'busybox', 'httpd', '-f', '-p', '80', '-h', root);
}

async function networkNames(lab: DemoLab): Promise<string> {
  return (JSON.parse(await lab.yard('network', 'ls', '--json')) as { Name: string }[]).map((n) => n.Name).sort().join(' ');
}

export const MACVLAN_SCENARIOS: Scenario[] = [
  {
    name: 'macvlan on the LAN',
    expectation: `-d macvlan -o parent=lan0: host2 reaches the sandbox at ${SANDBOX_IP}, its own MAC`,
    async run(lab) {
      const r = await lab.sh(['yard', 'network', 'create', '-d', 'macvlan', ...LAN, 'pub_net']);
      check(r.code === 0, `network create pub_net exited ${r.code}: ${r.stderr.trim()}`);
      lab.vars.set('macvlan-warning', r.stderr.trim());
      await runWeb(lab, 'lan-web', 'pub_net');
      await mustFetch(lab, other(lab), 'host2');
      const neigh = await lab.sh(['ip', '-j', 'neigh', 'show', SANDBOX_IP], { host: other(lab) });
      const mac = (JSON.parse(neigh.stdout || '[]') as { lladdr?: string }[])[0]?.lladdr;
      const lan0 = (JSON.parse((await lab.sh(['ip', '-j', 'link', 'show', 'lan0'])).stdout) as { address: string }[])[0]?.address;
      check(mac && mac !== lan0, `host2 sees ${SANDBOX_IP} at MAC ${mac ?? 'none'}; host1's lan0 is ${lan0}`);
      return `host2 -> ${SANDBOX_IP}: "${PAGE}", MAC ${mac} (host1 lan0 ${lan0})`;
    },
  },
  {
    name: 'host-access gotcha',
    expectation: 'without the shim host1 cannot reach its own sandbox, and network create warned about it',
    async run(lab) {
      const warning = lab.vars.get('macvlan-warning') ?? '';
      check(/^warning: .*host_access=true/.test(warning), `network create printed no host-access warning: ${JSON.stringify(warning)}`);
      // host2 reached it a moment ago, so this failure is the parent/child filter, nothing else.
      const [fetched, ping] = await Promise.all([fetches(lab, lab.host, '1.5'), lab.sh(['ping', '-c1', '-W1', SANDBOX_IP])]);
      check(!fetched, `host1 reached ${SANDBOX_IP} without the shim`);
      check(ping.code !== 0, `host1 pings ${SANDBOX_IP} without the shim`);
      await lab.yard('rm', '-f', 'lan-web');
      await lab.yard('network', 'rm', 'pub_net');
      return `host1 -> ${SANDBOX_IP}: no answer (as warned: ${warning.replace(/^warning: /, '').slice(0, 60)}...)`;
    },
  },
  {
    name: 'host-access shim',
    expectation: '-o host_access=true: host1 reaches its macvlan sandbox through the shim',
    async run(lab) {
      await lab.yard('network', 'create', '-d', 'macvlan', ...LAN, '-o', 'host_access=true', 'pub_shim');
      await runWeb(lab, 'lan-web2', 'pub_shim');
      await mustFetch(lab, lab.host, 'host1');
      await mustFetch(lab, other(lab), 'host2');
      const [net] = JSON.parse(await lab.yard('network', 'inspect', 'pub_shim')) as { Switchyard?: { Driver?: { shimAddress?: string } } }[];
      const shim = net?.Switchyard?.Driver?.shimAddress;
      check(shim, 'network inspect pub_shim shows no shim address');
      await lab.yard('rm', '-f', 'lan-web2');
      await lab.yard('network', 'rm', 'pub_shim');
      return `host1 and host2 -> ${SANDBOX_IP}: "${PAGE}"; shim ${shim}`;
    },
  },
  {
    name: 'ipvlan refused',
    expectation: '-d ipvlan on this kernel: one error naming the missing kernel feature and macvlan, nothing made',
    async run(lab) {
      const before = await networkNames(lab);
      const err = (await lab.yardRefused('network', 'create', '-d', 'ipvlan', '--subnet', '10.50.0.0/24', '-o', 'parent=lan0', 'ipv')).trim();
      check(err.startsWith('error: ') && !err.includes('\n'), `expected one "error: ..." line, got ${JSON.stringify(err)}`);
      for (const word of ['ipvlan', 'kernel', 'macvlan']) check(err.includes(word), `the error does not mention ${word}: ${err}`);
      check((await networkNames(lab)) === before, 'the refused create changed the network list');
      return err;
    },
  },
];
