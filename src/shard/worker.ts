// An I/O worker thread: owns the I/O queues the main thread hands it, with their own namespace
// backends (shared RAM, its own file descriptors and io_uring ring), for their whole life.
import type { Controller } from '../core/controller.js';
import net from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../util/log.js';
import { native } from '../native/addon.js';
import { TargetContext } from '../core/context.js';
import { buildSubsystems } from '../core/build.js';
import type { Subsystem } from '../core/subsystem.js';
import type { Namespace } from '../core/namespace.js';
import { TcpConnection } from '../transport/tcp/connection.js';
import { adoptTlsEngine } from '../native/tls-engine.js';
import { TlsSocket } from '../native/tls-socket.js';
import type { MainToWorker, QueueHandoff, WorkerInit, WorkerToMain } from './messages.js';
import { RingMsg } from './messages.js';
import { SpscRing } from './ring.js';
import { RemoteController } from './remote.js';
import { VisibleNamespaces } from '../core/visible-namespaces.js';
import { initThreadRuntime } from '../runtime/thread.js';
import { applyChange, type WorkerState } from './worker-changes.js';
import { RemoteReservations } from './remote-reservations.js';

const TRAFFIC_REPORT_MS = 250;
/** How long shutdown waits for in-flight commands before closing the queues anyway (as the main thread). */
const DRAIN_TIMEOUT_MS = 10_000;

const init = workerData as WorkerInit;
const port = parentPort!;
const log = createLogger(init.config.logLevel, init.config.logFormat ?? 'json').child({ worker: init.index });
const ring = new SpscRing(init.ring);
const ctrlWords = new Int32Array(init.ctrlState);

function post(m: WorkerToMain): void {
  port.postMessage(m);
}

if (init.cores.length > 0) {
  const rc = native.setAffinity(init.cores);
  if (rc !== 0) log.warn({ cores: init.cores, errno: rc }, 'could not pin the worker thread');
}

initThreadRuntime({ mode: init.mode, stats: init.stats, maxTransfer: init.config.mdts, budget: init.memoryBudget });
const ctx = new TargetContext(init.config, log, init.anaState);
const reservations = new RemoteReservations(post);
ctx.reservationCommands = reservations;
const built = await buildSubsystems(init.config, log, { ramShares: init.ramShares, nsStats: init.nsStats, slot: init.index + 1 });
const subsysIndex = new Map<string, number>();
built.subsystems.forEach((s: Subsystem<Controller>, i: number) => {
  ctx.subsystems.set(s.nqn, s);
  subsysIndex.set(s.nqn, init.subsysIndex[s.nqn] ?? i);
});
/** The controllers of this worker's queues, by state slot. */
const controllers = new Map<number, RemoteController>();
const queues = new Map<number, TcpConnection>();
/** The subsystem of each queue, by queue id. */
const queueSubnqn = new Map<number, string>();
const state: WorkerState = {
  ctx,
  subsysIndex,
  all: built.namespaces,
  slot: init.index + 1,
  log,
  inflight: (subnqn) => {
    let n = 0;
    for (const [id, q] of queues) if (queueSubnqn.get(id) === subnqn && !q.closed) n += q.inflight;
    return n;
  },
};
let shuttingDown = false;

/** Commands in flight on a queue when the main thread asked to close it, by queue id. */
const droppedOnClose = new Map<number, number>();

function controllerFor(h: QueueHandoff, slot: number): RemoteController {
  let c = controllers.get(slot);
  if (!c) {
    const subsys = ctx.subsystems.get(h.subnqn);
    c = new RemoteController({
      cntlid: h.cntlid,
      subnqn: h.subnqn,
      slot,
      words: ctrlWords,
      subsysIndex: subsysIndex.get(h.subnqn) ?? -1,
      namespaces: new VisibleNamespaces(subsys ? subsys.namespaces : new Map<number, Namespace>(), h.hostnqn),
      log: log.child({ cntlid: h.cntlid, subnqn: h.subnqn }),
      report: (r) => post({ type: 'error-record', ...r, lba: r.lba.toString() }),
    });
    controllers.set(slot, c);
  }
  return c;
}

function adopt(h: QueueHandoff, slot: number): void {
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
  if (h.tls !== null) {
    // The session the main thread detached (it frees it if this never happens: adopt-failed).
    const engine = adoptTlsEngine(h.tls.engine);
    if (engine === null) {
      socket.destroy();
      post({ type: 'adopt-failed', queueId: h.queueId, reason: 'the TLS session of the queue could not be adopted' });
      return;
    }
    // The decrypted bytes not consumed on the main thread come first, then what the engine holds.
    socket = new TlsSocket(socket, engine, true, undefined, { adopted: h.leftover === null ? null : Buffer.from(h.leftover) });
    h.leftover = null;
  }
  const ctrl = controllerFor(h, slot);
  ctrl.queues++;
  const q = new TcpConnection(socket, portCfg, ctx, {
    onClose: (closed) => {
      queues.delete(h.queueId);
      queueSubnqn.delete(h.queueId);
      ctrl.queues--;
      if (ctrl.queues === 0) controllers.delete(slot);
      const dropped = droppedOnClose.get(h.queueId) ?? closed.inflight;
      droppedOnClose.delete(h.queueId);
      const reason = closed.closeReason ?? 'closed';
      if (dropped > 0) log.warn({ queueId: h.queueId, cntlid: h.cntlid, qid: h.qid, dropped, reason }, `queue closed: ${dropped} in-flight command(s) dropped`);
      post({ type: 'queue-closed', queueId: h.queueId, reason, dropped });
    },
    adopted: { handoff: h, ioCtrl: ctrl },
    tlsPeer: h.tls?.peer ?? undefined,
  });
  queues.set(h.queueId, q);
  queueSubnqn.set(h.queueId, h.subnqn);
  log.debug({ queueId: h.queueId, cntlid: h.cntlid, qid: h.qid, tls: h.tls !== null }, 'queue adopted');
}

/** Closes a queue at the main thread's request, counting what it drops. */
function closeQueue(q: TcpConnection, queueId: number, reason: string): void {
  if (!q.closed) droppedOnClose.set(queueId, q.inflight);
  q.close(reason);
}

/**
 * Target shutdown: every queue drains (no new commands, in-flight ones complete, FIN after the last
 * completion); past DRAIN_TIMEOUT_MS the rest are closed. Then the backends are flushed and closed.
 */
async function shutdown(): Promise<void> {
  shuttingDown = true;
  const all = [...queues.entries()];
  let timer: NodeJS.Timeout | undefined;
  const drained = await Promise.race([
    Promise.all(all.map(([, q]) => q.drain('target shutting down'))).then(() => true),
    new Promise<false>((r) => (timer = setTimeout(() => r(false), DRAIN_TIMEOUT_MS))),
  ]);
  clearTimeout(timer);
  if (!drained) log.warn('in-flight commands did not finish in time; closing the queues anyway');
  for (const [id, q] of all) closeQueue(q, id, 'target shutting down');
  for (const s of ctx.subsystems.values()) await ctx.flushNamespaces(s);
  await Promise.allSettled(state.all.map((ns) => ns.backend.close()));
  post({ type: 'shutdown-done' });
}

port.on('message', (m: MainToWorker) => {
  switch (m.type) {
    case 'adopt':
      if (shuttingDown) post({ type: 'adopt-failed', queueId: m.handoff.queueId, reason: 'shutting down' });
      else adopt(m.handoff, m.ctrlSlot);
      return;
    case 'close-queue': {
      const q = queues.get(m.queueId);
      if (q) closeQueue(q, m.queueId, m.reason);
      return;
    }
    case 'change':
      applyChange(state, m.change).then(
        () => post({ type: 'change-applied', reqId: m.reqId, error: null }),
        (err: unknown) => {
          log.error({ change: m.change.op, err }, 'could not apply a change made at run time');
          post({ type: 'change-applied', reqId: m.reqId, error: (err as Error).message });
        },
      );
      return;
    case 'resv-done':
      reservations.done(m.reqId, m.status, m.out);
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

post({ type: 'ready', index: init.index, tid: native.gettid(), affinity: native.getAffinity() });
