// Starting and stopping a target: open the namespaces' backends, build subsystems, start the I/O
// workers (when configured), listen on ports.
import type { TargetConfig } from '../config/types.js';
import type { Logger } from '../util/log.js';
import { native } from '../native/addon.js';
import { TargetContext } from '../core/context.js';
import type { Namespace } from '../core/namespace.js';
import { buildSubsystems, type BuildOptions } from '../core/build.js';
import { TcpListener } from '../transport/tcp/listener.js';
import { WorkerPool, type ShardInfo } from '../shard/pool.js';
import { createMemoryBudget, initThreadRuntime, threadBufferPool } from '../runtime/thread.js';
import type { ThreadStatsSnapshot } from '../runtime/stats.js';
import type { TcpConnection } from '../transport/tcp/connection.js';
import { ControlServer } from '../control/server.js';
import { followBackendSize } from '../rpc/methods/resize.js';
import { startRpc, type ReloadResult, type RpcService } from '../rpc/index.js';
import type { ConfigSource } from '../rpc/live.js';
import { startMetrics, type MetricsServer } from '../metrics/index.js';

export interface Target {
  readonly addresses: { address: string; port: number }[];
  readonly ctx: TargetContext;
  /** Statistics of the main thread and of each I/O worker, readable while running. */
  stats(): { main: ThreadStatsSnapshot; workers: ShardInfo[] };
  /** The I/O worker pool, when the config asks for workers. */
  readonly workers: WorkerPool | null;
  /** The Prometheus endpoint's bound address, when the config asks for one. */
  readonly metrics: { host: string; port: number } | null;
  /** Reads the config file again and applies the difference live (SIGHUP, nvmetd_reload). */
  reload(): Promise<ReloadResult>;
  close(): Promise<void>;
}

export interface StartOptions {
  /** The config file the target is started from (for reload and save); absent: zero-config. */
  source?: ConfigSource;
}

/** How long close() waits for in-flight commands before closing connections anyway. */
const DRAIN_TIMEOUT_MS = 10_000;
const SHUTDOWN_REASON = 'target shutting down';

export async function startTarget(config: TargetConfig, log: Logger, options: StartOptions = {}): Promise<Target> {
  const ctx = new TargetContext(config, log);
  const shard = config.shard;
  const listeners: TcpListener[] = [];
  let namespaces: Namespace[] = [];
  let pool: WorkerPool | null = null;
  let control: ControlServer | null = null;
  let rpc: RpcService | null = null;
  let metrics: MetricsServer | null = null;
  try {
    if (shard && shard.mainCore >= 0) {
      const rc = native.setAffinity([shard.mainCore]);
      if (rc !== 0) log.warn({ core: shard.mainCore, errno: rc }, 'could not pin the main thread');
      else log.info({ core: shard.mainCore }, 'main thread pinned');
    }
    // One memory budget for the data buffers of every thread.
    const budget = createMemoryBudget(config.memoryBudget);
    log.info({ memoryBudget: Number.isFinite(budget.limitBytes) ? budget.limitBytes : 'unlimited' }, 'memory budget for data buffers');
    let build: BuildOptions = {};
    if (shard && shard.workers > 0) {
      pool = new WorkerPool(ctx, shard, log, budget.sab);
      build = { ...pool.prepareShared(config), slot: 0 };
    }
    const built = await buildSubsystems(config, log, build);
    namespaces = built.namespaces;
    for (const s of built.subsystems) ctx.subsystems.set(s.nqn, s);
    // Reservations persisted through the last stop (namespaces with a ptplFile); a bad file stops the start.
    await ctx.reservations.restore(built.subsystems.flatMap((s) => [...s.namespaces.values()].map((ns) => ({ nqn: s.nqn, ns }))));
    // The main thread's runtime; with workers it serves admin queues only and sleeps in epoll.
    const mainStats = initThreadRuntime({ mode: !pool && shard ? shard.mode : 'event', maxTransfer: config.mdts, budget });
    if (pool) {
      await pool.start();
      ctx.observer = pool;
    }
    const addresses: { address: string; port: number }[] = [];
    for (const pc of config.ports) {
      const l = new TcpListener(pc, ctx, pool);
      const bound = await l.listen();
      // Port 0 asks for any free port: from now on the config (and the discovery log) says which.
      if (pc.port === 0) pc.port = bound.port;
      addresses.push(bound);
      listeners.push(l);
      log.info({ port: pc.id, address: pc.address, tcpPort: bound.port, subsystems: pc.subsystems }, 'listening');
    }
    let closing: Promise<void> | null = null;
    const p = pool;
    const stats = (): { main: ThreadStatsSnapshot; workers: ShardInfo[] } => ({ main: mainStats.snapshot(), workers: p ? p.info() : [] });
    control = config.controlSocket ? await ControlServer.listen(config.controlSocket, ctx, () => ({ ...stats(), mode: shard?.mode ?? 'event' }), log) : null;
    // Live changes (the JSON-RPC socket when configured, reloads): they may add listeners to `listeners` (closed below).
    const served = built.subsystems.flatMap((s) => [...s.namespaces.values()].map((ns) => ({ nqn: s.nqn, ns })));
    rpc = await startRpc(config.rpcSocket, { ctx, config, log, listeners, workers: p, stats, ...(options.source ? { source: options.source } : {}) }, served);
    // Backings that change size by themselves (RBD images) reach the workers and the hosts like a rescan.
    for (const s of built.subsystems) for (const ns of s.namespaces.values()) followBackendSize({ workers: p, log }, s, ns);
    metrics = config.metrics
      ? await startMetrics(
          config.metrics,
          {
            ctx,
            threads: () => {
              const s = stats();
              return [{ thread: 'main', stats: s.main }, ...s.workers.map((w) => ({ thread: `worker${w.index}`, stats: w.stats }))];
            },
            connections: () => {
              let n = 0;
              for (const l of listeners) for (const q of l.queues) if (!q.closed && !q.isMovedAway) n++;
              for (const w of p ? p.info() : []) n += w.queues.length;
              return n;
            },
            bufferPool: () => threadBufferPool()?.stats() ?? null,
          },
          log,
        )
      : null;
    const c = control;
    const r: RpcService = rpc;
    const m = metrics;
    return {
      addresses,
      ctx,
      stats,
      workers: p,
      metrics: m ? m.address : null,
      reload: () => r.reload(),
      close: () =>
        (closing ??= (async () => {
          await m?.close();
          await r.close();
          await c?.close();
          await closeTarget(ctx, listeners, namespaces, p, log);
          await r.closeBdevs();
        })()),
    };
  } catch (err) {
    await metrics?.close();
    await rpc?.close();
    await control?.close();
    await Promise.allSettled(listeners.map((l) => l.stopAccepting()));
    if (pool) await pool.stop().catch(() => undefined);
    await Promise.allSettled(namespaces.map((ns) => ns.backend.close()));
    throw err;
  }
}

/**
 * Stopping: no new connections; I/O queues drain (new commands are dropped unanswered, in-flight ones
 * complete, then each connection ends with a FIN), on the main thread and on the workers; then the
 * admin queues: outstanding AERs are aborted and they drain the same way, which removes their
 * controllers. Whatever has not drained after DRAIN_TIMEOUT_MS is closed. Backends are flushed last.
 * I/O queues go first because an admin queue's close tears its controller down, closing its queues.
 */
async function closeTarget(ctx: TargetContext, listeners: TcpListener[], namespaces: Namespace[], pool: WorkerPool | null, log: Logger): Promise<void> {
  // 1. No new connections.
  const stopped = Promise.all(listeners.map((l) => l.stopAccepting()));
  const queues: TcpConnection[] = listeners.flatMap((l) => [...l.queues]).filter((q) => !q.closed && !q.isMovedAway);
  const ioQueues = queues.filter((q) => q.qid > 0);
  const others = queues.filter((q) => q.qid === 0);
  const inflight = queues.reduce((n, q) => n + q.inflight, 0);
  log.info({ connections: queues.length, inflight, workers: pool ? 'draining' : 'none' }, 'stopping: draining connections');
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), DRAIN_TIMEOUT_MS);
  });
  // 2. I/O queues: main thread and workers (each worker drains its own, flushes and exits).
  const workersDone = pool ? pool.stop() : Promise.resolve();
  let drained = await Promise.race([Promise.all([...ioQueues.map((q) => q.drain(SHUTDOWN_REASON)), workersDone]).then(() => 'ok' as const), timeout]);
  // 3. Admin queues (and connections not yet connected): stop taking commands, abort the AERs.
  if (drained === 'ok') {
    const adminDrains = others.map((q) => q.drain(SHUTDOWN_REASON));
    for (const c of ctx.allControllers()) c.failAers(SHUTDOWN_REASON);
    drained = await Promise.race([Promise.all(adminDrains).then(() => 'ok' as const), timeout]);
  }
  clearTimeout(timer);
  if (drained === 'timeout') log.warn('in-flight commands did not finish in time; closing anyway');
  // 4. Whatever is left closes; controllers go with their admin queues.
  for (const q of queues) q.close(SHUTDOWN_REASON);
  for (const c of ctx.allControllers()) c.teardown(SHUTDOWN_REASON);
  await workersDone;
  await stopped;
  // 5. Backends are flushed and closed.
  for (const subsys of ctx.subsystems.values()) await ctx.flushNamespaces(subsys);
  await Promise.allSettled(namespaces.map((ns) => ns.backend.close()));
  log.info('target stopped');
}
