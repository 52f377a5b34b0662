/**
 * The overlay demo rows. The demo's lab starts without a cluster store (the core
 * rows expect a daemon without the gateway bridge), so the first row does what an operator
 * does: etcd in the LAN, then every host's daemon restarted with --cluster-store and
 * --cluster-advertise lan0. Then a network made on host1 shows up on host2, and a sandbox on
 * host2 fetches a page from one on host1 by name.
 */
import fs from 'node:fs';
import { startLabEtcd } from '../etcd.js';
import { restartDaemon, type LabHost } from '../lab.js';
import { check, eventually, sleep, type DemoLab, type Scenario } from './kit.js';

const PAGE = 'hello across hosts';
const NET = 'multi';

const other = (lab: DemoLab): LabHost => lab.info.hosts[1]!;

async function yardOn(lab: DemoLab, host: LabHost, ...args: string[]): Promise<string> {
  const r = await lab.sh(['yard', ...args], { host });
  check(r.code === 0, `${host.name}: yard ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

async function networks(lab: DemoLab, host: LabHost): Promise<{ Name: string; Scope: string; Driver: string }[]> {
  return JSON.parse(await yardOn(lab, host, 'network', 'ls', '--json')) as { Name: string; Scope: string; Driver: string }[];
}

export const OVERLAY_SCENARIOS: Scenario[] = [
  {
    name: 'daemons join etcd',
    expectation: 'etcd in the LAN; both daemons restarted with --cluster-store, each makes yard_gwbridge',
    async run(lab) {
      const { info } = lab;
      if (!info.etcd) {
        // Recorded in the lab's state by restartDaemon, so the demo's lab down stops it.
        info.etcd = await startLabEtcd(info.lanNs, info.gateway4, info.dir, 1);
        info.daemonArgs = ['--cluster-store', info.etcd.store, '--cluster-advertise', 'lan0', ...(info.daemonArgs ?? [])];
      }
      const t0 = Date.now();
      await Promise.all(info.hosts.map((h) => restartDaemon(info, h)));
      const ms = Date.now() - t0;
      for (const h of info.hosts) {
        const names = (await networks(lab, h)).map((n) => n.Name);
        check(names.includes('yard_gwbridge'), `${h.name} has no yard_gwbridge after the restart: ${names.join(' ')}`);
      }
      return `etcd ${info.etcd.store}; ${info.hosts.length} daemons restarted in ${ms} ms`;
    },
  },
  {
    name: 'overlay network on both hosts',
    expectation: '`network create -d overlay` on host1 appears on host2 (scope global); MTU 1450 from lan0',
    async run(lab) {
      const t0 = Date.now();
      await lab.yard('network', 'create', '-d', 'overlay', '--subnet', '10.240.0.0/24', '--attachable', NET);
      let seen: { Scope: string; Driver: string } | undefined;
      for (let i = 0; i < 100 && !seen && Date.now() - t0 < 10_000; i++) {
        seen = (await networks(lab, other(lab))).find((n) => n.Name === NET);
        if (!seen) await sleep(50);
      }
      check(seen, `${NET} did not appear on host2 within 10 s`);
      check(seen.Scope === 'global' && seen.Driver === 'overlay', `host2 lists ${NET} as ${seen.Driver}/${seen.Scope}`);
      const [net] = JSON.parse(await yardOn(lab, other(lab), 'network', 'inspect', NET)) as { Switchyard?: { Driver?: { mtu?: number; mtuReason?: string } } }[];
      const d = net?.Switchyard?.Driver;
      check(d?.mtu === 1450, `host2 shows MTU ${d?.mtu} (${d?.mtuReason})`);
      return `on host2 after ${Date.now() - t0} ms: overlay/global, MTU ${d.mtu} (${d.mtuReason})`;
    },
  },
  {
    name: 'HTTP by name across hosts',
    expectation: 'host2 sandbox: ping ov-web (on host1) and `wget http://ov-web/` over the overlay',
    async run(lab) {
      const root = `${lab.dir}/ov`;
      fs.mkdirSync(root, { recursive: true, mode: 0o755 });
      fs.writeFileSync(`${root}/index.html`, `${PAGE}\n`);
      await lab.yard('run', '-d', '--name', 'ov-web', '--network', NET, '--', 'busybox', 'httpd', '-f', '-p', '80', '-h', root);
      const ip = (await lab.inspect('ov-web')).NetworkSettings.Networks[NET]?.IPAddress;
      // One client sandbox on host2: a ping by name, then the page by name (httpd may need a moment).
      const script = 'ping -c1 -W2 ov-web | head -2 | tail -1; for i in 1 2 3 4 5; do timeout 3 busybox wget -q -O - http://ov-web/ && exit 0; sleep 0.2; done; exit 1';
      const out = await eventually(() => yardOn(lab, other(lab), 'run', '--rm', '--name', 'ov-client', '--network', NET, '--', 'sh', '-c', script), 2, 200);
      check(out.includes(PAGE), `host2's client got ${JSON.stringify(out.trim())}`);
      const reply = /from (?:\S+ \()?([\d.]+)\)?:.*time=([\d.]+ ms)/.exec(out);
      check(reply && reply[1] === ip, `ping ov-web from host2: ${out.split('\n')[0]} (ov-web is ${ip})`);
      return `host2 -> ov-web ${ip}: ping ${reply[2]}, GET / = "${PAGE}"`;
    },
  },
  {
    name: 'overlay cleanup',
    expectation: 'rm ov-web and network rm on host1: the network is gone from host2 too',
    async run(lab) {
      await lab.yard('rm', '-f', 'ov-web');
      await lab.yard('network', 'rm', NET);
      let left = true;
      for (let i = 0; i < 100 && left; i++) {
        left = (await networks(lab, other(lab))).some((n) => n.Name === NET);
        if (left) await sleep(50);
      }
      check(!left, `${NET} is still listed on host2`);
      return `${NET} gone on both hosts`;
    },
  },
];
