/**
 * The core engine's demo rows: bridge networks with default and explicit IPAM,
 * sandboxes on user, default, host and none networks, connect/disconnect, refusals,
 * the real docker CLI, a daemon crash, and a clean teardown. Rows build on each other.
 */
import fs from 'node:fs';
import { sandboxNetnsPrefix } from '../../paths.js';
import { processGone, restartDaemon } from '../lab.js';
import { addrsByIf, check, eventually, fail, sleep, type DemoLab, type Scenario } from './kit.js';

const PAGE = 'hello from web1';
const DEFAULTS = ['bridge', 'host', 'none'];

interface NetworkView {
  Name: string;
  Options: Record<string, string>;
  IPAM: { Config: { Subnet: string; Gateway?: string; IPRange?: string; AuxiliaryAddresses?: Record<string, string> }[] };
}

async function networkInspect(lab: DemoLab, name: string): Promise<NetworkView> {
  return (JSON.parse(await lab.yard('network', 'inspect', name)) as NetworkView[])[0]!;
}

async function networkNames(lab: DemoLab): Promise<string[]> {
  const out = await lab.yard('network', 'ls');
  return out.trim().split('\n').slice(1).map((l) => l.split(/\s+/)[1]!).sort();
}

async function hostAddrs(lab: DemoLab): Promise<Map<string, string[]>> {
  const r = await lab.sh(['ip', '-j', 'addr', 'show']);
  check(r.code === 0, `ip -j addr show in ${lab.host.name}: ${r.stderr}`);
  return addrsByIf(r.stdout);
}

async function sandboxAddrs(lab: DemoLab, sandbox: string): Promise<Map<string, string[]>> {
  return addrsByIf(await lab.inSandbox(sandbox, ['ip', '-j', 'addr', 'show']));
}

const sandboxNamespaces = (lab: DemoLab) =>
  fs.readdirSync('/run/netns').filter((n) => n.startsWith(sandboxNetnsPrefix(lab.host.name))).sort();

async function ipOf(lab: DemoLab, sandbox: string, network: string): Promise<string> {
  const s = await lab.inspect(sandbox);
  const ip = s.NetworkSettings.Networks[network]?.IPAddress;
  check(ip, `yard inspect ${sandbox} shows no address on ${network}`);
  return ip;
}

async function ping(lab: DemoLab, from: string, to: string): Promise<string> {
  const out = await lab.inSandbox(from, ['ping', '-c1', '-W2', to]);
  return /time=([\d.]+ ms)/.exec(out)?.[1] ?? 'answered';
}

async function fetchPage(lab: DemoLab, from: string, ip: string): Promise<void> {
  // httpd may need a moment after `run -d` returns before it listens.
  const body = await eventually(() => lab.inSandbox(from, ['timeout', '5', 'busybox', 'wget', '-q', '-O', '-', `http://${ip}/`]));
  check(body.trim() === PAGE, `web1 served ${JSON.stringify(body.trim())} instead of ${JSON.stringify(PAGE)}`);
}

/**
 * What a refused command must not change: sandboxes, networks, host addresses, namespaces.
 * Read straight from the daemon's API and the kernel (a check, not a user's step).
 */
async function snapshot(lab: DemoLab): Promise<string> {
  const [sbs, nets, addrs] = await Promise.all([lab.api('GET', '/yard/v1/sandboxes?all=1'), lab.api('GET', '/networks'), hostAddrs(lab)]);
  check(sbs.status === 200 && nets.status === 200, `daemon answered ${sbs.status}/${nets.status}`);
  const ids = (text: string) => (JSON.parse(text) as { Id: string }[]).map((o) => o.Id).sort();
  return JSON.stringify({ sandboxes: ids(sbs.text), networks: ids(nets.text), addrs: [...addrs].sort(), ns: sandboxNamespaces(lab) });
}

/** A refusal a human can act on: one `error:` line naming what is wrong, no stack trace. */
function checkRefusal(stderr: string, mustMention: string[]): string {
  const line = stderr.trim();
  check(line.startsWith('error: '), `expected an "error: ..." line, got ${JSON.stringify(line)}`);
  check(!/\n\s+at /.test(line), `the error carries a stack trace: ${line}`);
  for (const m of mustMention) check(line.includes(m), `the error does not mention ${m}: ${line}`);
  return line;
}

export const CORE_SCENARIOS: Scenario[] = [
  {
    name: 'default networks',
    expectation: 'bridge, host and none exist on a fresh daemon',
    async run(lab) {
      const names = await networkNames(lab);
      for (const n of DEFAULTS) check(names.includes(n), `network ls lacks ${n}: ${names.join(' ')}`);
      return names.join(' ');
    },
  },
  {
    name: 'network create app-net',
    expectation: 'subnet 172.18.0.0/16 from the default pools, gateway on a bridge',
    async run(lab) {
      await lab.yard('network', 'create', 'app-net');
      const [net, addrs] = await Promise.all([networkInspect(lab, 'app-net'), hostAddrs(lab)]);
      const cfg = net.IPAM.Config[0];
      check(cfg?.Subnet === '172.18.0.0/16' && cfg.Gateway === '172.18.0.1', `app-net got ${JSON.stringify(cfg)}`);
      const bridge = [...addrs].find(([, a]) => a.includes('172.18.0.1/16'))?.[0];
      check(bridge, 'no link in the host carries 172.18.0.1/16');
      return `${cfg.Subnet} gw ${cfg.Gateway} on ${bridge}`;
    },
  },
  {
    name: 'network create app2',
    expectation: '--subnet/--gateway/--ip-range/--aux-address/-o bridge.name: br-app2 has 10.20.0.1/24',
    async run(lab) {
      await lab.yard(
        'network', 'create', '--subnet', '10.20.0.0/24', '--gateway', '10.20.0.1', '--ip-range', '10.20.0.128/25',
        '--aux-address', 'printer=10.20.0.130', '-o', 'com.docker.network.bridge.name=br-app2', 'app2',
      );
      const [net, host] = await Promise.all([networkInspect(lab, 'app2'), hostAddrs(lab)]);
      const cfg = net.IPAM.Config[0];
      check(cfg?.IPRange === '10.20.0.128/25' && cfg.AuxiliaryAddresses?.printer === '10.20.0.130', `app2 IPAM is ${JSON.stringify(cfg)}`);
      const addrs = host.get('br-app2');
      check(addrs, 'the host has no link br-app2');
      check(addrs.includes('10.20.0.1/24'), `br-app2 has ${addrs.join(' ') || 'no address'}`);
      return `br-app2 ${addrs.join(' ')}`;
    },
  },
  {
    name: 'run web1 (httpd)',
    expectation: 'detached busybox httpd on app-net, running, address from 172.18.0.0/16',
    async run(lab) {
      fs.writeFileSync(`${lab.dir}/index.html`, `${PAGE}\n`);
      await lab.yard('run', '-d', '--name', 'web1', '--network', 'app-net', '--', 'busybox', 'httpd', '-f', '-p', '80', '-h', lab.dir);
      const s = await lab.inspect('web1');
      check(s.State.Running, `web1 is ${s.State.Status}`);
      const ip = s.NetworkSettings.Networks['app-net']?.IPAddress ?? '';
      check(ip.startsWith('172.18.'), `web1 has address ${ip || 'none'} on app-net`);
      lab.vars.set('web1', ip);
      return `web1 ${ip}, pid ${s.State.Pid}`;
    },
  },
  {
    name: 'run web2 --ip',
    expectation: '--ip 172.18.0.50 on app-net: eth0 has exactly 172.18.0.50/16',
    async run(lab) {
      await lab.yard('run', '-d', '--name', 'web2', '--network', 'app-net', '--ip', '172.18.0.50', '--', 'sleep', '1000');
      const eth0 = (await sandboxAddrs(lab, 'web2')).get('eth0') ?? [];
      check(eth0.join() === '172.18.0.50/16', `web2 eth0 has ${eth0.join(' ') || 'no address'}`);
      return `eth0 ${eth0.join(' ')}`;
    },
  },
  {
    name: 'web2 reaches web1',
    expectation: 'web2 pings web1 and fetches its page over app-net',
    async run(lab) {
      const ip = lab.vars.get('web1') ?? (await ipOf(lab, 'web1', 'app-net'));
      const rtt = await ping(lab, 'web2', ip);
      await fetchPage(lab, 'web2', ip);
      return `ping ${ip} ${rtt}; GET / = "${PAGE}"`;
    },
  },
  {
    name: 'connect app2 web2',
    expectation: 'web2 gets 10.20.0.128 (first of --ip-range) on eth1 and reaches 10.20.0.1',
    async run(lab) {
      await lab.yard('network', 'connect', 'app2', 'web2');
      const eth1 = (await sandboxAddrs(lab, 'web2')).get('eth1') ?? [];
      check(eth1.join() === '10.20.0.128/24', `web2 eth1 has ${eth1.join(' ') || 'nothing'}`);
      const rtt = await ping(lab, 'web2', '10.20.0.1');
      return `eth1 ${eth1.join(' ')}, gateway ${rtt}`;
    },
  },
  {
    name: 'disconnect app2 web2',
    expectation: 'eth1 and 10.20.0.128 are gone, eth0 untouched',
    async run(lab) {
      await lab.yard('network', 'disconnect', 'app2', 'web2');
      const addrs = await sandboxAddrs(lab, 'web2');
      check(!addrs.has('eth1'), `web2 still has eth1 (${addrs.get('eth1')?.join(' ')})`);
      check(![...addrs.values()].flat().some((a) => a.startsWith('10.20.')), 'web2 still holds a 10.20.0.0/24 address');
      check(addrs.get('eth0')?.join() === '172.18.0.50/16', `web2 eth0 now has ${addrs.get('eth0')?.join(' ')}`);
      return `links: ${[...addrs.keys()].join(' ')}`;
    },
  },
  {
    name: 'run --network host',
    expectation: "sees the host's uplink lan0 with 10.231.0.2",
    async run(lab) {
      const addrs = addrsByIf(await lab.yard('run', '--rm', '--network', 'host', '--', 'ip', '-j', 'addr', 'show'));
      const lan0 = addrs.get('lan0') ?? [];
      check(lan0.includes(`${lab.host.lan4}/24`), `lan0 shows ${lan0.join(' ') || 'nothing'}`);
      return `lan0 ${lan0.join(' ')}`;
    },
  },
  {
    name: 'run --network none',
    expectation: 'only lo, no route',
    async run(lab) {
      const out = await lab.yard('run', '--rm', '--network', 'none', '--', 'sh', '-c', 'ip -j addr show; echo; ip -4 -j route show');
      const [addrJson, routeJson] = out.split('\n').filter((l) => l.trim());
      const addrs = addrsByIf(addrJson ?? '');
      check([...addrs.keys()].join() === 'lo', `links: ${[...addrs.keys()].join(' ')}`);
      const routes = JSON.parse(routeJson || '[]') as unknown[];
      check(routes.length === 0, `routes: ${JSON.stringify(routes)}`);
      return 'links: lo; routes: none';
    },
  },
  {
    name: 'default bridge',
    expectation: 'two sandboxes on the default bridge ping each other by IP',
    async run(lab) {
      await Promise.all(['b1', 'b2'].map((n) => lab.yard('run', '-d', '--name', n, '--', 'sleep', '1000')));
      const ip = await ipOf(lab, 'b2', 'bridge');
      check(ip.startsWith('172.17.'), `b2 has ${ip} on the default bridge`);
      return `b1 -> b2 ${ip}: ${await ping(lab, 'b1', ip)}`;
    },
  },
  {
    name: 'bad --ip refused',
    expectation: '`run --network app2 --ip 10.99.0.5`: one clear error naming --ip, nothing changed',
    async run(lab) {
      const before = await snapshot(lab);
      const err = await lab.yardRefused('run', '-d', '--name', 'bad', '--network', 'app2', '--ip', '10.99.0.5', '--', 'sleep', '1000');
      const line = checkRefusal(err, ['--ip', '10.99.0.5']);
      const after = await snapshot(lab);
      check(after === before, 'the refused run changed the state or the kernel');
      return line;
    },
  },
  {
    name: 'bad network create refused',
    expectation: 'malformed and overlapping --subnet: errors name --subnet, no network made',
    async run(lab) {
      const before = await snapshot(lab);
      const [e1, e2] = await Promise.all([
        lab.yardRefused('network', 'create', '--subnet', '10.30.0.0/33', 'bad1'),
        lab.yardRefused('network', 'create', '--subnet', '10.20.0.0/25', 'bad2'),
      ]);
      const malformed = checkRefusal(e1, ['--subnet', '10.30.0.0/33']);
      const overlap = checkRefusal(e2, ['--subnet', '10.20.0.0/25']);
      check((await snapshot(lab)) === before, 'a refused create changed the state or the kernel');
      return `${malformed} / ${overlap}`;
    },
  },
  {
    name: 'network rm in use',
    expectation: 'refused (HTTP 403, "has active endpoints"), app-net stays',
    async run(lab) {
      const [err, r] = await Promise.all([lab.yardRefused('network', 'rm', 'app-net'), lab.api('DELETE', '/v1.41/networks/app-net')]);
      const line = checkRefusal(err, ['active endpoints']);
      check(r.status === 403, `DELETE /networks/app-net answered ${r.status}: ${r.text}`);
      check(r.text.includes('has active endpoints'), `403 body: ${r.text}`);
      check((await networkNames(lab)).includes('app-net'), 'app-net is gone');
      return line;
    },
  },
  {
    name: 'real docker CLI',
    expectation: '`docker network ls` / `inspect` against the host daemon show the same networks',
    async run(lab) {
      const [ls, ours, ins] = await Promise.all([
        lab.sh(['docker', 'network', 'ls', '--format', '{{.Name}}']),
        networkNames(lab),
        lab.sh(['docker', 'network', 'inspect', 'app2', '--format', '{{(index .IPAM.Config 0).Subnet}} {{index .Options "com.docker.network.bridge.name"}}']),
      ]);
      check(ls.code === 0, `docker network ls exited ${ls.code}: ${ls.stderr.trim()}`);
      const names = ls.stdout.trim().split('\n').sort();
      check(names.join() === ours.join(), `docker sees ${names.join(' ')}, yard ${ours.join(' ')}`);
      check(ins.code === 0 && ins.stdout.trim() === '10.20.0.0/24 br-app2', `docker network inspect app2: ${ins.stdout.trim()} ${ins.stderr.trim()}`);
      return `${names.join(' ')}; app2 ${ins.stdout.trim()}`;
    },
  },
  {
    name: 'daemon kill -9 + restart',
    expectation: 'sandboxes survive: processes alive, traffic flows, the new daemon adopts them',
    async run(lab) {
      const [web1, web2, reply] = await Promise.all([lab.inspect('web1'), lab.inspect('web2'), lab.api('GET', '/yard/v1/info')]);
      const info = JSON.parse(reply.text) as { pid: number };
      check(info.pid > 1, `daemon info has no pid: ${JSON.stringify(info)}`);
      process.kill(info.pid, 'SIGKILL');
      for (let i = 0; i < 100 && !processGone(info.pid); i++) await sleep(20);
      check(processGone(info.pid), `daemon ${info.pid} survived SIGKILL`);
      for (const s of [web1, web2]) check(!processGone(s.State.Pid), `sandbox process ${s.State.Pid} died with the daemon`);
      // The data plane needs no daemon: ping straight in web2's namespace while it is down.
      const down = await lab.sh(['ip', 'netns', 'exec', web2.Netns!, 'ping', '-c1', '-W2', lab.vars.get('web1') ?? '172.18.0.2']);
      check(down.code === 0, `ping with the daemon down: ${down.stdout}${down.stderr}`);
      const t0 = Date.now();
      const h = await restartDaemon(lab.info, lab.host);
      const [ps, again] = await Promise.all([lab.yard('ps'), lab.inspect('web1')]);
      for (const n of ['web1', 'web2', 'b1', 'b2']) check(new RegExp(`\\sUp .*\\s${n}$`, 'm').test(ps), `yard ps after restart lacks a running ${n}:\n${ps}`);
      check(again.State.Pid === web1.State.Pid, `web1 has process ${again.State.Pid} after the restart, was ${web1.State.Pid}`);
      const ip = again.NetworkSettings.Networks['app-net']?.IPAddress ?? '';
      await ping(lab, 'web2', ip);
      await fetchPage(lab, 'web2', ip);
      return `pid ${info.pid} killed, new daemon ${h.daemonPid} ready in ${Date.now() - t0} ms; web1 pid ${web1.State.Pid} kept`;
    },
  },
  {
    name: 'cleanup',
    expectation: 'rm -f, network rm, prune: only bridge/host/none left, no sandbox namespace or link',
    async run(lab) {
      await lab.yard('rm', '-f', 'web1', 'web2', 'b1', 'b2');
      await lab.yard('network', 'rm', 'app-net');
      const pruned = await lab.yard('network', 'prune', '-f');
      check(pruned.includes('app2'), `prune did not report app2: ${pruned.trim()}`);
      const [psOut, names, addrs] = await Promise.all([lab.yard('ps', '-a', '-q'), networkNames(lab), hostAddrs(lab)]);
      const ps = psOut.trim();
      check(ps === '', `sandboxes left: ${ps}`);
      check(names.join() === DEFAULTS.join(), `networks left: ${names.join(' ')}`);
      const ns = sandboxNamespaces(lab);
      check(ns.length === 0, `sandbox namespaces left: ${ns.join(' ')}`);
      const links = [...addrs.keys()].filter((l) => /^(br-|yv)/.test(l));
      if (links.length) fail(`links left in the host: ${links.join(' ')}`);
      return `networks: ${names.join(' ')}`;
    },
  },
];
