// Switchyard's Docker network API driven by dockerode, the way a Node.js application calls it.
// Prints one JSON object of what it saw; the lab test asserts on it.
// argv: SANDBOX (a running Switchyard sandbox to connect), SUBNET (an IPv4 /24). DOCKER_HOST names the socket.
import Docker from 'dockerode';

const [sandbox, subnet] = process.argv.slice(2);
const prefix = subnet.split('.').slice(0, 3).join('.');
const docker = new Docker({ socketPath: process.env.DOCKER_HOST.replace(/^unix:\/\//, '') });
const out = {};
const status = async (p) => {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return { status: e.statusCode, message: e.json?.message ?? e.message };
  }
};

out.version = (await docker.version()).ApiVersion;
// What callers pass through as given: nulls for what they leave out.
const created = await docker.createNetwork({ Name: 'nodenet', Driver: 'bridge', CheckDuplicate: true, Labels: { app: 'node' }, IPAM: { Driver: 'default', Config: [{ Subnet: subnet, Gateway: `${prefix}.1`, IPRange: null }], Options: null } });
const net = docker.getNetwork(created.id);
const info = await net.inspect();
out.created = { name: info.Name, subnet: info.IPAM.Config[0].Subnet, labels: info.Labels, id: created.id === info.Id };
out.duplicate = await status(docker.createNetwork({ Name: 'nodenet', CheckDuplicate: true }));
out.byLabel = (await docker.listNetworks({ filters: { label: ['app=node'] } })).map((n) => n.Name).sort();
out.byName = (await docker.listNetworks({ filters: JSON.stringify({ name: { nodenet: true } }) })).map((n) => n.Name);
await net.connect({ Container: sandbox, EndpointConfig: { Aliases: ['nodealias'], IPAMConfig: { IPv4Address: `${prefix}.60` } } });
out.connected = Object.values((await net.inspect()).Containers).map((c) => c.IPv4Address);
await net.disconnect({ Container: sandbox, Force: false });
out.afterDisconnect = Object.keys((await net.inspect()).Containers ?? {}).length;
// IPv6 with a static address and a link, then the network's events.
const t0 = Math.floor(Date.now() / 1000) - 1;
const v6 = docker.getNetwork((await docker.createNetwork({ Name: 'node6', EnableIPv6: true, IPAM: { Config: [{ Subnet: `${prefix}.0/24`.replace(/^(\d+)\.(\d+)/, (_m, a, b) => `${a}.${Number(b) + 100}`) }, { Subnet: 'fd00:92::/64' }] } })).id);
await v6.connect({ Container: sandbox, EndpointConfig: { Links: ['peer1:pl'], IPAMConfig: { IPv6Address: 'fd00:92::60' } } });
out.ipv6 = Object.values((await v6.inspect()).Containers).map((c) => c.IPv6Address);
await v6.disconnect({ Container: sandbox });
await v6.remove();
const stream = await docker.getEvents({ since: t0, until: Math.floor(Date.now() / 1000) + 1, filters: { type: ['network'], network: ['node6'] } });
const text = await new Promise((resolve, reject) => {
  let buf = '';
  stream.on('data', (c) => (buf += c));
  stream.on('end', () => resolve(buf));
  stream.on('error', reject);
});
out.events = text.split('\n').filter(Boolean).map((l) => JSON.parse(l).Action);
await docker.createNetwork({ Name: 'nodeidle', Labels: { prune: 'me' } });
out.pruned = (await docker.pruneNetworks({ filters: { label: ['prune=me'] } })).NetworksDeleted;
out.notFound = await status(docker.getNetwork('no-such-network').inspect());
out.containers = await status(docker.listContainers());
out.removed = await status(net.remove());
out.left = (await docker.listNetworks()).map((n) => n.Name).sort();
console.log(JSON.stringify(out));
