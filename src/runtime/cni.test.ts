import { describe, expect, it } from 'vitest';
import { buildResult, checkRequest, CNI_CODES, CniError, decodeConfig, errorJson, parseConfig, parseEnv, unreachableError, versionResult } from './cni.js';

const env = (over: Record<string, string | undefined> = {}) => ({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c0ffee', CNI_NETNS: '/run/netns/blue', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin:/usr/lib/cni', ...over });
const conf = (over: Record<string, unknown> = {}) => ({ cniVersion: '1.0.0', name: 'app', type: 'switchyard', ...over });
const codeOf = (fn: () => unknown): number | undefined => {
  try {
    fn();
  } catch (e) {
    if (e instanceof CniError) return e.code;
    throw e;
  }
  return undefined;
};
const errOf = (fn: () => unknown): CniError => {
  try {
    fn();
  } catch (e) {
    return e as CniError;
  }
  throw new Error('no error');
};

describe('CNI environment', () => {
  it('reads a full ADD environment, CNI_ARGS and CNI_PATH', () => {
    const e = parseEnv(env({ CNI_ARGS: 'IgnoreUnknown=1;IP=10.88.0.9' }));
    expect(e).toEqual({ command: 'ADD', containerId: 'c0ffee', netns: '/run/netns/blue', ifname: 'eth0', args: { IgnoreUnknown: '1', IP: '10.88.0.9' }, path: ['/opt/cni/bin', '/usr/lib/cni'] });
  });
  it('refuses a missing or unknown command, container ID, ifname or netns with code 4, naming the variable', () => {
    expect(codeOf(() => parseEnv(env({ CNI_COMMAND: undefined })))).toBe(CNI_CODES.INVALID_ENV);
    expect(errOf(() => parseEnv(env({ CNI_COMMAND: 'ATTACH' }))).message).toMatch(/CNI_COMMAND "ATTACH"/);
    expect(errOf(() => parseEnv(env({ CNI_CONTAINERID: undefined }))).message).toMatch(/CNI_CONTAINERID is not set/);
    expect(errOf(() => parseEnv(env({ CNI_CONTAINERID: 'a/b' }))).code).toBe(4);
    expect(errOf(() => parseEnv(env({ CNI_IFNAME: 'a-very-long-ifname0' }))).message).toMatch(/CNI_IFNAME/);
    expect(errOf(() => parseEnv(env({ CNI_NETNS: 'relative' }))).message).toMatch(/CNI_NETNS "relative" is not an absolute path/);
    expect(errOf(() => parseEnv(env({ CNI_NETNS: undefined }))).message).toMatch(/CNI_NETNS is not set/);
    expect(codeOf(() => parseEnv(env({ CNI_ARGS: 'novalue' })))).toBe(4);
  });
  it('lets DEL go without a namespace, and GC, STATUS, VERSION without container facts', () => {
    expect(parseEnv(env({ CNI_COMMAND: 'DEL', CNI_NETNS: undefined })).netns).toBeUndefined();
    for (const c of ['GC', 'STATUS', 'VERSION']) expect(parseEnv({ CNI_COMMAND: c }).command).toBe(c);
  });
});

describe('CNI network configuration', () => {
  it('takes the network from "network", else from "name", and the socket', () => {
    expect(parseConfig(conf(), 'ADD')).toMatchObject({ cniVersion: '1.0.0', name: 'app', network: 'app' });
    expect(parseConfig(conf({ network: 'backend', socket: '/run/switchyard/h1/yard.sock' }), 'ADD')).toMatchObject({ network: 'backend', socket: '/run/switchyard/h1/yard.sock' });
  });
  it('refuses a bad configuration with the right code, naming the field and the fix', () => {
    expect(codeOf(() => decodeConfig('{nope'))).toBe(CNI_CODES.DECODE_FAILURE);
    expect(codeOf(() => parseConfig([], 'ADD'))).toBe(CNI_CODES.DECODE_FAILURE);
    expect(codeOf(() => parseConfig(conf({ cniVersion: '9.9.9' }), 'ADD'))).toBe(CNI_CODES.INCOMPATIBLE_VERSION);
    const t = errOf(() => parseConfig(conf({ type: 'bridge' }), 'ADD'));
    expect([t.code, t.message, t.details]).toEqual([7, 'network configuration: type is "bridge", not "switchyard"', expect.stringContaining('"type": "switchyard"')]);
    expect(errOf(() => parseConfig(conf({ name: '-x' }), 'ADD')).message).toMatch(/name "-x"/);
    expect(errOf(() => parseConfig(conf({ network: 7 }), 'ADD')).message).toMatch(/network 7/);
    expect(errOf(() => parseConfig(conf({ socket: 'yard.sock' }), 'ADD')).message).toMatch(/socket "yard.sock" is not an absolute path/);
    expect(errOf(() => parseConfig(conf({ ipam: { type: 'host-local' } }), 'ADD')).message).toMatch(/ipam/);
    expect(errOf(() => parseConfig(conf({ runtimeConfig: { ips: ['10.0.0.300'] } }), 'ADD')).message).toMatch(/runtimeConfig.ips "10.0.0.300" is not an IP address/);
    expect(errOf(() => parseConfig(conf({ args: { cni: { mac: 'zz' } } }), 'ADD')).message).toMatch(/args.cni.mac/);
    expect(errOf(() => parseConfig(conf({ prevResult: 'x' }), 'ADD')).message).toMatch(/prevResult/);
    expect(errOf(() => parseConfig(conf({ 'cni.dev/valid-attachments': [{ containerID: 1 }] }), 'GC')).message).toMatch(/valid-attachments\[0\]/);
  });
  it('reads requested addresses and MAC from args.cni, runtimeConfig and CNI_ARGS, and refuses two different ones', () => {
    expect(parseConfig(conf({ args: { cni: { ips: ['10.88.0.5/24', 'fd00::5/64'] } } }), 'ADD')).toMatchObject({ ipv4: '10.88.0.5', ipv6: 'fd00::5' });
    expect(parseConfig(conf({ runtimeConfig: { ips: ['10.88.0.6'], mac: '02:AA:00:00:00:01' } }), 'ADD')).toMatchObject({ ipv4: '10.88.0.6', mac: '02:aa:00:00:00:01' });
    expect(parseConfig(conf(), 'ADD', { IP: '10.88.0.7', MAC: '02:00:00:00:00:07' })).toMatchObject({ ipv4: '10.88.0.7', mac: '02:00:00:00:00:07' });
    expect(codeOf(() => parseConfig(conf({ runtimeConfig: { ips: ['10.88.0.6'] } }), 'ADD', { IP: '10.88.0.7' }))).toBe(7);
  });
  it('reads GC\'s valid attachments (none given: none valid)', () => {
    expect(parseConfig(conf({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }] }), 'GC').validAttachments).toEqual([{ containerID: 'a', ifname: 'eth0' }]);
    expect(parseConfig(conf({ cniVersion: '1.1.0' }), 'GC').validAttachments).toEqual([]);
  });
  it('the daemon checks a posted call by the same rules', () => {
    expect(checkRequest({ command: 'ADD', containerId: 'c1', netns: '/run/netns/x', ifname: 'eth0', args: { IP: '10.1.0.5' }, config: conf(), pid: 42 })).toMatchObject({ command: 'ADD', pid: 42, config: { ipv4: '10.1.0.5' } });
    expect(codeOf(() => checkRequest({ command: 'ADD', containerId: 'c1', ifname: 'eth0', config: conf() }))).toBe(4);
    expect(codeOf(() => checkRequest({ command: 'ADD', containerId: 'c1', netns: '/x', ifname: 'eth0', config: conf(), pid: -1 }))).toBe(4);
    expect(codeOf(() => checkRequest('x'))).toBe(6);
  });
});

describe('CNI results and errors', () => {
  const facts = { ifname: 'eth0', mac: '02:42:0a:58:00:05', mtu: 1500, sandbox: '/run/netns/blue', hostIfname: 'yv0123456789ab', hostMac: 'aa:bb:cc:dd:ee:ff', ipv4: '10.88.0.5/24', gateway4: '10.88.0.1', defaultRoute: true };
  it('builds a 1.0.0 result: host side, then the sandbox interface the ips point at, default route, dns', () => {
    expect(buildResult('1.0.0', { ...facts, dns: { nameservers: ['10.88.0.1'] } })).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'yv0123456789ab', mac: 'aa:bb:cc:dd:ee:ff' }, { name: 'eth0', mac: '02:42:0a:58:00:05', mtu: 1500, sandbox: '/run/netns/blue' }],
      ips: [{ address: '10.88.0.5/24', gateway: '10.88.0.1', interface: 1 }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.88.0.1' }],
      dns: { nameservers: ['10.88.0.1'] },
    });
  });
  it('gives ips their version in 0.x results, and no default route for an interface that does not carry it', () => {
    const r = buildResult('0.4.0', { ...facts, hostIfname: undefined, ipv6: 'fd00::5/64', gateway6: 'fd00::1', defaultRoute: false });
    expect(r.ips).toEqual([{ version: '4', address: '10.88.0.5/24', gateway: '10.88.0.1', interface: 0 }, { version: '6', address: 'fd00::5/64', gateway: 'fd00::1', interface: 0 }]);
    expect(r.routes).toEqual([]);
  });
  it('errors carry the configuration\'s version (the latest when it has none) and VERSION lists 0.4.0, 1.0.0 and 1.1.0', () => {
    expect(errorJson('0.4.0', new CniError(7, 'm', 'd'))).toEqual({ cniVersion: '0.4.0', code: 7, msg: 'm', details: 'd' });
    expect(errorJson(undefined, new CniError(100, 'm')).cniVersion).toBe('1.1.0');
    expect(versionResult('1.0.0')).toEqual({ cniVersion: '1.0.0', supportedVersions: expect.arrayContaining(['0.4.0', '1.0.0', '1.1.0']) });
    expect(unreachableError('STATUS', '/s', 'ENOENT').code).toBe(50);
    expect(unreachableError('ADD', '/s', 'ENOENT').code).toBe(11);
  });
});

describe('daemon failures as CNI errors', async () => {
  const { toCniError } = await import('./cni-room.js');
  const { YardError } = await import('../errors.js');
  it('maps configuration problems to 7, the runtime\'s namespace or PID to 4, a daemon that cannot write to 11, the rest to 100 with the code in details', () => {
    expect(toCniError(new YardError('INVALID_IP', 'address 10.9.0.5 is outside', { field: '--ip', hint: 'pick one inside' }))).toMatchObject({ code: 7, message: 'address 10.9.0.5 is outside', details: 'INVALID_IP (--ip): pick one inside' });
    expect(toCniError(new YardError('INVALID_ARGUMENT', 'process 9 is not running', { field: 'pid' })).code).toBe(4);
    expect(toCniError(new YardError('STATE_WRITE_FAILED', 'disk full')).code).toBe(11);
    expect(toCniError(new YardError('KERNEL_FAILED', 'ip failed'))).toMatchObject({ code: 100, details: 'KERNEL_FAILED' });
    const own = new CniError(102, 'x');
    expect(toCniError(own)).toBe(own);
    expect(toCniError(new Error('boom'))).toMatchObject({ code: 100, message: 'boom' });
  });
});
