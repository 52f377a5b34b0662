/**
 * Podman with `network_backend = "cni"` (the lab's real Podman 4.3) running containers on a
 * network whose conflist has the plugin type `switchyard`: the conflist is written by hand
 * into Podman's network configuration directory, and a directory holding `switchyard` (a
 * symlink to bin/switchyard-cni) is put first in cni_plugin_dirs, as an administrator
 * would. Podman sees namespace paths in a mount namespace of its own, so the plugin's PID
 * is what lets the daemon open them. Two containers reach each other; removing them
 * releases their sandboxes. Needs root, podman, containernetworking-plugins and `npm run build`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labPodman, startPodman, stopPodman } from '../../src/lab/lab.js';
import { BIN_DIR } from '../../src/paths.js';
import { api, eventually, ok, withLab, yard } from './helpers.js';

const lab = withLab('cnipm', 1);
const h = () => lab.host(1);
let pluginDir: string;

const pod = async (...args: string[]) => {
  const r = await labPodman(lab.info, h(), args, { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`podman ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout.trim();
};
const cniSandboxes = async () => ((await api(h(), 'GET', '/yard/v1/sandboxes?all=1')).body as { Name: string; NetworkSettings: any }[]).filter((s) => s.NetworkSettings.Networks.pmnet);

describe('Podman (CNI backend) with a switchyard conflist', () => {
  beforeAll(async () => {
    const pm = await startPodman(lab.info, h(), { networkBackend: 'cni' });
    pluginDir = fs.mkdtempSync('/var/tmp/yard-cni-plugins-');
    fs.symlinkSync(path.join(BIN_DIR, 'switchyard-cni'), path.join(pluginDir, 'switchyard'));
    // The administrator's two steps: the plugin directory in cni_plugin_dirs, the conflist in the config directory.
    const conf = fs.readFileSync(pm.containersConf, 'utf8');
    expect(conf).toContain('cni_plugin_dirs = ["/usr/lib/cni"]');
    fs.writeFileSync(pm.containersConf, conf.replace('cni_plugin_dirs = ["/usr/lib/cni"]', `cni_plugin_dirs = [${JSON.stringify(pluginDir)}, "/usr/lib/cni"]`));
    fs.mkdirSync(pm.networkConfigDir, { recursive: true });
    const conflist = { cniVersion: '1.0.0', name: 'yardnet', plugins: [{ type: 'switchyard', network: 'pmnet', socket: h().socket }] };
    fs.writeFileSync(path.join(pm.networkConfigDir, 'yardnet.conflist'), JSON.stringify(conflist, null, 2));
    await ok(yard(h(), 'network', 'create', '--subnet', '10.79.0.0/24', 'pmnet'));
  }, 300_000);
  afterAll(async () => {
    await stopPodman(lab.info, h()).catch(() => undefined);
    if (pluginDir) fs.rmSync(pluginDir, { recursive: true, force: true });
  });

  it('runs two containers on the switchyard network; they reach each other and removal releases them', async () => {
    expect(await pod('network', 'ls', '--format', '{{.Name}}')).toMatch(/^yardnet$/m);
    await pod('run', '-d', '--name', 'c1', '--network', 'yardnet', 'bb', 'sleep', '300');
    await pod('run', '-d', '--name', 'c2', '--network', 'yardnet', 'bb', 'sleep', '300');
    const sbs = await cniSandboxes();
    expect(sbs.length).toBe(2);
    const ips = sbs.map((s) => s.NetworkSettings.Networks.pmnet.IPAddress as string);
    for (const ip of ips) expect(ip).toMatch(/^10\.79\.0\.\d+$/);
    const ip2 = await pod('inspect', 'c2', '--format', '{{(index .NetworkSettings.Networks "yardnet").IPAddress}}');
    expect(ips).toContain(ip2);
    // What Podman's container has inside is what the daemon gave it.
    expect(await pod('exec', 'c2', 'ip', '-4', '-o', 'addr', 'show', 'eth0')).toContain(`${ip2}/24`);
    expect((await labPodman(lab.info, h(), ['exec', 'c1', 'ping', '-c1', '-W2', ip2])).code).toBe(0);
    // By name: Podman passes the container's name (K8S_POD_NAME) and writes the result's
    // nameserver (the embedded resolver) into resolv.conf; the sandboxes carry the names.
    expect(sbs.map((s) => s.Name).sort()).toEqual(['/c1', '/c2']);
    expect(await pod('exec', 'c1', 'cat', '/etc/resolv.conf')).toContain('nameserver 127.0.0.11');
    expect(await pod('exec', 'c1', 'ping', '-c1', '-W2', 'c2')).toContain(`(${ip2})`);
    const nobody = await labPodman(lab.info, h(), ['exec', 'c1', 'ping', '-c1', '-W1', 'nobody']);
    expect(nobody.stdout + nobody.stderr).toMatch(/bad address 'nobody'/);
    // Positive control for the ping: an address nobody has is not answered.
    expect((await labPodman(lab.info, h(), ['exec', 'c1', 'ping', '-c1', '-W1', '10.79.0.250'])).code).not.toBe(0);
    await pod('rm', '-f', '-t', '0', 'c1', 'c2');
    expect(await eventually(async () => (await cniSandboxes()).length === 0, { timeoutMs: 10_000, intervalMs: 250, tries: 40 })).toBe(true);
  }, 240_000);
});
