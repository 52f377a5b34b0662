/**
 * Errors are values: a stable code, a message that names the field and the value,
 * and a hint that says how to fix it. `yard` prints `error: <message>; <hint>` on one
 * line; the API returns Docker's `{"message": ...}` body (plus `code` and `field`) with
 * the status of the code's class.
 *
 * Every code is listed in `docs/errors.md`; `src/errors.test.ts` keeps the two in sync.
 */

export type ErrorClass = 'invalid' | 'forbidden' | 'not-found' | 'conflict' | 'too-large' | 'unavailable' | 'internal';

const STATUS: Record<ErrorClass, number> = {
  invalid: 400,
  forbidden: 403,
  'not-found': 404,
  conflict: 409,
  'too-large': 413,
  unavailable: 503,
  internal: 500,
};

/** The catalogue: code -> class and a one-line description for docs/errors.md. */
export const ERROR_CODES = {
  INVALID_ARGUMENT: ['invalid', 'A flag, option or request field has a malformed value.'],
  INVALID_NAME: ['invalid', 'A network or sandbox name is empty, too long, or has characters outside [a-zA-Z0-9_.-].'],
  INVALID_SUBNET: ['invalid', 'A --subnet is malformed, has host bits set, is too small, or is not unicast.'],
  INVALID_GATEWAY: ['invalid', 'A --gateway is malformed, outside its subnet, or is the subnet\'s network/broadcast address.'],
  INVALID_IP_RANGE: ['invalid', 'An --ip-range is malformed or not inside its subnet.'],
  INVALID_AUX_ADDRESS: ['invalid', 'An --aux-address is malformed, outside every subnet, or collides with the gateway.'],
  INVALID_IP: ['invalid', 'A static --ip/--ip6 is malformed, outside the network\'s subnets, or reserved.'],
  SUBNET_OVERLAP: ['forbidden', 'A requested subnet overlaps another network\'s subnet or a route on the host.'],
  POOLS_EXHAUSTED: ['unavailable', 'No free subnet is left in the default address pools.'],
  ADDRESS_IN_USE: ['conflict', 'A requested address is already held by another endpoint, the gateway or an aux address.'],
  ADDRESSES_EXHAUSTED: ['unavailable', 'A network (or its --ip-range) has no free address left.'],
  UNKNOWN_DRIVER: ['not-found', 'The network driver is not one Switchyard has.'],
  UNKNOWN_OPTION: ['invalid', 'A driver option (-o/--opt) is not one the driver understands.'],
  DRIVER_UNSUPPORTED: ['invalid', 'The kernel lacks a feature the driver or option needs.'],
  NAME_TOO_LONG: ['invalid', 'A kernel interface name is longer than 15 characters (IFNAMSIZ).'],
  NETWORK_EXISTS: ['conflict', 'A network with this name already exists.'],
  NETWORK_NOT_FOUND: ['not-found', 'No network has this name, ID or ID prefix.'],
  NETWORK_AMBIGUOUS: ['invalid', 'An ID prefix matches more than one network.'],
  NETWORK_PREDEFINED: ['forbidden', 'bridge, host and none are predefined: they cannot be created or removed.'],
  NETWORK_IN_USE: ['forbidden', 'A network with sandboxes attached cannot be removed.'],
  BRIDGE_FULL: ['forbidden', 'A Linux bridge takes at most 1024 ports.'],
  BRIDGE_NAME_IN_USE: ['conflict', 'The bridge name (com.docker.network.bridge.name) is already used by another network or link.'],
  SANDBOX_EXISTS: ['conflict', 'A sandbox with this name already exists.'],
  SANDBOX_NOT_FOUND: ['not-found', 'No sandbox has this name, ID or ID prefix.'],
  SANDBOX_AMBIGUOUS: ['invalid', 'An ID prefix matches more than one sandbox.'],
  SANDBOX_RUNNING: ['conflict', 'A running sandbox cannot be removed without --force.'],
  SANDBOX_NOT_RUNNING: ['conflict', 'The sandbox has no running process (for exec).'],
  ALREADY_CONNECTED: ['forbidden', 'The sandbox is already attached to this network.'],
  NOT_CONNECTED: ['invalid', 'The sandbox is not attached to this network.'],
  NETWORK_MODE_EXCLUSIVE: ['forbidden', 'A sandbox on host or none cannot join other networks, and vice versa.'],
  RUNTIME_OWNED: ['forbidden', 'The sandbox belongs to a container runtime (Docker): only that runtime connects, disconnects or removes it.'],
  PORT_IN_USE: ['conflict', 'A host port (address, protocol, port) is already published by another sandbox, or no free port is left in the range asked for.'],
  PUBLISH_NOT_ALLOWED: ['forbidden', 'Ports cannot be published from a sandbox on host or none, on only --internal networks, or on ::1.'],
  DHCP_NO_ANSWER: ['unavailable', 'No DHCP server answered within the network\'s bound (--ipam-opt timeout, 10 s) when a sandbox joined a dhcp IPAM network; nothing was created.'],
  DHCP_REFUSED: ['unavailable', 'The DHCP server refused the request (DHCPNAK) or answered with a lease that cannot be used; nothing was created.'],
  KERNEL_FAILED: ['internal', 'A kernel operation failed; everything applied before it was rolled back.'],
  DAEMON_UNREACHABLE: ['unavailable', 'The yard CLI could not reach the daemon\'s socket.'],
  DAEMON_RUNNING: ['conflict', 'Another daemon already holds this instance\'s state directory.'],
  NOT_ROOT: ['forbidden', 'Switchyard drives the kernel and needs root.'],
  LAB_EXISTS: ['conflict', 'A lab with this name is already up.'],
  LAB_NOT_FOUND: ['not-found', 'No lab with this name is up.'],
  LAB_HOST_NOT_FOUND: ['not-found', 'The lab has no host with this name.'],
  CLUSTER_NOT_CONFIGURED: ['invalid', 'A global (overlay) network needs a daemon started with --cluster-store and --cluster-advertise.'],
  CLUSTER_UNAVAILABLE: ['unavailable', 'The cluster store (etcd) does not answer; overlay operations fail, local networks keep working.'],
  VNI_EXHAUSTED: ['unavailable', 'No free VXLAN network identifier is left (in the range or the vxlanid_list asked for).'],
  STATE_WRITE_FAILED: ['unavailable', 'The daemon could not write its state (disk full, read-only, I/O error); nothing was changed.'],
  PROCESS_NOT_IN_SANDBOX: ['forbidden', 'A PID reported as a sandbox\'s process is not a process started for that sandbox.'],
  REQUEST_TOO_LARGE: ['too-large', 'An API request body is larger than the daemon\'s limit (1 MiB); it is refused before it is read.'],
  NOT_IMPLEMENTED: ['invalid', 'The feature exists in Docker but not (yet) in Switchyard.'],
  INTERNAL: ['internal', 'A bug: an unexpected failure without a more specific code.'],
} as const satisfies Record<string, readonly [ErrorClass, string]>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorDetails {
  /** The flag or request field at fault, in the CLI's vocabulary (e.g. `--subnet`). */
  field?: string;
  /** What to do about it, phrased as an instruction. */
  hint?: string;
  cause?: unknown;
}

export class YardError extends Error {
  readonly code: ErrorCode;
  readonly field?: string;
  readonly hint?: string;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'YardError';
    this.code = code;
    this.field = details.field;
    this.hint = details.hint;
  }

  get status(): number {
    return STATUS[ERROR_CODES[this.code][0]];
  }

  /** The single line a human reads: message, then the fix. */
  get line(): string {
    return this.hint ? `${this.message}; ${this.hint}` : this.message;
  }

  toJSON(): { message: string; code: ErrorCode; field?: string } {
    return { message: this.line, code: this.code, ...(this.field ? { field: this.field } : {}) };
  }
}

/** Wrap anything thrown into a YardError; an unknown error is a bug and says so. */
export function asYardError(err: unknown): YardError {
  if (err instanceof YardError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new YardError('INTERNAL', `internal error: ${msg}`, {
    hint: 'this is a bug in Switchyard; please report it with the daemon log',
    cause: err,
  });
}

export function statusOf(code: ErrorCode): number {
  return STATUS[ERROR_CODES[code][0]];
}
