// nvmf_subsystem_listener_set_ana_state: the Asymmetric Namespace Access state of a subsystem's ANA
// groups on one listener. States here belong to a port and an ANA group (src/core/ana.ts): every
// subsystem served on the port with namespaces in that group sees the change. Without anagrpid the
// state is set for every group holding namespaces of the subsystem. The states are in shared
// memory, so the change also reaches I/O queues on worker threads.
import { RbdBackend } from '../../backend/rbd.js';
import type { AnaStateName } from '../../config/types.js';
import type { Controller } from '../../core/controller.js';
import type { Subsystem } from '../../core/subsystem.js';
import type { LiveTarget } from '../live.js';
import { RpcCode, RpcError } from '../wire.js';
import { ANA_GROUP_MAX } from '../../spec/log.js';
import { object, str, u32, type RpcMethod } from '../table.js';
import { findSubsystem, invalidParams } from './common.js';
import { findPort, listenAddressSchema, tcpAddress } from './access.js';

/** The RPC's state names (underscores) and this target's. */
const STATES: Record<string, AnaStateName> = {
  optimized: 'optimized',
  non_optimized: 'non-optimized',
  inaccessible: 'inaccessible',
  persistent_loss: 'persistent-loss',
  change: 'change',
};

export const nvmfSubsystemListenerSetAnaState: RpcMethod = {
  name: 'nvmf_subsystem_listener_set_ana_state',
  params: {
    schema: object({ nqn: str, tgt_name: str, listen_address: listenAddressSchema, ana_state: str, anagrpid: u32 }, ['nqn', 'listen_address', 'ana_state']),
  },
  handler: (p, live) => {
    const s = findSubsystem(live, p);
    const state = STATES[p.ana_state as string];
    if (!state) throw invalidParams(`ana_state "${String(p.ana_state)}": one of ${Object.keys(STATES).join(', ')}`);
    const pc = findPort(live, tcpAddress(p.listen_address));
    if (!pc || !pc.subsystems.includes(s.nqn)) throw invalidParams('Unable to find listener.');
    let groups: number[];
    if (typeof p.anagrpid === 'number' && p.anagrpid !== 0) {
      if (p.anagrpid > ANA_GROUP_MAX) throw invalidParams(`anagrpid ${p.anagrpid} is out of range (1 to ${ANA_GROUP_MAX})`);
      groups = [p.anagrpid];
    } else {
      groups = [...new Set([...s.namespaces.values()].map((ns) => ns.anaGroup))].sort((a, b) => a - b);
      if (groups.length === 0) groups = [1];
    }
    for (const g of groups) live.ctx.setAnaState(pc.id, g, state);
    return followAnaWithRbdLocks(live, s, groups, state);
  },
};

/**
 * RBD images and gateway failover. While no ANA state is set, librbd's exclusive lock moves between
 * gateways by itself. Made optimized here, a gateway takes the lock of the group's images in managed
 * mode, breaking the lock of any other owner: librbd blocklists that client, so a gateway that is only
 * presumed dead can write no more (its commands then fail with a path error and its hosts fail over),
 * and nobody waits for the dead client's watch to time out (~30 s). Made inaccessible (or persistent
 * loss), a gateway gives the lock back, so that a planned move blocklists nobody.
 */
async function followAnaWithRbdLocks(live: LiveTarget, s: Subsystem<Controller>, groups: number[], state: AnaStateName): Promise<boolean> {
  const take = state === 'optimized';
  if (!take && state !== 'inaccessible' && state !== 'persistent-loss') return true;
  for (const ns of s.namespaces.values()) {
    if (!groups.includes(ns.anaGroup) || !(ns.backend instanceof RbdBackend)) continue;
    const image = ns.backend.name;
    try {
      if (take) {
        const broken = await ns.backend.takeLock();
        live.log.info({ subnqn: s.nqn, nsid: ns.nsid, image, broken }, broken.length ? `${image}: exclusive lock taken over from ${broken.join(', ')} (blocklisted)` : `${image}: exclusive lock held`);
      } else {
        await ns.backend.releaseLock();
        live.log.info({ subnqn: s.nqn, nsid: ns.nsid, image }, `${image}: exclusive lock released`);
      }
    } catch (err) {
      live.log.error({ subnqn: s.nqn, nsid: ns.nsid, image, err: (err as Error).message }, `${image}: exclusive lock not ${take ? 'taken' : 'released'}`);
      throw new RpcError(RpcCode.INTERNAL_ERROR, 'Internal error', `${image}: ${(err as Error).message}`);
    }
  }
  return true;
}
