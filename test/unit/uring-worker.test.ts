// One ring per thread: worker threads get their own engine (per-environment addon data), run I/O
// concurrently with the main thread, and exit cleanly (env teardown closes their rings).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';

const engineUrl = new URL('../../src/backend/uring-engine.js', import.meta.url).href;
const backendUrl = new URL('../../src/backend/uring.js', import.meta.url).href;
const logUrl = new URL('../../src/util/log.js', import.meta.url).href;

// The worker writes a pattern through its own engine and reads it back; `leaveOpen` exits with the ring open.
const workerSource = `
const { workerData, parentPort } = await import('node:worker_threads');
const { UringEngine } = await import(${JSON.stringify(engineUrl)});
const { UringBackend } = await import(${JSON.stringify(backendUrl)});
const { createLogger } = await import(${JSON.stringify(logUrl)});
const log = createLogger('silent');
const e = await UringEngine.create({ entries: 32 }, log);
const b = await UringBackend.open({ path: workerData.path, kind: 'file', blockSize: 512, readOnly: false, buffered: false }, e, log, true);
const io = (submit) => new Promise((resolve) => { submit({ backendDone: resolve }); b.kick(); });
let ok = true;
for (let i = 0; i < 64; i++) {
  const buf = new Uint8Array(4096).fill((workerData.seed + i) & 0xff);
  if ((await io((r) => b.submitWrite(r, i * 4096, buf, false))) !== 4096) ok = false;
  const back = new Uint8Array(4096);
  if ((await io((r) => b.submitRead(r, i * 4096, back))) !== 4096 || back[100] !== ((workerData.seed + i) & 0xff)) ok = false;
}
if (!workerData.leaveOpen) await b.close();
parentPort.postMessage({ ok, mode: e.mode });
`;

function runWorker(p: string, seed: number, leaveOpen: boolean): Promise<{ ok: boolean; mode: string; code: number }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(`data:text/javascript,${encodeURIComponent(workerSource)}`), { workerData: { path: p, seed, leaveOpen } });
    let msg: { ok: boolean; mode: string } | undefined;
    w.on('message', (m) => (msg = m));
    w.on('error', reject);
    w.on('exit', (code) => (msg ? resolve({ ...msg, code }) : reject(new Error(`worker exited with ${code} and no result`))));
  });
}

test('each worker thread runs its own ring; rings left open are closed at thread exit', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-uring-worker-'));
  const files = [0, 1, 2].map((i) => {
    const p = path.join(dir, `ns${i}.img`);
    fs.writeFileSync(p, Buffer.alloc(0));
    fs.truncateSync(p, 1 << 20);
    return p;
  });
  const results = await Promise.all([runWorker(files[0]!, 1, false), runWorker(files[1]!, 2, true), runWorker(files[2]!, 3, false)]);
  for (const r of results) {
    assert.equal(r.ok, true);
    assert.equal(r.mode, 'interrupt');
    assert.equal(r.code, 0);
  }
  const data = fs.readFileSync(files[1]!);
  assert.equal(data[4096 * 10 + 5], (2 + 10) & 0xff);
});
