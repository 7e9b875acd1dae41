// Summarizes a V8 .cpuprofile (node --cpu-prof): self time per function and per source file, as
// shares of the busy (non-idle) time, so a benchmark result can say what limits it.
import fs from 'node:fs';
import path from 'node:path';

interface CpuNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: CpuNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileEntry {
  name: string;
  /** Percent of busy time (idle excluded). */
  selfPct: number;
  selfMs: number;
}

export interface ProfileSummary {
  file: string;
  /** Milliseconds of samples that were not idle. */
  busyMs: number;
  idleMs: number;
  functions: ProfileEntry[];
  files: ProfileEntry[];
}

function shortUrl(url: string): string {
  if (url === '') return '';
  const u = url.replace(/^file:\/\//, '');
  const i = u.indexOf('/dist/');
  if (i >= 0) return u.slice(i + 6);
  if (u.startsWith('node:')) return u;
  return path.basename(u);
}

/**
 * `window`: only samples taken in [end - tailMs - lengthMs, end - tailMs] of the profile count (the
 * benchmark's measured window, without the process start-up and shutdown).
 */
export function summarizeProfile(file: string, top = 15, window?: { lengthMs: number; tailMs: number }): ProfileSummary {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, CpuNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const self = new Map<number, number>();
  const hi = window ? p.endTime - window.tailMs * 1000 : Infinity;
  const lo = window ? hi - window.lengthMs * 1000 : -Infinity;
  let ts = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    const dt = p.timeDeltas[i] ?? 0;
    ts += dt;
    if (ts < lo || ts > hi) continue;
    self.set(id, (self.get(id) ?? 0) + dt);
  }
  const fn = new Map<string, number>();
  const files = new Map<string, number>();
  let idle = 0;
  let busy = 0;
  for (const [id, us] of self) {
    const cf = byId.get(id)!.callFrame;
    if (cf.functionName === '(idle)') {
      idle += us;
      continue;
    }
    busy += us;
    const where = shortUrl(cf.url);
    const name = `${cf.functionName || '(anonymous)'}${where ? ` ${where}:${cf.lineNumber + 1}` : ''}`;
    fn.set(name, (fn.get(name) ?? 0) + us);
    const fileKey = where === '' ? cf.functionName : where.startsWith('node:') ? 'node: internals' : where;
    files.set(fileKey, (files.get(fileKey) ?? 0) + us);
  }
  const rank = (m: Map<string, number>): ProfileEntry[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, selfMs: Math.round(us / 100) / 10, selfPct: busy > 0 ? Math.round((us / busy) * 1000) / 10 : 0 }));
  return { file, busyMs: Math.round(busy / 1000), idleMs: Math.round(idle / 1000), functions: rank(fn), files: rank(files) };
}

/** The newest .cpuprofile in `dir`. */
export function newestProfile(dir: string): string | null {
  if (!fs.existsSync(dir)) return null;
  const all = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => path.join(dir, f))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  return all[0] ?? null;
}
