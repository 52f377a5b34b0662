/**
 * Which daemon the CLI means when nothing says: the instance is YARD_INSTANCE, else the
 * name of the network namespace the CLI runs in (`default` in an unnamed one), as for the
 * daemon itself; the socket is --host/YARD_HOST/DOCKER_HOST (unix://), else the instance's.
 */
import { currentNetnsName } from '../kernel/observe.js';
import { socketPathFor } from '../paths.js';

export function defaultInstance(): string {
  return process.env.YARD_INSTANCE || currentNetnsName() || 'default';
}

export function defaultSocket(): string {
  const fromEnv = process.env.YARD_HOST || process.env.DOCKER_HOST;
  if (fromEnv?.startsWith('unix://')) return fromEnv.slice('unix://'.length);
  return socketPathFor(defaultInstance());
}
