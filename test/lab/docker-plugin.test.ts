/**
 * Switchyard as the network plugin of Debian's real dockerd (20.10), in a lab host: real
 * containers on Switchyard bridge networks reach each other by name, publish ports through
 * Switchyard's firewall (the localhost-only guarantee included), connect and disconnect
 * live, and leave nothing behind when removed; bad input through `docker network create`
 * comes back as Switchyard's message. Host 2 is another machine on the LAN.
 */
import { describe, expect, it } from 'vitest';
import { labDocker, restartDaemon, restartDocker } from '../../src/lab/lab.js';
import { processGone } from '../../src/kernel/process.js';
import { api, eventually, linkNames, sh, withLab, type Lab } from './helpers.js';

const lab: Lab = withLab('dp', 2, { docker: { hosts: 1 } });

async function dk(...args: string[]): Promise<string> {
  const r = await labDocker(lab.info, lab.host(1), args, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout.trim();
}
const dkRaw = (...args: string[]) => labDocker(lab.info, lab.host(1), args, { timeoutMs: 60_000 });
/** A fetch from inside a container: the page, or '' when it cannot be had. */
const fetchIn = async (container: string, url: string) => (await dkRaw('exec', container, 'sh', '-c', `timeout 4 wget -qO- ${url} 2>/dev/null`)).stdout.trim();
/** A fetch from another LAN host (host 2). */
const fetchFromLan = async (url: string) => (await sh(lab.host(2), `wget -q -T 3 -t 1 -O- ${url} 2>/dev/null; true`)).stdout.trim();

const yardNetworks = async () => ((await api(lab.host(1), 'GET', '/networks')).body as { Id: string; Name: string }[]);
const yardSandboxes = async () => JSON.stringify((await api(lab.host(1), 'GET', '/yard/v1/sandboxes?all=1')).body);
const hostVeths = async () => (await linkNames(lab.host(1))).filter((l) => /^y[vc][0-9a-f]{12}$/.test(l));

describe('Switchyard under the real Docker engine', () => {
  it('puts containers on a Switchyard bridge: they reach each other by name, and Switchyard sees them', async () => {
    const netId = await dk('network', 'create', '-d', 'switchyard', '--subnet', '10.30.0.0/24', 'app');
    await dk('run', '-d', '--name', 'web', '--network', 'app', '-p', '8080:80', '-p', '127.0.0.1:8081:80', 'bb', 'sh', '-c', 'echo hello-web > /index.html; exec httpd -f -p 80 -h /');
    await dk('run', '-d', '--name', 'cli', '--network', 'app', 'bb', 'sleep', '600');
    // Docker's embedded DNS answers the name; the packets go over Switchyard's bridge.
    expect(await eventually(async () => (await fetchIn('cli', 'http://web/')), { timeoutMs: 10_000 })).toBe('hello-web');
    expect((await dkRaw('exec', 'cli', 'ping', '-c', '1', '-W', '2', 'web')).code).toBe(0);
    const webIp = await dk('inspect', '-f', '{{.NetworkSettings.Networks.app.IPAddress}}', 'web');
    expect(webIp).toMatch(/^10\.30\.0\.\d+$/);
    // Switchyard holds the same network (Docker's ID) and one sandbox per endpoint, with the address Docker shows.
    expect((await yardNetworks()).map((n) => n.Id)).toContain(netId);
    const epId = await dk('inspect', '-f', '{{.NetworkSettings.Networks.app.EndpointID}}', 'web');
    const sbs = await yardSandboxes();
    expect(sbs).toContain(epId);
    expect(sbs).toContain(webIp);
    // Docker lists both containers on the network.
    expect(await dk('network', 'inspect', '-f', '{{range .Containers}}{{.Name}} {{end}}', 'app')).toMatch(/(web cli|cli web)/);
    // yard dns explain knows Docker's names (from dockerd: plugins are never told them), by container name or sandbox.
    const explained = await sh(lab.host(1), `yard dns explain web --from cli`);
    expect(explained.stdout).toMatch(/answer: NOERROR \(Docker's embedded DNS, network app\)/);
    expect(explained.stdout).toContain(`web 600 A ${webIp}`);
    const bySandbox = JSON.parse((await sh(lab.host(1), `yard dns explain WEB.app --from docker-${epId.slice(0, 12)} --json`)).stdout);
    expect(bySandbox.records).toEqual([`WEB.app 600 A ${webIp}`]);
    const nobody = JSON.parse((await sh(lab.host(1), 'yard dns explain nobody --from cli --json')).stdout);
    expect(nobody.records).toEqual([]);
    expect(nobody.reason).toMatch(/no container on app is called nobody/);
  });

  it('publishes ports through Switchyard: reachable from the LAN, a 127.0.0.1 binding only from the host itself', async () => {
    const lanAddr = lab.host(1).lan4;
    expect(await eventually(async () => (await fetchFromLan(`http://${lanAddr}:8080/`)), { timeoutMs: 10_000 })).toBe('hello-web');
    // The localhost-only binding: refused from the LAN, answered on the host's own 127.0.0.1 (control).
    expect(await fetchFromLan(`http://${lanAddr}:8081/`)).toBe('');
    expect((await sh(lab.host(1), 'wget -q -T 3 -t 1 -O- http://127.0.0.1:8081/')).stdout.trim()).toBe('hello-web');
  });

  it('connects and disconnects a running container live', async () => {
    await dk('network', 'create', '-d', 'switchyard', '--subnet', '10.31.0.0/24', 'back');
    await dk('run', '-d', '--name', 'peer', '--network', 'back', 'bb', 'sleep', '600');
    expect(await fetchIn('peer', 'http://web/')).toBe('');
    await dk('network', 'connect', 'back', 'web');
    expect(await eventually(async () => (await fetchIn('peer', 'http://web/')), { timeoutMs: 10_000 })).toBe('hello-web');
    await dk('network', 'disconnect', 'back', 'web');
    expect(await fetchIn('peer', 'http://web/')).toBe('');
    // Still on app (control).
    expect(await fetchIn('cli', 'http://web/')).toBe('hello-web');
  });

  it('puts a container on the LAN with macvlan and Switchyard IPAM: reached from another LAN host and, with host access, from its own host', async () => {
    await dk('network', 'create', '-d', 'switchyard', '--ipam-driver', 'switchyard', '-o', 'driver=macvlan', '-o', 'parent=lan0', '-o', 'host_access=true',
      '--subnet', '10.231.0.0/24', '--ip-range', '10.231.0.192/27', '--gateway', '10.231.0.1', 'lan');
    await dk('run', '-d', '--name', 'lanweb', '--network', 'lan', 'bb', 'sh', '-c', 'echo on-the-lan > /index.html; exec httpd -f -p 80 -h /');
    const ip = await dk('inspect', '-f', '{{.NetworkSettings.Networks.lan.IPAddress}}', 'lanweb');
    expect(ip).toMatch(/^10\.231\.0\.(19[2-9]|2[01]\d|22[0-3])$/);
    expect(await eventually(async () => await fetchFromLan(`http://${ip}/`), { timeoutMs: 10_000 })).toBe('on-the-lan');
    expect((await sh(lab.host(1), `wget -q -T 3 -t 1 -O- http://${ip}/`)).stdout.trim()).toBe('on-the-lan');
    // Switchyard's IPAM never hands out the host-access shim's address (or the gateway) to a container.
    const net = (await yardNetworks()).find((n) => n.Name.startsWith('docker-') && JSON.stringify(n).includes('10.231.0.0/24')) as any;
    expect(JSON.stringify(net)).not.toContain(`"${ip}"`);
    const second = await dk('run', '--rm', '--network', 'lan', 'bb', 'sh', '-c', 'ip -4 -o addr show eth0');
    expect(second).not.toContain(`${ip}/`);
    await dk('rm', '-f', 'lanweb');
    await dk('network', 'rm', 'lan');
  });

  it('refuses bad input through docker network create with Switchyard\'s message, and creates nothing', async () => {
    const before = await yardNetworks();
    const unknown = await dkRaw('network', 'create', '-d', 'switchyard', '-o', 'bogus=1', '--subnet', '10.32.0.0/24', 'bad1');
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/has no option bogus/);
    const overlap = await dkRaw('network', 'create', '-d', 'switchyard', '--subnet', '10.30.0.0/25', 'bad2');
    expect(overlap.code).not.toBe(0);
    expect(overlap.stderr).toMatch(/overlap/i);
    const noParent = await dkRaw('network', 'create', '-d', 'switchyard', '-o', 'driver=macvlan', '-o', 'parent=nope0', '--subnet', '10.34.0.0/24', 'bad3');
    expect(noParent.code).not.toBe(0);
    expect(noParent.stderr).toMatch(/nope0/);
    expect(await yardNetworks()).toEqual(before);
    expect(await dk('network', 'ls', '--format', '{{.Name}}')).not.toMatch(/bad1|bad2|bad3/);
    // Control: a good one goes through.
    await dk('network', 'create', '-d', 'switchyard', '--subnet', '10.33.0.0/24', 'good');
    await dk('network', 'rm', 'good');
  });

  it('keeps traffic flowing while Switchyard is killed with -9, and serves dockerd again after a restart', async () => {
    const pid = lab.host(1).daemonPid!;
    process.kill(pid, 'SIGKILL');
    expect(await eventually(async () => processGone(pid), { timeoutMs: 3_000, intervalMs: 10, tries: 300 })).toBe(true);
    // The data plane is the kernel's: the containers still talk, and the port still answers.
    expect(await fetchIn('cli', 'http://web/')).toBe('hello-web');
    expect(await fetchFromLan(`http://${lab.host(1).lan4}:8080/`)).toBe('hello-web');
    await restartDaemon(lab.info, lab.host(1));
    // The state came back: the same endpoints, and the plugin serves new work.
    expect(await yardSandboxes()).toContain(await dk('inspect', '-f', '{{.NetworkSettings.Networks.app.EndpointID}}', 'web'));
    await dk('run', '-d', '--name', 'late', '--network', 'app', 'bb', 'sleep', '600');
    expect(await eventually(async () => (await fetchIn('late', 'http://web/')), { timeoutMs: 10_000 })).toBe('hello-web');
    await dk('rm', '-f', 'late');
  });

  it('survives the runtime crashing: endpoints of dead containers are released, networks and restarting containers come back', async () => {
    await dk('run', '-d', '--name', 'keeper', '--restart', 'always', '--network', 'app', 'bb', 'sh', '-c', 'echo kept > /index.html; exec httpd -f -p 80 -h /');
    const netId = await dk('network', 'inspect', '-f', '{{.Id}}', 'app');
    const oldEps = await Promise.all(['web', 'cli', 'keeper'].map((c) => dk('inspect', '-f', '{{.NetworkSettings.Networks.app.EndpointID}}', c)));
    expect(await yardSandboxes()).toContain(oldEps[0]);
    // dockerd is killed with SIGKILL (it tells its plugins nothing), its containers and containerd die, and it starts again on its data.
    await restartDocker(lab.info, lab.host(1), { kill: true });
    // The dead containers' endpoints are released by Switchyard on its own (their namespace went).
    const released = await eventually(
      async () => {
        const now = await yardSandboxes();
        return !oldEps.some((e) => now.includes(e));
      },
      { timeoutMs: 15_000, intervalMs: 250, tries: 100 },
    );
    expect(released).toBe(true);
    // The networks are still both Docker's and Switchyard's, and the restart-always container is back on Switchyard.
    expect((await yardNetworks()).map((n) => n.Id)).toContain(netId);
    expect(await dk('network', 'ls', '--format', '{{.Name}}')).toMatch(/\bapp\b/);
    await dk('run', '-d', '--name', 'cli2', '--network', 'app', 'bb', 'sleep', '600');
    expect(await eventually(async () => await fetchIn('cli2', 'http://keeper/'), { timeoutMs: 15_000, intervalMs: 250, tries: 60 })).toBe('kept');
    // The old -p 8080 was released with its endpoint: a new container can take it (control for the release).
    await dk('start', 'web');
    expect(await eventually(async () => await fetchFromLan(`http://${lab.host(1).lan4}:8080/`), { timeoutMs: 10_000 })).toBe('hello-web');
  });

  it('docker rm -f and docker network rm leave nothing in the host', async () => {
    expect((await hostVeths()).length).toBeGreaterThan(0);
    await dk('rm', '-f', 'web', 'cli', 'peer', 'keeper', 'cli2');
    await dk('network', 'rm', 'app', 'back');
    // A macvlan interface comes back from the container's namespace after its endpoint is
    // gone; the daemon removes it within seconds.
    expect(await eventually(async () => (await hostVeths()).length === 0, { timeoutMs: 10_000, intervalMs: 250, tries: 60 })).toBe(true);
    expect(await yardSandboxes()).not.toMatch(/docker-/);
    expect((await yardNetworks()).filter((n) => n.Name.startsWith('docker-'))).toEqual([]);
    // Docker's own networks are untouched (control).
    expect(await dk('network', 'ls', '--format', '{{.Name}}')).toMatch(/bridge/);
  });
});
