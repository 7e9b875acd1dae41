// `nvmetd stats --control PATH`: asks a running target (started with --control PATH) for its
// statistics and prints them (JSON with --json, else a short table; --watch: live rates, stats-watch.ts).
import net from 'node:net';
import { UsageError } from '../util/exit.js';
import { parseWatchOptions, watch } from './stats-watch.js';
import type { ThreadStatsSnapshot } from '../runtime/stats.js';

export interface StatsArgs {
  control?: string;
  json?: boolean;
  method?: string;
  /** --watch: refresh every --interval seconds (rates), until Ctrl-C or --count blocks. */
  watch?: boolean;
  interval?: string;
  count?: string;
}

type ThreadSnap = ThreadStatsSnapshot;

/** One question to the control socket. `signal`: abandon it (the socket is destroyed, the promise rejects). */
export function request(path: string, method: string, o: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const s = net.connect(path);
    if (o.timeoutMs !== undefined) {
      s.setTimeout(o.timeoutMs, () => s.destroy(new Error(`no answer within ${o.timeoutMs! / 1000} s`)));
    }
    const abandon = (): void => void s.destroy(new Error('abandoned'));
    o.signal?.addEventListener('abort', abandon, { once: true });
    s.on('close', () => o.signal?.removeEventListener('abort', abandon));
    let buf = '';
    s.setEncoding('utf8');
    s.on('connect', () => s.write(`${JSON.stringify({ method, id: 1 })}\n`));
    s.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        s.end();
        try {
          const msg = JSON.parse(buf.slice(0, nl)) as { result?: unknown; error?: string };
          if (msg.error) reject(new Error(msg.error));
          else resolve(msg.result);
        } catch (err) {
          reject(err as Error);
        }
      }
    });
    s.on('error', (err) => reject(new Error(`control socket ${path}: ${err.message}`)));
  });
}

export async function statsCommand(a: StatsArgs): Promise<void> {
  if (!a.control) throw new UsageError('stats needs --control PATH (the path given to `serve --control`)');
  if (a.watch) {
    if (a.json || a.method) throw new UsageError('--watch prints rates as text: it cannot be combined with --json or --method');
    const control = a.control;
    const abandon = new AbortController();
    const timeoutMs = Math.max(5000, 2 * parseWatchOptions(a).intervalMs);
    await watch(a, {
      ask: (method) => request(control, method, { timeoutMs, signal: abandon.signal }),
      write: (t) => process.stdout.write(t),
      isTTY: process.stdout.isTTY === true,
      signals: process,
      stopped: () => abandon.abort(),
    });
    return;
  }
  if (a.interval !== undefined || a.count !== undefined) throw new UsageError('--interval and --count go with --watch');
  const result = await request(a.control, a.method ?? 'stats');
  if (a.json || a.method) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  const r = result as { main: ThreadSnap; workers: { index: number; affinity: number[]; queues: { cntlid: number; qid: number }[]; stats: ThreadSnap }[]; mode: string };
  const row = (name: string, cores: string, s: ThreadSnap, q: string): string =>
    `${name.padEnd(10)} ${cores.padEnd(8)} ${String(s.queues).padStart(6)} ${String(s.commands).padStart(12)} ${(s.bytesRead / 1048576).toFixed(1).padStart(10)} ${(s.bytesWritten / 1048576).toFixed(1).padStart(10)} ${String(s.inflight).padStart(8)} ${String(s.latencyP50Us).padStart(7)} ${String(s.latencyP99Us).padStart(7)}  ${q}`;
  process.stdout.write(`mode: ${r.mode}\n`);
  process.stdout.write(`${'thread'.padEnd(10)} ${'cores'.padEnd(8)} ${'queues'.padStart(6)} ${'commands'.padStart(12)} ${'read MiB'.padStart(10)} ${'write MiB'.padStart(10)} ${'inflight'.padStart(8)} ${'p50 us'.padStart(7)} ${'p99 us'.padStart(7)}  queue map\n`);
  process.stdout.write(`${row('main', '-', r.main, 'admin queues')}\n`);
  for (const w of r.workers) {
    process.stdout.write(`${row(`worker ${w.index}`, w.affinity.join(','), w.stats, w.queues.map((q) => `${q.cntlid}/${q.qid}`).join(' '))}\n`);
  }
}
