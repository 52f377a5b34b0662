"""Switchyard's Docker network API driven by docker-py (Debian's python3-docker), the way
an application calls it. Prints one JSON object of what it saw; the lab test asserts on it.
argv: SANDBOX (a running Switchyard sandbox to connect), SUBNET (an IPv4 /24)."""
import json
import sys
import time

import docker

sandbox, subnet = sys.argv[1], sys.argv[2]
prefix = subnet.rsplit(".", 1)[0]
out = {}
client = docker.from_env(version="auto")
out["api_version"] = client.api.api_version

# The library's default IPAM objects: IPRange, Gateway and AuxiliaryAddresses go as null.
pool = docker.types.IPAMPool(subnet=subnet, gateway=prefix + ".1")
ipam = docker.types.IPAMConfig(pool_configs=[pool])
net = client.networks.create("pynet", driver="bridge", ipam=ipam, labels={"app": "py"}, check_duplicate=True)
net.reload()
out["created"] = {"name": net.name, "driver": net.attrs["Driver"], "subnet": net.attrs["IPAM"]["Config"][0]["Subnet"],
                  "gateway": net.attrs["IPAM"]["Config"][0].get("Gateway"), "labels": net.attrs["Labels"]}

try:
    client.networks.create("pynet", driver="bridge", check_duplicate=True)
    out["duplicate"] = "accepted"
except docker.errors.APIError as e:
    out["duplicate"] = {"status": e.status_code, "explanation": e.explanation}

out["by_label"] = sorted(n.name for n in client.networks.list(filters={"label": "app=py"}))
out["by_label_other"] = sorted(n.name for n in client.networks.list(filters={"label": "app=nope"}))
out["names"] = sorted(n.name for n in client.networks.list())

client.api.connect_container_to_network(sandbox, net.id, aliases=["pyalias"], ipv4_address=prefix + ".50")
net.reload()
eps = net.attrs["Containers"]
out["connected"] = [{"ipv4": v["IPv4Address"], "name": v["Name"]} for v in eps.values()]
client.api.disconnect_container_from_network(sandbox, net.id)
net.reload()
out["after_disconnect"] = len(net.attrs["Containers"] or {})

try:
    client.networks.get("no-such-network")
    out["not_found"] = "found?"
except docker.errors.NotFound as e:
    out["not_found"] = {"status": e.status_code}

try:
    client.containers.list()
    out["containers"] = "listed?"
except docker.errors.APIError as e:
    out["containers"] = {"status": e.status_code, "explanation": e.explanation}

# A link and IPv6, as an application asks for them; the events of it afterwards.
t0 = time.time()
octets = subnet.split(".")
v4b = ".".join([octets[0], str(int(octets[1]) + 100)] + octets[2:])
v6 = client.networks.create("py6", enable_ipv6=True, ipam=docker.types.IPAMConfig(pool_configs=[
    docker.types.IPAMPool(subnet=v4b), docker.types.IPAMPool(subnet="fd00:91::/64")]))
client.api.connect_container_to_network(sandbox, v6.id, ipv6_address="fd00:91::50", links=[("peer1", "pl")])
v6.reload()
ep = list(v6.attrs["Containers"].values())[0]
out["ipv6"] = {"enabled": v6.attrs["EnableIPv6"], "address": ep["IPv6Address"]}
# The sandbox as Switchyard shows it (Docker's container routes are not served): the link is kept.
sb = client.api._result(client.api._get(client.api.base_url + "/yard/v1/sandboxes/" + sandbox), True)
out["links"] = sb["NetworkSettings"]["Networks"]["py6"].get("Links")
client.api.disconnect_container_from_network(sandbox, v6.id)
v6.remove()
events = client.events(since=int(t0), until=int(time.time()) + 1, filters={"type": "network", "network": "py6"}, decode=True)
out["events"] = [e["Action"] for e in events]

client.networks.create("pyidle", driver="bridge")
pruned = client.networks.prune(filters={"label": "app=py"})
out["pruned_by_label"] = pruned.get("NetworksDeleted") or []
pruned = client.networks.prune()
out["pruned"] = sorted(pruned.get("NetworksDeleted") or [])
out["left"] = sorted(n.name for n in client.networks.list())
print(json.dumps(out))
