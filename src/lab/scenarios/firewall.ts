/**
 * The firewall's demo rows: a published port reached from another LAN host and
 * from the host itself, a 127.0.0.1-only port the LAN cannot reach (not even by routing to
 * the container), isolation between networks, the user chain blocking a published port,
 * `yard port`, and removal taking exactly the sandbox's map elements with it.
 */
import fs from 'node:fs';
import type { LabHost } from '../lab.js';
import { check, eventually, type DemoLab, type Scenario } from './kit.js';

const PAGE = 'hello from fw-web';
const USER_RULE = ['meta', 'l4proto', 'tcp', 'ct', 'original', 'proto-dst', '8080', 'drop'];
// A dropped connection only ends at the timeout: short, and every refusal below is paired
// with a fetch of the same path that works, so a slow machine cannot fake a "blocked".
const BLOCKED_WAIT_S = '1.5';

const other = (lab: DemoLab): LabHost => lab.info.hosts[1]!;

async function fetchFrom(lab: DemoLab, url: string, opts: { host?: LabHost; sandbox?: string; waitS?: string } = {}): Promise<boolean> {
  const wget = ['timeout', opts.waitS ?? '5', 'busybox', 'wget', '-q', '-O', '-', url];
  const r = await lab.sh(opts.sandbox ? ['yard', 'exec', opts.sandbox, '--', ...wget] : wget, { host: opts.host });
  return r.code === 0 && r.stdout.trim() === PAGE;
}

/** Works now (retried briefly: a fresh httpd may not listen yet). */
async function mustFetch(lab: DemoLab, url: string, from: string, opts: { host?: LabHost; sandbox?: string } = {}): Promise<void> {
  const ok = await eventually(async () => {
    if (!(await fetchFrom(lab, url, opts))) throw new Error('no page');
    return true;
  }, 10, 150).catch(() => false);
  check(ok, `${from}: GET ${url} did not return the page`);
}

async function mustNotFetch(lab: DemoLab, url: string, from: string, opts: { host?: LabHost; sandbox?: string } = {}): Promise<void> {
  check(!(await fetchFrom(lab, url, { ...opts, waitS: BLOCKED_WAIT_S })), `${from}: GET ${url} got through`);
}

async function pings(lab: DemoLab, sandbox: string, ip: string): Promise<boolean> {
  return (await lab.sh(['yard', 'exec', sandbox, '--', 'ping', '-c1', '-W1', ip])).code === 0;
}

async function ipOn(lab: DemoLab, sandbox: string, network: string): Promise<string> {
  const ip = (await lab.inspect(sandbox)).NetworkSettings.Networks[network]?.IPAddress;
  check(ip, `yard inspect ${sandbox} shows no address on ${network}`);
  return ip;
}

async function subnetOf(lab: DemoLab, network: string): Promise<string> {
  const [net] = JSON.parse(await lab.yard('network', 'inspect', network)) as { IPAM: { Config: { Subnet: string }[] } }[];
  const v4 = net?.IPAM.Config.find((c) => !c.Subnet.includes(':'))?.Subnet;
  check(v4, `network ${network} has no IPv4 subnet`);
  return v4;
}

/** Elements of Switchyard's published-port maps, read back from the kernel. */
async function portElements(lab: DemoLab): Promise<number> {
  const r = await lab.sh(['nft', '-j', 'list', 'table', 'inet', 'switchyard']);
  check(r.code === 0, `nft -j list table inet switchyard: ${r.stderr.trim()}`);
  const items = (JSON.parse(r.stdout) as { nftables: { map?: { name: string; elem?: unknown[] } }[] }).nftables;
  return items.reduce((n, i) => n + (i.map && /^p(m|r|maddr)[46]$/.test(i.map.name) ? (i.map.elem?.length ?? 0) : 0), 0);
}

export const FIREWALL_SCENARIOS: Scenario[] = [
  {
    name: 'publish -p 8080:80',
    expectation: 'host2 reaches host1:8080 (DNAT); host1 reaches it on 127.0.0.1:8080 and its own address',
    async run(lab) {
      const root = `${lab.dir}/fw`;
      fs.mkdirSync(root, { recursive: true, mode: 0o755 });
      fs.writeFileSync(`${root}/index.html`, `${PAGE}\n`);
      await lab.yard('network', 'create', 'fw-a');
      await lab.yard('run', '-d', '--name', 'fw-web', '--network', 'fw-a', '-p', '8080:80', '-p', '127.0.0.1:9090:80',
        '--', 'busybox', 'httpd', '-f', '-p', '80', '-h', root);
      const addr = lab.host.lan4;
      await mustFetch(lab, `http://${addr}:8080/`, 'host2', { host: other(lab) });
      await mustFetch(lab, 'http://127.0.0.1:8080/', 'host1');
      await mustFetch(lab, `http://${addr}:8080/`, 'host1');
      return `host2 -> ${addr}:8080, host1 -> 127.0.0.1:8080 and ${addr}:8080: "${PAGE}"`;
    },
  },
  {
    name: '127.0.0.1:9090 stays local',
    expectation: 'host1 reaches 127.0.0.1:9090; host2 reaches neither host1:9090 nor, routing to it, the container',
    async run(lab) {
      await mustFetch(lab, 'http://127.0.0.1:9090/', 'host1');
      const h2 = other(lab);
      // The same client reaches the port published on every address, but not this one.
      await mustFetch(lab, `http://${lab.host.lan4}:8080/`, 'host2', { host: h2 });
      await mustNotFetch(lab, `http://${lab.host.lan4}:9090/`, 'host2', { host: h2 });
      // The CVE-2025-54388 class: a LAN neighbour routes the container subnet via the host.
      const [subnet, ip] = await Promise.all([subnetOf(lab, 'fw-a'), ipOn(lab, 'fw-web', 'fw-a')]);
      const add = await lab.sh(['ip', 'route', 'replace', subnet, 'via', lab.host.lan4], { host: h2 });
      check(add.code === 0, `ip route replace ${subnet} in host2: ${add.stderr.trim()}`);
      try {
        // The route itself works: host1 answers on the network's gateway address.
        const gw = subnet.replace(/\.0\/\d+$/, '.1');
        check((await lab.sh(['ping', '-c1', '-W2', gw], { host: h2 })).code === 0, `host2 cannot ping ${gw} through its route via ${lab.host.lan4}`);
        await mustNotFetch(lab, `http://${ip}:80/`, 'host2 routing to the container', { host: h2 });
      } finally {
        await lab.sh(['ip', 'route', 'del', subnet], { host: h2 });
      }
      // Frames for 127.0.0.1 from the LAN are dropped before NAT, and explain says so.
      const explain = await lab.yard('port', 'explain', 'fw-web');
      check(/unreachable from LAN[^\n]*loopback-guard/.test(explain), 'yard port explain fw-web does not cite the loopback guard for 127.0.0.1:9090');
      return `host2 -> :8080 ok, :9090 refused; host2 with a route ${subnet} via ${lab.host.lan4} -> ${ip}:80 dropped; explain cites loopback-guard`;
    },
  },
  {
    name: 'isolation between networks',
    expectation: 'fw-a and fw-b block ping and TCP both ways; same network and the published port work',
    async run(lab) {
      await lab.yard('network', 'create', 'fw-b');
      await Promise.all([
        lab.yard('run', '-d', '--name', 'fw-a2', '--network', 'fw-a', '--', 'sleep', '1000'),
        lab.yard('run', '-d', '--name', 'fw-b1', '--network', 'fw-b', '--', 'sleep', '1000'),
      ]);
      const [web, a2, b1] = await Promise.all([ipOn(lab, 'fw-web', 'fw-a'), ipOn(lab, 'fw-a2', 'fw-a'), ipOn(lab, 'fw-b1', 'fw-b')]);
      await mustFetch(lab, `http://${web}/`, 'fw-a2 (same network)', { sandbox: 'fw-a2' });
      check(await pings(lab, 'fw-a2', web), `fw-a2 cannot ping ${web} on its own network`);
      // The blocked probes each wait for their timeout: run them side by side.
      const [bToA, aToB] = await Promise.all([
        pings(lab, 'fw-b1', web),
        pings(lab, 'fw-a2', b1),
        mustNotFetch(lab, `http://${web}/`, 'fw-b1', { sandbox: 'fw-b1' }),
        mustFetch(lab, `http://${lab.host.lan4}:8080/`, 'fw-b1 via the published port', { sandbox: 'fw-b1' }),
      ]);
      check(!bToA, `fw-b1 (fw-b) pings fw-web ${web} (fw-a)`);
      check(!aToB, `fw-a2 (fw-a) pings fw-b1 ${b1} (fw-b)`);
      return `fw-a2 ${a2} <-> fw-web ${web}: ok; fw-b1 ${b1} <-> fw-a: ping and TCP blocked; fw-b1 -> ${lab.host.lan4}:8080 ok`;
    },
  },
  {
    name: 'user chain blocks a port',
    expectation: '`nft add rule inet switchyard-user user-forward ... 8080 drop` blocks host2; removed, it works again',
    async run(lab) {
      const h2 = other(lab);
      const url = `http://${lab.host.lan4}:8080/`;
      await mustFetch(lab, url, 'host2 before the rule', { host: h2 });
      const add = await lab.sh(['nft', 'add', 'rule', 'inet', 'switchyard-user', 'user-forward', ...USER_RULE]);
      check(add.code === 0, `nft add rule: ${add.stderr.trim()}`);
      try {
        await mustNotFetch(lab, url, 'host2 with the drop rule', { host: h2 });
      } finally {
        // The chain is the user's: flushing it is the user's call, and Switchyard leaves it be.
        await lab.sh(['nft', 'flush', 'chain', 'inet', 'switchyard-user', 'user-forward']);
      }
      await mustFetch(lab, url, 'host2 after flushing the user chain', { host: h2 });
      return `blocked with "${USER_RULE.join(' ')}", open again after nft flush chain`;
    },
  },
  {
    name: 'yard port fw-web',
    expectation: "Docker's lines: 80/tcp -> 0.0.0.0:8080 and 80/tcp -> 127.0.0.1:9090",
    async run(lab) {
      const lines = (await lab.yard('port', 'fw-web')).trim().split('\n').sort();
      const want = ['80/tcp -> 0.0.0.0:8080', '80/tcp -> 127.0.0.1:9090'];
      check(lines.join('\n') === want.join('\n'), `yard port fw-web printed ${JSON.stringify(lines)}`);
      return lines.join('; ');
    },
  },
  {
    name: 'firewall cleanup',
    expectation: "rm -f fw-web takes its 2 map elements with it; networks fw-a, fw-b removed",
    async run(lab) {
      const before = await portElements(lab);
      await lab.yard('rm', '-f', 'fw-web');
      const after = await portElements(lab);
      check(before - after === 2, `published-port elements went from ${before} to ${after}, expected 2 fewer`);
      await lab.yard('rm', '-f', 'fw-a2', 'fw-b1');
      await lab.yard('network', 'rm', 'fw-a', 'fw-b');
      return `published-port elements ${before} -> ${after}`;
    },
  },
];
