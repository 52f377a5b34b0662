/**
 * The driver conformance suite (conformance.ts) for macvlan in bridge mode on a lab host's
 * LAN uplink, and for an --internal macvlan network (its parent is a private bridge the
 * network creates and removes). The other modes change what "reach each other" means;
 * test/lab/macvlan.test.ts asserts them positively (private and vepa: they cannot).
 */
import { driverConformance } from './conformance.js';

driverConformance({
  driver: 'macvlan bridge (parent lan0)',
  labPrefix: 'cfmv',
  createArgs: () => ['-d', 'macvlan', '--subnet', '10.231.0.0/24', '--gateway', '10.231.0.1', '--ip-range', '10.231.0.192/27', '-o', 'parent=lan0'],
});

driverConformance({
  driver: 'macvlan --internal (private bridge parent)',
  labPrefix: 'cfmi',
  createArgs: () => ['-d', 'macvlan', '--internal', '--subnet', '10.62.0.0/24'],
});
