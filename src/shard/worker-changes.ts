// On an I/O worker: changes made at run time by the main thread ('change'), applied to the worker's
// own copy: subsystems made and deleted, ports added, namespaces added, removed, resized and
// re-masked (the hosts that see them). An added namespace gets a backend of this thread's (over
// the shared memory of a RAM namespace, or descriptors of its own for a file or block device); a
// removed one leaves the subsystem's map at once, so the next command to it fails with Invalid
// Namespace, and its backend is closed once the commands in flight on this thread have finished.
import type { TargetContext } from '../core/context.js';
import { Namespace } from '../core/namespace.js';
import type { Backend } from '../backend/backend.js';
import { openBackend } from '../backend/open.js';
import { RamBackend } from '../backend/ram.js';
import type { Logger } from '../util/log.js';
import { Subsystem } from '../core/subsystem.js';
import type { LiveChange } from './messages.js';

/** How long a removed namespace's backend waits for in-flight commands before it is closed anyway. */
const REMOVE_DRAIN_MS = 10_000;
const DRAIN_POLL_MS = 5;

export interface WorkerState {
  ctx: TargetContext;
  /** Subsystems' numbers in keep-alive ring records. */
  subsysIndex: Map<string, number>;
  /** Every namespace this worker opened (closed at shutdown). */
  all: Namespace[];
  /** This worker's counter slot (index + 1). */
  slot: number;
  log: Logger;
  /** Commands in flight on this worker's queues of subsystem `subnqn`, as of now. */
  inflight(subnqn: string): number;
}

/** Applies a change; throws (with a message for the main thread) when it cannot. */
export async function applyChange(w: WorkerState, change: LiveChange): Promise<void> {
  if (change.op === 'port-add') {
    const ports = w.ctx.config.ports;
    if (!ports.some((p) => p.id === change.port.id)) ports.push(change.port);
    return;
  }
  if (change.op === 'subsystem-add') {
    const sc = change.config;
    if (w.ctx.subsystems.has(sc.nqn)) throw new Error(`subsystem ${sc.nqn} exists on this worker`);
    if (sc.namespaces.length > 0) throw new Error(`subsystem ${sc.nqn} comes with namespaces: add them one by one`);
    w.ctx.subsystems.set(sc.nqn, new Subsystem(sc));
    w.subsysIndex.set(sc.nqn, change.index);
    return;
  }
  if (change.op === 'subsystem-remove') {
    const gone = w.ctx.subsystems.get(change.subnqn);
    if (!gone) return;
    // Its controllers' queues here are being closed at the main thread's request.
    w.ctx.subsystems.delete(change.subnqn);
    w.subsysIndex.delete(change.subnqn);
    for (const ns of gone.namespaces.values()) void closeWhenIdle(w, change.subnqn, ns);
    gone.namespaces.clear();
    return;
  }
  const subsys = w.ctx.subsystems.get(change.subnqn);
  if (!subsys) throw new Error(`subsystem ${change.subnqn} is not known to this worker`);
  if (change.op === 'host-keys') {
    const all = (subsys.config.hostKeys ??= {});
    if (change.keys === null) delete all[change.hostnqn];
    else all[change.hostnqn] = change.keys;
    return;
  }
  if (change.op === 'ns-add') {
    const nc = change.ns;
    if (subsys.namespaces.has(nc.nsid)) throw new Error(`namespace ${nc.nsid} of ${change.subnqn} exists on this worker`);
    let backend: Backend;
    if (nc.backing.type === 'ram') {
      if (!change.ramShare) throw new Error(`RAM namespace ${nc.nsid} of ${change.subnqn} comes without its shared memory`);
      backend = new RamBackend(nc.backing.size - (nc.backing.size % nc.blockSize), change.ramShare, nc.backing.delayUs ?? 0);
    } else {
      backend = await openBackend(nc, w.log);
    }
    const ns = new Namespace(nc, backend, change.nsStats, w.slot);
    w.all.push(ns);
    subsys.namespaces.set(ns.nsid, ns);
    w.log.debug({ subnqn: change.subnqn, nsid: ns.nsid, engine: backend.engine }, 'namespace added on this worker');
    return;
  }
  const ns = subsys.namespaces.get(change.nsid);
  if (!ns) throw new Error(`namespace ${change.nsid} of ${change.subnqn} is not on this worker`);
  if (change.op === 'ns-resize') {
    if (change.ramShare) {
      if (!(ns.backend instanceof RamBackend)) throw new Error(`namespace ${change.nsid} of ${change.subnqn} is not in memory on this worker`);
      ns.backend.adopt(change.size, change.ramShare);
    } else {
      if (!ns.backend.setCapacity) throw new Error(`namespace ${change.nsid} of ${change.subnqn} cannot change size`);
      ns.backend.setCapacity(change.size);
    }
    w.log.debug({ subnqn: change.subnqn, nsid: ns.nsid, size: change.size }, 'namespace resized on this worker');
    return;
  }
  if (change.op === 'ns-hosts') {
    // Controllers' views on this thread (VisibleNamespaces) read the namespace's host list: at once.
    ns.setHosts(change.hosts);
    w.log.debug({ subnqn: change.subnqn, nsid: ns.nsid, hosts: change.hosts }, 'namespace hosts changed on this worker');
    return;
  }
  subsys.namespaces.delete(change.nsid);
  void closeWhenIdle(w, change.subnqn, ns);
}

/**
 * Closes a removed namespace's backend once nothing is in flight on this worker's queues of its
 * subsystem (commands already executing may still use it; new ones cannot reach it).
 */
async function closeWhenIdle(w: WorkerState, subnqn: string, ns: Namespace): Promise<void> {
  const until = Date.now() + REMOVE_DRAIN_MS;
  while (w.inflight(subnqn) > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
  const waited = w.inflight(subnqn) > 0;
  const i = w.all.indexOf(ns);
  if (i >= 0) w.all.splice(i, 1);
  try {
    await ns.backend.close();
    w.log.debug({ subnqn, nsid: ns.nsid, closedWithInflight: waited }, 'removed namespace closed on this worker');
  } catch (err) {
    w.log.error({ subnqn, nsid: ns.nsid, err }, 'closing a removed namespace failed');
  }
}
