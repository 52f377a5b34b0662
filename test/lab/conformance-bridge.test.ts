/** The driver conformance suite (conformance.ts) for the bridge driver. */
import { driverConformance } from './conformance.js';

driverConformance({
  driver: 'bridge',
  labPrefix: 'cfbr',
  createArgs: () => ['-d', 'bridge', '--subnet', '10.61.0.0/24'],
});
