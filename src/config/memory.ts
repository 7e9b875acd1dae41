// Whether RAM namespaces can fit this machine: their declared sizes against physical memory plus swap.
// A RAM namespace only uses memory as it is written, but one larger than everything the machine has
// would end with the kernel killing the target; that takes an explicit "overcommit": true.
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';

export interface MachineMemory {
  /** Bytes of physical memory (os.totalmem()). */
  physical: number;
  /** Bytes of swap (SwapTotal in /proc/meminfo; 0 where it cannot be read). */
  swap: number;
}

export function machineMemory(): MachineMemory {
  let swap = 0;
  try {
    const m = /^SwapTotal:\s+(\d+)\s*kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (m) swap = Number(m[1]) * 1024;
  } catch {
    // No /proc (not Linux): physical memory alone.
  }
  return { physical: totalmem(), swap };
}

/** "23.5GiB", "100TiB", "512MiB": approximate binary sizes for messages. */
export function approxSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let i = 0;
  while (i < units.length - 1 && v >= 1024) {
    v /= 1024;
    i++;
  }
  const text = v >= 100 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(1).replace(/\.0$/, '');
  return `${text}${units[i]}`;
}

/**
 * Why RAM namespaces adding up to `total` bytes can never fit `mem`, or null when they can.
 * `what` names the request ("a 100TiB RAM namespace"), `howToAllow` says how to start anyway.
 */
export function ramFitProblem(total: number, mem: MachineMemory, what: string, howToAllow: string): string | null {
  const capacity = mem.physical + mem.swap;
  if (total <= capacity) return null;
  return `${what} can never fit: this machine has ${approxSize(mem.physical)} of physical memory and ` +
    `${approxSize(mem.swap)} of swap (${approxSize(capacity)} in all); ${howToAllow}`;
}

export const OVERCOMMIT_EFFECT = 'memory is then used only as blocks are written, and the target is killed if it runs out';
