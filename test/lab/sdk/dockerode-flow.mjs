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
out.notFound = await status(docker.getNetwork('no-such-network').inspect());
out.containers = await status(docker.listContainers());
out.removed = await status(net.remove());
out.left = (await docker.listNetworks()).map((n) => n.Name).sort();
console.log(JSON.stringify(out));
