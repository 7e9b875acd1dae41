// The fuzzer's command line:
//   npm run fuzz -- [--target reader|connection] [--time SECONDS] [--runs N] [--seed S]
//                   [--keep-going] [--skip-known] [--no-minimize] [--corpus DIR] [--crashes DIR]
//                   [--replay FILE...]
// Replays the corpus, then runs mutated inputs until --time or --runs is reached (default 60 s).
// On a violation the (minimized) reproducer goes to test/fuzz/crashes/<hash>.bin with <hash>.json
// (seed, iteration, invariant, detail, stack) and the exit status is 1.
// --skip-known counts violations caused by the open findings listed in known.ts and goes on.
// --replay runs the given reproducer files only and prints what each holds and does (FUZZ_DEBUG=1:
// with every log line of the target).
import { readFileSync } from 'node:fs';
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
}

function parseArgs(argv: string[]): Args {
  const a: Args = { target: 'connection', time: NaN, runs: Infinity, seed: Date.now() % 0x7fffffff, keepGoing: false, skipKnown: false, minimize: true, corpus: CORPUS_DIR, crashes: CRASH_DIR, replay: [] };
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

async function main(): Promise<number> {
  const a = parseArgs(process.argv.slice(2));
  const target = await createTarget(a.target);
  try {
    if (a.replay.length > 0) {
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
    }
    const corpus = loadCorpus(a.corpus);
    console.log(`target ${a.target}, seed ${a.seed}, corpus ${corpus.length} file(s), ${a.time === Infinity ? '' : `${a.time} s`}${a.runs === Infinity ? '' : ` ${a.runs} runs`}`);
    const r = await fuzz(target, corpus, {
      seed: a.seed,
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
      log: (l) => console.log(l),
      attribute: a.skipKnown ? async (v, input) => (await attribute(target, v, input))?.id ?? null : undefined,
    });
    console.log(
      `done: ${r.runs} mutated inputs + ${r.corpusRuns} corpus in ${(r.elapsedMs / 1000).toFixed(1)} s: ${Math.round(r.inputsPerSecond)} inputs/s (${Math.round(r.inputsPerCpuSecond)} per CPU second); pool ${r.poolSize}, features ${r.features}, findings ${r.findings.length}`,
    );
    const top = [...r.mutations.entries()].sort((x, y) => y[1] - x[1]).map(([k, n]) => `${k} ${n}`);
    console.log(`mutations: ${top.join(', ')}`);
    for (const [id, n] of r.known) console.log(`known open finding ${id}: ${n} input(s)`);
    for (const f of r.findings) console.log(`finding: ${f.violation.invariant}: ${f.violation.detail}${f.file ? ` (${f.file})` : ''}`);
    return r.findings.length > 0 ? 1 : 0;
  } finally {
    target.dispose();
  }
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
