/**
 * What each driver's `-o key=value` options mean, for users: the data behind
 * `yard network drivers [DRIVER]`. Pure data, no driver code: the CLI prints it without
 * loading the drivers. options.test.ts checks that every driver documents exactly the
 * option keys it accepts (its `optionKeys`), so an option cannot be added undocumented.
 */

export interface DriverOptionDoc {
  /** The key as given to `-o`. */
  key: string;
  /** The values it takes. */
  values: string;
  /** What applies when the option is not given. */
  default: string;
  description: string;
}

export interface DriverDoc {
  /** The driver's name as given to `-d` (Docker's names: `null` is the driver of the `none` network). */
  driver: string;
  summary: string;
  options: DriverOptionDoc[];
}

const BOOL = 'true, false (or 1, 0)';
const MTU = (dflt: string, what: string): DriverOptionDoc => ({ key: 'com.docker.network.driver.mtu', values: '68-65535', default: dflt, description: what });

/** macvlan and ipvlan: sandboxes stacked on a parent link of the host (src/drivers/parent-link.ts). */
const PARENT: DriverOptionDoc = {
  key: 'parent',
  values: 'a host Ethernet interface, or IF.VLAN (VLAN 1-4094)',
  default: 'required, except with --internal',
  description:
    'the LAN interface the sandboxes sit on. IF.VLAN (e.g. lan0.100) creates that 802.1q sub-interface when it does not exist and removes it with the network. ' +
    'A parent carries either macvlan or ipvlan networks, not both. --internal takes no parent: the network gets a private bridge with no uplink',
};
const HOST_ACCESS_ADDRESS: DriverOptionDoc = {
  key: 'host_access_address',
  values: 'an IPv4 address of the subnet',
  default: 'the highest free address outside --ip-range',
  description: 'the host shim\'s address (needs host_access=true); reserved so no sandbox gets it; must not be one of the host\'s own addresses',
};

export const DRIVER_DOCS: readonly DriverDoc[] = [
  {
    driver: 'bridge',
    summary:
      'the default driver: a Linux bridge on this host holding the gateway address, a veth pair per sandbox, outbound traffic masqueraded, ports published with -p',
    options: [
      {
        key: 'com.docker.network.bridge.name',
        values: 'an interface name, at most 15 characters',
        default: 'br-<first 12 hex digits of the network ID> (yard0 for the default bridge)',
        description: 'kernel name of the network\'s bridge; refused when another network or a link that is not Switchyard\'s already has that name',
      },
      MTU('1500', 'MTU of the bridge and of every sandbox interface on it'),
      {
        key: 'com.docker.network.bridge.enable_icc',
        values: BOOL,
        default: 'true',
        description: 'false: sandboxes of this network cannot reach each other (their frames are dropped on the bridge); they still reach the gateway and the outside',
      },
      {
        key: 'com.docker.network.bridge.enable_ip_masquerade',
        values: BOOL,
        default: 'true',
        description: 'false: traffic leaving the subnet keeps the sandbox\'s own address (no SNAT), so the outside needs a route back to the subnet',
      },
      {
        key: 'com.docker.network.bridge.host_binding_ipv4',
        values: 'an IP address',
        default: '(none; 0.0.0.0 on the default bridge)',
        description: 'accepted for Docker compatibility and checked; it does not change where ports publish: -p publishes on the host address it names, or on all of them',
      },
      {
        key: 'com.docker.network.bridge.default_bridge',
        values: BOOL,
        default: 'false (true on the predefined bridge network)',
        description: 'accepted for Docker compatibility and checked; only the daemon\'s predefined network "bridge" is the default bridge',
      },
      {
        key: 'com.docker.network.container_iface_prefix',
        values: '1 to 10 letters and digits, starting with a letter',
        default: 'eth',
        description: 'accepted for Docker compatibility and checked; sandbox interfaces are named eth0, eth1, ... whatever it says',
      },
    ],
  },
  {
    driver: 'macvlan',
    summary:
      'sandboxes sit directly on the parent\'s LAN with their own MAC address, no NAT; the host cannot reach them unless host_access=true (network create warns)',
    options: [
      PARENT,
      {
        key: 'macvlan_mode',
        values: 'bridge, private, vepa, passthru',
        default: 'bridge',
        description:
          'bridge: the network\'s sandboxes reach each other inside the host; private: they cannot; vepa: only through an external switch that hairpins; ' +
          'passthru: a single sandbox takes the parent over (the parent must carry no address and no other network)',
      },
      {
        key: 'host_access',
        values: BOOL,
        default: 'false',
        description:
          'the kernel passes no traffic between a parent and its macvlan children, so the host cannot reach its own sandboxes; true adds a shim interface on the parent ' +
          'with one IPv4 address and host routes to the sandboxes (the --ip-range, or one /32 each). Needs an IPv4 subnet',
      },
      HOST_ACCESS_ADDRESS,
      MTU('the parent\'s MTU', 'MTU of the sandboxes\' interfaces'),
    ],
  },
  {
    driver: 'ipvlan',
    summary:
      'like macvlan, but the sandboxes share the parent\'s MAC address (l2) or the host routes for them (l3, l3s); refused at create on a kernel without ipvlan',
    options: [
      PARENT,
      {
        key: 'ipvlan_mode',
        values: 'l2, l3, l3s',
        default: 'l2',
        description:
          'l2: sandboxes are switched onto the LAN and answer ARP there; l3, l3s: the host routes for them (an on-link default route, no gateway) ' +
          'and the LAN needs a route to the subnet via this host, which network create prints. All ipvlan networks on one parent use the same mode',
      },
      {
        key: 'ipvlan_flag',
        values: 'bridge, private, vepa',
        default: 'bridge',
        description: 'bridge: sandboxes on the parent reach each other inside the host; private: they cannot; vepa: only through an external switch that hairpins',
      },
      {
        key: 'host_access',
        values: BOOL,
        default: 'false in l2; true in l3 and l3s (not with --internal)',
        description: 'true adds a shim interface on the parent with one IPv4 address and host routes to the sandboxes, so the host reaches them (in l2 the kernel filters parent-child traffic). Needs an IPv4 subnet',
      },
      HOST_ACCESS_ADDRESS,
      MTU('the parent\'s MTU', 'MTU of the sandboxes\' interfaces'),
    ],
  },
  {
    driver: 'overlay',
    summary:
      'one network across the hosts of a cluster (VXLAN, addresses allocated in the cluster store); needs every daemon started with --cluster-store and --cluster-advertise (docs/overlay.md)',
    options: [
      MTU(
        'the underlay\'s MTU minus 50 (VXLAN over IPv4) or 70 (over IPv6)',
        'MTU of the overlay\'s bridge, VXLAN device and sandbox interfaces, for the whole cluster; network inspect shows the value and its reason',
      ),
      {
        key: 'encrypted',
        values: 'false',
        default: 'false',
        description: 'encrypted overlays are not implemented: encrypted (true, or no value) is refused; traffic between hosts is plain VXLAN on UDP 4789',
      },
      {
        key: 'com.docker.network.driver.overlay.vxlanid_list',
        values: 'VNIs and ranges, comma-separated, e.g. 5000 or 5000-5010 (1-16777215)',
        default: 'the first free VNI from 4096 up',
        description: 'the network takes the first VNI of the list that no other overlay network uses; when all are taken create fails with VNI_EXHAUSTED',
      },
    ],
  },
  {
    driver: 'host',
    summary: 'the predefined network "host": sandboxes use the daemon\'s own network stack; no other network of this driver can be created',
    options: [],
  },
  {
    driver: 'null',
    summary: 'the predefined network "none": sandboxes get a namespace with only lo; no other network of this driver can be created',
    options: [],
  },
];

/** The documentation of one driver (`none` is accepted for `null`), or undefined. */
export function driverDoc(name: string): DriverDoc | undefined {
  const n = name === 'none' ? 'null' : name;
  return DRIVER_DOCS.find((d) => d.driver === n);
}
