/**
 * The Docker plugin's demo rows: a real Docker engine (Debian's dockerd, src/lab/docker.ts)
 * starts in host1 and finds Switchyard's plugin socket by itself; `docker network create -d
 * switchyard` makes a Switchyard bridge; two real containers on it fetch each other's page
 * by name; a port published with `docker run -p` answers host2 over the LAN; `docker rm -f`
 * and `docker network rm` leave no veth (`yv…`) or handed-over interface (`yc…`) behind.
 * The engine starts in the first row, after the other rows, so they run without it; the
 * lab's teardown stops it.
 */
import { labDocker, startDocker, type LabHost } from '../lab.js';
import { check, eventually, fail, type DemoLab, type Scenario } from './kit.js';

const NET = 'dk-app';
const SUBNET = '10.40.0.0/24';
const PORT = '8088';
const UNPUBLISHED = '8089';
const page = (name: string) => `hello from ${name}`;
const server = (name: string) => ['bb', 'sh', '-c', `echo '${page(name)}' > /tmp/index.html; exec httpd -f -p 80 -h /tmp`];

const show = (args: string[]) => args.map((a) => (/^[\w./:=@,+-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');

/** `docker ARGS` against host1's real engine; fails the row on a non-zero exit; returns trimmed stdout. */
async function docker(lab: DemoLab, ...args: string[]): Promise<string> {
  const r = await labDocker(lab.info, lab.host, args, { timeoutMs: 30_000 });
  if (r.code !== 0) fail(`\`docker ${show(args)}\` exited ${r.code}: ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' | ')}`);
  return r.stdout.trim();
}

/** A page fetched inside a container, '' when there is none. */
async function fetchIn(lab: DemoLab, container: string, url: string): Promise<string> {
  const r = await labDocker(lab.info, lab.host, ['exec', container, 'timeout', '4', 'wget', '-q', '-O', '-', url], { timeoutMs: 15_000 });
  return r.code === 0 ? r.stdout.trim() : '';
}

async function fetchFrom(lab: DemoLab, host: LabHost, url: string): Promise<string> {
  const r = await lab.sh(['timeout', '4', 'busybox', 'wget', '-q', '-O', '-', url], { host });
  return r.code === 0 ? r.stdout.trim() : '';
}

/** Retried briefly: an httpd started a moment ago may not listen yet. */
async function mustGet(what: () => Promise<string>, want: string, from: string, url: string): Promise<void> {
  const got = await eventually(async () => {
    const body = await what();
    if (body !== want) throw new Error(body);
    return body;
  }, 15, 200).catch((e: Error) => e.message);
  check(got === want, `${from}: GET ${url} returned ${JSON.stringify(got)}, not ${JSON.stringify(want)}`);
}

/** The host's Switchyard endpoint interfaces: veths `yv<12 hex>` and handed-over `yc<12 hex>`. */
async function endpointLinks(lab: DemoLab): Promise<string[]> {
  const r = await lab.sh(['ip', '-o', 'link', 'show']);
  check(r.code === 0, `ip -o link show: ${r.stderr.trim()}`);
  return [...r.stdout.matchAll(/^\d+: (y[vc][0-9a-f]{12})[@:]/gm)].map((m) => m[1]!).sort();
}

const endpointId = (lab: DemoLab, container: string) => docker(lab, 'inspect', '-f', `{{(index .NetworkSettings.Networks "${NET}").EndpointID}}`, container);

export const DOCKER_SCENARIOS: Scenario[] = [
  {
    name: 'docker: dockerd finds the plugin',
    expectation: `a real dockerd starts in host1; \`docker network create -d switchyard\` makes a network Switchyard holds under Docker's ID`,
    async run(lab) {
      lab.vars.set('links-before-docker', (await endpointLinks(lab)).join(' '));
      const engine = await startDocker(lab.info, lab.host);
      const id = await docker(lab, 'network', 'create', '-d', 'switchyard', '--subnet', SUBNET, NET);
      lab.vars.set('docker-net-id', id);
      const r = await lab.api('GET', '/networks');
      check(r.status === 200, `GET /networks answered ${r.status}`);
      const mine = (JSON.parse(r.text) as { Id: string; Name: string }[]).find((n) => n.Id === id);
      check(mine, `Switchyard has no network with Docker's ID ${id.slice(0, 12)}`);
      return `dockerd up in ${(engine.startMs / 1000).toFixed(1)} s; ${NET} = Switchyard network ${mine.Name} (${SUBNET})`;
    },
  },
  {
    name: 'docker: containers by name',
    expectation: `two real containers on ${NET} fetch each other's page by name; Switchyard holds their endpoints`,
    async run(lab) {
      await docker(lab, 'run', '-d', '--name', 'dk-a', '--network', NET, '-p', `${PORT}:80`, ...server('dk-a'));
      await docker(lab, 'run', '-d', '--name', 'dk-b', '--network', NET, ...server('dk-b'));
      await mustGet(() => fetchIn(lab, 'dk-a', 'http://dk-b/'), page('dk-b'), 'dk-a', 'http://dk-b/');
      await mustGet(() => fetchIn(lab, 'dk-b', 'http://dk-a/'), page('dk-a'), 'dk-b', 'http://dk-a/');
      const [a, b] = await Promise.all([endpointId(lab, 'dk-a'), endpointId(lab, 'dk-b')]);
      const sandboxes = await lab.api('GET', '/yard/v1/sandboxes?all=1');
      for (const ep of [a, b]) check(ep && sandboxes.text.includes(ep), `Switchyard holds no sandbox for endpoint ${ep.slice(0, 12) || '(none)'}`);
      const ip = await docker(lab, 'inspect', '-f', `{{(index .NetworkSettings.Networks "${NET}").IPAddress}}`, 'dk-b');
      return `dk-a -> http://dk-b/ (${ip}) and dk-b -> http://dk-a/; endpoints ${a.slice(0, 12)}, ${b.slice(0, 12)} in Switchyard`;
    },
  },
  {
    name: 'docker: -p from host2',
    expectation: `host2 fetches dk-a's page on host1:${PORT} (docker run -p ${PORT}:80, through Switchyard's firewall); host1:${UNPUBLISHED} answers nothing`,
    async run(lab) {
      const h2 = lab.info.hosts[1]!;
      const url = `http://${lab.host.lan4}:${PORT}/`;
      await mustGet(() => fetchFrom(lab, h2, url), page('dk-a'), 'host2', url);
      const other = `http://${lab.host.lan4}:${UNPUBLISHED}/`;
      const got = await fetchFrom(lab, h2, other);
      check(got === '', `host2: GET ${other} (not published) returned ${JSON.stringify(got)}`);
      return `host2 -> ${url}: "${page('dk-a')}"; ${other}: nothing`;
    },
  },
  {
    name: 'docker: rm -f + network rm',
    expectation: 'docker rm -f and docker network rm leave no yv/yc link and no Switchyard network; Docker\'s own networks stay',
    async run(lab) {
      const eps = await Promise.all([endpointId(lab, 'dk-a'), endpointId(lab, 'dk-b')]);
      const theirs = eps.flatMap((ep) => [`yv${ep.slice(0, 12)}`, `yc${ep.slice(0, 12)}`]);
      const before = await endpointLinks(lab);
      // Control: the containers' veths are there to be removed.
      const present = theirs.filter((l) => before.includes(l));
      check(present.length >= 2, `host1 shows none of ${theirs.join(', ')} while the containers run (links: ${before.join(' ') || 'none'})`);
      await docker(lab, 'rm', '-f', 'dk-a', 'dk-b');
      await docker(lab, 'network', 'rm', NET);
      const after = await endpointLinks(lab);
      const stale = after.filter((l) => theirs.includes(l));
      check(!stale.length, `left in host1 after docker rm -f: ${stale.join(', ')}`);
      const earlier = lab.vars.get('links-before-docker') ?? '';
      check(after.join(' ') === earlier, `host1's yv/yc links are [${after.join(' ')}], not [${earlier}] as before the Docker rows`);
      const id = lab.vars.get('docker-net-id') ?? '';
      check(id, 'the network ID of the first Docker row is missing');
      const nets = await lab.api('GET', '/networks');
      check(!nets.text.includes(id), `Switchyard still holds network ${id.slice(0, 12)} after docker network rm`);
      check(/\bbridge\b/.test(await docker(lab, 'network', 'ls', '--format', '{{.Name}}')), 'Docker\'s own bridge network went too');
      return `${present.join(', ')} gone; host1's yv/yc links: ${after.length ? after.join(' ') : 'none'}; Docker's bridge network still there`;
    },
  },
];
