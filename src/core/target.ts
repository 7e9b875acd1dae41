// Starting and stopping a target: open the namespaces' backends, build subsystems, listen on ports.
import type { TargetConfig } from '../config/types.js';
import type { Logger } from '../util/log.js';
import { openBackend } from '../backend/open.js';
import { TargetContext } from './context.js';
import { Namespace } from './namespace.js';
import { Subsystem } from './subsystem.js';
import { TcpListener } from '../transport/tcp/listener.js';

export interface Target {
  readonly addresses: { address: string; port: number }[];
  readonly ctx: TargetContext;
  close(): Promise<void>;
}

/** How long close() waits for in-flight commands before closing connections anyway. */
const DRAIN_TIMEOUT_MS = 10_000;

export async function startTarget(config: TargetConfig, log: Logger): Promise<Target> {
  const ctx = new TargetContext(config, log);
  const opened: Namespace[] = [];
  const listeners: TcpListener[] = [];
  try {
    for (const sc of config.subsystems) {
      const subsys = new Subsystem(sc);
      for (const nc of sc.namespaces) {
        if (!nc.enabled) continue;
        const backend = await openBackend(nc, log);
        const ns = new Namespace(nc, backend);
        opened.push(ns);
        subsys.namespaces.set(ns.nsid, ns);
      }
      ctx.subsystems.set(subsys.nqn, subsys);
    }
    const addresses: { address: string; port: number }[] = [];
    for (const pc of config.ports) {
      const l = new TcpListener(pc, ctx);
      const bound = await l.listen();
      // Port 0 asks for any free port: from now on the config (and the discovery log) says which.
      if (pc.port === 0) pc.port = bound.port;
      addresses.push(bound);
      listeners.push(l);
      log.info({ port: pc.id, address: pc.address, tcpPort: addresses.at(-1)!.port, subsystems: pc.subsystems }, 'listening');
    }
    let closing: Promise<void> | null = null;
    return {
      addresses,
      ctx,
      close: () => (closing ??= closeTarget(ctx, listeners, opened, log)),
    };
  } catch (err) {
    await Promise.allSettled(listeners.map((l) => l.stopAccepting()));
    await Promise.allSettled(opened.map((ns) => ns.backend.close()));
    throw err;
  }
}

async function closeTarget(ctx: TargetContext, listeners: TcpListener[], namespaces: Namespace[], log: Logger): Promise<void> {
  // 1. No new connections.
  const stopped = Promise.all(listeners.map((l) => l.stopAccepting()));
  // 2. In-flight commands complete (their responses are sent), bounded in time.
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
  // 3. Connections close, controllers go.
  for (const q of queues) q.close('target shutting down');
  await stopped;
  // 4. Backends are flushed and closed.
  for (const subsys of ctx.subsystems.values()) await ctx.flushNamespaces(subsys);
  await Promise.allSettled(namespaces.map((ns) => ns.backend.close()));
  log.info('target stopped');
}
