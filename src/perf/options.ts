// Options of `nvmetd perf`: the raw strings commander hands over become one validated PerfOptions,
// with the defaults spelled out here (and in docs/perf.md). Errors are UsageErrors: exit code 2.
import { UsageError } from '../util/exit.js';
import { parseSize } from '../config/units.js';
import { readSecret } from '../config/dhchap.js';
import { HashId } from '../keys/hash.js';
import { parseTlsKey, pskHash } from '../keys/tls-key.js';

export const WORKLOADS = ['read', 'write', 'randread', 'randwrite', 'randrw', 'rw'] as const;
export type Workload = (typeof WORKLOADS)[number];

export interface PerfOptions {
  address: string;
  port: number;
  nqn: string;
  /** undefined: a uuid-based host NQN made for the run. */
  hostnqn: string | undefined;
  nsid: number;
  /** Commands outstanding per connection. */
  queueDepth: number;
  /** Bytes per I/O (a multiple of the namespace's block size). */
  ioSize: number;
  workload: Workload;
  /** Share of reads in percent for randrw/rw (100 for read workloads, 0 for write workloads). */
  rwmixread: number;
  /** Measured seconds (after the warmup). */
  time: number;
  /** Seconds of I/O before measuring starts. */
  warmup: number;
  /** I/O queues (TCP connections) per worker. */
  connections: number;
  /** Worker threads, each with its own controller and connections (1 = run in the main thread). */
  workers: number;
  hdgst: boolean;
  ddgst: boolean;
  verify: boolean;
  /** Bytes of the namespace the I/O covers from LBA 0 (0 = all of it). */
  span: number;
  /** Ask the controller to disable SQ flow control (reads then complete with C2HData SUCCESS). */
  disableSqflow: boolean;
  json: boolean;
  /** Print the live progress line each second (off with --json or --quiet). */
  progress: boolean;
  /** Seed of the offset generator (runs are reproducible with the same seed). */
  seed: number;
  /** NVMe/TCP over TLS with this configured PSK (NVMeTLSkey-1:...); undefined: plain TCP. */
  tlsKey: string | undefined;
}

/** What commander produces: every value a string or a flag. */
export interface PerfArgs {
  address?: string;
  port?: string;
  nqn?: string;
  hostnqn?: string;
  nsid?: string;
  queueDepth?: string;
  ioSize?: string;
  workload?: string;
  rwmixread?: string;
  time?: string;
  warmup?: string;
  connections?: string;
  workers?: string;
  hdgst?: boolean;
  ddgst?: boolean;
  verify?: boolean;
  span?: string;
  disableSqflow?: boolean;
  json?: boolean;
  quiet?: boolean;
  seed?: string;
  tlsKey?: string;
}

export const PERF_DEFAULTS = {
  address: '127.0.0.1',
  port: 4420,
  nqn: 'nqn.2026-11.io.nvmetd:default',
  nsid: 1,
  queueDepth: 32,
  ioSize: 4096,
  workload: 'randread' as Workload,
  rwmixread: 50,
  time: 10,
  warmup: 1,
  connections: 1,
  workers: 1,
} as const;

function int(name: string, raw: string | undefined, dflt: number, min: number, max: number): number {
  if (raw === undefined) return dflt;
  const s = raw.trim();
  if (!/^[0-9]+$/.test(s)) throw new UsageError(`${name} must be a whole number (got "${raw}")`);
  const n = Number(s);
  if (n < min || n > max) throw new UsageError(`${name} must be from ${min} to ${max} (got ${n})`);
  return n;
}

function seconds(name: string, raw: string | undefined, dflt: number, min: number): number {
  if (raw === undefined) return dflt;
  const s = raw.trim().replace(/s$/, '');
  const n = Number(s);
  if (s === '' || !Number.isFinite(n) || n < min) throw new UsageError(`${name} must be a number of seconds >= ${min} (got "${raw}")`);
  return n;
}

function size(name: string, raw: string | undefined, dflt: number): number {
  if (raw === undefined) return dflt;
  const v = parseSize(raw);
  if (typeof v === 'string') throw new UsageError(`${name}: ${v}`);
  return v;
}

/** --tls-key: inline or "file:PATH" (the file may not be readable by group or others), a SHA-256 PSK. */
function perfTlsKey(raw: string, hostnqn: string | undefined): string {
  if (hostnqn === undefined) throw new UsageError('--tls-key needs --hostnqn: the host NQN is part of the PSK identity the target checks');
  let text: string;
  try {
    text = readSecret(raw.trim(), undefined);
    const k = parseTlsKey(text);
    const sha256 = pskHash(k) === HashId.SHA256;
    k.key.fill(0);
    if (!sha256) throw new Error('only SHA-256 PSKs (NVMeTLSkey-1:01 or a 32-byte NVMeTLSkey-1:00 key) are supported');
  } catch (err) {
    throw new UsageError(`--tls-key: ${(err as Error).message}`);
  }
  return text;
}

export function parsePerfOptions(a: PerfArgs): PerfOptions {
  const workload = (a.workload ?? PERF_DEFAULTS.workload) as Workload;
  if (!WORKLOADS.includes(workload)) throw new UsageError(`--workload must be one of ${WORKLOADS.join(', ')} (got "${a.workload}")`);
  const ioSize = size('--io-size', a.ioSize, PERF_DEFAULTS.ioSize);
  if (ioSize < 512 || ioSize % 512 !== 0) throw new UsageError(`--io-size must be a positive multiple of 512 bytes (got ${ioSize})`);
  if (ioSize > 64 * 1024 * 1024) throw new UsageError(`--io-size must be at most 64MiB (got ${ioSize})`);
  const mixed = workload === 'randrw' || workload === 'rw';
  let rwmixread: number;
  if (mixed) rwmixread = int('--rwmixread', a.rwmixread, PERF_DEFAULTS.rwmixread, 0, 100);
  else {
    if (a.rwmixread !== undefined) throw new UsageError('--rwmixread applies to the randrw and rw workloads only');
    rwmixread = workload.endsWith('read') ? 100 : 0;
  }
  const span = size('--span', a.span, 0);
  if (span !== 0 && span < ioSize) throw new UsageError(`--span (${span}) must hold at least one I/O of ${ioSize} bytes`);
  const json = a.json ?? false;
  const tlsKey = a.tlsKey === undefined ? undefined : perfTlsKey(a.tlsKey, a.hostnqn);
  return {
    tlsKey,
    address: a.address ?? PERF_DEFAULTS.address,
    port: int('--port', a.port, PERF_DEFAULTS.port, 1, 65535),
    nqn: a.nqn ?? PERF_DEFAULTS.nqn,
    hostnqn: a.hostnqn,
    nsid: int('--nsid', a.nsid, PERF_DEFAULTS.nsid, 1, 0xfffffffe),
    // A queue of N entries carries N - 1 commands; nvmetd's default MAXQ is 128.
    queueDepth: int('--queue-depth', a.queueDepth, PERF_DEFAULTS.queueDepth, 1, 4095),
    ioSize,
    workload,
    rwmixread,
    time: seconds('--time', a.time, PERF_DEFAULTS.time, 0.1),
    warmup: seconds('--warmup', a.warmup, PERF_DEFAULTS.warmup, 0),
    connections: int('--connections', a.connections, PERF_DEFAULTS.connections, 1, 256),
    workers: int('--workers', a.workers, PERF_DEFAULTS.workers, 1, 64),
    hdgst: a.hdgst ?? false,
    ddgst: a.ddgst ?? false,
    verify: a.verify ?? false,
    span,
    disableSqflow: a.disableSqflow ?? false,
    json,
    progress: !json && !(a.quiet ?? false),
    seed: int('--seed', a.seed, 1, 1, 0xffffffff),
  };
}

/** The options a run actually used, in one line (progress header, JSON report). */
export function describeOptions(o: PerfOptions): string {
  const mix = o.workload === 'randrw' || o.workload === 'rw' ? ` rwmixread=${o.rwmixread}` : '';
  const dg = o.hdgst || o.ddgst ? ` digests=${o.hdgst ? 'h' : ''}${o.ddgst ? 'd' : ''}` : '';
  return `${o.workload}${mix} io=${o.ioSize} qd=${o.queueDepth} conns=${o.connections}x${o.workers}${dg}${o.verify ? ' verify' : ''}${o.tlsKey !== undefined ? ' tls' : ''} -> ${o.address}:${o.port} ${o.nqn} ns ${o.nsid}`;
}
