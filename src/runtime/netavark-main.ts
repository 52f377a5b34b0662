/**
 * `netavark`, as Podman calls it, backed by the Switchyard daemon. Podman finds it through
 * `helper_binaries_dir` in containers.conf (the first directory holding a `netavark`).
 *
 *   netavark [--config DIR] [--rootless BOOL] [--aardvark-binary PATH] [--file FILE] setup|teardown NETNS
 *   netavark version
 *
 * The network options come on standard input (or --file) as Podman writes them; the daemon
 * does the work. Output as netavark's: setup prints the status blocks, teardown nothing,
 * an error prints {"error": "..."} and exits 1. The daemon: YARD_HOST (unix://PATH), else
 * the instance YARD_INSTANCE's socket (default: the default instance's).
 */
import fs from 'node:fs';
import { unixHttp } from '../client/daemon-client.js';
import { socketPathFor } from '../paths.js';
import { VERSION } from '../version.js';

/** The netavark version whose contract this follows. */
const NETAVARK_VERSION = '1.4.0';

function fail(msg: string): never {
  process.stdout.write(JSON.stringify({ error: msg }) + '\n');
  process.exit(1);
}

function socket(): string {
  const h = process.env.YARD_HOST;
  if (h?.startsWith('unix://')) return h.slice('unix://'.length);
  return socketPathFor(process.env.YARD_INSTANCE || 'default');
}

interface Args {
  command?: string;
  netns?: string;
  file?: string;
  rootless: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { rootless: false };
  const valued = new Set(['-c', '--config', '-r', '--rootless', '-a', '--aardvark-binary', '-f', '--file']);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    let [key, value] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (valued.has(key)) {
      if (value === undefined) value = argv[++i];
      if (value === undefined) fail(`option ${key} needs a value`);
      if (key === '-r' || key === '--rootless') a.rootless = value === 'true';
      if (key === '-f' || key === '--file') a.file = value;
      continue;
    }
    if (arg === '-h' || arg === '--help') a.command = 'help';
    else if (arg === '-V' || arg === '--version') a.command = 'version';
    else if (arg.startsWith('-')) fail(`unknown option ${arg}`);
    else if (!a.command) a.command = arg;
    else if (!a.netns) a.netns = arg;
    else fail(`unexpected argument ${arg}`);
  }
  return a;
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  if (a.command === 'version') {
    process.stdout.write(JSON.stringify({ version: NETAVARK_VERSION, commit: `switchyard ${VERSION}`, build_time: '', target: `${process.arch}-linux` }, null, 2) + '\n');
    return;
  }
  if (a.command === 'help' || !a.command) {
    process.stdout.write('netavark (Switchyard)\n\nUSAGE:\n    netavark [--config DIR] [--rootless BOOL] [--aardvark-binary PATH] [--file FILE] setup|teardown NETNS\n    netavark version\n\nThe network options are read from standard input (or --file); the Switchyard daemon at $YARD_HOST does the work.\n');
    return;
  }
  if (a.command !== 'setup' && a.command !== 'teardown') fail(`unsupported command ${a.command}: Switchyard's netavark does setup, teardown and version`);
  if (a.rootless) fail('rootless Podman is not supported: Switchyard configures networks as root');
  if (!a.netns) fail(`${a.command} needs the network namespace path`);
  let options: string;
  try {
    options = a.file ? fs.readFileSync(a.file, 'utf8') : fs.readFileSync(0, 'utf8');
  } catch (e) {
    fail(`failed to load network options: ${(e as Error).message}`);
  }
  let res;
  try {
    res = await unixHttp(socket(), 'POST', `/yard/v1/netavark/${a.command}`, { netns: a.netns, pid: process.pid, options }, { timeoutMs: 120_000 });
  } catch (e) {
    fail(`cannot reach the Switchyard daemon at ${socket()}: ${(e as Error).message}`);
  }
  let body: { error?: string; message?: string } & Record<string, unknown>;
  try {
    body = res.text ? JSON.parse(res.text) : {};
  } catch {
    fail(`the Switchyard daemon answered ${res.status}: ${res.text.slice(0, 200)}`);
  }
  if (res.status >= 400) fail(body.message ?? `the Switchyard daemon answered ${res.status}`);
  if (a.command === 'setup') process.stdout.write(JSON.stringify(body) + '\n');
}

main().catch((e) => fail((e as Error).message));
