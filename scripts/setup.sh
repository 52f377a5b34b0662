#!/usr/bin/env bash
# Installs everything Switchyard needs on Debian 12, as root: Debian packages, npm
# dependencies, the TypeScript build. Idempotent and quick when nothing is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "error: Switchyard drives the kernel and must be set up and run as root; run with sudo" >&2
  exit 1
fi

# iproute2: ip/netns/bridge; nftables: the firewall; util-linux: nsenter; busybox-static:
# httpd/nc/wget/nslookup inside sandboxes; qemu-system-x86 + linux-image-cloud-amd64: the VM lab
# (src/lab/vm.ts, a guest kernel with ipvlan); iputils-ping, dnsutils (dig), iperf3, jq: tests;
# dnsperf: the embedded DNS benchmark (yard bench --only dns);
# etcd-server, etcd-client: the cluster store of overlay networks (the lab runs its own).
PKGS=(iproute2 nftables util-linux procps busybox-static iputils-ping dnsutils dnsperf iperf3 jq make etcd-server etcd-client qemu-system-x86 linux-image-cloud-amd64)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi

if [ -z "${YARD_SKIP_BUILD:-}" ]; then
  npx --no-install tsc -p tsconfig.json
fi
