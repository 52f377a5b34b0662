import { describe, expect, it } from 'vitest';
import { driverDocLines, ipamFromFlags } from './network.js';
import { DRIVER_DOCS } from '../../drivers/options.js';
import { thrown } from '../../../test/unit/thrown.js';


describe('ipamFromFlags', () => {
  it('no flags: no configs (the daemon picks a pool)', () => {
    expect(ipamFromFlags({})).toEqual([]);
  });

  it('one subnet takes every gateway, range and aux address', () => {
    expect(ipamFromFlags({ subnet: ['10.50.0.0/24'], gateway: ['10.50.0.254'], ipRange: ['10.50.0.128/25'], auxAddress: ['router=10.50.0.2', 'nas=10.50.0.3'] })).toEqual([
      { subnet: '10.50.0.0/24', gateway: '10.50.0.254', ipRange: '10.50.0.128/25', auxAddresses: { router: '10.50.0.2', nas: '10.50.0.3' } },
    ]);
  });

  it('with several subnets each value goes to the subnet that contains it', () => {
    expect(
      ipamFromFlags({
        subnet: ['10.50.0.0/24', 'fd00:50::/64', '10.60.0.0/16'],
        gateway: ['fd00:50::1', '10.60.0.1', '10.50.0.1'],
        ipRange: ['10.60.8.0/24'],
        auxAddress: ['v6host=fd00:50::9', 'v4host=10.50.0.9'],
      }),
    ).toEqual([
      { subnet: '10.50.0.0/24', gateway: '10.50.0.1', auxAddresses: { v4host: '10.50.0.9' } },
      { subnet: 'fd00:50::/64', gateway: 'fd00:50::1', auxAddresses: { v6host: 'fd00:50::9' } },
      { subnet: '10.60.0.0/16', gateway: '10.60.0.1', ipRange: '10.60.8.0/24' },
    ]);
  });

  it('a gateway, range or aux address without --subnet names its flag', () => {
    const cases: [Parameters<typeof ipamFromFlags>[0], string][] = [
      [{ gateway: ['10.50.0.1'] }, '--gateway'],
      [{ ipRange: ['10.50.0.0/25'] }, '--ip-range'],
      [{ auxAddress: ['a=10.50.0.1'] }, '--aux-address'],
    ];
    for (const [o, flag] of cases) {
      const e = thrown(() => ipamFromFlags(o));
      expect(e.code).toBe('INVALID_ARGUMENT');
      expect(e.field).toBe(flag);
      expect(e.message).toMatch(new RegExp(`^${flag} \\S+ needs a --subnet$`));
      expect(e.hint).toMatch(/add --subnet/);
    }
  });

  it('a value inside none of several subnets is refused', () => {
    const e = thrown(() => ipamFromFlags({ subnet: ['10.50.0.0/24', '10.60.0.0/24'], gateway: ['10.70.0.1'] }));
    expect(e.field).toBe('--gateway');
    expect(e.message).toBe('no matching subnet for --gateway 10.70.0.1');
    expect(thrown(() => ipamFromFlags({ subnet: ['10.50.0.0/24', '10.60.0.0/24'], ipRange: ['10.70.0.0/24'] })).field).toBe('--ip-range');
    expect(thrown(() => ipamFromFlags({ subnet: ['10.50.0.0/24', '10.60.0.0/24'], auxAddress: ['x=nonsense'] })).message).toBe(
      'no matching subnet for --aux-address x=nonsense',
    );
  });

  it('two gateways (or ranges) for one subnet are refused', () => {
    const e = thrown(() => ipamFromFlags({ subnet: ['10.50.0.0/24'], gateway: ['10.50.0.1', '10.50.0.2'] }));
    expect(e.field).toBe('--gateway');
    expect(e.message).toBe('two --gateway values for subnet 10.50.0.0/24');
    const r = thrown(() => ipamFromFlags({ subnet: ['10.50.0.0/24', '10.60.0.0/24'], ipRange: ['10.60.0.0/25', '10.60.0.128/25'] }));
    expect(r.message).toBe('two --ip-range values for subnet 10.60.0.0/24');
  });

  it('an aux address that is not name=ip names --aux-address', () => {
    const e = thrown(() => ipamFromFlags({ subnet: ['10.50.0.0/24'], auxAddress: ['10.50.0.9'] }));
    expect(e.field).toBe('--aux-address');
    expect(e.message).toBe('--aux-address 10.50.0.9 is not key=value');
  });
});

describe('yard network drivers', () => {
  const lines = driverDocLines(DRIVER_DOCS);

  it('prints every option key of every driver whole, at the start of a row of its driver\'s table', () => {
    for (const d of DRIVER_DOCS) {
      const start = lines.findIndex((l) => l.startsWith(`${d.driver}: `));
      expect(start, d.driver).toBeGreaterThanOrEqual(0);
      const next = lines.findIndex((l, i) => i > start && DRIVER_DOCS.some((o) => l.startsWith(`${o.driver}: `)));
      const own = lines.slice(start, next < 0 ? undefined : next);
      if (!d.options.length) expect(own).toContain('  (no options)');
      else expect(own.find((l) => l.startsWith('OPTION '))).toMatch(/^OPTION +VALUES +DEFAULT +WHAT IT DOES$/);
      for (const o of d.options) expect(own.some((l) => l.startsWith(`${o.key}   `)), `${d.driver} ${o.key}`).toBe(true);
    }
  });

  it('wraps long cells so no line is wider than the widest table needs', () => {
    const widest = Math.max(...lines.map((l) => l.length));
    expect(widest).toBeLessThanOrEqual(170);
    // Wrapping loses no word: each description's words all appear, in order.
    const text = lines.join(' ').replace(/\s+/g, ' ');
    for (const d of DRIVER_DOCS) for (const o of d.options) for (const w of o.description.split(' ')) expect(text).toContain(w);
  });
});
