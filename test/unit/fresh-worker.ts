// The young-generation capacity a worker thread of this process starts with (worker-heap tests,
// unit and integration).
import { Worker } from 'node:worker_threads';

/** new_space capacity (bytes; both semi-spaces) of a fresh worker thread, read before it allocates much. */
export function freshWorkerNewSpace(): Promise<number> {
  const code = `require('node:worker_threads').parentPort.postMessage(require('node:v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size);`;
  return new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true });
    w.once('message', (n: number) => {
      resolve(n);
      void w.terminate();
    });
    w.once('error', reject);
  });
}
