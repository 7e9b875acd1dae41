// nvmf_create_subsystem, nvmf_delete_subsystem, nvmf_subsystem_add_ns, nvmf_subsystem_remove_ns.
// Applied on the running target. A namespace change is made on the main thread, then on every I/O
// worker (each holds its own copy of the subsystem); the answer comes once all have applied it, and
// only then are connected controllers told (Namespace Attribute Changed event). Subsystems made and
// deleted reach the workers the same way. Deleting a subsystem disconnects its controllers, as SPDK
// does.
import type { Controller } from '../../core/controller.js';
import type { NamespaceConfig, SubsystemConfig } from '../../config/types.js';
import { deriveEui64, deriveNguid, deriveSerial } from '../../config/ids.js';
import { nqnProblem } from '../../config/nqn.js';
import { defaultFirmware } from '../../config/version.js';
import { Namespace } from '../../core/namespace.js';
import { ANA_GROUP_MAX } from '../../spec/log.js';
import { Subsystem } from '../../core/subsystem.js';
import type { Json } from '../json-value.js';
import type { LiveTarget } from '../live.js';
import type { Bdev } from '../bdevs.js';
import { bool, object, str, u16, u32, u8, uuid, type RpcMethod } from '../table.js';
import { RpcCode, RpcError } from '../wire.js';
import { findSubsystem, invalidParams } from './common.js';
import { followBackendSize } from './resize.js';

const PRINTABLE = /^[\x20-\x7e]*$/;
/** SPDK's defaults for a subsystem made by RPC. */
const SPDK_SERIAL_DEFAULT = '00000000000000000000';
const SPDK_MODEL_DEFAULT = 'SPDK bdev Controller';
const SPDK_MAX_NAMESPACES_DEFAULT = 32;
const MAX_CNTLID = 0xffef;

export const nvmfCreateSubsystem: RpcMethod = {
  name: 'nvmf_create_subsystem',
  params: {
    schema: object(
      {
        nqn: str,
        tgt_name: str,
        serial_number: str,
        model_number: str,
        admin_label: str,
        max_namespaces: u32,
        allow_any_host: bool,
        ana_reporting: bool,
        min_cntlid: u16,
        max_cntlid: u16,
        dmrsl: u32,
        wzsl: u8,
        passthrough: bool,
        enable_nssr: bool,
      },
      ['nqn'],
    ),
  },
  handler: async (p, live) => {
    const tgt = p.tgt_name;
    if (typeof tgt === 'string' && tgt !== 'nvmf_tgt') throw new RpcError(RpcCode.INTERNAL_ERROR, `Unable to find target ${tgt}`);
    const nqn = p.nqn as string;
    const serial = typeof p.serial_number === 'string' ? p.serial_number : SPDK_SERIAL_DEFAULT;
    const model = typeof p.model_number === 'string' ? p.model_number : SPDK_MODEL_DEFAULT;
    if (serial.length === 0 || serial.length > 20 || !PRINTABLE.test(serial)) throw invalidParams('serial_number: 1 to 20 printable ASCII characters');
    if (model.length === 0 || model.length > 40 || !PRINTABLE.test(model)) throw invalidParams('model_number: 1 to 40 printable ASCII characters');
    for (const unsupported of ['ana_reporting', 'passthrough', 'enable_nssr'] as const) {
      if (p[unsupported] === true) throw invalidParams(`${unsupported} is not supported here`);
    }
    const problem = nqnProblem(nqn);
    // In the config: a subsystem still being made on the workers holds its NQN.
    if (problem || nqn === live.ctx.discoveryNqn || live.ctx.subsystems.has(nqn) || live.config.subsystems.some((x) => x.nqn === nqn)) {
      throw new RpcError(RpcCode.INTERNAL_ERROR, `Unable to create subsystem ${nqn}`, problem ?? 'a subsystem with this NQN exists');
    }
    const min = typeof p.min_cntlid === 'number' ? p.min_cntlid : 1;
    const max = typeof p.max_cntlid === 'number' ? p.max_cntlid : MAX_CNTLID;
    if (min < 1 || max > MAX_CNTLID || min > max) throw new RpcError(RpcCode.INVALID_PARAMS, `Invalid cntlid range [${min}-${max}]`);
    // max_namespaces 0 means "no limit" to SPDK: here the limit is the largest nsid.
    const maxNs = p.max_namespaces === 0 ? 4294967294 : typeof p.max_namespaces === 'number' ? p.max_namespaces : SPDK_MAX_NAMESPACES_DEFAULT;
    const sc: SubsystemConfig = {
      nqn,
      serial: serial === SPDK_SERIAL_DEFAULT && p.serial_number === undefined ? deriveSerial(nqn) : serial,
      model,
      firmware: defaultFirmware(),
      allowAnyHost: p.allow_any_host === true,
      allowedHosts: [],
      maxNamespaces: maxNs,
      cntlidMin: min,
      cntlidMax: max,
      namespaces: [],
    };
    await createSubsystem(live, sc);
    return true;
  },
};

export const nvmfDeleteSubsystem: RpcMethod = {
  name: 'nvmf_delete_subsystem',
  params: { schema: object({ nqn: str, tgt_name: str }, ['nqn']) },
  handler: async (p, live) => {
    await deleteSubsystem(live, findSubsystem(live, p));
    return true;
  },
};

/** A namespace identifier given as hex digits (SPDK answers "Invalid nguid" / "Invalid eui64"). */
function hexId(v: Json | undefined, bytes: number, what: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`).test(v)) throw new RpcError(RpcCode.INVALID_PARAMS, `Invalid ${what}`);
  // All zeroes means "none" to SPDK: here the stable derived identifier is used then.
  return /^0+$/.test(v) ? undefined : v.toLowerCase();
}

export const nvmfSubsystemAddNs: RpcMethod = {
  name: 'nvmf_subsystem_add_ns',
  params: {
    schema: object(
      {
        nqn: str,
        tgt_name: str,
        namespace: object(
          { nsid: u32, bdev_name: str, nguid: str, eui64: str, uuid, ptpl_file: str, anagrpid: u32, no_auto_visible: bool, hide_metadata: bool },
          ['bdev_name'],
        ),
      },
      ['nqn', 'namespace'],
      false,
    ),
  },
  handler: async (p, live) => {
    const s = findSubsystem(live, p);
    const n = p.namespace as { [k: string]: Json };
    const nguidGiven = hexId(n.nguid, 16, 'nguid');
    const eui64Given = hexId(n.eui64, 8, 'eui64');
    const ptplFile = typeof n.ptpl_file === 'string' ? n.ptpl_file : undefined;
    if (ptplFile !== undefined) {
      if (ptplFile.trim() === '') throw invalidParams('ptpl_file must not be empty');
      const inUse = live.config.subsystems.some((x) => x.namespaces.some((y) => y.ptplFile === ptplFile || ('path' in y.backing && y.backing.path === ptplFile)));
      if (inUse) throw invalidParams(`ptpl_file ${ptplFile} is in use by another namespace`);
    }
    if (typeof n.anagrpid === 'number' && n.anagrpid > ANA_GROUP_MAX) throw invalidParams(`anagrpid ${n.anagrpid} is out of range (1 to ${ANA_GROUP_MAX})`);
    const bdev = live.bdevs.get(n.bdev_name as string);
    if (!bdev) throw invalidParams(`bdev "${String(n.bdev_name)}" not found`);
    if (bdev.claimedBy) throw invalidParams(`bdev "${bdev.name}" already backs namespace ${bdev.claimedBy.nsid} of ${bdev.claimedBy.nqn}`);
    const max = s.config.maxNamespaces;
    // In the config: a change still being applied on the workers holds its nsid.
    const taken = (id: number): boolean => s.namespaces.has(id) || s.config.namespaces.some((x) => x.nsid === id);
    let nsid = typeof n.nsid === 'number' ? n.nsid : 0;
    if (nsid === 0) {
      nsid = 1;
      while (taken(nsid)) nsid++;
      if (nsid > max) throw invalidParams(`no free nsid: max_namespaces is ${max}`);
    } else if (nsid > max || nsid === 0xffffffff) {
      throw invalidParams(`nsid ${nsid} is above max_namespaces (${max})`);
    } else if (taken(nsid)) {
      throw invalidParams(`nsid ${nsid} is in use`);
    }
    const pool = live.workers;
    if (pool && bdev.backing.type === 'ram' && !bdev.ramShare) throw invalidParams(`bdev "${bdev.name}" is not in memory the I/O workers can share`);
    const nc: NamespaceConfig = {
      nsid,
      backing: bdev.backing,
      blockSize: bdev.blockSize,
      // Like SPDK, the namespace takes the bdev's UUID unless one is given.
      uuid: typeof n.uuid === 'string' ? n.uuid.toLowerCase() : bdev.uuid,
      nguid: nguidGiven ?? deriveNguid(s.nqn, nsid),
      eui64: eui64Given ?? deriveEui64(s.nqn, nsid),
      readOnly: bdev.readOnly,
      enabled: true,
      anaGroup: typeof n.anagrpid === 'number' && n.anagrpid !== 0 ? n.anagrpid : 1,
      ...(ptplFile !== undefined ? { ptplFile } : {}),
      // Not auto visible: no host sees it until nvmf_ns_add_host names one (ns-hosts.ts).
      ...(n.no_auto_visible === true ? { hosts: [] } : {}),
    };
    await addNamespace(live, s, nc, bdev);
    return nsid;
  },
};

export const nvmfSubsystemRemoveNs: RpcMethod = {
  name: 'nvmf_subsystem_remove_ns',
  params: { schema: object({ nqn: str, nsid: u32, tgt_name: str }, ['nqn', 'nsid']) },
  handler: async (p, live) => {
    const s = findSubsystem(live, p);
    const nsid = p.nsid as number;
    const i = s.config.namespaces.findIndex((x) => x.nsid === nsid);
    // Not in the config: never added, or a removal of it is under way.
    if (!s.namespaces.has(nsid) || i < 0) throw invalidParams(`namespace ${nsid} not found`);
    await removeNamespace(live, s, nsid, i);
    return true;
  },
};

/** Makes subsystem `sc` on the main thread and the I/O workers (the change path of the RPC and of reload). */
export async function createSubsystem(live: LiveTarget, sc: SubsystemConfig, via = 'rpc'): Promise<void> {
  const nqn = sc.nqn;
  live.config.subsystems.push(sc);
  if (live.workers) {
    try {
      await live.workers.addSubsystem(sc);
    } catch (err) {
      live.config.subsystems.splice(live.config.subsystems.indexOf(sc), 1);
      await live.workers.removeSubsystem(nqn).catch(() => undefined);
      throw new RpcError(RpcCode.INTERNAL_ERROR, `Unable to create subsystem ${nqn}`, `the I/O workers: ${(err as Error).message}`);
    }
  }
  live.ctx.subsystems.set(nqn, new Subsystem<Controller>(sc));
  live.log.info({ subnqn: nqn, workers: live.workers ? 'applied' : 'none' }, `${via}: subsystem created`);
}

/** Deletes subsystem `s`: gone for new connections, its controllers disconnected, off every port. */
export async function deleteSubsystem(live: LiveTarget, s: Subsystem<Controller>, via = 'rpc'): Promise<void> {
  // Gone for new connections first, then everyone connected is disconnected.
  live.ctx.subsystems.delete(s.nqn);
  const victims = [...s.controllers.values()];
  for (const c of victims) c.teardown(`subsystem ${s.nqn} deleted (${via === 'rpc' ? 'nvmf_delete_subsystem' : via})`);
  const i = live.config.subsystems.findIndex((x) => x.nqn === s.nqn);
  if (i >= 0) live.config.subsystems.splice(i, 1);
  for (const port of live.config.ports) {
    const j = port.subsystems.indexOf(s.nqn);
    if (j >= 0) port.subsystems.splice(j, 1);
  }
  for (const nsid of s.activeNsids()) {
    const b = live.bdevs.claimedBy(s.nqn, nsid);
    if (b) b.claimedBy = null;
  }
  // The workers close their copies of its namespaces once their queues of it have closed.
  if (live.workers) await live.workers.removeSubsystem(s.nqn);
  live.ctx.discoveryChanged();
  live.log.info({ subnqn: s.nqn, disconnected: victims.length }, `${via}: subsystem deleted (${victims.length} controller(s) disconnected)`);
}

/** Exposes bdev `bdev` as namespace `nc` of `s`, on the main thread and the I/O workers; controllers are told. */
export async function addNamespace(live: LiveTarget, s: Subsystem<Controller>, nc: NamespaceConfig, bdev: Bdev, via = 'rpc'): Promise<void> {
  const nsid = nc.nsid;
  const pool = live.workers;
  const nsStats = pool ? pool.namespaceStats() : undefined;
  const ns = new Namespace(nc, bdev.backend, nsStats, 0);
  // A reservation persisted in ptpl_file comes back with the namespace (a broken file refuses it).
  try {
    await live.ctx.reservations.restore([{ nqn: s.nqn, ns }]);
  } catch (err) {
    live.ctx.reservations.forget(ns);
    throw invalidParams((err as Error).message);
  }
  // In the config first: a worker started from now on builds it too.
  s.config.namespaces.push(nc);
  bdev.claimedBy = { nqn: s.nqn, nsid };
  if (pool) {
    try {
      await pool.changeNamespace({ op: 'ns-add', subnqn: s.nqn, ns: nc, ramShare: bdev.ramShare ?? null, nsStats: nsStats! });
    } catch (err) {
      // Undone everywhere: the workers that added it remove it again.
      s.config.namespaces.splice(s.config.namespaces.indexOf(nc), 1);
      bdev.claimedBy = null;
      live.ctx.reservations.forget(ns);
      await pool.changeNamespace({ op: 'ns-remove', subnqn: s.nqn, nsid }).catch(() => undefined);
      live.log.error({ subnqn: s.nqn, nsid, bdev: bdev.name, err }, `${via}: namespace not added: the I/O workers could not open it`);
      throw new RpcError(RpcCode.INTERNAL_ERROR, 'Internal error', `the I/O workers could not add the namespace: ${(err as Error).message}`);
    }
  }
  s.addNamespace(ns);
  followBackendSize(live, s, ns);
  live.log.info({ subnqn: s.nqn, nsid, bdev: bdev.name, workers: pool ? 'applied' : 'none' }, `${via}: namespace added`);
}

/** Removes namespace `nsid` (at index `i` of the subsystem's config) everywhere; controllers are told. Its bdev stays. */
export async function removeNamespace(live: LiveTarget, s: Subsystem<Controller>, nsid: number, i: number, via = 'rpc'): Promise<void> {
  const b = live.bdevs.claimedBy(s.nqn, nsid);
  const pool = live.workers;
  // A RAM namespace of the config file keeps its shared memory with its bdev, to be added again.
  if (pool && b && b.backing.type === 'ram' && !b.ramShare) b.ramShare = pool.ramShare(s.nqn, nsid);
  // Out of the config first: a worker started from now on does not build it.
  s.config.namespaces.splice(i, 1);
  if (pool) {
    try {
      await pool.changeNamespace({ op: 'ns-remove', subnqn: s.nqn, nsid });
    } catch (err) {
      // A worker that did not have it has nothing to serve: the removal stands.
      live.log.warn({ subnqn: s.nqn, nsid, err }, `${via}: namespace removal: a worker did not hold it`);
    }
  }
  const gone = s.removeNamespace(nsid);
  if (gone) live.ctx.reservations.forget(gone);
  if (b) b.claimedBy = null;
  live.log.info({ subnqn: s.nqn, nsid, workers: pool ? 'applied' : 'none' }, `${via}: namespace removed`);
}
