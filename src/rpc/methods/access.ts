// Who may connect, and where: nvmf_subsystem_add_host / remove_host / allow_any_host and
// nvmf_subsystem_add_listener / remove_listener. A listener here is a port (address + TCP port)
// serving a list of subsystems: adding a listener at an address already listened on adds the
// subsystem to that port; a new address gets a new TCP listener. Every change bumps the discovery
// log generation (and tells persistent discovery controllers). Taking access away disconnects, as
// SPDK does: removing a host tears down its controllers on the subsystem; removing a listener tears
// down the controllers whose admin queue came through it and closes I/O queues that did. Admission
// is decided on the main thread, and a controller's teardown closes its queues on the workers; a
// host's keys (add_host's dhchap_key, psk) reach the workers through host-keys.ts.
import type { Controller } from '../../core/controller.js';
import net from 'node:net';
import type { AddressFamily, PortConfig } from '../../config/types.js';
import { nqnProblem } from '../../config/nqn.js';
import type { Subsystem } from '../../core/subsystem.js';
import { TcpListener } from '../../transport/tcp/listener.js';
import type { Json } from '../json-value.js';
import type { LiveTarget } from '../live.js';
import { bool, i32, object, str, u64, type ParamsObject, type RpcMethod } from '../table.js';
import { RpcCode, RpcError } from '../wire.js';
import { checkTarget, findSubsystem, invalidParams } from './common.js';
import { hostListed, keyTarget, keysFromParams, setHostKeys } from './host-keys.js';

const internalError = (detail: string): RpcError => new RpcError(RpcCode.INTERNAL_ERROR, 'Internal error', detail);

export const nvmfSubsystemAddHost: RpcMethod = {
  name: 'nvmf_subsystem_add_host',
  params: { schema: object({ nqn: str, host: str, tgt_name: str, psk: str, dhchap_key: str, dhchap_ctrlr_key: str }, ['nqn', 'host'], false) },
  handler: async (p, live) => {
    // The discovery NQN: the host's keys on the discovery controller (it admits every host anyway).
    const s = keyTarget(live, p);
    const subnqn = s?.nqn ?? live.ctx.discoveryNqn;
    const host = p.host as string;
    let keys;
    try {
      // Keys by keyring name (host-keys.ts): refused before the host is added.
      if (s === null && p.psk !== undefined) throw invalidParams('psk: PSKs are given per NVM subsystem (the discovery controller takes hosts[].tlsKey)');
      keys = keysFromParams(live, p, internalError);
    } catch (err) {
      if (err instanceof RpcError) live.log.warn({ subnqn, hostnqn: host }, `rpc: nvmf_subsystem_add_host refused: ${err.data ?? err.message}`);
      throw err;
    }
    const problem = nqnProblem(host);
    if (problem) throw internalError(problem);
    if (s === null ? hostListed(live, null, host) : !s.allowHost(host)) throw internalError(`host ${host} is already allowed`);
    await setHostKeys(live, s, host, s === null ? (keys ?? {}) : keys);
    live.ctx.discoveryChanged();
    live.log.info(
      { subnqn, hostnqn: host, dhchapKey: keys?.dhchapKeyRef?.name, dhchapCtrlrKey: keys?.dhchapCtrlKeyRef?.name, psk: keys?.pskRef?.name },
      'rpc: host allowed',
    );
    return true;
  },
};

/** Admits `host` to `s` (false: it was already); discovery controllers are told. */
export function allowHost(live: LiveTarget, s: Subsystem<Controller>, host: string, via = 'rpc'): boolean {
  if (!s.allowHost(host)) return false;
  live.ctx.discoveryChanged();
  live.log.info({ subnqn: s.nqn, hostnqn: host }, `${via}: host allowed`);
  return true;
}

/** Takes `host` off the allowed list of `s` and disconnects its controllers there. */
export function removeHost(live: LiveTarget, s: Subsystem<Controller>, host: string, via = 'rpc'): void {
  // Out of the list first: a reconnect racing the teardown is refused.
  s.disallowHost(host);
  const disconnected = disconnectHost(s, host, via === 'rpc' ? 'nvmf_subsystem_remove_host' : via);
  live.ctx.discoveryChanged();
  live.log.info({ subnqn: s.nqn, hostnqn: host, disconnected }, `${via}: host removed (${disconnected} controller(s) disconnected)`);
}

/** Sets allow_any_host of `s`; hosts already connected stay connected, as with SPDK. */
export function setAllowAnyHost(live: LiveTarget, s: Subsystem<Controller>, allow: boolean, via = 'rpc'): void {
  s.config.allowAnyHost = allow;
  live.ctx.discoveryChanged();
  live.log.info({ subnqn: s.nqn, allowAnyHost: allow }, `${via}: allow_any_host set`);
}

/** Tears down the host's controllers on the subsystem; returns how many. */
function disconnectHost(s: Subsystem<Controller>, host: string, why: string): number {
  const victims = [...s.controllers.values()].filter((c) => c.hostnqn === host);
  for (const c of victims) c.teardown(`host ${host} removed from ${s.nqn} (${why})`);
  return victims.length;
}

/**
 * Closes what came through port `pc` on the subsystem: controllers whose admin queue did are torn
 * down, I/O queues that did are closed. Returns the counts.
 */
function disconnectListener(s: Subsystem<Controller>, pc: PortConfig, why: string): { controllers: number; ioQueues: number } {
  const reason = `listener ${pc.address}:${pc.port} removed from ${s.nqn} (${why})`;
  let controllers = 0;
  let ioQueues = 0;
  for (const c of [...s.controllers.values()]) {
    if (c.queues.get(0)?.port === pc) {
      c.teardown(reason);
      controllers++;
      continue;
    }
    for (const q of [...c.queues.values()]) {
      if (q.qid === 0 || q.port !== pc) continue;
      q.close(reason);
      ioQueues++;
    }
  }
  return { controllers, ioQueues };
}

export const nvmfSubsystemRemoveHost: RpcMethod = {
  name: 'nvmf_subsystem_remove_host',
  params: { schema: object({ nqn: str, host: str, tgt_name: str, timeout_ms: u64 }, ['nqn', 'host']) },
  handler: async (p, live) => {
    const s = keyTarget(live, p);
    const host = p.host as string;
    if (!hostListed(live, s, host)) throw internalError(`host ${host} is not in the allowed list`);
    if (s === null) {
      await setHostKeys(live, null, host, null);
      const victims = [...live.ctx.discoveryControllers()].filter((c) => c.hostnqn === host);
      for (const c of victims) c.teardown(`host ${host} removed from the discovery controller (nvmf_subsystem_remove_host)`);
      live.log.info({ subnqn: live.ctx.discoveryNqn, hostnqn: host, disconnected: victims.length }, 'rpc: host removed from the discovery controller');
      return true;
    }
    // Out of the list (and disconnected) first: a reconnect racing the key removal is refused.
    removeHost(live, s, host);
    await setHostKeys(live, s, host, null);
    return true;
  },
};

export const nvmfSubsystemAllowAnyHost: RpcMethod = {
  name: 'nvmf_subsystem_allow_any_host',
  params: { schema: object({ nqn: str, allow_any_host: bool, tgt_name: str }, ['nqn', 'allow_any_host']) },
  handler: (p, live) => {
    const s = findSubsystem(live, p);
    setAllowAnyHost(live, s, p.allow_any_host as boolean);
    return true;
  },
};

export const listenAddressSchema = object({ trtype: str, adrfam: str, traddr: str, trsvcid: str }, ['trtype', 'traddr'], true);

export interface Address {
  family: AddressFamily;
  address: string;
  port: number;
}

/** A listen_address as a TCP address (SPDK: -32602 "Invalid parameters" for anything else). */
export function tcpAddress(v: Json | undefined): Address {
  const a = v as { trtype: string; adrfam?: string; traddr: string; trsvcid?: string };
  if (a.trtype.toUpperCase() !== 'TCP') throw invalidParams(`trtype "${a.trtype}": only TCP is served here`);
  const fam = (a.adrfam ?? 'ipv4').toLowerCase();
  if (fam !== 'ipv4' && fam !== 'ipv6') throw invalidParams(`adrfam "${a.adrfam}": ipv4 or ipv6`);
  const family = fam as AddressFamily;
  if (net.isIP(a.traddr) !== (family === 'ipv6' ? 6 : 4)) throw invalidParams(`traddr "${a.traddr}" is not an ${family} address`);
  if (a.trsvcid === undefined || !/^[0-9]{1,5}$/.test(a.trsvcid) || Number(a.trsvcid) > 65535) {
    throw invalidParams('trsvcid: a TCP port number is required');
  }
  return { family, address: a.traddr, port: Number(a.trsvcid) };
}

/** The last port id handed out (ids are never reused in a process). */
let lastPortId = 0;

export function findPort(live: LiveTarget, a: Address): PortConfig | undefined {
  return live.config.ports.find((p) => p.address === a.address && p.port === a.port && p.family === a.family);
}

function isDiscovery(live: LiveTarget, nqn: string): boolean {
  return nqn === 'discovery' || nqn === live.ctx.discoveryNqn;
}

/** The subsystem a listener method names, or null for the discovery subsystem. */
function target(live: LiveTarget, p: ParamsObject): Subsystem<Controller> | null {
  checkTarget(p);
  return isDiscovery(live, p.nqn as string) ? null : findSubsystem(live, p);
}

export const nvmfSubsystemAddListener: RpcMethod = {
  name: 'nvmf_subsystem_add_listener',
  params: {
    schema: object({ nqn: str, tgt_name: str, listen_address: listenAddressSchema, secure_channel: bool, ana_state: str, sock_impl: str, numa_id: i32 }, ['nqn', 'listen_address'], false),
  },
  handler: async (p, live) => {
    const s = target(live, p);
    const a = tcpAddress(p.listen_address);
    const existing = a.port === 0 ? undefined : findPort(live, a);
    if (existing) {
      if (s === null || existing.subsystems.includes(s.nqn)) throw invalidParams('Listener already exists');
      existing.subsystems.push(s.nqn);
    } else {
      const d = live.transport.portDefaults;
      // Taken now: another add_listener may run while this one waits for the workers.
      const pc: PortConfig = {
        id: nextPortId(live),
        address: a.address,
        port: a.port,
        family: a.family,
        subsystems: s ? [s.nqn] : [],
        referrals: [],
        inlineDataSize: d.inlineDataSize,
        maxQueueSize: d.maxQueueSize,
        maxH2CData: d.maxH2CData,
        // secure_channel: TLS required (PSKs: hosts[].tlsKey, or nvmf_subsystem_add_host's psk).
        tls: p.secure_channel === true ? 'required' : 'none',
      };
      try {
        await listenPort(live, pc);
      } catch (err) {
        throw invalidParams((err as Error).message);
      }
    }
    live.ctx.discoveryChanged();
    return true;
  },
};

/** The next port id not used by the running target (ids are never reused in a process). */
export function nextPortId(live: LiveTarget): number {
  lastPortId = Math.max(lastPortId, ...live.config.ports.map((x) => x.id)) + 1;
  return lastPortId;
}

/** Starts listening on the new port `pc` (its TCP port is set to the bound one); throws when it cannot. */
export async function listenPort(live: LiveTarget, pc: PortConfig, via = 'rpc'): Promise<void> {
  // The I/O workers learn the port before any queue can come through it.
  if (live.workers) await live.workers.addPort(pc);
  const l = new TcpListener(pc, live.ctx, live.workers);
  const bound = await l.listen();
  pc.port = bound.port;
  lastPortId = Math.max(lastPortId, pc.id);
  live.config.ports.push(pc);
  live.listeners.push(l);
  live.log.info({ port: pc.id, address: pc.address, tcpPort: pc.port, subsystems: pc.subsystems }, `${via}: listening`);
}

/**
 * Takes subsystem `s` off port `pc` (null: the port alone, for discovery), disconnecting what came
 * through it; a port left serving nothing stops listening.
 */
export async function unlistenPort(live: LiveTarget, pc: PortConfig, s: Subsystem<Controller> | null, via = 'rpc'): Promise<void> {
  if (s !== null) {
    // Off the port first: a reconnect through it is refused.
    pc.subsystems.splice(pc.subsystems.indexOf(s.nqn), 1);
    const d = disconnectListener(s, pc, via === 'rpc' ? 'nvmf_subsystem_remove_listener' : via);
    live.log.info(
      { subnqn: s.nqn, address: pc.address, tcpPort: pc.port, controllers: d.controllers, ioQueues: d.ioQueues },
      `${via}: listener removed (${d.controllers} controller(s) disconnected, ${d.ioQueues} I/O queue(s) closed)`,
    );
  }
  if (pc.subsystems.length === 0) {
    // Nothing left on this port: stop listening. The listener stays in the target's list so
    // that its remaining (discovery) connections are closed with the target.
    live.config.ports.splice(live.config.ports.indexOf(pc), 1);
    live.ctx.ana.resetPort(pc.id);
    const l = live.listeners.find((x) => x.port === pc);
    if (l) await l.stopAccepting();
    live.log.info({ port: pc.id, address: pc.address, tcpPort: pc.port }, `${via}: stopped listening`);
  }
  live.ctx.discoveryChanged();
}

export const nvmfSubsystemRemoveListener: RpcMethod = {
  name: 'nvmf_subsystem_remove_listener',
  params: { schema: object({ nqn: str, tgt_name: str, listen_address: listenAddressSchema }, ['nqn', 'listen_address']) },
  handler: async (p, live) => {
    const s = target(live, p);
    const pc = findPort(live, tcpAddress(p.listen_address));
    if (!pc || (s !== null && !pc.subsystems.includes(s.nqn))) throw invalidParams('Listener not found');
    if (s === null && pc.subsystems.length > 0) throw invalidParams(`this port also serves ${pc.subsystems.join(', ')}: every port answers discovery here`);
    await unlistenPort(live, pc, s);
    return true;
  },
};
