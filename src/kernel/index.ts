/**
 * The kernel boundary. Everything that touches Linux goes through this interface; the
 * engine receives one (LinuxKernel in the daemon). Plans are data built by pure code.
 */
import type { Plan } from '../plan/ops.js';
import { applyBestEffort, applyPlan, settleDeferred } from './apply.js';
import { listSandboxFileDirs, removeSandboxFiles, writeSandboxFiles } from './netns-files.js';
import { listNetns, readLinks, readNamespace, readRoutes, type LinkState, type NsState, type RouteState } from './observe.js';
import { probeLinkKinds } from './probe.js';
import { openDhcpPort, type DhcpPort } from './dhcp-socket.js';
import { inspectProcess, isAlive, killNetnsProcesses, unreaped, netnsIdentity, runtimeNamespace, startSandboxProcess, stopProcess, type ProcessInfo, type Started } from './process.js';

export interface Kernel {
  /** All or nothing: on failure the applied prefix is undone and an ApplyError thrown. */
  apply(plan: Plan): Promise<void>;
  /** Every op attempted; failures returned (teardown, undo, reconcile of leftovers). */
  applyBestEffort(plan: Plan, opts?: { deferDeletes?: boolean }): Promise<string[]>;
  readNamespace(ns?: string): Promise<NsState>;
  /** Only the named links of a namespace (those that exist), as readNamespace reads them. */
  readLinks(names: readonly string[], ns?: string): Promise<Map<string, LinkState>>;
  listNetns(): string[];
  readRoutes(ns?: string): Promise<RouteState[]>;
  startProcess(netns: string | null, command: string[], logFile: string, env?: NodeJS.ProcessEnv): Started;
  stopProcess(pid: number, start: string | undefined, graceMs?: number): Promise<void>;
  isAlive(pid: number, start?: string): boolean;
  /** An exited child of the daemon not reaped yet: its exit code is on its way (absent: never). */
  unreaped?(pid: number): boolean;
  killNetnsProcesses(ns: string): Promise<void>;
  /** Start time, namespace and environment of a live process; undefined when it is gone. */
  inspectProcess(pid: number): ProcessInfo | undefined;
  /** `net:[inode]` of a named namespace or a namespace file's absolute path (null: the daemon's own); undefined when missing. */
  netnsIdentity(netns: string | null): string | undefined;
  /** Where the daemon opens a runtime's namespace file that process `pid` named (its own mount namespace may differ). */
  runtimeNamespace(nsPath: string, pid?: number): { path: string; source?: string };
  writeSandboxFiles(netns: string, files: Record<string, string>): Promise<void>;
  removeSandboxFiles(netns: string): void;
  listSandboxFileDirs(): string[];
  /** Link kinds the kernel can create (probed in a scratch namespace of this name). */
  probeLinkKinds(scratchNs: string): Promise<Set<string>>;
  /** Resolves once the link deletes that removals left to run behind them are done. */
  settle?(): Promise<void>;
  /** A DHCP client socket on interface `ifname` inside namespace `ns` (dhcp IPAM); absent: no DHCP. */
  openDhcpPort?(ns: string, ifname: string): Promise<DhcpPort>;
}

export class LinuxKernel implements Kernel {
  apply = applyPlan;
  applyBestEffort = applyBestEffort;
  readNamespace = readNamespace;
  readLinks = readLinks;
  listNetns = listNetns;
  readRoutes = readRoutes;
  startProcess = startSandboxProcess;
  stopProcess = stopProcess;
  isAlive = isAlive;
  unreaped = unreaped;
  killNetnsProcesses = killNetnsProcesses;
  inspectProcess = inspectProcess;
  netnsIdentity = netnsIdentity;
  runtimeNamespace = runtimeNamespace;
  writeSandboxFiles = writeSandboxFiles;
  removeSandboxFiles = removeSandboxFiles;
  listSandboxFileDirs = listSandboxFileDirs;
  probeLinkKinds = probeLinkKinds;
  openDhcpPort = openDhcpPort;
  settle = settleDeferred;
}

export type { NsState, LinkState, RouteState } from './observe.js';
export type { DhcpPort } from './dhcp-socket.js';
export { ApplyError, kernelError, onDeferredError } from './apply.js';
