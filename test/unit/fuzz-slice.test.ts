// A slice of the fuzzer (test/fuzz) in every test run: the seed corpus replayed, then a fixed
// number of mutated inputs from a fixed seed against the PDU reader and against whole connections.
// Every violation must be one of the open findings listed in test/fuzz/known.ts (attributed by
// cause: the input without that finding's trigger PDUs does not break the invariant), and each of
// those findings' reproducers must still show it (when one does not, the finding is fixed: take it
// out of known.ts so the slice guards against it coming back).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { fuzz, loadCorpus, signature } from '../fuzz/engine.js';
import { decodeInput } from '../fuzz/input.js';
import { attribute, FIXED, KNOWN_OPEN } from '../fuzz/known.js';
import { CORPUS_DIR, FINDINGS_DIR } from '../fuzz/paths.js';
import { ConnectionTarget, ReaderTarget, type FuzzTargetRunner } from '../fuzz/targets.js';

const SEED = 20261130;
const CONNECTION_RUNS = 4000;
const READER_RUNS = 10000;

async function slice(target: FuzzTargetRunner, runs: number): Promise<{ unexplained: string[]; known: Map<string, number>; runs: number; corpusRuns: number }> {
  const corpus = loadCorpus(CORPUS_DIR);
  assert.ok(corpus.length >= 5, `the seed corpus is in ${CORPUS_DIR}`);
  const r = await fuzz(target, corpus, {
    seed: SEED,
    runs,
    timeMs: Infinity,
    keepGoing: true,
    minimize: false,
    target: target.name,
    progressMs: 0,
    maxPool: 1024,
    heapCheckEvery: 0,
    heapBound: 0,
    log: () => undefined,
    attribute: async (v, input) => (await attribute(target, v, input))?.id ?? null,
  });
  return { unexplained: r.findings.map((f) => `${signature(f.violation)}${f.violation.stack ? `\n${f.violation.stack}` : ''}`), known: r.known, runs: r.runs, corpusRuns: r.corpusRuns };
}

test('fuzz slice: the PDU reader keeps its contract and reads a stream the same however it is cut', async () => {
  const target = new ReaderTarget();
  const r = await slice(target, READER_RUNS);
  assert.equal(r.runs, READER_RUNS);
  assert.deepEqual(r.unexplained, [], 'violations of the reader target');
  assert.equal(r.known.size, 0, 'no known finding concerns the reader alone');
});

test('fuzz slice: whole connections break no invariant beyond the known open findings', async () => {
  const target = await ConnectionTarget.create();
  try {
    const r = await slice(target, CONNECTION_RUNS);
    assert.equal(r.runs, CONNECTION_RUNS);
    assert.ok(target.connections > CONNECTION_RUNS, 'the inputs open connections');
    assert.deepEqual(r.unexplained, [], 'violations not explained by test/fuzz/known.ts');
  } finally {
    target.dispose();
  }
});

test('fuzz slice: every known open finding still reproduces (remove fixed ones from known.ts)', async () => {
  const target = await ConnectionTarget.create();
  try {
    for (const k of KNOWN_OPEN) {
      for (const rep of k.reproducers) {
        const input = decodeInput(readFileSync(join(FINDINGS_DIR, rep.file)));
        const r = await target.run(input);
        assert.equal(r.violation?.invariant, rep.invariant, `${rep.file} (${k.id}) no longer shows ${rep.invariant}: fixed? take it out of test/fuzz/known.ts`);
        assert.equal((await attribute(target, r.violation!, input))?.id, k.id, `${rep.file} is attributed to ${k.id}`);
      }
    }
  } finally {
    target.dispose();
  }
});

test('fuzz slice: fixed findings stay fixed (each regression input replays without a violation)', async () => {
  const target = await ConnectionTarget.create();
  try {
    let replayed = 0;
    for (const k of FIXED) {
      for (const rep of k.reproducers) {
        const r = await target.run(decodeInput(readFileSync(join(FINDINGS_DIR, rep.file))));
        assert.equal(r.violation, null, `${rep.file} (${k.id}) shows ${r.violation?.invariant}: ${r.violation?.detail}`);
        replayed++;
      }
    }
    assert.ok(replayed >= 8, 'the regression inputs are there');
  } finally {
    target.dispose();
  }
});

test('fuzz slice: the corpus sessions are whole and succeed', async () => {
  const target = await ConnectionTarget.create();
  try {
    for (const { name, input } of loadCorpus(CORPUS_DIR)) {
      const r = await target.run(input);
      assert.ok(r.summary!.completions > 0, `${name}: the target answers`);
      if (r.violation) assert.notEqual(await attribute(target, r.violation, input), null, `${name}: ${r.violation.invariant}: ${r.violation.detail}`);
    }
  } finally {
    target.dispose();
  }
});
