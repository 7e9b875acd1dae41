// Ceph RBD bdevs as SPDK's bdev_rbd module names them: bdev_rbd_register_cluster /
// bdev_rbd_unregister_cluster / bdev_rbd_get_clusters_info (named sets of connection settings),
// bdev_rbd_create (-> "Ceph<N>" unless named), bdev_rbd_delete, bdev_rbd_resize (new_size in MiB).
// Every thread that later serves a namespace over the bdev shares the one image handle the bdev opened.
import { RbdBackend, rbdName } from '../../backend/rbd.js';
import type { RbdBacking } from '../../config/types.js';
import { BdevRegistry, driverSpecific } from '../bdevs.js';
import type { Json } from '../json-value.js';
import type { LiveTarget } from '../live.js';
import { BDEV_DECODE_ERROR, object, str, u32, u64, uuid, type RpcMethod } from '../table.js';
import { deleteMethod } from './bdev.js';
import { Errno, errnoError } from './common.js';

interface RbdCluster {
  name: string;
  userId?: string;
  configFile?: string;
  keyFile?: string;
  configParam: Record<string, string>;
}

/** Registered clusters, per target (the RPC state lives as long as the target). */
const clusters = new WeakMap<LiveTarget, Map<string, RbdCluster>>();

function clustersOf(live: LiveTarget): Map<string, RbdCluster> {
  let m = clusters.get(live);
  if (!m) clusters.set(live, (m = new Map()));
  return m;
}

const stringMap = { type: 'object', additionalProperties: { type: 'string' } } as const;

function nextCephName(live: LiveTarget): string {
  for (let i = 0; ; i++) if (!live.bdevs.has(`Ceph${i}`)) return `Ceph${i}`;
}

export const bdevRbdRegisterCluster: RpcMethod = {
  name: 'bdev_rbd_register_cluster',
  params: { schema: object({ name: str, user_id: str, config_param: stringMap, config_file: str, key_file: str, core_mask: str }, ['name']) },
  decodeError: BDEV_DECODE_ERROR,
  handler: (p, live) => {
    const m = clustersOf(live);
    const name = p.name as string;
    if (m.has(name)) throw errnoError(Errno.EEXIST, `cluster "${name}" is registered`);
    const c: RbdCluster = { name, configParam: { ...((p.config_param as Record<string, string> | undefined) ?? {}) } };
    if (typeof p.user_id === 'string') c.userId = p.user_id;
    if (typeof p.config_file === 'string') c.configFile = p.config_file;
    if (typeof p.key_file === 'string') c.keyFile = p.key_file;
    m.set(name, c);
    live.log.info({ cluster: name }, 'rpc: rbd cluster registered');
    return name;
  },
};

export const bdevRbdUnregisterCluster: RpcMethod = {
  name: 'bdev_rbd_unregister_cluster',
  params: { schema: object({ name: str }, ['name']) },
  decodeError: BDEV_DECODE_ERROR,
  handler: (p, live) => {
    const m = clustersOf(live);
    const name = p.name as string;
    if (!m.has(name)) throw errnoError(Errno.ENOENT, `cluster "${name}" is not registered`);
    const user = live.bdevs.list().find((b) => b.backing.type === 'rbd' && (b.driverSpecific.rbd as { cluster_name?: string } | undefined)?.cluster_name === name);
    if (user) throw errnoError(Errno.EBUSY, `bdev "${user.name}" uses cluster "${name}"`);
    m.delete(name);
    return true;
  },
};

export const bdevRbdGetClustersInfo: RpcMethod = {
  name: 'bdev_rbd_get_clusters_info',
  params: { schema: object({ name: str }, []), optional: true },
  decodeError: BDEV_DECODE_ERROR,
  handler: (p, live) => {
    const m = clustersOf(live);
    const dump = (c: RbdCluster): Json => ({
      cluster_name: c.name,
      ...(c.userId ? { user_id: c.userId } : {}),
      ...(Object.keys(c.configParam).length ? { config_param: c.configParam } : {}),
      ...(c.configFile ? { config_file: c.configFile } : {}),
      ...(c.keyFile ? { key_file: c.keyFile } : {}),
    });
    if (typeof p.name === 'string') {
      const c = m.get(p.name);
      if (!c) throw errnoError(Errno.ENOENT, `cluster "${p.name}" is not registered`);
      return dump(c);
    }
    return [...m.values()].map(dump);
  },
};

export const bdevRbdCreate: RpcMethod = {
  name: 'bdev_rbd_create',
  params: {
    schema: object({ name: str, user_id: str, pool_name: str, rbd_name: str, block_size: u32, config: stringMap, cluster_name: str, uuid, read_only: { type: 'boolean' } }, [
      'pool_name',
      'rbd_name',
      'block_size',
    ]),
  },
  decodeError: BDEV_DECODE_ERROR,
  handler: async (p, live) => {
    const name = typeof p.name === 'string' ? p.name : nextCephName(live);
    if (name.length === 0) throw errnoError(Errno.EINVAL, 'name must not be empty');
    if (live.bdevs.has(name)) throw errnoError(Errno.EEXIST, `bdev "${name}" exists`);
    if (p.block_size !== 512 && p.block_size !== 4096) throw errnoError(Errno.EINVAL, 'block_size must be 512 or 4096 here');
    const blockSize = p.block_size;
    const options: Record<string, string> = {};
    let user = typeof p.user_id === 'string' ? p.user_id : undefined;
    let cephConf: string | undefined;
    if (typeof p.cluster_name === 'string') {
      const c = clustersOf(live).get(p.cluster_name);
      if (!c) throw errnoError(Errno.ENOENT, `cluster "${p.cluster_name}" is not registered`);
      Object.assign(options, c.configParam);
      if (c.keyFile) options.keyring = c.keyFile;
      cephConf = c.configFile;
      user ??= c.userId;
    }
    Object.assign(options, (p.config as Record<string, string> | undefined) ?? {});
    // SPDK's config map may name the file to read; librados takes it as an option too.
    if (options.config_file !== undefined) {
      cephConf ??= options.config_file;
      delete options.config_file;
    }
    const backing: RbdBacking = { type: 'rbd', pool: p.pool_name as string, image: p.rbd_name as string, user: user ?? 'admin' };
    if (cephConf) backing.cephConf = cephConf;
    if (Object.keys(options).length) backing.options = options;
    const readOnly = p.read_only === true;
    let backend: RbdBackend;
    try {
      backend = await RbdBackend.open(backing, { blockSize, readOnly }, live.log);
    } catch (err) {
      throw errnoError(Errno.EINVAL, (err as Error).message);
    }
    const id = typeof p.uuid === 'string' ? p.uuid.toLowerCase() : BdevRegistry.randomUuid();
    const ds = driverSpecific(backing, backend, readOnly);
    if (typeof p.cluster_name === 'string') (ds.rbd as Record<string, Json>).cluster_name = p.cluster_name;
    live.bdevs.add({ name, productName: 'Ceph Rbd Disk', blockSize, uuid: id, backing, readOnly, backend, owned: true, driverSpecific: ds, claimedBy: null });
    live.log.info({ bdev: name, image: rbdName(backing), sizeBytes: backend.sizeBytes }, 'rpc: rbd bdev created');
    return name;
  },
};

export const bdevRbdResize: RpcMethod = {
  name: 'bdev_rbd_resize',
  params: { schema: object({ name: str, new_size: u64 }, ['name', 'new_size']) },
  decodeError: BDEV_DECODE_ERROR,
  handler: async (p, live) => {
    const b = live.bdevs.get(p.name as string);
    if (!b || b.productName !== 'Ceph Rbd Disk' || !(b.backend instanceof RbdBackend)) throw errnoError(Errno.ENODEV);
    const bytes = (p.new_size as number) * 1024 * 1024;
    if (bytes < b.backend.sizeBytes) throw errnoError(Errno.EINVAL, 'an RBD bdev only grows here (new_size is in MiB)');
    // The image is resized by librbd; the header watch then applies it like any other resize.
    try {
      await b.backend.resizeImage(bytes);
    } catch (err) {
      throw errnoError(Errno.EIO, (err as Error).message);
    }
    return true;
  },
};

export const bdevRbdDelete = deleteMethod('bdev_rbd_delete', 'Ceph Rbd Disk');
