import { describe, expect, it } from 'vitest';
import { dockerSocketBeside, lookupDockerName, membersOf } from './docker-names.js';

const C1 = 'a'.repeat(64);
const C2 = 'b'.repeat(64);
const network = {
  Name: 'app',
  Id: 'n'.repeat(64),
  Containers: {
    [C1]: { Name: 'web', EndpointID: 'e1', IPv4Address: '10.30.0.2/24', IPv6Address: '' },
    [C2]: { Name: 'cli', EndpointID: 'e2', IPv4Address: '10.30.0.3/24', IPv6Address: 'fd00::3/64' },
  },
};
const containers = new Map<string, Record<string, unknown>>([[C1, { NetworkSettings: { Networks: { app: { Aliases: ['www', 'aaaaaaaaaaaa'] } } } }]]);

describe("Docker's names of a network's containers", () => {
  it("reads dockerd's network and container answers", () => {
    const v = membersOf(network, containers);
    expect(v.name).toBe('app');
    expect(v.members).toEqual([
      { containerId: C1, name: 'web', endpointId: 'e1', aliases: ['www', 'aaaaaaaaaaaa'], ipv4: '10.30.0.2' },
      { containerId: C2, name: 'cli', endpointId: 'e2', aliases: [], ipv4: '10.30.0.3', ipv6: 'fd00::3' },
    ]);
  });

  it("answers by Docker's rules: name, alias, short ID, each also .<network>, any case; nothing else", () => {
    const v = membersOf(network, containers);
    expect(lookupDockerName(v, 'WEB').map((h) => [h.member.name, h.kind])).toEqual([['web', 'name']]);
    expect(lookupDockerName(v, 'www.app.').map((h) => h.kind)).toEqual(['alias']);
    expect(lookupDockerName(v, 'bbbbbbbbbbbb').map((h) => [h.member.name, h.kind])).toEqual([['cli', 'short-id']]);
    expect(lookupDockerName(v, 'nobody')).toEqual([]);
    expect(lookupDockerName(v, 'web.other')).toEqual([]);
  });

  it("finds dockerd's socket beside its plugin directory", () => {
    expect(dockerSocketBeside('/run/docker/plugins')).toBe('/run/docker.sock');
    expect(dockerSocketBeside('/run/switchyard/h1/docker-run/docker/plugins')).toBe('/run/switchyard/h1/docker-run/docker.sock');
  });
});
