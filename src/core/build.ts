// Builds the subsystems and namespaces of a config on the calling thread. The main thread and every
// I/O worker each build their own: RAM namespaces over the same shared memory when workers exist,
// file and block namespaces over their own descriptors (and their own io_uring ring).
import type { Controller } from './controller.js';
import type { TargetConfig } from '../config/types.js';
import type { Logger } from '../util/log.js';
import type { Backend } from '../backend/backend.js';
import { openBackend } from '../backend/open.js';
import { RamBackend } from '../backend/ram.js';
import { Namespace } from './namespace.js';
import { Subsystem } from './subsystem.js';

export interface BuildOptions {
  /** Shared memory of RAM namespaces, by nsKey(). */
  ramShares?: Record<string, SharedArrayBuffer[]>;
  /** Shared counters of namespaces, by nsKey(). */
  nsStats?: Record<string, SharedArrayBuffer>;
  /** Counter slot of this thread (0: main thread, worker i: i + 1). */
  slot?: number;
}

export function nsKey(subnqn: string, nsid: number): string {
  return `${subnqn}/${nsid}`;
}

export async function buildSubsystems(config: TargetConfig, log: Logger, o: BuildOptions = {}): Promise<{ subsystems: Subsystem<Controller>[]; namespaces: Namespace[] }> {
  const subsystems: Subsystem<Controller>[] = [];
  const namespaces: Namespace[] = [];
  try {
    for (const sc of config.subsystems) {
      const subsys = new Subsystem<Controller>(sc);
      for (const nc of sc.namespaces) {
        if (!nc.enabled) continue;
        const key = nsKey(sc.nqn, nc.nsid);
        const share = o.ramShares?.[key];
        let backend: Backend;
        if (nc.backing.type === 'ram' && share) backend = new RamBackend(nc.backing.size - (nc.backing.size % nc.blockSize), share, nc.backing.delayUs ?? 0, !nc.backing.overcommit);
        else backend = await openBackend(nc, log);
        const ns = new Namespace(nc, backend, o.nsStats?.[key], o.slot ?? 0);
        namespaces.push(ns);
        subsys.namespaces.set(ns.nsid, ns);
      }
      subsystems.push(subsys);
    }
  } catch (err) {
    await Promise.allSettled(namespaces.map((ns) => ns.backend.close()));
    throw err;
  }
  return { subsystems, namespaces };
}
