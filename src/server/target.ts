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
import { startPoller } from '../runtime/poller.js';
import { threadStats, type ThreadStatsSnapshot } from '../runtime/stats.js';
import { ControlServer } from '../control/server.js';
import { startRpc, type RpcService } from '../rpc/index.js';

export interface Target {
  readonly addresses: { address: string; port: number }[];
  readonly ctx: TargetContext;
  /** Statistics of the main thread and of each I/O worker, readable while running. */
  stats(): { main: ThreadStatsSnapshot; workers: ShardInfo[] };
  /** The I/O worker pool, when the config asks for workers. */
  readonly workers: WorkerPool | null;
  close(): Promise<void>;
}

/** How long close() waits for in-flight commands before closing connections anyway. */
const DRAIN_TIMEOUT_MS = 10_000;

export async function startTarget(config: TargetConfig, log: Logger): Promise<Target> {
  const ctx = new TargetContext(config, log);
  const shard = config.shard;
  const listeners: TcpListener[] = [];
  let namespaces: Namespace[] = [];
  let pool: WorkerPool | null = null;
  let control: ControlServer | null = null;
  let rpc: RpcService | null = null;
  try {
    if (shard && shard.mainCore >= 0) {
      const rc = native.setAffinity([shard.mainCore]);
      if (rc !== 0) log.warn({ core: shard.mainCore, errno: rc }, 'could not pin the main thread');
      else log.info({ core: shard.mainCore }, 'main thread pinned');
    }
    let build: BuildOptions = {};
    if (shard && shard.workers > 0) {
      pool = new WorkerPool(ctx, shard, log);
      build = { ...pool.prepareShared(config), slot: 0 };
    }
    const built = await buildSubsystems(config, log, build);
    namespaces = built.namespaces;
    for (const s of built.subsystems) ctx.subsystems.set(s.nqn, s);
    if (pool) {
      await pool.start();
    } else if (shard) {
      startPoller(shard.mode);
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
    const stats = (): { main: ThreadStatsSnapshot; workers: ShardInfo[] } => ({ main: threadStats().snapshot(), workers: p ? p.info() : [] });
    control = config.controlSocket ? await ControlServer.listen(config.controlSocket, ctx, () => ({ ...stats(), mode: shard?.mode ?? 'event' }), log) : null;
    // The SPDK-compatible JSON-RPC socket: it may add listeners to `listeners` (closed below).
    const served = built.subsystems.flatMap((s) => [...s.namespaces.values()].map((ns) => ({ nqn: s.nqn, ns })));
    rpc = config.rpcSocket ? await startRpc(config.rpcSocket, { ctx, config, log, listeners, workers: p, stats }, served) : null;
    const c = control;
    const r = rpc;
    return {
      addresses,
      ctx,
      stats,
      workers: p,
      close: () =>
        (closing ??= (async () => {
          await r?.close();
          await c?.close();
          await closeTarget(ctx, listeners, namespaces, p, log);
          await r?.closeBdevs();
        })()),
    };
  } catch (err) {
    await control?.close();
    await Promise.allSettled(listeners.map((l) => l.stopAccepting()));
    if (pool) await pool.stop().catch(() => undefined);
    await Promise.allSettled(namespaces.map((ns) => ns.backend.close()));
    throw err;
  }
}

async function closeTarget(ctx: TargetContext, listeners: TcpListener[], namespaces: Namespace[], pool: WorkerPool | null, log: Logger): Promise<void> {
  // 1. No new connections.
  const stopped = Promise.all(listeners.map((l) => l.stopAccepting()));
  // 2. Workers finish their in-flight commands, close their queues and flush; meanwhile the main
  //    thread's queues finish theirs (bounded in time).
  const workersDone = pool ? pool.stop() : Promise.resolve();
  const queues = listeners.flatMap((l) => [...l.queues]);
  const inflight = queues.reduce((n, q) => n + q.inflight, 0);
  if (inflight > 0) log.info({ inflight }, 'waiting for in-flight commands');
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), DRAIN_TIMEOUT_MS);
  });
  const drained = await Promise.race([Promise.all(queues.map((q) => q.whenIdle())).then(() => 'ok' as const), timeout]);
  clearTimeout(timer);
  if (drained === 'timeout') log.warn('in-flight commands did not finish in time; closing anyway');
  await workersDone;
  // 3. Connections close, controllers go.
  for (const q of queues) q.close('target shutting down');
  await stopped;
  // 4. Backends are flushed and closed.
  for (const subsys of ctx.subsystems.values()) await ctx.flushNamespaces(subsys);
  await Promise.allSettled(namespaces.map((ns) => ns.backend.close()));
  log.info('target stopped');
}
