// What the pooled, aligned and registered buffers save on the io_uring engine under O_DIRECT: the same
// job with the transport's buffers as they were (heap Buffers: unaligned, so each I/O goes through the
// slot's bounce buffer and a copy), with pooled buffers on unregistered slabs (aligned: no copy), and
// with pooled buffers on slabs registered as fixed buffers (READ_FIXED/WRITE_FIXED: no copy, no pinning).
//
//   npm run build && node dist/bench/pool-io.js [--file PATH] [--size 256MiB] [--seconds 2] [--rounds 3]
//
// Reports, per job, the median round of each contender: IOPS and CPU time of this process per I/O, and
// both as ratios to the heap-buffer column.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import type { BackendRequest } from '../src/backend/backend.js';
import { UringBackend } from '../src/backend/uring.js';
import { UringEngine } from '../src/backend/uring-engine.js';
import { BufferPool } from '../src/runtime/buffer-pool.js';

type Source = 'heap' | 'pool-unregistered' | 'pool-fixed';
interface Job {
  name: string;
  rw: 'randread' | 'read' | 'write';
  bs: number;
  qd: number;
}
const JOBS: Job[] = [
  { name: '4k randread QD32', rw: 'randread', bs: 4096, qd: 32 },
  { name: '128k seq read QD8', rw: 'read', bs: 131072, qd: 8 },
  { name: '128k seq write QD8', rw: 'write', bs: 131072, qd: 8 },
];

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}
const seconds = Number(arg('seconds', '2'));
const rounds = Number(arg('rounds', '3'));
const sizeArg = /^(\d+)\s*([KMG]?)i?B?$/i.exec(arg('size', '256MiB'))!;
const size = Number(sizeArg[1]) * ({ '': 1, K: 1 << 10, M: 1 << 20, G: 1 << 30 } as Record<string, number>)[sizeArg[2]!.toUpperCase()]!;
const file = arg('file', path.join(os.tmpdir(), 'nvmetd-pool-io.img'));

let seed = 12345;
const rand = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);

interface Result {
  iops: number;
  cpuUsPerIo: number;
  bounce: number;
  fixed: number;
}

async function runOne(job: Job, source: Source): Promise<Result> {
  const log = pino({ level: 'warn' });
  const e = await UringEngine.create({ entries: 64, simulate: source === 'pool-unregistered' ? ['no-fixed-buffers'] : [] }, log);
  if (!e) throw new Error('io_uring unavailable');
  const b = await UringBackend.open({ path: file, kind: 'file', blockSize: 4096, readOnly: false, buffered: false }, e, log, true);
  if (!b.direct) throw new Error('O_DIRECT refused here: nothing to measure');
  const pool = source === 'heap' ? null : new BufferPool({ maxSize: 1 << 20, trimIdleMs: 0 });
  let pos = 0;
  let running = true;
  let ios = 0;
  let outstanding = job.qd;
  let allDone: () => void = () => undefined;
  let kickPending = false;
  const doKick = (): void => {
    kickPending = false;
    b.kick();
  };
  class Slot implements BackendRequest {
    constructor(readonly buf: Uint8Array) {}
    backendDone(res: number): void {
      if (res !== this.buf.length) throw new Error(`I/O failed: ${res}`);
      ios++;
      if (running) issue(this);
      else if (--outstanding === 0) allDone();
    }
  }
  const issue = (s: Slot): void => {
    let off: number;
    if (job.rw === 'randread') off = (rand() % (size / job.bs)) * job.bs;
    else {
      off = pos;
      pos = pos + job.bs >= size ? 0 : pos + job.bs;
    }
    if (job.rw === 'write') b.submitWrite(s, off, s.buf, false);
    else b.submitRead(s, off, s.buf);
    if (!kickPending) {
      kickPending = true;
      queueMicrotask(doKick);
    }
  };
  // The old transport pool: Buffer.allocUnsafeSlow per buffer.
  const slots = Array.from({ length: job.qd }, () => new Slot(pool ? pool.acquire(job.bs) : Buffer.allocUnsafeSlow(job.bs)));
  for (const s of slots) (s.buf as Buffer).fill(0x5a);
  const done = new Promise<void>((r) => (allDone = r));
  const i0 = e.rw.info();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (const s of slots) issue(s);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  running = false;
  const elapsed = (performance.now() - t0) / 1000;
  await done;
  const cpu = process.cpuUsage(c0);
  const i1 = e.rw.info();
  await b.close();
  if (pool) {
    for (const s of slots) pool.release(s.buf);
    pool.close();
  }
  return { iops: ios / elapsed, cpuUsPerIo: (cpu.user + cpu.system) / ios, bounce: i1.bounceOps - i0.bounceOps, fixed: i1.fixedOps - i0.fixedOps };
}

function median(rs: Result[]): Result {
  const s = [...rs].sort((a, b) => a.iops - b.iops);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  if (!fs.existsSync(file) || fs.statSync(file).size < size) {
    const fd = fs.openSync(file, 'w');
    const chunk = Buffer.alloc(1 << 20, 0x33);
    for (let off = 0; off < size; off += chunk.length) fs.writeSync(fd, chunk, 0, chunk.length, off);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
  }
  const sources: Source[] = ['heap', 'pool-unregistered', 'pool-fixed'];
  console.log(`O_DIRECT on ${file} (${size >> 20} MiB), ${seconds}s x ${rounds} rounds, median round`);
  for (const job of JOBS) {
    const all = new Map<Source, Result[]>(sources.map((s) => [s, []]));
    for (let r = 0; r < rounds; r++) for (const s of sources) all.get(s)!.push(await runOne(job, s));
    const base = median(all.get('heap')!);
    console.log(`\n${job.name}`);
    for (const s of sources) {
      const m = median(all.get(s)!);
      console.log(
        `  ${s.padEnd(18)} ${m.iops.toFixed(0).padStart(8)} IOPS (x${(m.iops / base.iops).toFixed(2)})  ` +
          `${m.cpuUsPerIo.toFixed(2).padStart(6)} µs CPU/IO (x${(m.cpuUsPerIo / base.cpuUsPerIo).toFixed(2)})  bounced ${m.bounce}, fixed ${m.fixed}`,
      );
    }
  }
}

await main();
