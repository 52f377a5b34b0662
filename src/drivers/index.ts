/** The driver registry: the engine finds drivers here by name and nowhere else. */
import { YardError } from '../errors.js';
import { bridgeDriver } from './bridge.js';
import type { NetworkDriver } from './contract.js';
import { hostDriver, nullDriver } from './host-none.js';
import { ipvlanDriver } from './ipvlan.js';
import { macvlanDriver } from './macvlan.js';
import { overlayDriver } from './overlay.js';

const DRIVERS = new Map<string, NetworkDriver>([bridgeDriver, macvlanDriver, ipvlanDriver, overlayDriver, hostDriver, nullDriver].map((d) => [d.name, d]));

export function getDriver(name: string): NetworkDriver {
  const d = DRIVERS.get(name);
  if (!d) {
    throw new YardError('UNKNOWN_DRIVER', `network driver "${name}" not found`, {
      field: '--driver',
      hint: `use one of: ${[...DRIVERS.keys()].filter((n) => n !== 'host' && n !== 'null').join(', ')}`,
    });
  }
  return d;
}

export function driverNames(): string[] {
  return [...DRIVERS.keys()];
}

export type { NetworkDriver } from './contract.js';
