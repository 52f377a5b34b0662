/**
 * `host`: the sandbox's process runs in the daemon's own namespace (the host's stack).
 * `none`: the sandbox gets a namespace with only `lo`. Neither has addresses or links,
 * and neither can be combined with another network (Docker's rule).
 */
import { YardError } from '../errors.js';
import type { NetworkDriver } from './contract.js';

function special(name: 'host' | 'null', attach: 'host' | 'isolated'): NetworkDriver {
  return {
    name,
    attach,
    scope: 'local',
    optionKeys: [],
    hostLinksRead: () => [],
    prepareNetwork(intent) {
      throw new YardError('NETWORK_PREDEFINED', `only one instance of "${intent.driver}" network is allowed`, {
        field: '--driver',
        hint: `use the predefined ${attach === 'host' ? 'host' : 'none'} network`,
      });
    },
    planCreate: () => [],
    planDelete: () => [],
    planJoin: () => [],
    planLeave: () => [],
    planGatewayRoutes: () => [],
    hostLinksOf: () => [],
  };
}

export const hostDriver = special('host', 'host');
/** Docker calls the none network's driver "null". */
export const nullDriver = special('null', 'isolated');
