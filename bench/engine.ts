// Engine benchmark: the native io_uring engine (UringBackend) against Node's fs.promises at the same
// concurrency and fio's io_uring engine with the same job, on one local file, side by side.
//
//   npm run bench:engine -- [--file PATH] [--size 1GiB] [--seconds 5] [--mode interrupt|sqpoll] [--buffered]
//                           [--spin US] [--rounds 3]
//
// Each job runs every contender `rounds` times, interleaved (engine, fs, fio, engine, fs, fio, ...), and
// reports the median round, so a noisy neighbour on a shared machine skews all columns alike.
//
// --spin US adds a column for the engine in poll mode (EngineOptions.spinUs: after each kick, watch the
// completion queue for up to US µs instead of waiting for the eventfd wake-up).
//
// Jobs: 4 KiB random read QD1 (latency), 4 KiB random read QD32 (IOPS), 128 KiB sequential read and write
// at QD8. O_DIRECT everywhere unless --buffered (then all three go through the page cache).
// fio is installed with apt-get when missing and we are root; otherwise its column is left out.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import type { BackendRequest } from '../src/backend/backend.js';
import { UringBackend } from '../src/backend/uring.js';
import { UringEngine, type UringMode } from '../src/backend/uring-engine.js';
import { loadUringNative } from '../src/backend/uring-native.js';

interface Job {
  name: string;
  rw: 'randread' | 'read' | 'write';
  bs: number;
  qd: number;
}

const JOBS: Job[] = [
  { name: '4k randread QD1', rw: 'randread', bs: 4096, qd: 1 },
  { name: '4k randread QD32', rw: 'randread', bs: 4096, qd: 32 },
  { name: '128k seq read QD8', rw: 'read', bs: 131072, qd: 8 },
  { name: '128k seq write QD8', rw: 'write', bs: 131072, qd: 8 },
];

interface Result {
  iops: number;
  mibs: number;
  /** Mean and 99th percentile completion latency in microseconds. */
  latMean: number;
  latP99: number;
}

function arg(name: string, def?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = process.argv[i + 1];
  return v === undefined || v.startsWith('--') ? 'true' : v;
}

function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?$/i.exec(s.trim());
  if (!m) throw new Error(`bad size ${s}`);
  const mult = { '': 1, K: 1 << 10, M: 1 << 20, G: 1 << 30, T: 2 ** 40 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G' | 'T'];
  return Math.floor(Number(m[1]) * mult);
}

const seconds = Number(arg('seconds', '3'));
const rounds = Math.max(1, Number(arg('rounds', '3')));
const size = parseSize(arg('size', '1GiB')!);
const file = arg('file', path.join(os.tmpdir(), 'nvmetd-bench-engine.img'))!;
const mode = (arg('mode', 'interrupt') as UringMode) ?? 'interrupt';
const buffered = arg('buffered') === 'true';
const spin = Number(arg('spin', '0'));

/** Latencies in µs, preallocated; percentiles from a sorted copy at the end. */
class Lat {
  readonly a = new Float64Array(1 << 22);
  n = 0;
  sum = 0;
  add(us: number): void {
    if (this.n < this.a.length) this.a[this.n] = us;
    this.n++;
    this.sum += us;
  }
  result(bs: number, elapsedS: number): Result {
    const k = Math.min(this.n, this.a.length);
    const sorted = this.a.slice(0, k).sort();
    return {
      iops: this.n / elapsedS,
      mibs: (this.n * bs) / elapsedS / (1 << 20),
      latMean: this.sum / Math.max(1, this.n),
      latP99: sorted[Math.min(k - 1, Math.floor(k * 0.99))] ?? 0,
    };
  }
}

/** xorshift32: offsets without allocation. */
let seed = 0x9e3779b9;
function rand(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
}

function prepareFile(): void {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(file);
  } catch {
    /* create */
  }
  if (st && st.size >= size) return;
  process.stdout.write(`laying out ${file} (${size >> 20} MiB of random data)... `);
  const fd = fs.openSync(file, 'w');
  const chunk = Buffer.alloc(4 << 20);
  for (let off = 0; off < size; off += chunk.length) {
    for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE(rand(), i);
    fs.writeSync(fd, chunk, 0, Math.min(chunk.length, size - off), off);
  }
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  process.stdout.write('done\n');
}

function ensureFio(): boolean {
  if (spawnSync('fio', ['--version']).status === 0) return true;
  if (process.getuid?.() !== 0) {
    console.log('fio is not installed and we are not root: the fio column is skipped (apt-get install fio)');
    return false;
  }
  console.log('installing fio with apt-get...');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['install', '-y', 'fio'], { stdio: 'ignore', env });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update'], { stdio: 'ignore', env });
    r = spawnSync('apt-get', ['install', '-y', 'fio'], { stdio: 'ignore', env });
  }
  return spawnSync('fio', ['--version']).status === 0;
}

function nextOffset(job: Job, cursor: { pos: number }): number {
  if (job.rw === 'randread') return (rand() % (size / job.bs)) * job.bs;
  const off = cursor.pos;
  cursor.pos = off + job.bs >= size ? 0 : off + job.bs;
  return off;
}

async function runEngine(job: Job, spinUs = 0): Promise<Result> {
  const log = pino({ level: 'warn' });
  const e = await UringEngine.create({ mode, entries: 64, spinUs }, log);
  if (!e) throw new Error('io_uring unavailable');
  const b = await UringBackend.open({ path: file, kind: 'file', blockSize: 4096, readOnly: false, buffered }, e, log, true);
  const pool = e.bufferPool(job.qd * job.bs);
  const lat = new Lat();
  const cursor = { pos: 0 };
  let running = true;
  let outstanding = 0;
  let kickPending = false;
  const doKick = (): void => {
    kickPending = false;
    b.kick();
  };
  let allDone: () => void = () => undefined;
  class Slot implements BackendRequest {
    start = 0;
    constructor(readonly buf: Uint8Array) {}
    backendDone(res: number): void {
      lat.add((performance.now() - this.start) * 1000);
      if (res !== this.buf.length) throw new Error(`I/O failed: ${res}`);
      if (running) issue(this);
      else if (--outstanding === 0) allDone();
    }
  }
  const issue = (s: Slot): void => {
    const off = nextOffset(job, cursor);
    s.start = performance.now();
    if (job.rw === 'write') b.submitWrite(s, off, s.buf, false);
    else b.submitRead(s, off, s.buf);
    if (!kickPending) {
      // One kick (one io_uring_enter) for everything resubmitted in this batch of completions.
      kickPending = true;
      queueMicrotask(doKick);
    }
  };
  const slots = Array.from({ length: job.qd }, (_, i) => new Slot(pool.subarray(i * job.bs, (i + 1) * job.bs)));
  const done = new Promise<void>((r) => (allDone = r));
  const t0 = performance.now();
  outstanding = slots.length;
  for (const s of slots) issue(s);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  running = false;
  const elapsed = (performance.now() - t0) / 1000;
  await done;
  await b.close();
  return lat.result(job.bs, elapsed);
}

async function runNodeFs(job: Job): Promise<Result> {
  const n = await loadUringNative();
  const flags = (job.rw === 'write' ? fs.constants.O_RDWR : fs.constants.O_RDONLY) | (buffered ? 0 : fs.constants.O_DIRECT);
  const fh = await fs.promises.open(file, flags);
  // O_DIRECT needs aligned memory: the same kind of pool the engine uses.
  const pool = n ? new Uint8Array(n.allocAligned(job.qd * job.bs)) : new Uint8Array(job.qd * job.bs);
  const lat = new Lat();
  const cursor = { pos: 0 };
  let running = true;
  const t0 = performance.now();
  const worker = async (i: number): Promise<void> => {
    const buf = pool.subarray(i * job.bs, (i + 1) * job.bs);
    while (running) {
      const off = nextOffset(job, cursor);
      const s = performance.now();
      const r = job.rw === 'write' ? (await fh.write(buf, 0, job.bs, off)).bytesWritten : (await fh.read(buf, 0, job.bs, off)).bytesRead;
      if (r !== job.bs) throw new Error(`short I/O ${r}`);
      lat.add((performance.now() - s) * 1000);
    }
  };
  const timer = setTimeout(() => (running = false), seconds * 1000);
  await Promise.all(Array.from({ length: job.qd }, (_, i) => worker(i)));
  clearTimeout(timer);
  const elapsed = (performance.now() - t0) / 1000;
  await fh.close();
  return lat.result(job.bs, elapsed);
}

function runFio(job: Job): Result {
  const args = [
    '--name=job',
    `--filename=${file}`,
    '--ioengine=io_uring',
    `--direct=${buffered ? 0 : 1}`,
    `--rw=${job.rw}`,
    `--bs=${job.bs}`,
    `--iodepth=${job.qd}`,
    `--size=${size}`,
    `--runtime=${seconds}`,
    '--time_based=1',
    '--norandommap=1',
    '--randrepeat=0',
    '--fixedbufs=1',
    '--registerfiles=1',
    '--output-format=json',
  ];
  if (mode === 'sqpoll') args.push('--sqthread_poll=1');
  const out = execFileSync('fio', args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  const j = JSON.parse(out.slice(out.indexOf('{'))) as { jobs: { read: FioSide; write: FioSide }[] };
  const side = job.rw === 'write' ? j.jobs[0]!.write : j.jobs[0]!.read;
  return {
    iops: side.iops,
    mibs: side.bw / 1024,
    latMean: side.lat_ns.mean / 1000,
    latP99: (side.clat_ns.percentile?.['99.000000'] ?? 0) / 1000,
  };
}

interface FioSide {
  iops: number;
  bw: number;
  lat_ns: { mean: number };
  clat_ns: { percentile?: Record<string, number> };
}

/** The round with the median throughput. */
function median(rs: Result[]): Result | null {
  if (rs.length === 0) return null;
  return [...rs].sort((a, b) => a.iops - b.iops)[Math.floor(rs.length / 2)]!;
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

async function main(): Promise<void> {
  const haveFio = ensureFio();
  prepareFile();
  console.log(
    `file ${file}, ${size >> 20} MiB, ${buffered ? 'buffered' : 'O_DIRECT'}, ${seconds}s per run, median of ${rounds} interleaved rounds, engine mode ${mode}, ` +
      `UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}, ${os.cpus().length} CPUs, kernel ${os.release()}`,
  );
  const rows: string[][] = [];
  for (const job of JOBS) {
    const runs: { eng: Result[]; spin: Result[]; nfs: Result[]; fio: Result[] } = { eng: [], spin: [], nfs: [], fio: [] };
    for (let r = 0; r < rounds; r++) {
      runs.eng.push(await runEngine(job));
      if (spin > 0) runs.spin.push(await runEngine(job, spin));
      runs.nfs.push(await runNodeFs(job));
      if (haveFio) runs.fio.push(runFio(job));
    }
    const eng = median(runs.eng)!;
    const engSpin = median(runs.spin);
    const nfs = median(runs.nfs)!;
    const fio = median(runs.fio);
    const metric = (r: Result): number => (job.bs >= 131072 ? r.mibs : r.iops);
    const unit = job.bs >= 131072 ? 'MiB/s' : 'IOPS';
    rows.push([
      job.name,
      `${fmt(metric(eng))} ${unit}`,
      ...(engSpin ? [`${fmt(metric(engSpin))} ${unit}`, fio ? fmt(metric(engSpin) / metric(fio), 2) : '-'] : []),
      `${fmt(metric(nfs))} ${unit}`,
      fio ? `${fmt(metric(fio))} ${unit}` : '-',
      fio ? fmt(metric(eng) / metric(fio), 2) : '-',
      fmt(metric(eng) / metric(nfs), 2),
      `${fmt(eng.latMean, 1)} / ${engSpin ? `${fmt(engSpin.latMean, 1)} / ` : ''}${fmt(nfs.latMean, 1)} / ${fio ? fmt(fio.latMean, 1) : '-'}`,
      `${fmt(eng.latP99, 0)} / ${engSpin ? `${fmt(engSpin.latP99, 0)} / ` : ''}${fmt(nfs.latP99, 0)} / ${fio ? fmt(fio.latP99, 0) : '-'}`,
    ]);
    console.log(`  ${job.name}: engine ${fmt(metric(eng))}${engSpin ? `, engine+spin ${fmt(metric(engSpin))}` : ''}, fs ${fmt(metric(nfs))}, fio ${fio ? fmt(metric(fio)) : '-'} ${unit}`);
  }
  const lat = spin > 0 ? 'eng/spin/fs/fio' : 'eng/fs/fio';
  const head = [
    'job',
    'engine (io_uring)',
    ...(spin > 0 ? [`engine, spin ${spin}µs`, 'spin/fio'] : []),
    'node fs.promises',
    'fio io_uring',
    'engine/fio',
    'engine/fs',
    `mean lat µs (${lat})`,
    `p99 lat µs (${lat})`,
  ];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log();
  console.log(line(head));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
