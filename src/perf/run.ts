// Runs a `nvmetd perf` load: one job per worker (in the main thread when there is one worker), the
// clock in the main thread (warmup, measured window, progress each second), then one report from
// the merged results.
import { Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { Histogram } from './histogram.js';
import { PerfJob, epochMs, type JobReady, type JobResult } from './job.js';
import type { PerfOptions } from './options.js';
import type { FromWorker, PerfWorkerData, ToWorker } from './worker.js';

export interface ProgressSample {
  /** Seconds since I/O started. */
  t: number;
  phase: 'warmup' | 'measure';
  iops: number;
  mibps: number;
  errors: number;
}

export interface LatencySummary {
  avg: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export interface PerfReport {
  workload: string;
  ioSize: number;
  queueDepth: number;
  connections: number;
  workers: number;
  hdgst: boolean;
  ddgst: boolean;
  verify: boolean;
  target: { address: string; port: number; nqn: string; nsid: number; model: string; blockSize: number; nsBlocks: number };
  /** Measured seconds (the longest job window; a window ends early where a connection was lost). */
  elapsedSec: number;
  ios: number;
  reads: number;
  writes: number;
  iops: number;
  /** MiB (2^20 bytes) per second. */
  mibps: number;
  /** Latency in microseconds, submit to completion, as the load generator sees it. */
  latencyUs: LatencySummary;
  /** CPU time of the perf process over the measured window. */
  cpu: { userSec: number; systemSec: number; /** 100 = one core busy */ percent: number };
  /** Per job: event loop utilization over the window (near 1: the generator itself is saturated). */
  jobs: { worker: number; ios: number; elu: number }[];
  errors: number;
  firstError: string | null;
  verifiedBlocks: number;
  verifyErrors: number;
  firstVerifyError: string | null;
  /**
   * A connection was lost: when (seconds since I/O started, as the progress lines count), why, and the
   * commands in flight on failed connections (lost). Null when every connection lasted the run.
   */
  dropped: { atSec: number; reason: string; lost: number } | null;
}

export interface RunHooks {
  onProgress?: (s: ProgressSample) => void;
  /** Ends the run early (the measured window closes at once). */
  signal?: AbortSignal;
  /** Called as the measured window opens and closes (the bench samples the target's CPU there). */
  onWindow?: (edge: 'start' | 'end') => void;
}

interface JobHandle {
  readonly ready: Promise<JobReady>;
  start(): void;
  measure(): void;
  end(): Promise<JobResult>;
  progress(): { ios: number; bytes: number; errors: number; dead: boolean };
  close(): Promise<void>;
}

class LocalJob implements JobHandle {
  readonly #job: PerfJob;
  readonly ready: Promise<JobReady>;
  constructor(o: PerfOptions, index: number) {
    this.#job = new PerfJob(o, index);
    this.ready = this.#job.connect();
  }
  start(): void {
    this.#job.start();
  }
  measure(): void {
    this.#job.measure();
  }
  end(): Promise<JobResult> {
    return this.#job.end();
  }
  progress(): { ios: number; bytes: number; errors: number; dead: boolean } {
    return this.#job.progress();
  }
  close(): Promise<void> {
    return this.#job.close();
  }
}

class WorkerJob implements JobHandle {
  readonly #w: Worker;
  readonly ready: Promise<JobReady>;
  #progress = { ios: 0, bytes: 0, errors: 0, dead: false };
  #result: Promise<JobResult>;
  #exited: Promise<void>;

  constructor(o: PerfOptions, index: number) {
    const data: PerfWorkerData = { options: o, index };
    this.#w = new Worker(new URL('./worker.js', import.meta.url), { workerData: data });
    let readyFns!: [(r: JobReady) => void, (e: Error) => void];
    let resultFns!: [(r: JobResult) => void, (e: Error) => void];
    this.ready = new Promise((res, rej) => (readyFns = [res, rej]));
    this.#result = new Promise((res, rej) => (resultFns = [res, rej]));
    // Either may stay unobserved when the other fails first.
    this.ready.catch(() => undefined);
    this.#result.catch(() => undefined);
    this.#w.on('message', (m: FromWorker) => {
      switch (m.type) {
        case 'ready':
          return readyFns[0](m.ready);
        case 'progress':
          this.#progress = { ios: m.ios, bytes: m.bytes, errors: m.errors, dead: m.dead };
          return;
        case 'result':
          return resultFns[0](m.result);
        case 'error': {
          const e = new Error(`worker ${index}: ${m.message}`);
          readyFns[1](e);
          resultFns[1](e);
          return;
        }
      }
    });
    this.#w.on('error', (e) => {
      readyFns[1](e);
      resultFns[1](e);
    });
    this.#exited = new Promise((r) =>
      this.#w.on('exit', () => {
        const e = new Error(`worker ${index} exited`);
        readyFns[1](e);
        resultFns[1](e);
        r();
      }),
    );
  }
  #send(m: ToWorker): void {
    this.#w.postMessage(m);
  }
  start(): void {
    this.#send({ type: 'start' });
  }
  measure(): void {
    this.#send({ type: 'measure' });
  }
  end(): Promise<JobResult> {
    this.#send({ type: 'end' });
    return this.#result;
  }
  progress(): { ios: number; bytes: number; errors: number; dead: boolean } {
    return this.#progress;
  }
  async close(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([this.#exited.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 5000)))]);
    clearTimeout(timer);
    if (!done) await this.#w.terminate();
  }
}

/** Waits `ms`, less when `signal` aborts or `stop()` turns true (checked every 100 ms). */
function sleep(ms: number, signal?: AbortSignal, stop?: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted || ms <= 0 || stop?.()) return resolve();
    const done = (): void => {
      clearTimeout(t);
      clearInterval(poll);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    const poll = setInterval(() => {
      if (stop?.()) done();
    }, 100);
    signal?.addEventListener('abort', done);
  });
}

const MiB = 1024 * 1024;

export async function runPerf(o: PerfOptions, hooks: RunHooks = {}): Promise<PerfReport> {
  const jobs: JobHandle[] = [];
  for (let i = 0; i < o.workers; i++) jobs.push(o.workers === 1 ? new LocalJob(o, i) : new WorkerJob(o, i));
  let readies: JobReady[];
  try {
    readies = await Promise.all(jobs.map((j) => j.ready));
  } catch (e) {
    await Promise.allSettled(jobs.map((j) => j.ready.then(() => j.end()).catch(() => undefined).then(() => j.close())));
    throw e;
  }

  const t0 = performance.now();
  // Every connection lost: nothing more will complete, the run ends now.
  const allDead = (): boolean => jobs.every((j) => j.progress().dead);
  let phase: ProgressSample['phase'] = o.warmup > 0 ? 'warmup' : 'measure';
  let last = { t: t0, ios: 0, bytes: 0 };
  const totals = (): { ios: number; bytes: number; errors: number } => {
    const s = { ios: 0, bytes: 0, errors: 0 };
    for (const j of jobs) {
      const p = j.progress();
      s.ios += p.ios;
      s.bytes += p.bytes;
      s.errors += p.errors;
    }
    return s;
  };
  const tick = setInterval(() => {
    const now = performance.now();
    const s = totals();
    const dt = (now - last.t) / 1000;
    hooks.onProgress?.({
      t: (now - t0) / 1000,
      phase,
      iops: (s.ios - last.ios) / dt,
      mibps: (s.bytes - last.bytes) / MiB / dt,
      errors: s.errors,
    });
    last = { t: now, ios: s.ios, bytes: s.bytes };
  }, 1000);

  let cpu: NodeJS.CpuUsage;
  let results: JobResult[];
  try {
    for (const j of jobs) j.start();
    await sleep(o.warmup * 1000, hooks.signal, allDead);
    phase = 'measure';
    hooks.onWindow?.('start');
    const cpu0 = process.cpuUsage();
    for (const j of jobs) j.measure();
    await sleep(o.time * 1000, hooks.signal, allDead);
    cpu = process.cpuUsage(cpu0);
    hooks.onWindow?.('end');
    results = await Promise.all(jobs.map((j) => j.end()));
  } finally {
    clearInterval(tick);
    await Promise.allSettled(jobs.map((j) => j.close()));
  }
  return buildReport(o, readies[0]!, results, cpu, epochMs(t0));
}

/** `startEpochMs`: when I/O started (ms since the epoch), the origin of `dropped.atSec`. */
export function buildReport(o: PerfOptions, ready: JobReady, results: JobResult[], cpu: NodeJS.CpuUsage, startEpochMs = 0): PerfReport {
  const hist = new Histogram();
  let ios = 0;
  let bytes = 0;
  let reads = 0;
  let writes = 0;
  let errors = 0;
  let verifiedBlocks = 0;
  let verifyErrors = 0;
  let iops = 0;
  let bps = 0;
  let elapsed = 0;
  let firstError: string | null = null;
  let firstVerifyError: string | null = null;
  let dropped: PerfReport['dropped'] = null;
  for (const r of results) {
    if (r.dropped) {
      const atSec = Math.round(Math.max(0, r.dropped.atEpochMs - startEpochMs)) / 1000;
      if (!dropped) dropped = { atSec, reason: r.dropped.reason, lost: r.dropped.lost };
      else {
        dropped.lost += r.dropped.lost;
        if (atSec < dropped.atSec) Object.assign(dropped, { atSec, reason: r.dropped.reason });
      }
    }
    hist.add(r.hist);
    ios += r.ios;
    bytes += r.bytes;
    reads += r.reads;
    writes += r.writes;
    errors += r.errors;
    verifiedBlocks += r.verifiedBlocks;
    verifyErrors += r.verifyErrors;
    firstError ??= r.firstError;
    firstVerifyError ??= r.firstVerifyError;
    // Rates per job over its own window, then summed (the windows open and close a message apart).
    if (r.elapsedSec > 0) {
      iops += r.ios / r.elapsedSec;
      bps += r.bytes / r.elapsedSec;
    }
    elapsed = Math.max(elapsed, r.elapsedSec);
  }
  const us = (ns: number): number => Math.round(ns / 10) / 100;
  const cpuSec = (cpu.user + cpu.system) / 1e6;
  return {
    workload: o.workload,
    ioSize: o.ioSize,
    queueDepth: o.queueDepth,
    connections: o.connections,
    workers: o.workers,
    hdgst: o.hdgst,
    ddgst: o.ddgst,
    verify: o.verify,
    target: { address: o.address, port: o.port, nqn: o.nqn, nsid: o.nsid, model: ready.model, blockSize: ready.blockSize, nsBlocks: ready.nsBlocks },
    elapsedSec: Math.round(elapsed * 1000) / 1000,
    ios,
    reads,
    writes,
    iops: Math.round(iops),
    mibps: Math.round((bps / MiB) * 100) / 100,
    latencyUs: {
      avg: us(hist.mean),
      min: us(hist.count ? hist.min : 0),
      p50: us(hist.percentile(50)),
      p90: us(hist.percentile(90)),
      p99: us(hist.percentile(99)),
      p999: us(hist.percentile(99.9)),
      max: us(hist.max),
    },
    cpu: {
      userSec: Math.round(cpu.user / 1e3) / 1e3,
      systemSec: Math.round(cpu.system / 1e3) / 1e3,
      percent: elapsed > 0 ? Math.round((cpuSec / elapsed) * 1000) / 10 : 0,
    },
    jobs: results.map((r) => ({ worker: r.worker, ios: r.ios, elu: Math.round(r.elu * 1000) / 1000 })),
    errors,
    firstError,
    verifiedBlocks,
    verifyErrors,
    firstVerifyError,
    dropped,
  };
}

/** The one line saying the run failed because a connection was lost, or null. */
export function droppedLine(r: PerfReport): string | null {
  const d = r.dropped;
  if (!d) return null;
  return `nvmetd perf: connection to ${r.target.address}:${r.target.port} dropped at t=${d.atSec.toFixed(2)} s (${d.reason}); ` +
    `${d.lost} I/O${d.lost === 1 ? '' : 's'} in flight lost; the report covers ${r.elapsedSec.toFixed(2)} s of measured I/O`;
}

/** The human summary printed at the end of a run. */
export function formatReport(r: PerfReport): string {
  const l = r.latencyUs;
  const f = (n: number): string => n.toFixed(1);
  const lines = [
    `Summary: ${r.workload} ${r.ioSize} B x QD ${r.queueDepth} x ${r.connections} connection(s) x ${r.workers} worker(s)` +
      `${r.hdgst || r.ddgst ? ` digests ${r.hdgst ? 'H' : ''}${r.ddgst ? 'D' : ''}` : ''}, ${r.elapsedSec.toFixed(2)} s measured`,
    `  IOPS        ${r.iops}  (reads ${r.reads}, writes ${r.writes})`,
    `  throughput  ${r.mibps.toFixed(2)} MiB/s`,
    `  latency us  avg ${f(l.avg)}  min ${f(l.min)}  p50 ${f(l.p50)}  p90 ${f(l.p90)}  p99 ${f(l.p99)}  p99.9 ${f(l.p999)}  max ${f(l.max)}`,
    `  cpu         user ${r.cpu.userSec.toFixed(2)} s  sys ${r.cpu.systemSec.toFixed(2)} s  (${r.cpu.percent.toFixed(0)}% of one core); ` +
      `event loop busy ${r.jobs.map((j) => `${Math.round(j.elu * 100)}%`).join(' ')}`,
    `  errors      ${r.errors}${r.firstError ? ` (first: ${r.firstError})` : ''}`,
  ];
  if (r.dropped) {
    lines.push(`  dropped     connection lost at t=${r.dropped.atSec.toFixed(2)} s, ${r.dropped.lost} I/Os in flight lost (${r.dropped.reason})`);
  }
  if (r.verify) {
    lines.push(`  verify      ${r.verifiedBlocks} blocks checked, ${r.verifyErrors} wrong${r.firstVerifyError ? ` (first: ${r.firstVerifyError})` : ''}`);
  }
  return lines.join('\n');
}
