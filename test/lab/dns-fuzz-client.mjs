/**
 * Fuzz and flood clients for the embedded resolver, run inside a sandbox's namespace by
 * test/lab/dns-fuzz.test.ts. Bounded in count and in time: every mode stops at its own
 * deadline whatever the resolver does. Prints one JSON line of counts.
 *
 *   node dns-fuzz-client.mjs fuzz  name=web expect=172.31.7.2 udp=2500 tcpConns=40 tcpFrames=15 every=25 seed=1 seconds=25
 *   node dns-fuzz-client.mjs flood name=web expect=172.31.7.2 seconds=6
 *
 * fuzz: mutated, random and malformed packets over UDP (`udp` of them) and TCP (`tcpConns`
 * connections of `tcpFrames` frames); a valid query for `name` every `every` packets on a
 * separate socket (the positive control: it must answer `expect`), and a valid TCP query
 * after each TCP batch, on the same connection (if the resolver kept it) and on a new one.
 * flood: valid queries and junk as fast as the socket takes them for `seconds`, then 20
 * sequential control queries (their latency), with 20 before the flood as the baseline.
 */
import dgram from 'node:dgram';
import net from 'node:net';

const mode = process.argv[2];
const opt = Object.fromEntries(process.argv.slice(3).map((a) => a.split('=')));
const NAME = opt.name ?? 'web';
const EXPECT = (opt.expect ?? '').split('.').map(Number);
const SECONDS = Number(opt.seconds ?? 25);
const deadline = Date.now() + SECONDS * 1000;
const SERVER = '127.0.0.11';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let seed = Number(opt.seed ?? 1) >>> 0 || 1;
/** xorshift32: the same packets on every run of a seed. */
function rnd(n) {
  seed ^= seed << 13;
  seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  seed >>>= 0;
  return seed % n;
}
const pick = (xs) => xs[rnd(xs.length)];
const junk = (n) => Buffer.from(Array.from({ length: n }, () => rnd(256)));

function encodeName(name) {
  return Buffer.concat([...name.split('.').filter(Boolean).flatMap((l) => [Buffer.from([l.length]), Buffer.from(l)]), Buffer.from([0])]);
}
function query(name, id, { type = 1, cls = 1, flags = 0x0100, opt: withOpt, nameBytes } = {}) {
  const head = Buffer.alloc(12);
  head.writeUInt16BE(id & 0xffff, 0);
  head.writeUInt16BE(flags, 2);
  head.writeUInt16BE(1, 4);
  if (withOpt) head.writeUInt16BE(1, 10);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(type, 0);
  tail.writeUInt16BE(cls, 2);
  const parts = [head, nameBytes ?? encodeName(name), tail];
  if (withOpt) parts.push(withOpt);
  return Buffer.concat(parts);
}
/** An OPT record: root name, type 41, payload size, extended rcode/version, rdata. */
function optRecord(size = 1232, version = 0, rdata = Buffer.alloc(0), rdlen = rdata.length) {
  const b = Buffer.alloc(11);
  b.writeUInt16BE(41, 1);
  b.writeUInt16BE(size, 3);
  b[6] = 0;
  b[7] = version;
  b.writeUInt16BE(rdlen, 9);
  return Buffer.concat([b, rdata]);
}

const seeds = [
  () => query(NAME, rnd(65536)),
  () => query(`${NAME}.app`, rnd(65536), { type: 28 }),
  () => query('2.7.31.172.in-addr.arpa', rnd(65536), { type: 12 }),
  () => query(NAME, rnd(65536), { opt: optRecord(pick([0, 512, 1232, 4096, 65535])) }),
  () => query(NAME, rnd(65536), { nameBytes: Buffer.from([0xc0, 0x0c]) }), // a pointer to itself
  () => query(`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}`, rnd(65536), { type: 16 }),
  () => query('', rnd(65536), { type: 2 }), // the root
];

const mutators = [
  // bit flips
  (b) => {
    for (let k = 1 + rnd(8); k > 0 && b.length; k--) b[rnd(b.length)] ^= 1 << rnd(8);
    return b;
  },
  // random bytes overwritten
  (b) => {
    for (let k = 1 + rnd(6); k > 0 && b.length; k--) b[rnd(b.length)] = rnd(256);
    return b;
  },
  (b) => b.subarray(0, rnd(b.length + 1)), // truncated anywhere
  (b) => Buffer.concat([b, junk(1 + rnd(100))]), // trailing junk
  // header counts
  (b) => {
    if (b.length >= 12) b.writeUInt16BE(pick([0, 2, 3, 255, 65535]), pick([4, 6, 8, 10]));
    return b;
  },
  // flags: QR (a response), opcodes, rcode, TC, Z
  (b) => {
    if (b.length >= 4) b.writeUInt16BE(pick([0x8000, 0x8180, 0x2800, 0x7800, 0x0300, 0x0200, 0x0140, 0x0f0f, 0xffff, rnd(65536)]), 2);
    return b;
  },
  // label lengths: too long, pointers, reserved bits
  (b) => {
    if (b.length > 12) b[12] = pick([63, 64, 100, 0x80, 0xc0, 0xff]);
    return b;
  },
  // compression pointers: to itself, past the end, into the header, loops
  (b) => {
    if (b.length < 14) return b;
    const target = pick([0x0c, 0xff, 0x00, 0x3fff, b.length, 0x0e]);
    b[12] = 0xc0 | ((target >> 8) & 0x3f);
    b[13] = target & 0xff;
    return b;
  },
  // odd types and classes (ANY, AXFR, IXFR, 0, 65535, CHAOS)
  (b) => {
    if (b.length >= 16) {
      b.writeUInt16BE(pick([0, 255, 252, 251, 41, 65535, rnd(65536)]), b.length - 4);
      b.writeUInt16BE(pick([1, 3, 255, 0, 65535]), b.length - 2);
    }
    return b;
  },
  // EDNS: other versions, bad rdata lengths, two OPTs, garbage options
  (b) => {
    const extra = pick([
      () => optRecord(1232, 1 + rnd(255)),
      () => optRecord(1232, 0, junk(8), 200),
      () => Buffer.concat([optRecord(), optRecord()]),
      () => optRecord(rnd(65536), 0, junk(rnd(40))),
    ])();
    if (b.length >= 12) b.writeUInt16BE(pick([1, 2]), 10);
    return Buffer.concat([b, extra]);
  },
  () => junk(rnd(600)), // anything at all
  () => junk(512 + rnd(3500)), // large
];

function fuzzPacket() {
  const base = Buffer.from(pick(seeds)());
  let b = pick(mutators)(base);
  if (rnd(4) === 0) b = pick(mutators)(Buffer.from(b)); // sometimes twice
  return b;
}

function answers(m, ip) {
  if (m.length < 12 || !(m[2] & 0x80) || (m[3] & 15) !== 0 || m.readUInt16BE(6) < 1) return false;
  for (let i = 12; i + 4 <= m.length; i++) if (m[i] === ip[0] && m[i + 1] === ip[1] && m[i + 2] === ip[2] && m[i + 3] === ip[3]) return true;
  return false;
}

/** Control queries on their own socket: a fuzz answer never passes for one. */
async function controlSocket() {
  const s = dgram.createSocket('udp4');
  const waiting = new Map();
  s.on('message', (m) => {
    if (m.length < 2) return;
    const w = waiting.get(m.readUInt16BE(0));
    if (w) {
      waiting.delete(m.readUInt16BE(0));
      w(m);
    }
  });
  await new Promise((r) => s.bind(0, r));
  let id = 1;
  return {
    async ask(timeoutMs = 1500) {
      const qid = id++;
      const t0 = performance.now();
      const got = new Promise((resolve) => {
        waiting.set(qid, resolve);
        setTimeout(() => waiting.delete(qid) && resolve(null), timeoutMs);
      });
      s.send(query(NAME, qid), 53, SERVER);
      const m = await got;
      return { ok: !!m && answers(m, EXPECT), ms: +(performance.now() - t0).toFixed(2) };
    },
    close: () => s.close(),
  };
}

/** One TCP connection: send frames, collect answers; resolves when told or when closed. */
function tcpConn() {
  const c = net.connect(53, SERVER);
  const st = { answers: 0, closedByServer: false, frames: [], buf: Buffer.alloc(0), waiters: [] };
  c.on('error', () => {});
  c.on('data', (d) => {
    st.buf = Buffer.concat([st.buf, d]);
    while (st.buf.length >= 2 && st.buf.length >= 2 + st.buf.readUInt16BE(0)) {
      const m = st.buf.subarray(2, 2 + st.buf.readUInt16BE(0));
      st.buf = st.buf.subarray(2 + m.length);
      st.answers++;
      st.frames.push(m);
      for (const w of st.waiters.splice(0)) w();
    }
  });
  c.on('close', () => {
    st.closedByServer = !st.closedByMe;
    for (const w of st.waiters.splice(0)) w();
  });
  const connected = new Promise((r) => {
    c.once('connect', () => r(true));
    c.once('error', () => r(false));
  });
  return {
    st,
    connected,
    send(b, len = b.length) {
      if (c.destroyed) return false;
      const head = Buffer.alloc(2);
      head.writeUInt16BE(len & 0xffff);
      c.write(Buffer.concat([head, b]));
      return true;
    },
    /** Wait until `n` answers arrived or the connection closed, at most ms. */
    async until(n, ms) {
      const end = Date.now() + ms;
      while (st.answers < n && !c.destroyed && !st.closedByServer && Date.now() < end) {
        await Promise.race([new Promise((r) => st.waiters.push(r)), sleep(Math.max(1, end - Date.now()))]);
      }
    },
    get open() {
      return !c.destroyed && !st.closedByServer;
    },
    close() {
      st.closedByMe = true;
      c.destroy();
    },
  };
}

/** A valid query on `conn`: true when its own answer (by ID) arrives with the expected address. */
async function tcpControl(conn) {
  const id = 50000 + rnd(10000);
  const from = conn.st.frames.length;
  if (!conn.send(query(NAME, id))) return false;
  const end = Date.now() + 2000;
  for (;;) {
    const mine = conn.st.frames.slice(from).find((m) => m.length >= 2 && m.readUInt16BE(0) === id);
    if (mine) return answers(mine, EXPECT);
    if (!conn.open || Date.now() >= end) return false;
    await conn.until(conn.st.answers + 1, end - Date.now());
  }
}

const out = {};
if (mode === 'fuzz') {
  const UDP = Number(opt.udp ?? 2500);
  const EVERY = Number(opt.every ?? 25);
  const TCP_CONNS = Number(opt.tcpConns ?? 40);
  const TCP_FRAMES = Number(opt.tcpFrames ?? 15);
  const sock = dgram.createSocket('udp4');
  let udpAnswered = 0;
  sock.on('message', () => udpAnswered++);
  sock.on('error', () => {});
  await new Promise((r) => sock.bind(0, r));
  const control = await controlSocket();
  const controls = [];
  let udpSent = 0;
  for (let i = 0; i < UDP && Date.now() < deadline; i++) {
    const p = fuzzPacket();
    sock.send(p.length > 65507 ? p.subarray(0, 65507) : p, 53, SERVER);
    udpSent++;
    if ((i + 1) % EVERY === 0) controls.push(await control.ask());
  }
  await sleep(500); // late answers
  out.udp = { sent: udpSent, answered: udpAnswered, dropped: udpSent - udpAnswered };
  const tcp = { conns: 0, framesSent: 0, answered: 0, closedByServer: 0, honestConns: 0, controlsSameConnOk: 0, controlsNewConn: 0, controlsNewConnOk: 0 };
  for (let i = 0; i < TCP_CONNS && Date.now() < deadline; i++) {
    const conn = tcpConn();
    tcp.conns++;
    if (!(await conn.connected)) continue;
    let honest = true;
    for (let f = 0; f < TCP_FRAMES; f++) {
      const p = fuzzPacket().subarray(0, 65535);
      if (!p.length) continue;
      // Honest framing, except on every fourth connection where some lengths do not match
      // (0: the resolver must hang up; longer than the message: the rest of the stream is
      // read as this message).
      const r = i % 4 === 3 ? rnd(5) : 5;
      const len = r === 0 ? 0 : r === 1 ? p.length + 1 + rnd(100) : p.length;
      if (len !== p.length) honest = false;
      if (conn.send(p, len)) tcp.framesSent++;
    }
    // A control query after the junk, on the same connection: with honest framing the
    // resolver must have read every frame and must answer it.
    if (honest) {
      tcp.honestConns++;
      if (await tcpControl(conn)) tcp.controlsSameConnOk++;
    } else {
      await conn.until(Infinity, 100);
    }
    tcp.answered += conn.st.answers;
    tcp.closedByServer += conn.st.closedByServer ? 1 : 0;
    conn.close();
    const fresh = tcpConn();
    tcp.controlsNewConn++;
    if ((await fresh.connected) && (await tcpControl(fresh))) tcp.controlsNewConnOk++;
    fresh.close();
  }
  out.tcp = tcp;
  out.controls = { asked: controls.length, ok: controls.filter((c) => c.ok).length, maxMs: Math.max(0, ...controls.map((c) => c.ms)) };
  out.timedOut = Date.now() >= deadline;
  sock.close();
  control.close();
}
if (mode === 'flood') {
  const control = await controlSocket();
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const before = [];
  for (let i = 0; i < 20; i++) before.push(await control.ask());
  const sock = dgram.createSocket('udp4');
  let answered = 0;
  let sent = 0;
  sock.on('message', () => answered++);
  sock.on('error', () => {});
  await new Promise((r) => sock.bind(0, r));
  const during = [];
  const floodEnd = Math.min(deadline - 5_000, Date.now() + Number(opt.flood ?? 6) * 1000);
  let nextControl = Date.now() + 500;
  while (Date.now() < floodEnd) {
    for (let k = 0; k < 64; k++) {
      sock.send(rnd(10) < 7 ? query(NAME, rnd(65536)) : fuzzPacket(), 53, SERVER);
      sent++;
    }
    if (Date.now() >= nextControl) {
      nextControl = Date.now() + 500;
      control.ask(1000).then((r) => during.push(r));
    }
    await new Promise((r) => setImmediate(r));
  }
  await sleep(1000);
  const after = [];
  for (let i = 0; i < 20; i++) after.push(await control.ask());
  out.flood = { sent, answered, dropped: sent - answered, seconds: Number(opt.flood ?? 6) };
  out.during = { asked: during.length, ok: during.filter((c) => c.ok).length };
  out.before = { ok: before.filter((c) => c.ok).length, medianMs: median(before.map((c) => c.ms)) };
  out.after = { ok: after.filter((c) => c.ok).length, medianMs: median(after.map((c) => c.ms)), maxMs: Math.max(...after.map((c) => c.ms)) };
  sock.close();
  control.close();
}
console.log(JSON.stringify(out));
process.exit(0);
