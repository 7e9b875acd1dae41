// CPU lists ("2-5,8") and the queue-to-worker map ("1:0,2:1") of the command line, and the CPUs this
// process may run on.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** Parses "0,2-5,8" into [0, 2, 3, 4, 5, 8]; throws on anything else. */
export function parseCpuList(text: string): number[] {
  const out = new Set<number>();
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`bad CPU list element "${part}" (expected N or N-M)`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new Error(`bad CPU range "${part}"`);
    for (let c = a; c <= b; c++) out.add(c);
  }
  if (out.size === 0) throw new Error('empty CPU list');
  return [...out].sort((x, y) => x - y);
}

/** Parses "1:0,2:1" (I/O queue id : worker index). */
export function parseQueueMap(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^(\d+):(\d+)$/.exec(part);
    if (!m) throw new Error(`bad queue map element "${part}" (expected QID:WORKER)`);
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** The CPUs this process may be pinned to: Cpus_allowed_list of /proc/self/status, else 0..availableParallelism()-1. */
export function allowedCpus(): number[] {
  try {
    const m = /^Cpus_allowed_list:\s*(\S+)\s*$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return parseCpuList(m[1]!);
  } catch {
    // not Linux
  }
  return Array.from({ length: availableParallelism() }, (_, i) => i);
}

/** [0, 1, 2, 3, 8] -> "0-3,8". */
export function formatCpuList(cpus: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < cpus.length; ) {
    let j = i;
    while (j + 1 < cpus.length && cpus[j + 1] === cpus[j]! + 1) j++;
    parts.push(i === j ? String(cpus[i]) : `${cpus[i]}-${cpus[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}
