/**
 * What the lab's real container engines (Docker, Podman) must both do on their own
 * networks, told once: their CLIs take the same commands. Each engine's test passes its CLI.
 */
import { expect } from 'vitest';

export interface ContainerCli {
  /** Must succeed; trimmed stdout. */
  run(...args: string[]): Promise<string>;
  /** Any outcome. */
  raw(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Times a step for the test's timing report. */
  timed<T>(label: string, f: () => Promise<T>): Promise<T>;
  /** The CLI's name in step labels: docker, podman. */
  name: string;
}

/**
 * Two containers on a user network `app` (made here) ping each other by name, both ways;
 * a container on `--network none` has no route, no names and no eth0, beside a positive
 * control by address. Leaves c1 and c2 running.
 */
export async function namesOnAUserNetwork(cli: ContainerCli): Promise<void> {
  const { run, raw, timed, name } = cli;
  await timed(`${name} network create`, () => run('network', 'create', 'app'));
  await timed(`${name} run -d (user network)`, () => run('run', '-d', '--name', 'c1', '--network', 'app', 'bb', 'sleep', '300'));
  await run('run', '-d', '--name', 'c2', '--network', 'app', 'bb', 'sleep', '300');
  const c1ip = await run('inspect', '-f', '{{(index .NetworkSettings.Networks "app").IPAddress}}', 'c1');
  expect(c1ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);

  // Positive: by name, both ways, through the engine's DNS and its bridge.
  const byName = await timed(`${name} exec ping by name`, () => run('exec', 'c2', 'ping', '-c1', '-W2', 'c1'));
  expect(byName).toContain(`(${c1ip})`);
  expect(byName).toContain('1 packets received');
  expect(await run('exec', 'c1', 'ping', '-c1', '-W2', 'c2')).toContain('1 packets received');
  // Positive control for the negative below: a fresh container on the network reaches c1 by address.
  expect(await run('run', '--rm', '--network', 'app', 'bb', 'ping', '-c1', '-W2', c1ip)).toContain('1 packets received');

  // Negative: --network none has only lo, no route, no names.
  const none = await raw('run', '--rm', '--network', 'none', 'bb', 'ping', '-c1', '-W2', c1ip);
  expect(none.code).not.toBe(0);
  expect(none.stdout + none.stderr).toMatch(/Network is unreachable/);
  const noneByName = await raw('run', '--rm', '--network', 'none', 'bb', 'ping', '-c1', '-W2', 'c1');
  expect(noneByName.code).not.toBe(0);
  expect(noneByName.stdout + noneByName.stderr).toMatch(/bad address 'c1'/);
  expect(await run('run', '--rm', '--network', 'none', 'bb', 'ip', '-o', 'link')).not.toMatch(/eth0/);
}
