// The young generation of I/O worker heaps (src/runtime/worker-heap.ts): a worker created after
// sizeWorkerYoungGeneration() starts with semi-spaces of WORKER_SEMI_SPACE_MB, one created before
// starts with V8's small default; the pool applies it before its first worker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { WORKER_SEMI_SPACE_MB, sizeWorkerYoungGeneration } from '../../src/runtime/worker-heap.js';

/** new_space capacity (bytes; both semi-spaces) of a fresh worker thread, read before it allocates much. */
function freshWorkerNewSpace(): Promise<number> {
  const code = `
    const { parentPort } = require('node:worker_threads');
    const v8 = require('node:v8');
    parentPort.postMessage(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size);
  `;
  return new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true });
    w.once('message', (n: number) => {
      resolve(n);
      void w.terminate();
    });
    w.once('error', reject);
  });
}

test('worker heap: workers created after sizeWorkerYoungGeneration() start with the semi-space floor', async () => {
  const floor = WORKER_SEMI_SPACE_MB * 1024 * 1024;
  const before = await freshWorkerNewSpace();
  assert.ok(before < floor, `a worker's default new space (${before} bytes) is under the floor, else this test proves nothing`);
  sizeWorkerYoungGeneration();
  sizeWorkerYoungGeneration(); // idempotent
  const after = await freshWorkerNewSpace();
  assert.ok(after >= floor, `a worker created after it has ${after} bytes of new space, want >= ${floor}`);
});

test('worker heap: the main thread heap is left as it is', async () => {
  sizeWorkerYoungGeneration();
  const v8 = await import('node:v8');
  const mainNew = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size;
  // The main thread's heap was configured at start: the flag does not resize it on the spot.
  assert.ok(mainNew < 2 * WORKER_SEMI_SPACE_MB * 1024 * 1024, `main new space ${mainNew}`);
});
