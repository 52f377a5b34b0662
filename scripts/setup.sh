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
# python3-docker: docker-py, a real SDK the suite drives the Docker API with (test/lab/docker-sdks.test.ts);
# dnsperf: the embedded DNS benchmark (yard bench --only dns);
# etcd-server, etcd-client: the cluster store of overlay networks (the lab runs its own);
# docker.io, containerd, runc, iptables: a real Docker engine 20.10 for the lab (`yard lab up
# --docker`), only ever started inside lab hosts with its own directories (src/lab/docker.ts).
# podman 4.3, conmon, netavark, aardvark-dns, containernetworking-plugins: a real Podman for the
# lab (`yard lab up --podman`), only ever run inside lab hosts with its own storage, run and
# configuration directories (src/lab/podman.ts); runc is its runtime there.
# chromium: the topology page is tested in a real headless browser; python3-prometheus-client:
# the metrics endpoint is parsed by Prometheus's own parser in the suite; dnsmasq-base: the lab
# LAN's DHCP server (started by PID inside a lab namespace, never as a service); ufw: the
# host-firewall coexistence test enables the real ufw inside a lab host only (scratch /etc/ufw
# in a mount namespace of its own; the machine's ufw stays disabled, as Debian installs it).
PKGS=(iproute2 nftables util-linux procps busybox-static iputils-ping dnsutils dnsperf iperf3 jq make python3-docker etcd-server etcd-client qemu-system-x86 linux-image-cloud-amd64 docker.io containerd runc iptables podman conmon netavark aardvark-dns containernetworking-plugins chromium dnsmasq-base python3-prometheus-client ufw)
# Packages that ship services of the machine's own; installing them must not start them.
SERVICE_PKGS=(docker.io containerd podman ufw)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  # No service starts during the install: Debian's maintainer scripts ask policy-rc.d, and a
  # temporary one that refuses every start is put in place unless the machine has its own.
  policy_added=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# temporary, from Switchyard scripts/setup.sh: start no service while installing\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    policy_added=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ "$policy_added" = 1 ]; then
    rm -f /usr/sbin/policy-rc.d
    trap - EXIT
  fi
  # Under systemd, a service this install started anyway (another policy-rc.d allowed it) is
  # stopped and disabled again; nothing else of the machine's configuration is changed.
  if [ -d /run/systemd/system ]; then
    for p in "${SERVICE_PKGS[@]}"; do
      case " ${missing[*]} " in *" $p "*) ;; *) continue ;; esac
      case "$p" in
        docker.io) units=(docker.socket docker.service) ;;
        podman) units=(podman.socket podman.service podman-restart.service podman-auto-update.timer podman-auto-update.service) ;;
        *) units=("$p.service") ;;
      esac
      for u in "${units[@]}"; do
        if systemctl is-active --quiet "$u"; then
          echo "setup: $u was started by the install; stopping and disabling it (the lab runs its own engines)"
          systemctl disable --now "$u" >/dev/null 2>&1 || true
        fi
      done
    done
  fi
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi

if [ -z "${YARD_SKIP_BUILD:-}" ]; then
  npx --no-install tsc -p tsconfig.json
fi
