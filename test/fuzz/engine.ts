// The fuzzing loop, shared by the CLI (run.ts) and the CI slice (test/unit/fuzz-slice.test.ts):
// corpus replay, then mutated inputs from a seeded mutator; inputs that make the target do something
// new (a new log line template, response status, TermReq code...) join the pool of parents.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeInput, encodeInput, reframe, type FuzzInput } from './input.js';
import { Mutator } from './mutate.js';
import type { FuzzTargetRunner, Violation } from './targets.js';

export interface Finding {
  violation: Violation;
  input: FuzzInput;
  /** Iteration (0-based; corpus entries are replayed before iteration 0 as negative numbers). */
  iteration: number;
  /** Where it was written, when a crash directory was given. */
  file?: string;
  /** The written reproducer showed the same invariant again when replayed on its own. */
  reproduced: boolean;
}

export interface EngineOptions {
  seed: number;
  /** Stop after this many mutated inputs (Infinity: no limit). */
  runs: number;
  /** Stop after this many milliseconds (Infinity: no limit). */
  timeMs: number;
  /** Keep going after a violation (each distinct invariant+detail template is reported once). */
  keepGoing: boolean;
  /** Minimize reproducers before writing them. */
  minimize: boolean;
  crashDir?: string;
  target: string;
  /** Progress line every this many ms (0: quiet). */
  progressMs: number;
  /** Largest pool of parents kept in memory. */
  maxPool: number;
  /** Check heap growth every this many inputs (needs --expose-gc; 0: never). */
  heapCheckEvery: number;
  /** Allowed heap growth over the first measurement, in bytes. */
  heapBound: number;
  log: (line: string) => void;
  /**
   * Says which known open finding a violation is (by its id), or null for a new one. Known ones
   * are counted in EngineResult.known and do not stop the run.
   */
  attribute?: (v: Violation, input: FuzzInput) => Promise<string | null>;
}

export interface EngineResult {
  corpusRuns: number;
  runs: number;
  elapsedMs: number;
  inputsPerSecond: number;
  /** Inputs per second of this process's CPU time (user + system): steadier on a busy machine. */
  inputsPerCpuSecond: number;
  poolSize: number;
  features: number;
  findings: Finding[];
  /** Violations attributed to known open findings, by id. */
  known: Map<string, number>;
  mutations: Map<string, number>;
}

export function loadCorpus(dir: string): { name: string; input: FuzzInput }[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.bin')).sort();
  } catch {
    return [];
  }
  return names.map((name) => ({ name, input: decodeInput(readFileSync(join(dir, name))) }));
}

/**
 * One key per kind of violation, whatever the ids, lengths, statuses and connection: numbers and
 * parenthesized remarks left out; for an exception or internal error, the top frame of the stack.
 */
export function signature(v: Violation): string {
  const detail = v.detail.replace(/\([^)]*\)/g, '').replace(/^connection \d+: /, '').replace(/0x[0-9a-f]+/gi, 'N').replace(/\d+/g, 'N');
  const frame = v.stack?.split('\n').find((l) => l.trim().startsWith('at ') && !l.includes('/test/fuzz/'));
  const fn = frame ? /at (?:async )?([^\s(]+)/.exec(frame.trim())?.[1] : undefined;
  return `${v.invariant}: ${detail}${fn ? ` at ${fn}` : ''}`;
}

export async function minimize(target: FuzzTargetRunner, input: FuzzInput, v: Violation, budget = 3000): Promise<FuzzInput> {
  const same = async (candidate: FuzzInput): Promise<boolean> => {
    if (budget-- <= 0) return false;
    const r = await target.run(candidate);
    return r.violation !== null && r.violation.invariant === v.invariant;
  };
  // Whole PDUs are easier to read than arbitrary chunks: try the PDU-aligned form first.
  let cur = input;
  const framed = reframe(input);
  if (await same(framed)) cur = framed;
  // Drop records one at a time, from the end, until no single removal keeps the violation.
  let changed = true;
  while (changed && budget > 0) {
    changed = false;
    for (let i = cur.length - 1; i >= 0 && budget > 0; i--) {
      const cand = cur.slice(0, i).concat(cur.slice(i + 1));
      if (cand.length > 0 && (await same(cand))) {
        cur = cand;
        changed = true;
      }
    }
  }
  // Clear the event-loop-turn flags when they do not matter.
  if (cur.some((c) => c.flags !== 0)) {
    const flat = cur.map((c) => ({ ...c, flags: 0 }));
    if (await same(flat)) cur = flat;
  }
  return cur;
}

export function writeFinding(dir: string, f: Finding, o: { seed: number; target: string }): string {
  mkdirSync(dir, { recursive: true });
  const bin = encodeInput(f.input);
  const hash = createHash('sha256').update(bin).digest('hex').slice(0, 16);
  const file = join(dir, `${hash}.bin`);
  writeFileSync(file, bin);
  writeFileSync(
    join(dir, `${hash}.json`),
    JSON.stringify({ target: o.target, seed: o.seed, iteration: f.iteration, reproduced: f.reproduced, invariant: f.violation.invariant, detail: f.violation.detail, stack: f.violation.stack ?? null }, null, 2) + '\n',
  );
  return file;
}

export async function fuzz(target: FuzzTargetRunner, corpus: readonly { name: string; input: FuzzInput }[], o: EngineOptions): Promise<EngineResult> {
  const mutator = new Mutator(o.seed);
  const rng = mutator.rng;
  const seen = new Set<number>();
  const pool: FuzzInput[] = [];
  const findings: Finding[] = [];
  const signatures = new Set<string>();
  const start = performance.now();
  let cpu0 = process.cpuUsage();
  let runs = 0;
  let corpusRuns = 0;
  let stop = false;

  const known = new Map<string, number>();
  const record = async (v: Violation, input: FuzzInput, iteration: number): Promise<void> => {
    const id = o.attribute ? await o.attribute(v, input) : null;
    if (id !== null) {
      known.set(id, (known.get(id) ?? 0) + 1);
      return;
    }
    const sig = signature(v);
    if (signatures.has(sig)) return;
    signatures.add(sig);
    const small = o.minimize ? await minimize(target, input, v) : input;
    const again = await target.run(small);
    const f: Finding = { violation: again.violation?.invariant === v.invariant ? again.violation : v, input: small, iteration, reproduced: again.violation?.invariant === v.invariant };
    if (o.crashDir) f.file = writeFinding(o.crashDir, f, { seed: o.seed, target: o.target });
    findings.push(f);
    o.log(`VIOLATION ${v.invariant} at iteration ${iteration}: ${f.violation.detail}${f.reproduced ? '' : ' (the minimized input did not show it again)'}${f.file ? ` -> ${f.file}` : ''}`);
    if (f.violation.stack) o.log(f.violation.stack.split('\n').slice(0, 6).join('\n'));
    if (!o.keepGoing) stop = true;
  };
  const learn = (features: number[], pdus: FuzzInput): void => {
    let fresh = false;
    for (const f of features) {
      if (!seen.has(f)) {
        seen.add(f);
        fresh = true;
      }
    }
    if (!fresh) return;
    if (pool.length < o.maxPool) pool.push(pdus);
    else pool[rng.below(pool.length)] = pdus;
  };

  for (const c of corpus) {
    const r = await target.run(c.input);
    corpusRuns++;
    if (r.violation) await record(r.violation, c.input, -corpusRuns);
    const framed = reframe(c.input);
    pool.push(framed);
    learn(r.features, framed);
    if (stop) break;
  }
  if (pool.length === 0) throw new Error('no corpus: nothing to mutate (generate it with `npm run fuzz:corpus`)');
  const corpusPool = pool.slice();
  cpu0 = process.cpuUsage();
  const loopStart = performance.now();

  let lastProgress = start;
  let heapBase = -1;
  const gc = (globalThis as { gc?: () => void }).gc;
  while (!stop && runs < o.runs) {
    // Parents: mostly the pool, sometimes the pristine corpus (keeps valid sessions in play).
    const parent = rng.chance(0.2) ? rng.pick(corpusPool) : rng.pick(pool);
    const { pdus, chunks } = mutator.mutate(parent, pool);
    const r = await target.run(chunks);
    if (r.violation) await record(r.violation, chunks, runs);
    else learn(r.features, pdus);
    runs++;
    if ((runs & 255) === 0) {
      const now = performance.now();
      if (now - start >= o.timeMs) break;
      if (o.progressMs > 0 && now - lastProgress >= o.progressMs) {
        lastProgress = now;
        const secs = (now - start) / 1000;
        o.log(`${runs} inputs, ${Math.round(runs / secs)}/s, pool ${pool.length}, features ${seen.size}, findings ${findings.length}, heap ${Math.round(process.memoryUsage().heapUsed / 1048576)} MiB`);
      }
    }
    if (o.heapCheckEvery > 0 && gc && runs % o.heapCheckEvery === 0) {
      gc();
      const used = process.memoryUsage().heapUsed;
      if (heapBase < 0) heapBase = used;
      else if (used - heapBase > o.heapBound) {
        await record({ invariant: 'heap-growth', detail: `heap grew by ${Math.round((used - heapBase) / 1048576)} MiB over ${runs} inputs (bound ${Math.round(o.heapBound / 1048576)} MiB)` }, chunks, runs);
        heapBase = used;
      }
    }
  }
  const elapsedMs = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  return {
    corpusRuns,
    runs,
    elapsedMs,
    inputsPerSecond: runs / ((performance.now() - loopStart) / 1000),
    inputsPerCpuSecond: runs / ((cpu.user + cpu.system) / 1e6),
    poolSize: pool.length,
    features: seen.size,
    findings,
    known,
    mutations: mutator.applied,
  };
}
