// Soak: the io_uring engine at QD32 (4 KiB random, 70% reads / 30% writes, every 64th write FUA, a flush
// every 1000 writes) for a while, sampling RSS and heap, to show that steady-state I/O does not grow memory.
//
//   npm run bench:engine-soak -- [--seconds 600] [--file PATH] [--size 1GiB] [--sample 10]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import type { BackendRequest } from '../src/backend/backend.js';
import { UringBackend } from '../src/backend/uring.js';
import { UringEngine } from '../src/backend/uring-engine.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}

const seconds = Number(arg('seconds', '600'));
const sampleS = Number(arg('sample', '10'));
const file = arg('file', path.join(os.tmpdir(), 'nvmetd-bench-engine.img'));
const size = Number(arg('size', String(1 << 30)));
const QD = 32;
const BS = 4096;

let seed = 0x2545f491;
function rand(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
}

async function main(): Promise<void> {
  if (!fs.existsSync(file) || fs.statSync(file).size < size) {
    fs.writeFileSync(file, Buffer.alloc(0));
    fs.truncateSync(file, size);
  }
  const log = pino({ level: 'warn' });
  const e = await UringEngine.create({ entries: 64 }, log);
  if (!e) throw new Error('io_uring unavailable');
  const b = await UringBackend.open({ path: file, kind: 'file', blockSize: 4096, readOnly: false, buffered: false }, e, log, true);
  const pool = e.bufferPool(QD * BS);
  let ops = 0;
  let writes = 0;
  let errors = 0;
  let running = true;
  let outstanding = QD;
  let kickPending = false;
  const doKick = (): void => {
    kickPending = false;
    b.kick();
  };
  let allDone: () => void = () => undefined;
  const flushReq: BackendRequest = { backendDone: (r: number) => void (r < 0 && errors++) };
  class Slot implements BackendRequest {
    constructor(readonly buf: Uint8Array) {}
    backendDone(res: number): void {
      ops++;
      if (res < 0) errors++;
      if (running) issue(this);
      else if (--outstanding === 0) allDone();
    }
  }
  const issue = (s: Slot): void => {
    const off = (rand() % (size / BS)) * BS;
    if (rand() % 10 < 3) {
      writes++;
      b.submitWrite(s, off, s.buf, writes % 64 === 0);
      if (writes % 1000 === 0) b.submitFlush(flushReq);
    } else {
      b.submitRead(s, off, s.buf);
    }
    if (!kickPending) {
      kickPending = true;
      queueMicrotask(doKick);
    }
  };
  const done = new Promise<void>((r) => (allDone = r));
  for (let i = 0; i < QD; i++) issue(new Slot(pool.subarray(i * BS, (i + 1) * BS)));

  const samples: { t: number; rss: number; heap: number; ops: number }[] = [];
  const t0 = Date.now();
  const sample = (): void => {
    const m = process.memoryUsage();
    const s = { t: (Date.now() - t0) / 1000, rss: m.rss, heap: m.heapUsed, ops };
    samples.push(s);
    console.log(`t=${s.t.toFixed(0)}s ops=${ops} rss=${(s.rss / 1048576).toFixed(1)}MiB heapUsed=${(s.heap / 1048576).toFixed(1)}MiB errors=${errors}`);
  };
  const timer = setInterval(sample, sampleS * 1000);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  clearInterval(timer);
  sample();
  running = false;
  await done;
  await b.close();
  // Growth: the second half's max against the first sample after warm-up.
  const warm = samples[Math.min(2, samples.length - 1)]!;
  const last = samples[samples.length - 1]!;
  const maxRss = Math.max(...samples.map((s) => s.rss));
  console.log(
    `\nsoak: ${seconds}s, ${ops} ops (${Math.round(ops / seconds)} IOPS), errors ${errors}; RSS after warm-up ${(warm.rss / 1048576).toFixed(1)} MiB, ` +
      `at end ${(last.rss / 1048576).toFixed(1)} MiB, max ${(maxRss / 1048576).toFixed(1)} MiB`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
