// Namespace size changes: nvmetd_namespace_resize (nvmetd's own: a RAM namespace grows, or shrinks
// when nothing is written past the new end or `force` is given), bdev_aio_rescan and
// bdev_uring_rescan (as SPDK's: a file bdev picks up its file's new size). The main thread applies
// the change, then every I/O worker (a promise per worker); once all have it, the controllers of
// the subsystem are told (Namespace Attribute Changed event, Changed Namespace List) and Identify
// Namespace shows the new size.
import fs from 'node:fs';
import { RamBackend } from '../../backend/ram.js';
import type { Controller } from '../../core/controller.js';
import type { Namespace } from '../../core/namespace.js';
import type { Subsystem } from '../../core/subsystem.js';
import { nsKey } from '../../core/build.js';
import type { Bdev } from '../bdevs.js';
import type { LiveTarget } from '../live.js';
import { BDEV_DECODE_ERROR, bool, object, str, u32, u64, type RpcMethod } from '../table.js';
import { Errno, errnoError, findSubsystem, invalidParams } from './common.js';

/** Namespaces with a size change under way (a second change waits for none: it is refused). */
const busy = new Set<string>();

async function exclusively<T>(key: string, fn: () => Promise<T>): Promise<T> {
  if (busy.has(key)) throw errnoError(Errno.EBUSY, 'a size change of this namespace is under way');
  busy.add(key);
  try {
    return await fn();
  } finally {
    busy.delete(key);
  }
}

/** Tells the workers, then the controllers; one log line. */
async function announce(live: Pick<LiveTarget, 'workers' | 'log'>, s: Subsystem<Controller>, ns: Namespace, from: number, ramShare: SharedArrayBuffer[] | null, via = 'rpc'): Promise<void> {
  const size = ns.backend.sizeBytes;
  if (live.workers) await live.workers.changeNamespace({ op: 'ns-resize', subnqn: s.nqn, nsid: ns.nsid, size, ramShare });
  s.namespaceChanged(ns.nsid);
  live.log.info({ subnqn: s.nqn, nsid: ns.nsid, from, size, workers: live.workers ? 'applied' : 'none' }, `${via}: namespace resized`);
}

export const nvmetdNamespaceResize: RpcMethod = {
  name: 'nvmetd_namespace_resize',
  params: { schema: object({ nqn: str, nsid: u32, size: u64, force: bool, tgt_name: str }, ['nqn', 'nsid', 'size']) },
  handler: (p, live) => {
    const s = findSubsystem(live, p);
    const nsid = p.nsid as number;
    const size = p.size as number;
    const ns = s.namespaces.get(nsid);
    if (!ns) throw invalidParams(`namespace ${nsid} not found`);
    const backend = ns.backend;
    if (ns.config.backing.type !== 'ram' || !(backend instanceof RamBackend)) {
      throw invalidParams(`namespace ${nsid} is not a RAM namespace: grow its file and call bdev_aio_rescan`);
    }
    if (!Number.isSafeInteger(size) || size <= 0 || size % ns.blockSize !== 0) throw invalidParams(`size ${size}: a positive multiple of the block size (${ns.blockSize})`);
    return resizeRamNamespace(live, s, ns, backend, size, p.force === true);
  },
};

/** Resizes RAM namespace `ns` of `s` (checked: RAM, a positive multiple of its block size) everywhere; controllers are told. */
export function resizeRamNamespace(live: LiveTarget, s: Subsystem<Controller>, ns: Namespace, backend: RamBackend, size: number, force: boolean, via = 'rpc'): Promise<true> {
  const nsid = ns.nsid;
  return exclusively(nsKey(s.nqn, nsid), async () => {
    const from = backend.sizeBytes;
    if (size === from) return true;
    if (size < from && !force && backend.holdsDataFrom(size)) {
      throw errnoError(Errno.EBUSY, `data is written past ${size} bytes: give force: true to cut it off`);
    }
    const backing = ns.config.backing as { type: 'ram'; size: number };
    let shares: SharedArrayBuffer[] | null;
    if (size > from) {
      // Grown here first (in place for shared memory): the workers then map the same buffers.
      try {
        shares = backend.resize(size);
      } catch (err) {
        throw errnoError(Errno.ENOMEM, (err as Error).message);
      }
      backing.size = size;
      await announce(live, s, ns, from, shares, via);
    } else {
      // Shrunk on the workers first, so that nothing writes past the end when it is zeroed here.
      const keep = Math.ceil(size / backend.segmentBytes);
      const current = backend.shares;
      if (live.workers && current) await live.workers.changeNamespace({ op: 'ns-resize', subnqn: s.nqn, nsid, size, ramShare: current.slice(0, keep) });
      backend.resize(size);
      backing.size = size;
      s.namespaceChanged(nsid);
      live.log.info({ subnqn: s.nqn, nsid, from, size, forced: force }, `${via}: namespace resized`);
    }
    return true as const;
  });
}

/** The namespace a bdev backs, if any. */
function claimant(live: LiveTarget, b: Bdev): { s: Subsystem<Controller>; ns: Namespace } | null {
  if (!b.claimedBy) return null;
  const s = live.ctx.subsystems.get(b.claimedBy.nqn);
  const ns = s?.namespaces.get(b.claimedBy.nsid);
  return s && ns ? { s, ns } : null;
}

function rescanMethod(name: string, product: Bdev['productName']): RpcMethod {
  return {
    name,
    params: { schema: object({ name: str }, ['name']) },
    decodeError: BDEV_DECODE_ERROR,
    handler: (p, live) => {
      const b = live.bdevs.get(p.name as string);
      if (!b || b.productName !== product) throw errnoError(Errno.ENODEV);
      if (b.backing.type !== 'file' || !b.backend.setCapacity) throw errnoError(Errno.EOPNOTSUPP, 'only bdevs over regular files are rescanned here');
      const path = b.backing.path;
      return exclusively(`bdev:${b.name}`, async () => {
        let bytes: number;
        try {
          bytes = fs.statSync(path).size;
        } catch (err) {
          throw errnoError(Errno.ENOENT, `${path}: ${(err as Error).message}`);
        }
        const size = bytes - (bytes % b.blockSize);
        const from = b.backend.sizeBytes;
      if (size === from) return true as const;
        const user = claimant(live, b);
        if (size < from && user) throw errnoError(Errno.EBUSY, `${path} shrank below the size of namespace ${user.ns.nsid} of ${user.s.nqn}`);
        if (size < b.blockSize) throw errnoError(Errno.EINVAL, `${path} is smaller than one block`);
        b.backend.setCapacity!(size);
        if (user) await announce(live, user.s, user.ns, from, null);
        else live.log.info({ bdev: b.name, from, size }, 'rpc: bdev rescanned');
        return true;
      });
    },
  };
}

export const bdevAioRescan = rescanMethod('bdev_aio_rescan', 'AIO disk');
export const bdevUringRescan = rescanMethod('bdev_uring_rescan', 'URING bdev');

/**
 * For a backend that sees its own size change (an RBD image resized with `rbd resize`, bdev_rbd_resize
 * or through another gateway): the change is applied like a rescan (workers, then the hosts' AEN).
 */
export function followBackendSize(live: Pick<LiveTarget, 'workers' | 'log'>, s: Subsystem<Controller>, ns: Namespace): void {
  const backend = ns.backend;
  if (backend.onCapacityChange === undefined || !backend.setCapacity) return;
  backend.onCapacityChange = (size) => {
    exclusively(nsKey(s.nqn, ns.nsid), async () => {
      const from = backend.sizeBytes;
      if (size === from || s.namespaces.get(ns.nsid) !== ns) return;
      backend.setCapacity!(size);
      await announce(live, s, ns, from, null);
    }).catch((err: unknown) => live.log.warn({ subnqn: s.nqn, nsid: ns.nsid, size, err: (err as Error).message }, 'namespace size change not applied'));
  };
}
