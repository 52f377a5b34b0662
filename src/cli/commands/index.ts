import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { register as bench } from './bench.js';
import { register as demo } from './demo.js';
import { register as dns } from './dns.js';
import { register as install } from './install.js';
import { register as doctor } from './doctor.js';
import { register as lab } from './lab.js';
import { register as network } from './network.js';
import { register as port } from './port.js';
import { register as sandbox } from './sandbox.js';
import { register as system } from './system.js';
import { register as vm } from './vm.js';

export type RegisterCommand = (program: Command, ctx: CliContext) => void;

/** Every command group, in the order `yard --help` lists them. */
export const COMMANDS: RegisterCommand[] = [sandbox, port, network, dns, doctor, system, install, lab, vm, demo, bench];
