// The young generation of I/O worker heaps (src/runtime/worker-heap.ts): a worker created after
// sizeWorkerYoungGeneration() starts with semi-spaces of WORKER_SEMI_SPACE_MB, one created before
// starts with V8's small default; the pool applies it before its first worker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WORKER_SEMI_SPACE_MB, sizeWorkerYoungGeneration } from '../../src/runtime/worker-heap.js';
import { freshWorkerNewSpace } from './fresh-worker.js';

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
