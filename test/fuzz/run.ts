// The fuzzer's command line:
//   npm run fuzz -- [--target reader|connection] [--time SECONDS] [--runs N] [--seed S]
//                   [--keep-going] [--skip-known] [--no-minimize] [--corpus DIR] [--crashes DIR]
//                   [--jobs N] [--replay FILE...]
// Replays the corpus, then runs mutated inputs until --time or --runs is reached (default 60 s).
// On a violation the (minimized) reproducer goes to test/fuzz/crashes/<hash>.bin with <hash>.json
// (seed, iteration, invariant, detail, stack) and the exit status is 1.
// --skip-known counts violations caused by the open findings listed in known.ts and goes on.
// --jobs N runs N fuzzers in worker threads (seeds S, S+1*k, ...; each has its own copy of the
// target's module state), splitting --runs between them and stopping all at the first finding
// unless --keep-going.
// --replay runs the given reproducer files only and prints what each holds and does (FUZZ_DEBUG=1:
// with every log line of the target).
import { readFileSync } from 'node:fs';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { decodeInput } from './input.js';
import { describeInput } from './describe.js';
import { fuzz, loadCorpus } from './engine.js';
import { CORPUS_DIR, CRASH_DIR } from './paths.js';
import { createTarget } from './targets.js';
import { attribute } from './known.js';

interface Args {
  target: string;
  time: number;
  runs: number;
  seed: number;
  keepGoing: boolean;
  skipKnown: boolean;
  minimize: boolean;
  corpus: string;
  crashes: string;
  replay: string[];
  jobs: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { target: 'connection', time: NaN, runs: Infinity, seed: Date.now() % 0x7fffffff, keepGoing: false, skipKnown: false, minimize: true, corpus: CORPUS_DIR, crashes: CRASH_DIR, replay: [], jobs: 1 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${k} needs a value`);
      return x;
    };
    switch (k) {
      case '--target':
        a.target = v();
        break;
      case '--time':
        a.time = Number(v());
        break;
      case '--runs':
        a.runs = Number(v());
        break;
      case '--seed':
        a.seed = Number(v()) >>> 0;
        break;
      case '--keep-going':
        a.keepGoing = true;
        break;
      case '--skip-known':
        a.skipKnown = true;
        break;
      case '--no-minimize':
        a.minimize = false;
        break;
      case '--corpus':
        a.corpus = v();
        break;
      case '--crashes':
        a.crashes = v();
        break;
      case '--jobs':
        a.jobs = Math.max(1, Math.floor(Number(v())));
        break;
      case '--replay':
        while (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--')) a.replay.push(argv[++i]!);
        break;
      default:
        throw new Error(`unknown option ${k}`);
    }
  }
  if (Number.isNaN(a.time)) a.time = a.runs === Infinity ? 60 : Infinity;
  if (!(a.time > 0) || !(a.runs > 0)) throw new Error('--time and --runs must be positive');
  return a;
}

interface Summary {
  runs: number;
  corpusRuns: number;
  elapsedMs: number;
  inputsPerSecond: number;
  inputsPerCpuSecond: number;
  poolSize: number;
  features: number;
  findings: { invariant: string; detail: string; file?: string }[];
  known: [string, number][];
  mutations: [string, number][];
}

type Message = { kind: 'log'; line: string } | { kind: 'done'; summary: Summary };

/** One fuzzer: corpus replay, then mutated inputs. */
async function fuzzOne(a: Args, seed: number, log: (l: string) => void): Promise<Summary> {
  const target = await createTarget(a.target);
  try {
    const corpus = loadCorpus(a.corpus);
    log(`target ${a.target}, seed ${seed}, corpus ${corpus.length} file(s), ${a.time === Infinity ? '' : `${a.time} s`}${a.runs === Infinity ? '' : ` ${a.runs} runs`}`);
    const r = await fuzz(target, corpus, {
      seed,
      runs: a.runs,
      timeMs: a.time * 1000,
      keepGoing: a.keepGoing,
      minimize: a.minimize,
      crashDir: a.crashes,
      target: a.target,
      progressMs: 5000,
      maxPool: 4096,
      heapCheckEvery: 50000,
      heapBound: 256 * 1024 * 1024,
      log,
      attribute: a.skipKnown ? async (v, input) => (await attribute(target, v, input))?.id ?? null : undefined,
    });
    return {
      runs: r.runs,
      corpusRuns: r.corpusRuns,
      elapsedMs: r.elapsedMs,
      inputsPerSecond: r.inputsPerSecond,
      inputsPerCpuSecond: r.inputsPerCpuSecond,
      poolSize: r.poolSize,
      features: r.features,
      findings: r.findings.map((f) => ({ invariant: f.violation.invariant, detail: f.violation.detail, file: f.file })),
      known: [...r.known.entries()],
      mutations: [...r.mutations.entries()],
    };
  } finally {
    target.dispose();
  }
}

function jobSeed(seed: number, job: number): number {
  return (seed + Math.imul(job, 0x9e3779b9)) >>> 0;
}

async function fuzzJobs(a: Args): Promise<Summary[]> {
  const perJob = a.runs === Infinity ? Infinity : Math.ceil(a.runs / a.jobs);
  const workers: Worker[] = [];
  const results = await Promise.all(
    Array.from({ length: a.jobs }, (_, job) => {
      return new Promise<Summary | null>((resolve, reject) => {
        const w = new Worker(new URL(import.meta.url), { workerData: { args: { ...a, runs: perJob, jobs: 1 }, seed: jobSeed(a.seed, job) } });
        workers.push(w);
        let summary: Summary | null = null;
        w.on('message', (m: Message) => {
          if (m.kind === 'log') console.log(`[${job}] ${m.line}`);
          else {
            summary = m.summary;
            // First finding: stop the others too.
            if (!a.keepGoing && m.summary.findings.length > 0) for (const o of workers) if (o !== w) void o.terminate();
          }
        });
        w.on('error', reject);
        w.on('exit', () => resolve(summary));
      });
    }),
  );
  return results.filter((r): r is Summary => r !== null);
}

function report(all: Summary[]): number {
  const runs = all.reduce((n, s) => n + s.runs, 0);
  const elapsed = Math.max(...all.map((s) => s.elapsedMs));
  const rate = all.reduce((n, s) => n + s.inputsPerSecond, 0);
  const cpuRate = all.reduce((n, s) => n + s.inputsPerCpuSecond, 0) / all.length;
  const findings = all.flatMap((s) => s.findings);
  console.log(
    `done: ${runs} mutated inputs + ${all[0]?.corpusRuns ?? 0} corpus${all.length > 1 ? ` x ${all.length} jobs` : ''} in ${(elapsed / 1000).toFixed(1)} s: ${Math.round(rate)} inputs/s (${Math.round(cpuRate)} per CPU second${all.length > 1 ? ' per job' : ''}); pool ${all.map((s) => s.poolSize).join('/')}, features ${all.map((s) => s.features).join('/')}, findings ${findings.length}`,
  );
  const mutations = new Map<string, number>();
  for (const s of all) for (const [k, n] of s.mutations) mutations.set(k, (mutations.get(k) ?? 0) + n);
  console.log(`mutations: ${[...mutations.entries()].sort((x, y) => y[1] - x[1]).map(([k, n]) => `${k} ${n}`).join(', ')}`);
  const known = new Map<string, number>();
  for (const s of all) for (const [k, n] of s.known) known.set(k, (known.get(k) ?? 0) + n);
  for (const [id, n] of known) console.log(`known open finding ${id}: ${n} input(s)`);
  for (const f of findings) console.log(`finding: ${f.invariant}: ${f.detail}${f.file ? ` (${f.file})` : ''}`);
  return findings.length > 0 ? 1 : 0;
}

async function main(): Promise<number> {
  if (!isMainThread) {
    const { args, seed } = workerData as { args: Args; seed: number };
    const summary = await fuzzOne(args, seed, (line) => parentPort!.postMessage({ kind: 'log', line } satisfies Message));
    parentPort!.postMessage({ kind: 'done', summary } satisfies Message);
    return 0;
  }
  const a = parseArgs(process.argv.slice(2));
  if (a.replay.length > 0) {
    const target = await createTarget(a.target);
    try {
      let bad = 0;
      for (const f of a.replay) {
        const input = decodeInput(readFileSync(f));
        for (const line of describeInput(input)) console.log(`  ${line}`);
        const r = await target.run(input);
        if (r.violation) bad++;
        console.log(`${f}: ${r.violation ? `${r.violation.invariant}: ${r.violation.detail}` : 'no violation'}`);
        if (r.violation?.stack) console.log(r.violation.stack);
      }
      return bad > 0 ? 1 : 0;
    } finally {
      target.dispose();
    }
  }
  if (a.jobs > 1) return report(await fuzzJobs(a));
  return report([await fuzzOne(a, a.seed, (l) => console.log(l))]);
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 2;
  },
);
