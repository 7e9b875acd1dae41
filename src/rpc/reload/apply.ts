// Applying a reload plan to the running target through the same change paths the RPC methods use.
// All or nothing as far as it can be: everything that can fail is done first (the new namespaces'
// backends are opened, RAM shrinks checked, new listeners bound); when one of those fails, what was
// opened is closed again and the running target is left as it was. Then removals, additions and ANA
// states are applied, each logged as one line.
import { openBackend } from '../../backend/open.js';
import { RamBackend, allocateSharedRam } from '../../backend/ram.js';
import type { Backend } from '../../backend/backend.js';
import type { NamespaceConfig, PortConfig } from '../../config/types.js';
import { driverSpecific, productOf, type Bdev } from '../bdevs.js';
import type { LiveTarget } from '../live.js';
import { allowHost, listenPort, nextPortId, removeHost, setAllowAnyHost, unlistenPort } from '../methods/access.js';
import { addNamespace, createSubsystem, deleteSubsystem, removeNamespace } from '../methods/subsystem.js';
import { resizeRamNamespace } from '../methods/resize.js';
import { describe, type Change, type ReloadPlan } from './plan.js';

const VIA = 'reload';

export class ReloadRefused extends Error {
  override readonly name = 'ReloadRefused';
}

interface Prepared {
  change: Change & { kind: 'ns-add' };
  bdev: Bdev | null;
}

/** Opens the backend of a namespace to be added (shared memory when I/O workers run). */
async function openNamespace(live: LiveTarget, nc: NamespaceConfig): Promise<{ backend: Backend; ramShare: SharedArrayBuffer[] | null }> {
  const b = nc.backing;
  if (b.type === 'ram' && live.workers) {
    const size = b.size - (b.size % nc.blockSize);
    const ramShare = allocateSharedRam(size, !b.overcommit);
    return { backend: new RamBackend(size, ramShare, b.delayUs ?? 0, !b.overcommit), ramShare };
  }
  return { backend: await openBackend(nc, live.log), ramShare: null };
}

function bdevFor(live: LiveTarget, nqn: string, nc: NamespaceConfig, backend: Backend, ramShare: SharedArrayBuffer[] | null): Bdev {
  let name = `${nqn}:ns${nc.nsid}`;
  for (let i = 1; live.bdevs.has(name); i++) name = `${nqn}:ns${nc.nsid}.${i}`;
  const product = productOf(backend);
  const b = nc.backing;
  return {
    name,
    productName: product,
    blockSize: nc.blockSize,
    uuid: nc.uuid,
    backing: b,
    readOnly: nc.readOnly,
    backend,
    owned: true,
    driverSpecific: driverSpecific(b, backend, nc.readOnly),
    ramShare,
    claimedBy: null,
  };
}

/** Everything that can fail, before anything changes; throws ReloadRefused after undoing it. */
async function prepare(live: LiveTarget, plan: ReloadPlan): Promise<{ prepared: Prepared[]; listened: PortConfig[] }> {
  const prepared: Prepared[] = [];
  const listened: PortConfig[] = [];
  const undo = async (): Promise<void> => {
    for (const pc of listened) await unlistenPort(live, pc, null, VIA).catch(() => undefined);
    await Promise.allSettled(prepared.map((p) => p.bdev?.backend.close()));
  };
  try {
    for (const c of plan.changes) {
      if (c.kind === 'ns-add') {
        if (!c.ns.enabled) {
          prepared.push({ change: c, bdev: null });
          continue;
        }
        const { backend, ramShare } = await openNamespace(live, c.ns).catch((err: Error) => {
          throw new ReloadRefused(`namespace ${c.ns.nsid} of ${c.nqn}: ${err.message}`);
        });
        prepared.push({ change: c, bdev: bdevFor(live, c.nqn, c.ns, backend, ramShare) });
      } else if (c.kind === 'ns-resize' && c.size < c.from) {
        const ns = live.ctx.subsystems.get(c.nqn)?.namespaces.get(c.nsid);
        const backend = ns?.backend;
        if (backend instanceof RamBackend && backend.holdsDataFrom(c.size)) {
          throw new ReloadRefused(`namespace ${c.nsid} of ${c.nqn}: data is written past ${c.size} bytes; shrink it with nvmetd_namespace_resize and force`);
        }
      }
    }
    for (const c of plan.changes) {
      if (c.kind !== 'port-add') continue;
      if (live.config.ports.some((p) => p.id === c.port.id)) c.port.id = nextPortId(live);
      try {
        await listenPort(live, c.port, VIA);
      } catch (err) {
        throw new ReloadRefused(`cannot listen on ${c.port.address}:${c.port.port}: ${(err as Error).message}`);
      }
      listened.push(c.port);
    }
  } catch (err) {
    await undo();
    throw err;
  }
  return { prepared, listened };
}

/**
 * Applies `plan`; returns one line per change applied. Throws ReloadRefused when nothing was
 * changed because part of the plan cannot be applied.
 */
export async function applyPlan(live: LiveTarget, plan: ReloadPlan): Promise<{ applied: string[]; failed: string[] }> {
  const { prepared } = await prepare(live, plan);
  const applied: string[] = [];
  const failed: string[] = [];
  for (const c of plan.changes) {
    if (c.kind === 'port-add') {
      applied.push(describe(c));
      continue;
    }
    try {
      await applyOne(live, c, prepared);
      applied.push(describe(c));
    } catch (err) {
      // The I/O workers refused (the change paths undo their part): the rest still applies.
      const line = `${describe(c)}: ${(err as Error).message}`;
      live.log.error({ err }, `reload: not applied: ${line}`);
      failed.push(line);
    }
  }
  return { applied, failed };
}

async function applyOne(live: LiveTarget, c: Change, prepared: Prepared[]): Promise<void> {
  const subsystem = (nqn: string) => {
    const s = live.ctx.subsystems.get(nqn);
    if (!s) throw new Error(`subsystem ${nqn} is gone`);
    return s;
  };
  switch (c.kind) {
    case 'port-remove': {
      const pc = c.port;
      for (const nqn of [...pc.subsystems]) {
        const s = live.ctx.subsystems.get(nqn);
        if (s) await unlistenPort(live, pc, s, VIA);
        else pc.subsystems.splice(pc.subsystems.indexOf(nqn), 1);
      }
      if (live.config.ports.includes(pc)) await unlistenPort(live, pc, null, VIA);
      return;
    }
    case 'port-unlink':
      return unlistenPort(live, c.port, subsystem(c.nqn), VIA);
    case 'host-remove': {
      const s = subsystem(c.nqn);
      if (c.disconnect) removeHost(live, s, c.host, VIA);
      else s.disallowHost(c.host);
      return;
    }
    case 'ns-remove': {
      const s = subsystem(c.nqn);
      const i = s.config.namespaces.findIndex((x) => x.nsid === c.nsid);
      if (i < 0) return;
      if (!s.namespaces.has(c.nsid)) {
        // Disabled: only in the config.
        s.config.namespaces.splice(i, 1);
        return;
      }
      const b = live.bdevs.claimedBy(s.nqn, c.nsid);
      await removeNamespace(live, s, c.nsid, i, VIA);
      // A bdev this reload made goes with its namespace.
      if (b && b.owned && b.name.startsWith(`${s.nqn}:ns${c.nsid}`)) {
        live.bdevs.remove(b.name);
        await b.backend.close();
      }
      return;
    }
    case 'subsystem-delete':
      return deleteSubsystem(live, subsystem(c.nqn), VIA);
    case 'subsystem-create':
      return createSubsystem(live, { ...c.subsystem, allowedHosts: [...c.subsystem.allowedHosts], namespaces: [] }, VIA);
    case 'ns-add': {
      const s = subsystem(c.nqn);
      const p = prepared.find((x) => x.change === c)!;
      if (!p.bdev) {
        s.config.namespaces.push(c.ns);
        return;
      }
      live.bdevs.add(p.bdev);
      try {
        await addNamespace(live, s, c.ns, p.bdev, VIA);
      } catch (err) {
        live.bdevs.remove(p.bdev.name);
        await p.bdev.backend.close();
        throw err;
      }
      return;
    }
    case 'ns-resize': {
      // Checked before anything changed (prepare): a shrink over written data refuses the reload.
      const s = subsystem(c.nqn);
      const ns = s.namespaces.get(c.nsid);
      if (!ns || !(ns.backend instanceof RamBackend)) throw new Error(`namespace ${c.nsid} is not a RAM namespace here`);
      if (c.size % ns.blockSize !== 0) throw new Error(`${c.size} bytes is not a multiple of the block size ${ns.blockSize}`);
      await resizeRamNamespace(live, s, ns, ns.backend, c.size, true, VIA);
      return;
    }
    case 'host-add':
      allowHost(live, subsystem(c.nqn), c.host, VIA);
      return;
    case 'allow-any-host':
      setAllowAnyHost(live, subsystem(c.nqn), c.allow, VIA);
      return;
    case 'port-link':
      subsystem(c.nqn);
      if (!c.port.subsystems.includes(c.nqn)) c.port.subsystems.push(c.nqn);
      live.ctx.discoveryChanged();
      live.log.info({ subnqn: c.nqn, address: c.port.address, tcpPort: c.port.port }, `${VIA}: listener added`);
      return;
    case 'ana':
      live.ctx.setAnaState(c.port.id, c.grpid, c.state);
      return;
    case 'port-add':
      return;
  }
}
