// CPU lists ("2-5,8") and the queue-to-worker map ("1:0,2:1") of the command line.

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
