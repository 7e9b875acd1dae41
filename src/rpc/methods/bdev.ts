// bdev_get_bdevs, bdev_malloc_create/delete, bdev_aio_create/delete, bdev_uring_create/delete.
// Answers as SPDK's bdev modules give them: the new bdev's name, true for a delete, and failures as
// the negative errno with its text (-17 "File exists", -19 "No such device", ...).
import fs from 'node:fs';
import { openBackend } from '../../backend/open.js';
import { RamBackend, allocateSharedRam } from '../../backend/ram.js';
import type { Backend } from '../../backend/backend.js';
import type { Backing, NamespaceConfig } from '../../config/types.js';
import { BdevRegistry, numBlocks, productOf, type Bdev } from '../bdevs.js';
import type { Json } from '../json-value.js';
import type { LiveTarget } from '../live.js';
import { BDEV_DECODE_ERROR, bool, i32, object, str, u32, u64, uuid, type ParamsObject, type RpcMethod } from '../table.js';
import { RpcError } from '../wire.js';
import { Errno, errnoError } from './common.js';

function dumpBdev(b: Bdev): Json {
  const claimed = b.claimedBy !== null;
  const o: { [k: string]: Json } = {
    name: b.name,
    aliases: [],
    product_name: b.productName,
    block_size: b.blockSize,
    num_blocks: numBlocks(b),
    uuid: b.uuid,
    assigned_rate_limits: { rw_ios_per_sec: 0, rw_mbytes_per_sec: 0, r_mbytes_per_sec: 0, w_mbytes_per_sec: 0 },
    claimed,
  };
  if (claimed) o.claim_type = 'exclusive_write';
  o.zoned = false;
  o.supported_io_types = {
    read: true,
    write: !b.readOnly,
    unmap: !b.readOnly,
    flush: true,
    reset: false,
    compare: false,
    compare_and_write: false,
    abort: false,
    write_zeroes: !b.readOnly,
    nvme_admin: false,
    nvme_io: false,
  };
  o.driver_specific = b.driverSpecific;
  return o;
}

export const bdevGetBdevs: RpcMethod = {
  name: 'bdev_get_bdevs',
  params: { schema: object({ name: str, timeout: u64 }, []), optional: true },
  decodeError: BDEV_DECODE_ERROR,
  handler: async (p, live) => {
    if (typeof p.name !== 'string') return live.bdevs.list().map(dumpBdev);
    const name = p.name;
    // timeout: how long (ms) to wait for the bdev to appear, as SPDK's.
    const deadline = Date.now() + (typeof p.timeout === 'number' ? Math.min(p.timeout, 600_000) : 0);
    for (;;) {
      const b = live.bdevs.get(name);
      if (b) return [dumpBdev(b)];
      if (Date.now() >= deadline) throw errnoError(Errno.ENODEV);
      await new Promise((r) => setTimeout(r, 20));
    }
  },
};

const BLOCK_SIZES = new Set([512, 4096]);

function blockSizeOf(v: Json | undefined, fallback: 512 | 4096): 512 | 4096 {
  if (v === undefined) return fallback;
  if (!BLOCK_SIZES.has(v as number)) throw errnoError(Errno.EINVAL, 'block_size must be 512 or 4096 here');
  return v as 512 | 4096;
}

function checkNewName(live: LiveTarget, name: string): void {
  if (name.length === 0) throw errnoError(Errno.EINVAL, 'name must not be empty');
  if (live.bdevs.has(name)) throw errnoError(Errno.EEXIST, `bdev "${name}" exists`);
}

function namespaceLike(backing: Backing, blockSize: 512 | 4096, id: string, readOnly: boolean): NamespaceConfig {
  return { nsid: 0, backing, blockSize, uuid: id, nguid: '', eui64: '', readOnly, enabled: true };
}

export const bdevMallocCreate: RpcMethod = {
  name: 'bdev_malloc_create',
  params: {
    schema: object(
      {
        name: str,
        block_size: u32,
        num_blocks: u64,
        uuid,
        optimal_io_boundary: u32,
        md_size: u32,
        md_interleave: bool,
        dif_type: i32,
        dif_is_head_of_md: bool,
        physical_block_size: u32,
        dif_pi_format: u32,
        numa_id: i32,
      },
      ['block_size', 'num_blocks'],
    ),
  },
  decodeError: BDEV_DECODE_ERROR,
  handler: (p, live) => {
    const name = typeof p.name === 'string' ? p.name : live.bdevs.nextMallocName();
    checkNewName(live, name);
    if (p.num_blocks === 0) throw errnoError(Errno.EINVAL, 'num_blocks must be greater than 0');
    if ((p.block_size as number) % 512 !== 0) throw errnoError(Errno.EINVAL, 'block_size must be a multiple of 512');
    const blockSize = blockSizeOf(p.block_size, 512);
    if (p.md_size || p.dif_type || p.md_interleave || p.dif_is_head_of_md) {
      throw errnoError(Errno.EOPNOTSUPP, 'metadata and protection information (md_size, dif_type) are not supported');
    }
    const size = (p.num_blocks as number) * blockSize;
    if (!Number.isSafeInteger(size)) throw errnoError(Errno.EINVAL, 'num_blocks * block_size is too large');
    let backend: RamBackend;
    // With I/O workers the memory is shared, so that a namespace over it can be served by them too.
    let ramShare: SharedArrayBuffer[] | null = null;
    try {
      if (live.workers) ramShare = allocateSharedRam(size);
      backend = new RamBackend(size, ramShare ?? undefined);
    } catch (err) {
      throw errnoError(Errno.ENOMEM, (err as Error).message);
    }
    const id = typeof p.uuid === 'string' ? p.uuid.toLowerCase() : BdevRegistry.randomUuid();
    live.bdevs.add({ name, productName: 'Malloc disk', blockSize, uuid: id, backing: { type: 'ram', size }, readOnly: false, backend, owned: true, driverSpecific: {}, ramShare, claimedBy: null });
    live.log.info({ bdev: name, size }, 'rpc: malloc bdev created');
    return name;
  },
};

async function createFileBdev(p: ParamsObject, live: LiveTarget, engine: 'fs' | 'uring'): Promise<Json> {
  const name = p.name as string;
  checkNewName(live, name);
  const filename = p.filename as string;
  let stat: fs.Stats;
  try {
    stat = fs.statSync(filename);
  } catch {
    throw errnoError(Errno.ENOENT, filename);
  }
  if (!stat.isFile() && !stat.isBlockDevice()) throw errnoError(Errno.EINVAL, `${filename} is neither a file nor a block device`);
  const blockSize = blockSizeOf(p.block_size, 512);
  const readOnly = p.readonly === true;
  const backing: Backing = stat.isBlockDevice() ? { type: 'block', path: filename } : { type: 'file', path: filename };
  const id = typeof p.uuid === 'string' ? p.uuid.toLowerCase() : BdevRegistry.randomUuid();
  let backend: Backend;
  try {
    backend = await openBackend(namespaceLike(backing, blockSize, id, readOnly), live.log, { engine });
  } catch (err) {
    throw errnoError(Errno.EINVAL, (err as Error).message);
  }
  const product = productOf(backend);
  if (engine === 'uring' && product !== 'URING bdev') {
    await backend.close();
    throw errnoError(Errno.EOPNOTSUPP, 'io_uring is not available here');
  }
  if (backend.sizeBytes < blockSize) {
    await backend.close();
    throw errnoError(Errno.EINVAL, `${filename} is smaller than one block`);
  }
  const driverSpecific: Record<string, Json> =
    engine === 'uring' ? { uring: { filename } } : { aio: { filename, block_size_override: p.block_size !== undefined, readonly: readOnly, fallocate: p.fallocate === true } };
  live.bdevs.add({ name, productName: product, blockSize, uuid: id, backing, readOnly, backend, owned: true, driverSpecific, claimedBy: null });
  live.log.info({ bdev: name, filename, engine: backend.engine }, 'rpc: file bdev created');
  return name;
}

export const bdevAioCreate: RpcMethod = {
  name: 'bdev_aio_create',
  params: { schema: object({ name: str, filename: str, block_size: u32, readonly: bool, fallocate: bool, uuid, nowait: bool }, ['name', 'filename']) },
  decodeError: BDEV_DECODE_ERROR,
  handler: (p, live) => createFileBdev(p, live, 'fs'),
};

export const bdevUringCreate: RpcMethod = {
  name: 'bdev_uring_create',
  params: { schema: object({ filename: str, name: str, block_size: u32, uuid }, ['filename', 'name']) },
  decodeError: BDEV_DECODE_ERROR,
  handler: (p, live) => createFileBdev(p, live, 'uring'),
};

/** bdev_*_delete: the bdev must be of that module's kind and not back a namespace. */
export function deleteMethod(name: string, product: Bdev['productName']): RpcMethod {
  return {
    name,
    params: { schema: object({ name: str }, ['name']) },
    decodeError: BDEV_DECODE_ERROR,
    handler: async (p, live) => {
      const b = live.bdevs.get(p.name as string);
      if (!b || b.productName !== product) throw errnoError(Errno.ENODEV);
      if (b.claimedBy) {
        // SPDK hot-removes the namespace; that needs the controllers to drop in-flight commands first.
        throw errnoError(
          Errno.EBUSY,
          `bdev "${b.name}" backs namespace ${b.claimedBy.nsid} of ${b.claimedBy.nqn}: remove the namespace first (nvmf_subsystem_remove_ns)`,
        );
      }
      live.bdevs.remove(b.name);
      // A bdev of the config file is closed by the target when it stops; one made by RPC now.
      if (b.owned) await b.backend.close();
      live.log.info({ bdev: b.name }, 'rpc: bdev deleted');
      return true;
    },
  };
}

export const bdevMallocDelete = deleteMethod('bdev_malloc_delete', 'Malloc disk');
export const bdevAioDelete = deleteMethod('bdev_aio_delete', 'AIO disk');
export const bdevUringDelete = deleteMethod('bdev_uring_delete', 'URING bdev');
