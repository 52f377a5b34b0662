import { describe, expect, it } from 'vitest';
import { renderHosts, renderResolvConf } from '../dns/sandbox-files.js';
import { thrown } from '../../test/unit/thrown.js';
import {
  LIMITS,
  parseExtraHost,
  validateAliases,
  validateCommand,
  validateDnsOptions,
  validateDnsSearch,
  validateDnsServers,
  validateEnv,
  validateHostname,
  validateLabels,
  validateSandboxInput,
} from './validate.js';

/** A refusal: INVALID_ARGUMENT (400) naming the field, with a hint. */
function refused(fn: () => unknown, field: string, message?: RegExp) {
  const e = thrown(fn);
  expect(e.code).toBe('INVALID_ARGUMENT');
  expect(e.status).toBe(400);
  expect(e.field).toBe(field);
  expect(e.hint).toBeTruthy();
  expect(e.message).toContain(field);
  if (message) expect(e.message).toMatch(message);
  return e;
}

const label63 = 'a'.repeat(63);

describe('validateHostname (RFC 1123)', () => {
  it.each(['web', 'web-1', '1web', 'db.internal', label63, `${label63}.${label63}.${label63}.${'b'.repeat(61)}`])('takes %s', (h) => {
    expect(validateHostname(h)).toBe(h);
  });
  it.each([
    ['a newline (adds a hosts entry)', 'lab\n10.0.0.1 evil'],
    ['a blank', 'a b'],
    ['a NUL byte', 'a\u0000b'],
    ['a tab', 'a\tb'],
    ['a leading hyphen', '-web'],
    ['a trailing hyphen', 'web-'],
    ['an underscore', 'web_1'],
    ['a slash', 'a/b'],
    ['an empty label', 'a..b'],
    ['a trailing dot', 'web.'],
    ['a 64-character label', 'a'.repeat(64)],
    ['254 characters', `${label63}.${label63}.${label63}.${'b'.repeat(62)}`],
  ])('refuses %s', (_what, h) => {
    refused(() => validateHostname(h), '--hostname');
  });
});

describe('validateDnsSearch', () => {
  it('takes up to 6 domains, a trailing dot, and "." alone', () => {
    expect(validateDnsSearch(['lab', 'corp.example.', 'a_b.lab'])).toEqual(['lab', 'corp.example.', 'a_b.lab']);
    expect(validateDnsSearch(['a', 'b', 'c', 'd', 'e', 'f'])).toHaveLength(6);
    expect(validateDnsSearch(['.'])).toEqual(['.']);
    expect(validateDnsSearch(undefined)).toEqual([]);
  });
  it.each([
    ['a newline that adds a nameserver', ['lab\nnameserver 6.6.6.6']],
    ['a blank (two domains in one)', ['lab corp']],
    ['a NUL byte', ['lab\u0000']],
    ['an empty domain', ['']],
    ['"." among others', ['.', 'lab']],
    ['7 domains (glibc reads 6)', ['a', 'b', 'c', 'd', 'e', 'f', 'g']],
    ['more than 256 characters together', [label63, label63, label63, label63, label63]],
    ['a 64-character label', ['a'.repeat(64) + '.lab']],
  ])('refuses %s', (_what, list) => {
    refused(() => validateDnsSearch(list), '--dns-search');
  });
});

describe('validateDnsOptions', () => {
  it('takes resolv.conf options', () => {
    const opts = ['ndots:2', 'timeout:1', 'attempts:3', 'rotate', 'edns0', 'single-request-reopen', 'use-vc', 'no-aaaa', 'trust-ad'];
    expect(validateDnsOptions(opts)).toEqual(opts);
  });
  it.each([['ndots:2\nnameserver 6.6.6.6'], ['ndots: 2'], ['rotate edns0'], [''], ['NDOTS:2'], ['ndots:x'], ['ndots:2:3'], ['a\u0000']])('refuses %j', (o) => {
    refused(() => validateDnsOptions([o]), '--dns-option', /is not a resolv\.conf option/);
  });
  it('refuses more than 16 options', () => {
    refused(() => validateDnsOptions(Array(LIMITS.dnsOptions + 1).fill('rotate')), '--dns-option', /at most 16/);
  });
});

describe('validateDnsServers', () => {
  it('takes unicast addresses, canonical form', () => {
    expect(validateDnsServers(['10.231.0.1', 'FD00:231:0::1', '127.0.0.1'])).toEqual(['10.231.0.1', 'fd00:231::1', '127.0.0.1']);
  });
  it.each([
    ['0.0.0.0', /unspecified/],
    ['::', /unspecified/],
    ['224.0.0.1', /multicast/],
    ['239.1.2.3', /multicast/],
    ['ff02::1', /multicast/],
    ['255.255.255.255', /broadcast/],
    ['10.0.0.1\nnameserver 6.6.6.6', /not an IP address/],
    ['8.8.8.8 ', /not an IP address/],
    ['dns.example', /not an IP address/],
    ['010.0.0.1', /not an IP address/],
  ])('refuses %j', (ip, why) => {
    refused(() => validateDnsServers([ip]), '--dns', why);
  });
});

describe('parseExtraHost (--add-host)', () => {
  it('takes name:ip, name:[v6], name:v6 and name:host-gateway', () => {
    expect(parseExtraHost('db:10.0.0.5')).toBe('db:10.0.0.5');
    expect(parseExtraHost('db.lab:fd00::0005')).toBe('db.lab:fd00::5');
    expect(parseExtraHost('db:[fd00::5]')).toBe('db:fd00::5');
    expect(parseExtraHost('gw:host-gateway')).toBe('gw:host-gateway');
  });
  it.each([
    ['no address', 'a'],
    ['a name that is not an address', 'a:notanip'],
    ['an empty name', ':10.0.0.1'],
    ['a newline in the name', 'a\nb:10.0.0.1'],
    ['a newline after the address', 'a:10.0.0.1\n6.6.6.6 evil'],
    ['a blank in the name', 'a b:10.0.0.1'],
    ['a slash in the name', 'a/b:10.0.0.1'],
  ])('refuses %s', (_what, h) => {
    refused(() => parseExtraHost(h), '--add-host');
  });
});

describe('validateAliases', () => {
  it('takes DNS names, with "_" and up to 64 of them', () => {
    expect(validateAliases(['db', 'api.v2', 'my_service', 'web-1'])).toEqual(['db', 'api.v2', 'my_service', 'web-1']);
    expect(validateAliases(Array.from({ length: 64 }, (_, i) => `a${i}`))).toHaveLength(64);
  });
  it.each([
    ['empty', ''],
    ['a slash', 'a/b'],
    ['a newline', 'a\nb'],
    ['a NUL byte', 'a\u0000'],
    ['a blank', 'a b'],
    ['300 characters', 'a'.repeat(300)],
    ['a 64-character label', `${'a'.repeat(64)}.lab`],
  ])('refuses an alias with %s', (_what, a) => {
    refused(() => validateAliases([a]), '--alias');
  });
  it('refuses 65 aliases on one endpoint (and 10,000)', () => {
    refused(() => validateAliases(Array.from({ length: 65 }, (_, i) => `a${i}`)), '--alias', /at most 64/);
    refused(() => validateAliases(Array.from({ length: 10_000 }, (_, i) => `a${i}`)), '--alias', /at most 64/);
  });
});

describe('validateLabels, validateEnv, validateCommand', () => {
  it('takes ordinary labels, environments and commands', () => {
    expect(validateLabels({ 'com.example.team': 'net', empty: '' })).toEqual({ 'com.example.team': 'net', empty: '' });
    expect(validateEnv({ APP_MODE: 'x y\nz', _X1: '' })).toEqual({ APP_MODE: 'x y\nz', _X1: '' });
    expect(validateCommand(['sh', '-c', 'echo "a\nb"'])).toEqual(['sh', '-c', 'echo "a\nb"']);
  });
  it('bounds labels: count, key and value sizes, control characters in keys, NUL in values', () => {
    refused(() => validateLabels(Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`k${i}`, 'v']))), '--label', /at most 256/);
    refused(() => validateLabels({ ['k'.repeat(257)]: 'v' }), '--label');
    refused(() => validateLabels({ '': 'v' }), '--label');
    refused(() => validateLabels({ 'a\nb': 'v' }), '--label');
    refused(() => validateLabels({ k: 'v'.repeat(4097) }), '--label');
    refused(() => validateLabels({ k: 'a\u0000' }), '--label');
  });
  it.each([['1X'], ['A-B'], ['A B'], [''], ['A=B'], ['A\u0000']])('refuses the env key %j', (k) => {
    refused(() => validateEnv({ [k]: 'v' }), '--env', /is not a variable name/);
  });
  it('refuses a NUL byte in an env value or a command argument', () => {
    refused(() => validateEnv({ A: 'x\u0000y' }), '--env', /NUL/);
    refused(() => validateCommand(['sleep', '10\u0000']), 'COMMAND', /NUL/);
    refused(() => validateCommand(['']), 'COMMAND', /program name is empty/);
  });
});

describe('validateSandboxInput, then what reaches the files', () => {
  it('refuses each injection before anything is written', () => {
    refused(() => validateSandboxInput({ dnsSearch: ['lab\nnameserver 6.6.6.6'] }), '--dns-search');
    refused(() => validateSandboxInput({ dnsOptions: ['ndots:1\nnameserver 6.6.6.6'] }), '--dns-option');
    refused(() => validateSandboxInput({ hostname: 'h\n6.6.6.6 evil' }), '--hostname');
    refused(() => validateSandboxInput({ extraHosts: ['a:notanip'] }), '--add-host');
  });

  it('renders what passes as exactly one line per server and entry', () => {
    const v = validateSandboxInput({ hostname: 'web', dns: ['10.231.0.1'], dnsSearch: ['lab'], dnsOptions: ['ndots:2'], extraHosts: ['db:10.0.0.5'] });
    expect(renderResolvConf({ nameservers: v.dns, search: v.dnsSearch, options: v.dnsOptions }).split('\n')).toEqual([
      expect.stringMatching(/^# /),
      'nameserver 10.231.0.1',
      'search lab',
      'options ndots:2',
      '',
    ]);
    const hosts = renderHosts({ hostname: v.hostname!, name: 'web1', addresses: ['10.0.0.2'], extraHosts: v.extraHosts });
    expect(hosts).toContain('10.0.0.5\tdb\n');
    expect(hosts).toContain('10.0.0.2\tweb web1\n');
  });

  it('the renderers drop a value that would add a line (records stored before validation)', () => {
    const resolv = renderResolvConf({ nameservers: ['10.0.0.1\nnameserver 6.6.6.6'], search: ['lab\nnameserver 6.6.6.6', 'ok'], options: ['ndots:1 rotate', 'edns0'] });
    expect(resolv).not.toContain('6.6.6.6');
    expect(resolv).toContain('search ok\n');
    expect(resolv).toContain('options edns0\n');
    const hosts = renderHosts({ hostname: 'h\n6.6.6.6 evil', name: 'web1', addresses: ['10.0.0.2'], extraHosts: ['a\nb:1.2.3.4', 'ok:10.0.0.9'] });
    expect(hosts).not.toMatch(/evil|1\.2\.3\.4/);
    expect(hosts).toContain('10.0.0.2\tweb1\n');
    expect(hosts).toContain('10.0.0.9\tok\n');
  });

  it('"--dns-search ." means no search line', () => {
    expect(renderResolvConf({ nameservers: ['10.0.0.1'], search: validateDnsSearch(['.']), options: [] })).not.toMatch(/search/);
  });
});
