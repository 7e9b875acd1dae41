// A thin wrapper over the `benchmark` package: run a named suite, print one line per case
// (operations per second, relative margin of error) and return the numbers.
import Benchmark from 'benchmark';

export interface CaseResult {
  suite: string;
  name: string;
  opsPerSec: number;
  rme: number;
  /** Bytes per operation when the case moves data, for a GB/s column. */
  bytes?: number;
}

export function runSuite(name: string, cases: { name: string; fn: () => void; bytes?: number }[]): CaseResult[] {
  const suite = new Benchmark.Suite(name);
  for (const c of cases) suite.add(c.name, c.fn, { minSamples: 20, maxTime: Number(process.env.MICRO_MAX_TIME ?? 1.5) });
  const out: CaseResult[] = [];
  process.stdout.write(`\n${name}\n`);
  suite.on('cycle', (ev: Benchmark.Event) => {
    const b = ev.target as unknown as Benchmark;
    const c = cases.find((x) => x.name === b.name)!;
    const r: CaseResult = { suite: name, name: b.name ?? '', opsPerSec: b.hz ?? 0, rme: b.stats?.rme ?? 0 };
    if (c.bytes !== undefined) r.bytes = c.bytes;
    out.push(r);
    const rate = c.bytes ? `  ${((r.opsPerSec * c.bytes) / 1e9).toFixed(2).padStart(7)} GB/s` : '';
    process.stdout.write(`  ${r.name.padEnd(48)} ${Math.round(r.opsPerSec).toLocaleString('en-US').padStart(14)} ops/s ±${r.rme.toFixed(1)}%${rate}\n`);
  });
  suite.run({ async: false });
  return out;
}
