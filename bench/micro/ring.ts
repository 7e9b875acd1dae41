// The SharedArrayBuffer SPSC ring (src/shard/ring.ts) in one thread: the cost of a push and of a
// drain per record, i.e. the floor under handing a command to another thread.
import { SpscRing } from '../../src/shard/ring.js';
import { runSuite, type CaseResult } from './suite.js';

export function run(): CaseResult[] {
  const r = new SpscRing(1024);
  let sum = 0;
  const take = (w: Int32Array, at: number): void => {
    sum += w[at]!;
  };
  const r1 = new SpscRing(1024);
  const res = runSuite('SharedArrayBuffer SPSC ring', [
    { name: 'push 32 + drain 32 records', fn: () => { for (let i = 0; i < 32; i++) r.push(i, 1, 2, 3); r.drain(take); } },
    { name: 'push 1 + drain 1 record', fn: () => { r1.push(1, 2); r1.drain(take); } },
  ]);
  if (sum === 0.5) console.log(sum);
  return res;
}
