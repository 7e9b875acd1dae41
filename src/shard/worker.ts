// An I/O worker thread: owns the I/O queues the main thread hands it, with their own namespace
// backends (shared RAM, its own file descriptors and io_uring ring), for their whole life.
import net from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../util/log.js';
import { native } from '../native/addon.js';
import { TargetContext } from '../core/context.js';
import { buildSubsystems } from '../core/build.js';
import type { Subsystem } from '../core/subsystem.js';
import type { Namespace } from '../core/namespace.js';
import { TcpConnection } from '../transport/tcp/connection.js';
import type { MainToWorker, QueueHandoff, WorkerInit, WorkerToMain } from './messages.js';
import { RingMsg } from './messages.js';
import { SpscRing } from './ring.js';
import { RemoteController } from './remote.js';
import { ThreadStats, setThreadStats } from '../runtime/stats.js';
import { startPoller } from '../runtime/poller.js';

const TRAFFIC_REPORT_MS = 250;

const init = workerData as WorkerInit;
const port = parentPort!;
const log = createLogger(init.config.logLevel).child({ worker: init.index });
setThreadStats(new ThreadStats(init.stats));
const ring = new SpscRing(init.ring);

function post(m: WorkerToMain): void {
  port.postMessage(m);
}

if (init.cores.length > 0) {
  const rc = native.setAffinity(init.cores);
  if (rc !== 0) log.warn({ cores: init.cores, errno: rc }, 'could not pin the worker thread');
}

const ctx = new TargetContext(init.config, log);
const built = await buildSubsystems(init.config, log, { ramShares: init.ramShares, nsStats: init.nsStats, slot: init.index + 1 });
const subsysIndex = new Map<string, number>();
built.subsystems.forEach((s: Subsystem, i: number) => {
  ctx.subsystems.set(s.nqn, s);
  subsysIndex.set(s.nqn, i);
});
const controllers = new Map<string, RemoteController>();
const queues = new Map<number, TcpConnection>();
let shuttingDown = false;

function controllerFor(h: QueueHandoff): RemoteController {
  const key = `${h.subnqn}/${h.cntlid}`;
  let c = controllers.get(key);
  if (!c) {
    const subsys = ctx.subsystems.get(h.subnqn);
    c = new RemoteController({
      cntlid: h.cntlid,
      subnqn: h.subnqn,
      subsysIndex: subsysIndex.get(h.subnqn) ?? -1,
      namespaces: subsys ? subsys.namespaces : new Map<number, Namespace>(),
      log: log.child({ cntlid: h.cntlid, subnqn: h.subnqn }),
      report: (r) => post({ type: 'error-record', ...r, lba: r.lba.toString() }),
    });
    controllers.set(key, c);
  }
  return c;
}

function adopt(h: QueueHandoff): void {
  const portCfg = init.config.ports.find((p) => p.id === h.portId);
  if (!portCfg) {
    post({ type: 'adopt-failed', queueId: h.queueId, reason: `unknown port ${h.portId}` });
    return;
  }
  let socket: net.Socket;
  try {
    socket = new net.Socket({ fd: h.fd, readable: true, writable: true });
  } catch (err) {
    post({ type: 'adopt-failed', queueId: h.queueId, reason: (err as Error).message });
    return;
  }
  const ctrl = controllerFor(h);
  ctrl.queues++;
  const q = new TcpConnection(socket, portCfg, ctx, {
    onClose: (closed) => {
      queues.delete(h.queueId);
      ctrl.queues--;
      if (ctrl.queues === 0) controllers.delete(`${h.subnqn}/${h.cntlid}`);
      post({ type: 'queue-closed', queueId: h.queueId, reason: closed.closeReason ?? 'closed' });
    },
    adopted: { handoff: h, ioCtrl: ctrl },
  });
  queues.set(h.queueId, q);
  log.debug({ queueId: h.queueId, cntlid: h.cntlid, qid: h.qid }, 'queue adopted');
}

async function shutdown(): Promise<void> {
  shuttingDown = true;
  const all = [...queues.values()];
  await Promise.race([Promise.all(all.map((q) => q.whenIdle())), new Promise((r) => setTimeout(r, 10_000))]);
  for (const q of all) q.close('target shutting down');
  for (const s of ctx.subsystems.values()) await ctx.flushNamespaces(s);
  await Promise.allSettled(built.namespaces.map((ns) => ns.backend.close()));
  post({ type: 'shutdown-done' });
}

port.on('message', (m: MainToWorker) => {
  switch (m.type) {
    case 'adopt':
      if (shuttingDown) post({ type: 'adopt-failed', queueId: m.handoff.queueId, reason: 'shutting down' });
      else adopt(m.handoff);
      return;
    case 'close-queue':
      queues.get(m.queueId)?.close(m.reason);
      return;
    case 'controller-ready':
      for (const c of controllers.values()) if (c.cntlid === m.cntlid && c.subnqn === m.subnqn) c.ready = m.ready;
      return;
    case 'shutdown':
      void shutdown();
      return;
  }
});

// Keep-alive traffic goes to the controller owner on the ring, at most once per period per controller.
setInterval(() => {
  for (const c of controllers.values()) {
    if (!c.trafficSeen) continue;
    c.trafficSeen = false;
    ring.push(RingMsg.TRAFFIC, c.cntlid, c.subsysIndex);
  }
}, TRAFFIC_REPORT_MS).unref();

startPoller(init.mode);
post({ type: 'ready', index: init.index, tid: native.gettid(), affinity: native.getAffinity() });
