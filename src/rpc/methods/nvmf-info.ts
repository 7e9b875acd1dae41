// Read-only views of the running target in SPDK's JSON shapes (nvmf_get_subsystems,
// nvmf_subsystem_get_controllers, nvmf_subsystem_get_qpairs, nvmf_get_stats, nvmf_get_transports),
// and nvmf_create_transport.
import type { SubsystemHostKeys } from '../../config/types.js';
import { anaStateName } from '../../core/ana.js';
import type { Controller, ControllerQueue } from '../../core/controller.js';
import type { Subsystem } from '../../core/subsystem.js';
import type { Json } from '../json-value.js';
import type { LiveTarget } from '../live.js';
import { object, str, u16, u32, bool, type ParamsObject, type RpcMethod } from '../table.js';
import { RpcCode, RpcError } from '../wire.js';
import { checkTarget, findSubsystem, isAllZero, listenAddress, uuidText } from './common.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex').toUpperCase();

function dumpSubsystem(live: LiveTarget, s: Subsystem<Controller>): Json {
  const c = s.config;
  const namespaces: Json[] = [];
  for (const nsid of s.activeNsids()) {
    const ns = s.namespaces.get(nsid)!;
    const bdev = live.bdevs.claimedBy(s.nqn, nsid)?.name ?? `${s.nqn}:ns${nsid}`;
    const o: { [k: string]: Json } = { nsid, bdev_name: bdev, name: bdev };
    if (!isAllZero(ns.nguid)) o.nguid = hex(ns.nguid);
    if (!isAllZero(ns.eui64)) o.eui64 = hex(ns.eui64);
    if (!isAllZero(ns.uuid)) o.uuid = uuidText(ns.uuid);
    namespaces.push(o);
  }
  return {
    nqn: s.nqn,
    subtype: 'NVMe',
    listen_addresses: live.config.ports.filter((p) => p.subsystems.includes(s.nqn)).map(listenAddress),
    allow_any_host: c.allowAnyHost,
    hosts: c.allowedHosts.map((nqn) => hostEntry(nqn, c.hostKeys?.[nqn])),
    serial_number: c.serial,
    model_number: c.model,
    max_namespaces: c.maxNamespaces,
    passthrough: false,
    min_cntlid: c.cntlidMin,
    max_cntlid: c.cntlidMax,
    namespaces,
  };
}

export const nvmfGetSubsystems: RpcMethod = {
  name: 'nvmf_get_subsystems',
  params: { schema: object({ nqn: str, tgt_name: str }, []), optional: true },
  handler: (p, live) => {
    checkTarget(p);
    if (typeof p.nqn === 'string') {
      if (p.nqn === live.ctx.discoveryNqn) return [dumpDiscovery(live)];
      return [dumpSubsystem(live, findSubsystem(live, p))];
    }
    return [dumpDiscovery(live), ...[...live.ctx.subsystems.values()].map((s) => dumpSubsystem(live, s))];
  },
};

/** A host as SPDK lists it: its NQN and the names (never the secrets) of its DH-HMAC-CHAP keys. */
function hostEntry(nqn: string, k: SubsystemHostKeys | undefined): Json {
  return {
    nqn,
    ...(k?.dhchapKeyRef ? { dhchap_key: k.dhchapKeyRef.name } : {}),
    ...(k?.dhchapCtrlKeyRef ? { dhchap_ctrlr_key: k.dhchapCtrlKeyRef.name } : {}),
  };
}

/** The discovery subsystem: every port here also answers discovery. */
function dumpDiscovery(live: LiveTarget): Json {
  const hosts = Object.entries(live.ctx.discoveryHostKeys).map(([nqn, k]) => hostEntry(nqn, k));
  return { nqn: live.ctx.discoveryNqn, subtype: 'Discovery', listen_addresses: live.config.ports.map(listenAddress), allow_any_host: true, hosts };
}

export const nvmfSubsystemGetListeners: RpcMethod = {
  name: 'nvmf_subsystem_get_listeners',
  params: { schema: object({ nqn: str, tgt_name: str }, ['nqn']) },
  handler: (p, live) => {
    checkTarget(p);
    const nqn = p.nqn as string;
    if (nqn === live.ctx.discoveryNqn) return live.config.ports.map((x) => ({ address: listenAddress(x) }));
    const s = findSubsystem(live, p);
    // The ANA state of each group holding namespaces of the subsystem, on that listener.
    const groups = [...new Set([...s.namespaces.values()].map((ns) => ns.anaGroup))].sort((a, b) => a - b);
    return live.config.ports
      .filter((x) => x.subsystems.includes(s.nqn))
      .map((x) => ({
        address: listenAddress(x),
        ana_states: groups.map((g) => ({ ana_group: g, ana_state: anaStateName(live.ctx.ana.state(x.id, g)).replace('-', '_') })),
      }));
  },
};

function ioQueues(ctrl: Controller): ControllerQueue[] {
  return [...ctrl.queues.values()].filter((q) => q.qid > 0);
}

export const nvmfSubsystemGetControllers: RpcMethod = {
  name: 'nvmf_subsystem_get_controllers',
  params: { schema: object({ nqn: str, tgt_name: str }, ['nqn']) },
  handler: (p, live) =>
    [...findSubsystem(live, p).controllers.values()].map((c) => ({
      cntlid: c.cntlid,
      cntrltype: c.isDiscovery ? 'discovery' : 'io',
      hostnqn: c.hostnqn,
      hostid: uuidText(c.hostid),
      num_io_qpairs: ioQueues(c).length,
    })),
};

/** Where a queue's commands run: the main thread or worker i, by SPDK's poll group thread names. */
function threadName(live: LiveTarget, ctrl: Controller, q: ControllerQueue): string {
  if (q.qid > 0 && live.workers) {
    for (const w of live.workers.info()) {
      if (w.queues.some((x) => x.cntlid === ctrl.cntlid && x.qid === q.qid && x.peer === q.peer)) return `nvmf_tgt_poll_group_${String(w.index + 1).padStart(3, '0')}`;
    }
  }
  return 'nvmf_tgt_poll_group_000';
}

function peerAddress(q: ControllerQueue): Json {
  const at = q.peer.lastIndexOf(':');
  const addr = at >= 0 ? q.peer.slice(0, at).replace(/^\[|\]$/g, '') : q.peer;
  return { trtype: 'TCP', adrfam: addr.includes(':') ? 'IPv6' : 'IPv4', traddr: addr, trsvcid: at >= 0 ? q.peer.slice(at + 1) : '' };
}

export const nvmfSubsystemGetQpairs: RpcMethod = {
  name: 'nvmf_subsystem_get_qpairs',
  params: { schema: object({ nqn: str, tgt_name: str }, ['nqn']) },
  handler: (p, live) => {
    const out: Json[] = [];
    for (const c of findSubsystem(live, p).controllers.values()) {
      for (const q of [...c.queues.values()].sort((a, b) => a.qid - b.qid)) {
        out.push({
          cntlid: c.cntlid,
          qid: q.qid,
          state: 'enabled',
          thread: threadName(live, c, q),
          hostnqn: c.hostnqn,
          listen_address: listenAddress(q.port),
          peer_address: peerAddress(q),
        });
      }
    }
    return out;
  },
};

export const nvmfGetStats: RpcMethod = {
  name: 'nvmf_get_stats',
  params: { schema: object({ tgt_name: str }, []), optional: true },
  handler: (p, live) => {
    checkTarget(p);
    const { main, workers } = live.stats();
    let admin = 0;
    let mainIo = 0;
    const all = [...live.ctx.subsystems.values()].flatMap((s) => [...s.controllers.values()]);
    all.push(...live.ctx.discoveryControllers());
    for (const c of all) {
      for (const q of c.queues.values()) {
        if (q.qid === 0) admin++;
        else if (threadName(live, c, q) === 'nvmf_tgt_poll_group_000') mainIo++;
      }
    }
    const group = (name: string, adminQ: number, ioQ: number, s: typeof main): Json => ({
      name,
      admin_qpairs: adminQ,
      io_qpairs: ioQ,
      current_admin_qpairs: adminQ,
      current_io_qpairs: ioQ,
      current_unassociated_qpairs: 0,
      pending_bdev_io: s.inflight,
      completed_nvme_io: s.commands,
      transports: [{ trtype: 'TCP' }],
      // nvmetd's own counters.
      bytes_read: s.bytesRead,
      bytes_written: s.bytesWritten,
      errors: s.errors,
      latency_p50_us: s.latencyP50Us,
      latency_p99_us: s.latencyP99Us,
    });
    return {
      tick_rate: 1_000_000,
      poll_groups: [
        group('nvmf_tgt_poll_group_000', admin, mainIo, main),
        ...workers.map((w) => group(`nvmf_tgt_poll_group_${String(w.index + 1).padStart(3, '0')}`, 0, w.queues.length, w.stats)),
      ],
    };
  },
};

export const nvmfGetTransports: RpcMethod = {
  name: 'nvmf_get_transports',
  params: { schema: object({ tgt_name: str, trtype: str }, []), optional: true },
  handler: (p, live) => {
    checkTarget(p);
    if (typeof p.trtype === 'string' && p.trtype.toUpperCase() !== 'TCP') throw new RpcError(-19, 'No such device');
    return [live.transport.describe()];
  },
};

const transportSchema = object(
  {
    trtype: str,
    tgt_name: str,
    max_queue_depth: u16,
    max_io_qpairs_per_ctrlr: u16,
    in_capsule_data_size: u32,
    max_io_size: u32,
    io_unit_size: u32,
    max_aq_depth: u32,
    num_shared_buffers: u32,
    buf_cache_size: u32,
    iobuf_small_cache_size: u32,
    iobuf_large_cache_size: u32,
    zcopy: bool,
    c2h_success: bool,
    dif_insert_or_strip: bool,
    sock_priority: u32,
    abort_timeout_sec: u32,
    ack_timeout: u32,
    control_msg_num: u16,
    disable_command_passthru: bool,
    kas: u16,
    min_kato: u32,
  },
  ['trtype'],
  false,
);

/** Checks the options that are applied against what this target's ports take. */
function checkTransportOpts(p: ParamsObject): void {
  const bad = (detail: string): never => {
    throw new RpcError(RpcCode.INVALID_PARAMS, 'Invalid parameters', detail);
  };
  const icd = p.in_capsule_data_size;
  if (typeof icd === 'number' && (icd % 16 !== 0 || icd > 1048576)) bad('in_capsule_data_size must be a multiple of 16 from 0 to 1048576');
  const qd = p.max_queue_depth;
  if (typeof qd === 'number' && qd < 32) bad('max_queue_depth must be from 32 to 65535');
  const io = p.max_io_size;
  if (typeof io === 'number' && (io % 4 !== 0 || io < 4096)) bad('max_io_size (MAXH2CDATA here) must be a multiple of 4 from 4096');
}

export const nvmfCreateTransport: RpcMethod = {
  name: 'nvmf_create_transport',
  params: { schema: transportSchema },
  handler: (p, live) => {
    checkTarget(p);
    const trtype = p.trtype as string;
    if (trtype.toUpperCase() !== 'TCP') throw new RpcError(RpcCode.INVALID_PARAMS, `Invalid transport type '${trtype}'`);
    if (live.transport.created) throw new RpcError(RpcCode.INTERNAL_ERROR, `Transport type '${trtype}' already exists`);
    checkTransportOpts(p);
    if (live.workers && live.transport.changesPorts(p)) {
      // The I/O workers hold their own copy of each port's settings: a change would reach the
      // ICResp sent by the main thread but not the checks on the workers.
      throw new RpcError(
        RpcCode.INVALID_STATE,
        'changing in_capsule_data_size, max_queue_depth or max_io_size is not yet supported while I/O worker threads run (shard.workers > 0)',
      );
    }
    live.transport.apply(p);
    live.log.info({ transport: live.transport.describe() }, 'rpc: TCP transport options set (applied to new connections)');
    return true;
  },
};
