// framework_get_subsystems and framework_get_config: what SPDK's `rpc.py save_config` asks for. The
// running state is described as SPDK does, as the method calls that rebuild it, in two framework
// subsystems: "bdev" (one bdev_*_create per bdev) and "nvmf" (the TCP transport, then per subsystem
// nvmf_create_subsystem, its listeners, hosts, namespaces and non-optimized ANA states).
// `rpc.py load_config` replays such a list against a target (this one or SPDK's). nvmetd's own
// config file (nvmetd_save_config) is the complete form: RAM delays, read-only files, buffered I/O
// and other options SPDK's methods have no names for are only there.
import type { Controller } from '../../core/controller.js';
import type { Subsystem } from '../../core/subsystem.js';
import { ANA_GROUP_MAX, AnaStateCode } from '../../spec/log.js';
import { numBlocks, type Bdev } from '../bdevs.js';
import type { Json } from '../json-value.js';
import type { LiveTarget } from '../live.js';
import { object, str, type RpcMethod } from '../table.js';
import { RpcCode, RpcError } from '../wire.js';
import { isAllZero, listenAddress, uuidText } from './common.js';

type Call = { method: string; params: { [k: string]: Json } };

const SUBSYSTEMS: { subsystem: string; depends_on: string[] }[] = [
  { subsystem: 'bdev', depends_on: [] },
  { subsystem: 'nvmf', depends_on: ['bdev'] },
];

/** The RPC's ANA state names by state code. */
const ANA_RPC_NAMES: Record<number, string> = {
  [AnaStateCode.NON_OPTIMIZED]: 'non_optimized',
  [AnaStateCode.INACCESSIBLE]: 'inaccessible',
  [AnaStateCode.PERSISTENT_LOSS]: 'persistent_loss',
  [AnaStateCode.CHANGE]: 'change',
};

function bdevCall(b: Bdev): Call {
  if (b.backing.type === 'ram') {
    return { method: 'bdev_malloc_create', params: { name: b.name, num_blocks: numBlocks(b), block_size: b.blockSize, uuid: b.uuid } };
  }
  if (b.backing.type === 'rbd') {
    const r = b.backing;
    const config: { [k: string]: Json } = { ...(r.options ?? {}), ...(r.cephConf ? { config_file: r.cephConf } : {}) };
    return { method: 'bdev_rbd_create', params: { name: b.name, pool_name: r.pool, rbd_name: r.image, block_size: b.blockSize, user_id: r.user, uuid: b.uuid, ...(Object.keys(config).length ? { config } : {}) } };
  }
  const params: { [k: string]: Json } = { name: b.name, filename: b.backing.path, block_size: b.blockSize, uuid: b.uuid };
  if (b.productName === 'URING bdev') return { method: 'bdev_uring_create', params };
  if (b.readOnly) params.readonly = true;
  return { method: 'bdev_aio_create', params };
}

function bdevConfig(live: LiveTarget): Call[] {
  return live.bdevs.list().map(bdevCall);
}

function subsystemCalls(live: LiveTarget, s: Subsystem<Controller>): Call[] {
  const c = s.config;
  const nqn = s.nqn;
  const out: Call[] = [
    {
      method: 'nvmf_create_subsystem',
      params: { nqn, serial_number: c.serial, model_number: c.model, allow_any_host: c.allowAnyHost, max_namespaces: c.maxNamespaces, min_cntlid: c.cntlidMin, max_cntlid: c.cntlidMax },
    },
  ];
  const ports = live.config.ports.filter((p) => p.subsystems.includes(nqn));
  for (const p of ports) out.push({ method: 'nvmf_subsystem_add_listener', params: { nqn, listen_address: listenAddress(p) } });
  for (const host of c.allowedHosts) out.push({ method: 'nvmf_subsystem_add_host', params: { nqn, host } });
  for (const nsid of s.activeNsids()) {
    const ns = s.namespaces.get(nsid)!;
    const bdev = live.bdevs.claimedBy(nqn, nsid);
    if (!bdev) continue;
    const namespace: { [k: string]: Json } = { nsid, bdev_name: bdev.name, anagrpid: ns.anaGroup };
    if (!isAllZero(ns.uuid)) namespace.uuid = uuidText(ns.uuid);
    if (!isAllZero(ns.nguid)) namespace.nguid = Buffer.from(ns.nguid).toString('hex').toUpperCase();
    if (!isAllZero(ns.eui64)) namespace.eui64 = Buffer.from(ns.eui64).toString('hex').toUpperCase();
    out.push({ method: 'nvmf_subsystem_add_ns', params: { nqn, namespace } });
  }
  const groups = [...new Set([...s.namespaces.values()].map((ns) => ns.anaGroup))].filter((g) => g >= 1 && g <= ANA_GROUP_MAX);
  for (const p of ports) {
    for (const g of groups) {
      const state = ANA_RPC_NAMES[live.ctx.ana.state(p.id, g)];
      if (state) out.push({ method: 'nvmf_subsystem_listener_set_ana_state', params: { nqn, listen_address: listenAddress(p), ana_state: state, anagrpid: g } });
    }
  }
  return out;
}

function nvmfConfig(live: LiveTarget): Call[] {
  const out: Call[] = [{ method: 'nvmf_create_transport', params: live.transport.describe() as unknown as { [k: string]: Json } }];
  for (const s of live.ctx.subsystems.values()) out.push(...subsystemCalls(live, s));
  // Ports serving no subsystem answer discovery only.
  for (const p of live.config.ports) {
    if (p.subsystems.length === 0) out.push({ method: 'nvmf_subsystem_add_listener', params: { nqn: live.ctx.discoveryNqn, listen_address: listenAddress(p) } });
  }
  return out;
}

export const frameworkGetSubsystems: RpcMethod = {
  name: 'framework_get_subsystems',
  noParamsMessage: "'framework_get_subsystems' requires no arguments",
  handler: () => SUBSYSTEMS,
};

export const frameworkGetConfig: RpcMethod = {
  name: 'framework_get_config',
  params: { schema: object({ name: str }, ['name']) },
  decodeError: { code: RpcCode.INVALID_PARAMS, message: 'Invalid arguments' },
  handler: (p, live) => {
    switch (p.name) {
      case 'bdev':
        return bdevConfig(live);
      case 'nvmf':
        return nvmfConfig(live);
      default:
        throw new RpcError(RpcCode.INVALID_PARAMS, `Subsystem '${String(p.name)}' not found`);
    }
  },
};
