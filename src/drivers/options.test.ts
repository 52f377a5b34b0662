import { describe, expect, it } from 'vitest';
import { checkOptionKeys } from './contract.js';
import { driverNames, getDriver } from './index.js';
import { DRIVER_DOCS, driverDoc } from './options.js';
import { thrown } from '../../test/unit/thrown.js';

// `yard network drivers` is the one place users learn the -o options: it must list exactly
// what each driver accepts (checkOptionKeys refuses anything else), no more, no less.
describe('driver option documentation (yard network drivers)', () => {
  it('documents every registered driver, and only those', () => {
    expect(DRIVER_DOCS.map((d) => d.driver).sort()).toEqual([...driverNames()].sort());
  });

  for (const name of driverNames()) {
    it(`${name}: lists exactly the option keys the driver accepts`, () => {
      const documented = driverDoc(name)!.options.map((o) => o.key);
      const accepted = getDriver(name).optionKeys;
      expect([...documented].sort(), `document the new options of ${name} in src/drivers/options.ts`).toEqual([...accepted].sort());
      expect(new Set(documented).size, 'a key listed twice').toBe(documented.length);
    });
  }

  it('every documented key passes checkOptionKeys; an undocumented one is refused (control)', () => {
    for (const d of DRIVER_DOCS) {
      const driver = getDriver(d.driver);
      for (const o of d.options) expect(() => checkOptionKeys(driver, { [o.key]: 'x' }), `${d.driver} ${o.key}`).not.toThrow();
      expect(thrown(() => checkOptionKeys(driver, { 'not.an.option': 'x' })).code).toBe('UNKNOWN_OPTION');
    }
  });

  it('says for every option what it takes, its default and what it does', () => {
    for (const d of DRIVER_DOCS) {
      expect(d.summary, d.driver).toBeTruthy();
      for (const o of d.options) {
        expect(o.values, `${d.driver} ${o.key}`).toBeTruthy();
        expect(o.default, `${d.driver} ${o.key}`).toBeTruthy();
        expect(o.description.length, `${d.driver} ${o.key}`).toBeGreaterThan(20);
      }
    }
  });

  it('finds the none network\'s driver by either name', () => {
    expect(driverDoc('none')).toBe(driverDoc('null'));
    expect(driverDoc('weave')).toBeUndefined();
  });
});
