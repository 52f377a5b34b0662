/**
 * The lab's fake upstream resolver, run inside the LAN namespace so that nothing a lab
 * host resolves ever leaves the lab:
 *   `*.lab`  A -> 10.231.0.99, AAAA -> fd00:231::99 (other types: no data)
 *   anything else -> NXDOMAIN with the question echoed
 * UDP and TCP port 53 on each `--listen` address; malformed packets are ignored.
 * It exits by itself after `--max-seconds`, so a lab that is never taken down cannot
 * leave it running for ever. Prints `ready` once every socket is bound (labUp waits for it).
 *
 *   node dist/lab/fake-dns.js --listen 10.231.0.1 [--listen fd00:231::1] [--port 53] [--max-seconds 14400]
 */
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';

export const FAKE_A = '10.231.0.99';
export const FAKE_AAAA = 'fd00:231::99';
const TTL = 60;
const RCODE_NXDOMAIN = 3;
const RCODE_NOTIMP = 4;

/** The answer to one query, or null when the query should be ignored. */
export function answer(query: Buffer): Buffer | null {
  try {
    return respond(query);
  } catch {
    return null; // malformed: a resolver stays silent rather than guess
  }
}

function respond(query: Buffer): Buffer | null {
  const q = dnsPacket.decode(query);
  if (q.type !== 'query' || !q.questions?.length) return null;
  const question = q.questions[0];
  const base = (q.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
  const opcode = (query.readUInt16BE(2) >> 11) & 0xf; // not in the typings
  if (opcode !== 0) {
    return dnsPacket.encode({ type: 'response', id: q.id, flags: base | RCODE_NOTIMP, questions: [question] });
  }
  const name = question.name.toLowerCase().replace(/\.$/, '');
  if (!name.endsWith('.lab')) {
    return dnsPacket.encode({
      type: 'response',
      id: q.id,
      flags: base | dnsPacket.RECURSION_AVAILABLE | RCODE_NXDOMAIN,
      questions: [question],
    });
  }
  const answers: dnsPacket.Answer[] = [];
  if (question.type === 'A') answers.push({ type: 'A', name: question.name, ttl: TTL, data: FAKE_A });
  if (question.type === 'AAAA') answers.push({ type: 'AAAA', name: question.name, ttl: TTL, data: FAKE_AAAA });
  return dnsPacket.encode({
    type: 'response',
    id: q.id,
    flags: base | dnsPacket.RECURSION_AVAILABLE | dnsPacket.AUTHORITATIVE_ANSWER,
    questions: [question],
    answers,
  });
}

function serveUdp(address: string, port: number): Promise<void> {
  const sock = dgram.createSocket(net.isIPv6(address) ? 'udp6' : 'udp4');
  sock.on('message', (msg, rinfo) => {
    const res = answer(msg);
    if (res) sock.send(res, rinfo.port, rinfo.address);
  });
  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, address, () => resolve());
  });
}

function serveTcp(address: string, port: number): Promise<void> {
  const server = net.createServer((conn) => {
    let buf = Buffer.alloc(0);
    // Clients keep connections open; a bound idle time keeps a stuck one from living for ever.
    conn.setTimeout(10_000, () => conn.destroy());
    conn.on('error', () => conn.destroy());
    conn.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const res = answer(buf.subarray(2, 2 + len));
        buf = buf.subarray(2 + len);
        if (!res) return conn.destroy();
        const head = Buffer.alloc(2);
        head.writeUInt16BE(res.length);
        conn.write(Buffer.concat([head, res]));
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: address, port }, () => resolve());
  });
}

function parseArgs(argv: string[]): { listen: string[]; port: number; maxSeconds: number } {
  const listen: string[] = [];
  let port = 53;
  let maxSeconds = 14_400;
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--listen' && value) listen.push(...value.split(',').filter(Boolean));
    else if (flag === '--port' && value) port = Number(value);
    else if (flag === '--max-seconds' && value) maxSeconds = Number(value);
    else throw new Error(`unknown or incomplete argument ${flag}`);
    i++;
  }
  for (const a of listen) if (!net.isIP(a)) throw new Error(`--listen ${a} is not an IP address`);
  if (!listen.length) throw new Error('--listen ADDRESS is required');
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--port ${port} is not a port`);
  if (!(maxSeconds > 0)) throw new Error(`--max-seconds ${maxSeconds} is not a positive number`);
  return { listen, port, maxSeconds };
}

async function main(): Promise<void> {
  const { listen, port, maxSeconds } = parseArgs(process.argv.slice(2));
  setTimeout(() => {
    console.log(`fake-dns: --max-seconds ${maxSeconds} reached, exiting`);
    process.exit(0);
  }, maxSeconds * 1000);
  for (const a of listen) await Promise.all([serveUdp(a, port), serveTcp(a, port)]);
  console.log(`ready: fake-dns listening on ${listen.join(', ')} port ${port} (udp, tcp)`);
}

const isEntry = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntry) {
  main().catch((e: unknown) => {
    console.error(`fake-dns: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
}
