/**
 * The `switchyard` CNI plugin executable (bin/switchyard-cni, installed in the runtime's
 * CNI_PATH under the name `switchyard`). It reads the CNI environment and the network
 * configuration on stdin, posts the call to the Switchyard daemon over its unix socket and
 * prints the daemon's answer: the result on stdout with exit 0, or the CNI error on stdout
 * with exit 1. VERSION is answered here; a daemon that cannot be reached is answered here
 * too (STATUS: code 50, the others: 11, try again later).
 *
 * It imports little, so a runtime's call costs a node start and one request.
 */
import { unixHttp } from '../client/daemon-client.js';
import { CNI_CODES, CniError, decodeConfig, errorJson, parseConfig, parseEnv, unreachableError, versionResult, type CniCommand, type CniRequest } from './cni.js';

const TIMEOUT_MS = 110_000;

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    if (process.stdin.isTTY) return resolve('');
    let text = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (d: string) => (text += d));
    process.stdin.on('end', () => resolve(text));
    process.stdin.on('error', reject);
  });
}

function print(obj: unknown): void {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

async function defaultSocket(): Promise<string> {
  const fromEnv = process.env.YARD_HOST;
  if (fromEnv?.startsWith('unix://')) return fromEnv.slice('unix://'.length);
  const [{ socketPathFor }, { currentNetnsName }] = await Promise.all([import('../paths.js'), import('../kernel/observe.js')]);
  return socketPathFor(process.env.YARD_INSTANCE || currentNetnsName() || 'default');
}

async function main(): Promise<number> {
  let version: string | undefined;
  let command: CniCommand | undefined;
  try {
    const env = parseEnv(process.env);
    command = env.command;
    const stdin = await readStdin();
    if (command === 'VERSION') {
      // The runtime's version, when it said one; the latest otherwise.
      let asked: string | undefined;
      try {
        const v = (JSON.parse(stdin || '{}') as { cniVersion?: unknown }).cniVersion;
        if (typeof v === 'string') asked = v;
      } catch {
        /* no configuration: answer with the latest */
      }
      print(versionResult(asked));
      return 0;
    }
    const raw = decodeConfig(stdin);
    if (raw && typeof raw === 'object' && typeof (raw as { cniVersion?: unknown }).cniVersion === 'string') version = (raw as { cniVersion: string }).cniVersion;
    const cfg = parseConfig(raw, command, env.args);
    const socket = cfg.socket ?? (await defaultSocket());
    const req: CniRequest = { command, ...(env.containerId ? { containerId: env.containerId } : {}), ...(env.netns ? { netns: env.netns } : {}), ...(env.ifname ? { ifname: env.ifname } : {}), args: env.args, config: raw, pid: process.pid };
    let reply: { status: number; text: string };
    try {
      reply = await unixHttp(socket, 'POST', '/yard/v1/cni', req, { timeoutMs: TIMEOUT_MS });
    } catch (e) {
      throw unreachableError(command, socket, (e as NodeJS.ErrnoException).code ?? (e as Error).message);
    }
    let body: unknown;
    try {
      body = reply.text ? JSON.parse(reply.text) : {};
    } catch {
      body = { message: reply.text.trim() };
    }
    if (reply.status === 200) {
      if (command === 'ADD') print(body);
      return 0;
    }
    const b = body as { code?: unknown; msg?: unknown; message?: unknown };
    if (typeof b.code === 'number' && typeof b.msg === 'string') {
      print(body);
      return 1;
    }
    // Not a CNI answer: an older daemon, or one that is starting or stopping.
    const code = reply.status === 503 || reply.status === 404 ? (command === 'STATUS' ? CNI_CODES.NOT_AVAILABLE : CNI_CODES.TRY_AGAIN_LATER) : CNI_CODES.REFUSED;
    throw new CniError(code, `the Switchyard daemon answered ${reply.status}: ${typeof b.message === 'string' ? b.message : reply.text.slice(0, 200)}`, 'update the daemon to one that serves the CNI front door, or retry');
  } catch (e) {
    const err = e instanceof CniError ? e : new CniError(CNI_CODES.REFUSED, (e as Error)?.message ?? String(e));
    print(errorJson(version, err));
    return 1;
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`switchyard CNI plugin: ${(e as Error)?.stack ?? e}\n`);
    process.exitCode = 1;
  },
);
