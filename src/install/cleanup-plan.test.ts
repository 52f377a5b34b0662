import { describe, expect, it } from 'vitest';
import { describeCleanup, isEmptyPlan, planHostCleanup, type HostObservation } from './cleanup-plan.js';
import { parseManifest } from './manifest.js';
import { checkInstance } from './uninstall.js';
import { checkGroupSpec } from '../daemon/socket-group.js';
import { parseRecordedSysctls } from '../daemon/host-sysctls.js';

const ID = 'a'.repeat(64);
const host = (o: Partial<HostObservation> = {}): HostObservation => ({
  links: [],
  netns: [],
  netnsFileDirs: [],
  tables: [],
  userRules: null,
  sysctls: {},
  recordedSysctls: {},
  ...o,
});

describe('planHostCleanup: only what the instance made', () => {
  const obs = host({
    links: [
      { name: 'yard0', alias: `switchyard:default:${ID}` },
      { name: 'br-0123456789ab', alias: `switchyard:default:${ID}` },
      { name: 'yv0123456789ab' },
      { name: 'yc0123456789ab' },
      // Not ours: another instance's mark, a user's link, a near-miss name, the uplink.
      { name: 'br-other', alias: `switchyard:other:${ID}` },
      { name: 'mybr', alias: 'my own bridge' },
      { name: 'yv0123' },
      { name: 'eth0' },
    ],
    netns: ['yard-default-0123456789ab', 'yard-default-rt-0123456789ab', 'yard-other-0123456789ab', 'yard-default-', 'myns'],
    netnsFileDirs: ['yard-default-0123456789ab', 'yard-other-0123456789ab', 'myns'],
    tables: [
      { family: 'inet', name: 'switchyard' },
      { family: 'bridge', name: 'switchyard' },
      { family: 'inet', name: 'switchyard-user' },
      { family: 'inet', name: 'filter' },
      { family: 'ip', name: 'switchyard' },
    ],
    userRules: 2,
    sysctls: { 'net.ipv4.ip_forward': '1', 'net.ipv6.conf.all.forwarding': '1' },
    recordedSysctls: { 'net.ipv4.ip_forward': '0', 'net.ipv6.conf.all.forwarding': '1' },
  });

  it('removes the instance\'s namespaces, links, tables and restores forwarding as it was', () => {
    const p = planHostCleanup('default', obs);
    expect(p.namespaces).toEqual(['yard-default-0123456789ab']);
    expect(p.attachments).toEqual(['yard-default-rt-0123456789ab']);
    expect(p.etcNetnsDirs).toEqual(['yard-default-0123456789ab']);
    expect(p.links).toEqual(['br-0123456789ab', 'yard0', 'yc0123456789ab', 'yv0123456789ab']);
    expect(p.tables).toEqual([{ family: 'inet', name: 'switchyard' }, { family: 'bridge', name: 'switchyard' }]);
    expect(p.sysctls).toEqual([{ key: 'net.ipv4.ip_forward', value: '0' }]);
    expect(p.kept.join('\n')).toMatch(/switchyard-user.*2 rule/);
    expect(describeCleanup(p)).toContain('nftables table bridge switchyard');
  });

  it('takes the user table only when empty or with --purge', () => {
    expect(planHostCleanup('default', obs, { purge: true }).tables).toContainEqual({ family: 'inet', name: 'switchyard-user' });
    expect(planHostCleanup('default', { ...obs, userRules: 0 }).tables).toContainEqual({ family: 'inet', name: 'switchyard-user' });
    expect(planHostCleanup('default', { ...obs, userRules: null }).tables).not.toContainEqual({ family: 'inet', name: 'switchyard-user' });
  });

  it('leaves a sysctl someone changed since, and one with no record', () => {
    const p = planHostCleanup('default', { ...obs, sysctls: { 'net.ipv4.ip_forward': '0' } });
    expect(p.sysctls).toEqual([]);
    expect(planHostCleanup('default', { ...obs, recordedSysctls: {} }).sysctls).toEqual([]);
  });

  it('another instance gets only its own', () => {
    const p = planHostCleanup('other', obs);
    expect(p.namespaces).toEqual(['yard-other-0123456789ab']);
    expect(p.links).toEqual(['br-other', 'yc0123456789ab', 'yv0123456789ab']);
    expect(isEmptyPlan(planHostCleanup('x', host()))).toBe(true);
  });
});

describe('install manifest and names', () => {
  it('parses what install.sh writes', () => {
    const m = parseManifest('# c\ndir /usr/local/lib/switchyard\nlink /usr/local/bin/yard\nfile /usr/local/lib/systemd/system/switchyard.service\ngroup switchyard\n', 'm');
    expect(m).toEqual({ dir: '/usr/local/lib/switchyard', links: ['/usr/local/bin/yard'], files: ['/usr/local/lib/systemd/system/switchyard.service'], groups: ['switchyard'] });
  });

  it.each([
    ['dir /usr/local/lib/switchyard\nfile relative/path', /absolute/],
    ['dir /usr/local/lib/switchyard\nfile /usr/local/../../etc/passwd', /normalized/],
    ['dir /usr/local/lib/switchyard\nfile /', /normalized/],
    ['dir /usr/local/lib/switchyard\nfile /etc/passwd', /a file install does not write/],
    ['dir /etc', /must end in/],
    ['dir /usr/local/lib/switchyard\nexec rm -rf /', /unknown entry/],
    ['link /usr/local/bin/yard', /no dir entry/],
    ['dir /usr/local/lib/switchyard\ngroup Root;', /group name/],
  ])('refuses %j', (text, re) => {
    expect(() => parseManifest(text, 'm')).toThrow(re);
  });

  it('checks instance and group names that reach paths and the group database', () => {
    expect(checkInstance('default')).toBe('default');
    expect(checkInstance('lab-host1')).toBe('lab-host1');
    for (const bad of ['', '..', '../etc', 'a/b', '.hidden', 'x'.repeat(65)]) expect(() => checkInstance(bad)).toThrow(/--instance/);
    expect(checkGroupSpec('switchyard')).toBe('switchyard');
    expect(checkGroupSpec('1001')).toBe('1001');
    for (const bad of ['', 'Bad Group', 'x;y', '-x', '4294967295']) expect(() => checkGroupSpec(bad)).toThrow(/--group/);
  });

  it('reads back only well-formed recorded sysctls', () => {
    expect(parseRecordedSysctls('{"net.ipv4.ip_forward":"0","net.ipv6.conf.all.forwarding":"1","kernel.x":"0"}')).toEqual({ 'net.ipv4.ip_forward': '0', 'net.ipv6.conf.all.forwarding': '1' });
    expect(parseRecordedSysctls('{"net.ipv4.ip_forward":"0\\nkernel.x=1"}')).toEqual({});
    expect(parseRecordedSysctls('not json')).toEqual({});
  });
});
