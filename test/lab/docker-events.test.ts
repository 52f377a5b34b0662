/**
 * `docker events` (the docker CLI 28.x and 20.10) against a lab host's daemon: the network
 * events of what `docker network` and `yard` did, past (--since/--until) and live, with
 * Docker's filters.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { docker, eventually, exec, inspectSandbox, ok, sh, withLab, yard } from './helpers.js';

const lab = withLab('ev');
const h = () => lab.host(1);
const HEX64 = /^[0-9a-f]{64}$/;
const DOCKER_20 = '/usr/bin/docker';

/** Unix time inside the lab host, with nanoseconds. */
const now = async () => ok(exec(h(), ['date', '+%s.%N']));

describe('docker events', () => {
  let since = '';
  let until = '';
  let ids: Record<string, string> = {};
  let sbId = '';

  it('lists create, connect, disconnect and destroy of networks and a sandbox, with IDs and names', async () => {
    since = String(Math.floor(Number(await now())) - 1);
    ids.ev1 = await ok(docker(h(), 'network', 'create', '--subnet', '10.91.0.0/24', 'ev1'));
    ids.ev2 = await ok(docker(h(), 'network', 'create', '--subnet', '10.92.0.0/24', 'ev2'));
    await ok(yard(h(), 'run', '-d', '--name', 'evs', '--network', 'ev1', '--', 'sleep', '600'));
    sbId = (await inspectSandbox(h(), 'evs')).Id;
    await ok(docker(h(), 'network', 'connect', 'ev2', 'evs'));
    await ok(docker(h(), 'network', 'disconnect', 'ev2', 'evs'));
    await ok(yard(h(), 'rm', '-f', 'evs'));
    await ok(docker(h(), 'network', 'rm', 'ev1', 'ev2'));
    until = await now();
    expect(ids.ev1).toMatch(HEX64);
    expect(sbId).toMatch(HEX64);

    const r = await docker(h(), 'events', '--filter', 'type=network', '--since', since, '--until', until, '--format', '{{json .}}');
    expect([r.code, r.stderr]).toEqual([0, '']);
    const evs = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(evs.map((e) => `${e.Action} ${e.Actor.Attributes.name}${e.Actor.Attributes.container ? ` ${e.Actor.Attributes.container === sbId ? 'evs' : e.Actor.Attributes.container}` : ''}`)).toEqual([
      'create ev1',
      'create ev2',
      'connect ev1 evs',
      'connect ev2 evs',
      'disconnect ev2 evs',
      'disconnect ev1 evs',
      'destroy ev1',
      'destroy ev2',
    ]);
    for (const e of evs) {
      expect(e).toMatchObject({ Type: 'network', scope: 'local', Actor: { ID: ids[e.Actor.Attributes.name], Attributes: { type: 'bridge' } } });
      expect(e.time).toBeGreaterThanOrEqual(Number(since));
      expect(e.time).toBeLessThanOrEqual(Number(until));
    }

    // The CLI's own line, as against Docker: time, type, action, actor ID, attributes.
    const plain = await ok(docker(h(), 'events', '--filter', 'type=network', '--filter', 'event=create', '--filter', 'network=ev1', '--since', since, '--until', until));
    expect(plain).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z network create ${ids.ev1} \\(name=ev1, type=bridge\\)$`));
  });

  it('filters as Docker: an excluding filter shows nothing, the including one the events', async () => {
    const actions = async (...filters: string[]) =>
      (await ok(docker(h(), 'events', ...filters.flatMap((f) => ['--filter', f]), '--since', since, '--until', until, '--format', '{{.Action}} {{.Actor.Attributes.name}}')))
        .split('\n')
        .filter(Boolean);
    expect(await actions('type=container')).toEqual([]);
    expect(await actions('type=network', 'network=nosuch')).toEqual([]);
    expect(await actions('type=network', 'network=ev2')).toEqual(['create ev2', 'connect ev2', 'disconnect ev2', 'destroy ev2']);
    expect(await actions('event=destroy')).toEqual(['destroy ev1', 'destroy ev2']);
    expect(await actions('container=evs', 'event=connect')).toEqual(['connect ev1', 'connect ev2']);
    expect(await actions('scope=swarm')).toEqual([]);
    expect(await actions('scope=local', 'event=disconnect')).toEqual(['disconnect ev2', 'disconnect ev1']);
  });

  it('docker 20.10 reads the same events', async () => {
    const r = await exec(h(), [DOCKER_20, 'events', '--filter', 'type=network', '--since', since, '--until', until, '--format', '{{.Action}} {{.Actor.Attributes.name}}']);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout.trim().split('\n')).toEqual(['create ev1', 'create ev2', 'connect ev1', 'connect ev2', 'disconnect ev2', 'disconnect ev1', 'destroy ev1', 'destroy ev2']);
  });

  it('refuses an unknown filter key, naming it (and a since after until)', async () => {
    const r = await docker(h(), 'events', '--filter', 'colour=red', '--since', since, '--until', until);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/invalid filter 'colour'/);
    // Positive control: the same request with a known key answers.
    expect((await docker(h(), 'events', '--filter', 'type=network', '--since', since, '--until', until)).code).toBe(0);
    const backwards = await docker(h(), 'events', '--since', until, '--until', since);
    expect(backwards.code).not.toBe(0);
    expect(backwards.stderr).toMatch(/`since` time .* cannot be after `until` time/);
  });

  it('streams: a docker events started before a change prints it as it happens', async () => {
    // The CLI runs in the background; its PID is killed once the line is there (at most 10 s).
    const script = [
      'f=$(mktemp)',
      `docker events --filter type=network --filter network=evlive --format '{{.Action}} {{.Actor.Attributes.name}}' >"$f" 2>&1 &`,
      'p=$!',
      'sleep 1',
      'docker network create evlive >/dev/null',
      'i=0; while [ $i -lt 100 ] && ! grep -q "create evlive" "$f"; do sleep 0.1; i=$((i+1)); done',
      'docker network create evother >/dev/null',
      'docker network rm evlive >/dev/null',
      'i=0; while [ $i -lt 100 ] && ! grep -q "destroy evlive" "$f"; do sleep 0.1; i=$((i+1)); done',
      'alive=0; kill -0 $p 2>/dev/null && alive=1',
      'kill $p; wait $p 2>/dev/null',
      'echo "alive=$alive"',
      'cat "$f"; rm -f "$f"',
    ].join('\n');
    const out = await ok(sh(h(), script, 30_000));
    // Still streaming (no until) when killed; the filtered-out network never shows.
    expect(out.split('\n')).toEqual(['alive=1', 'create evlive', 'destroy evlive']);
    await ok(docker(h(), 'network', 'rm', 'evother'));
  });

  it('lets go of a stream when its client goes: the daemon holds no connection after', async () => {
    const pid = h().daemonPid!;
    // The daemon's connections on its API socket: its socket descriptors whose inode
    // /proc/net/unix lists under the API socket's path (other sockets, such as the ones
    // libnftables opens for a moment every second, come and go on their own).
    const sockets = () => {
      const api = new Set(
        fs.readFileSync(`/proc/${pid}/net/unix`, 'utf8').split('\n').slice(1)
          .map((l) => l.trim().split(/\s+/))
          .filter((f) => f[7] === h().socket)
          .map((f) => f[6]!),
      );
      return fs.readdirSync(`/proc/${pid}/fd`).filter((fd) => {
        try {
          const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
          return !!m && api.has(m[1]!);
        } catch {
          return false;
        }
      }).length;
    };
    const before = sockets();
    // Five streaming clients, in the background; their PIDs are printed, then killed by PID.
    const pids = (await ok(sh(h(), 'for i in 1 2 3 4 5; do docker events --filter type=network >/dev/null 2>&1 & echo $!; done'))).split('\n').map(Number);
    expect(pids).toHaveLength(5);
    try {
      // Positive control: while they stream, the daemon holds their connections.
      expect(await eventually(async () => sockets() >= before + 5, { timeoutMs: 10_000 })).toBe(true);
    } finally {
      for (const p of pids) {
        try {
          process.kill(p, 'SIGTERM');
        } catch {
          /* already gone */
        }
      }
    }
    expect(await eventually(async () => sockets() <= before, { timeoutMs: 10_000 })).toBe(true);
  });

  it('with --until ahead of now: streams until then, then exits by itself', async () => {
    const t = Number(await now());
    const script = [
      `(sleep 0.5; docker network create evsoon >/dev/null) &`,
      `docker events --filter type=network --filter network=evsoon --since ${Math.floor(t)} --until ${(t + 3).toFixed(3)} --format '{{.Action}} {{.Actor.Attributes.name}}'`,
      'echo "exit=$?"',
      'wait',
    ].join('\n');
    const out = await ok(sh(h(), script, 20_000));
    expect(out.split('\n')).toEqual(['create evsoon', 'exit=0']);
    await ok(docker(h(), 'network', 'rm', 'evsoon'));
  });
});
