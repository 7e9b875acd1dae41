// Target-wide state shared by every queue: subsystems, ports, live controllers, the discovery
// generation counter.
import type { AnaStateName, PortConfig, SubsystemHostKeys, TargetConfig } from '../config/types.js';
import { AnaTable } from './ana.js';
import type { Logger } from '../util/log.js';
import type { BackendRequest } from '../backend/backend.js';
import { DISCOVERY_NQN } from '../spec/discovery.js';
import type { Controller } from './controller.js';
import { type HostAuthPolicy, hostAuthPolicy } from '../keys/policy.js';
import type { Subsystem as AnySubsystem } from './subsystem.js';
import { ReservationManager, type ReservationService } from './reservations/manager.js';

/** A subsystem of this target, with its controllers. */
type Subsystem = AnySubsystem<Controller>;

/**
 * Told when a controller's state as the I/O path sees it changes (ready, shutting down, volatile write
 * cache), so that every thread owning one of its queues sees it (the worker pool, src/shard/pool.ts).
 */
export interface ControllerObserver {
  controllerChanged(ctrl: Controller): void;
}

export class TargetContext {
  readonly config: TargetConfig;
  readonly log: Logger;
  readonly subsystems = new Map<string, Subsystem>();
  readonly discoveryNqn = DISCOVERY_NQN;
  readonly #discoveryControllers = new Set<Controller>();
  /** Discovery log generation counter: bumped on every change of what the log may show. */
  genctr = 1n;
  /** Host-wide counters for the SMART log: power cycles, unsafe shutdowns. */
  readonly startedAt = Date.now();
  observer: ControllerObserver | null = null;
  /** Authentication policies by host NQN (the config was checked at load; built once, at start). */
  readonly #hostAuth = new Map<string, HostAuthPolicy>();
  /** Policies of the keys given at run time (SubsystemConfig.hostKeys), built at first use. */
  readonly #runtimeAuth = new WeakMap<object, HostAuthPolicy>();
  /** Keys given to hosts on the discovery controller at run time (RPC add_host to the discovery NQN). */
  readonly discoveryHostKeys: Record<string, SubsystemHostKeys> = {};
  /** ANA group states per port (shared with the I/O workers). */
  readonly ana: AnaTable;
  /** Reservation state of every namespace (the main thread's; unused on an I/O worker). */
  readonly reservations: ReservationManager;
  /** How this thread's I/O path runs reservation commands (an I/O worker forwards them to the main thread). */
  reservationCommands: ReservationService;

  /** `anaState`: on an I/O worker, the main thread's shared ANA table (WorkerInit.anaState). */
  constructor(config: TargetConfig, log: Logger, anaState?: SharedArrayBuffer) {
    this.config = config;
    this.log = log;
    this.ana = new AnaTable(config.ports, anaState);
    this.reservations = new ReservationManager(this.subsystems, log);
    this.reservationCommands = this.reservations;
    config.hosts.forEach((h, i) => {
      const d = h.dhchap;
      if (!d) return;
      const c = { dhchapKey: d.key, ...(d.ctrlKey !== undefined ? { dhchapCtrlKey: d.ctrlKey } : {}), dhchapHashes: d.hashes, dhchapDhgroups: d.dhgroups };
      this.#hostAuth.set(h.nqn, hostAuthPolicy(c, `/hosts/${i}/dhchap`));
    });
  }

  /**
   * The DH-HMAC-CHAP policy of a host on subsystem `subnqn`: the keys given to it at run time on that
   * subsystem (SubsystemConfig.hostKeys) first, else hosts[].dhchap. `unusable`: the host must
   * authenticate but cannot (a key it uses was removed). null: the host does not authenticate.
   */
  hostAuth(hostnqn: string, subnqn?: string): HostAuthPolicy | { unusable: string } | null {
    // The discovery controller authenticates only hosts given keys on it at run time (as SPDK does
    // for hosts added to its discovery subsystem with a key; the kernel target never does).
    const discovery = subnqn === this.discoveryNqn;
    const k = subnqn === undefined ? undefined : discovery ? this.discoveryHostKeys[hostnqn] : this.subsystems.get(subnqn)?.config.hostKeys?.[hostnqn];
    if (k?.unusable !== undefined) return { unusable: k.unusable };
    if (k?.dhchap !== undefined) {
      let p = this.#runtimeAuth.get(k.dhchap);
      if (p === undefined) {
        const d = k.dhchap;
        p = hostAuthPolicy({ dhchapKey: d.key, ...(d.ctrlKey !== undefined ? { dhchapCtrlKey: d.ctrlKey } : {}), dhchapHashes: d.hashes, dhchapDhgroups: d.dhgroups }, `${subnqn}/${hostnqn}`);
        this.#runtimeAuth.set(k.dhchap, p);
      }
      return p;
    }
    return discovery ? null : (this.#hostAuth.get(hostnqn) ?? null);
  }

  /** Subsystems a port exposes. */
  portSubsystems(port: PortConfig): Subsystem[] {
    const out: Subsystem[] = [];
    for (const nqn of port.subsystems) {
      const s = this.subsystems.get(nqn);
      if (s) out.push(s);
    }
    return out;
  }

  addController(ctrl: Controller): void {
    if (ctrl.subsys) ctrl.subsys.controllers.set(ctrl.cntlid, ctrl);
    else this.#discoveryControllers.add(ctrl);
  }

  removeController(ctrl: Controller): void {
    if (ctrl.subsys) {
      if (ctrl.subsys.controllers.get(ctrl.cntlid) === ctrl) ctrl.subsys.controllers.delete(ctrl.cntlid);
      this.reservations.controllerGone(ctrl);
    } else {
      this.#discoveryControllers.delete(ctrl);
    }
  }

  discoveryControllers(): Iterable<Controller> {
    return this.#discoveryControllers;
  }

  /** Every live controller: discovery controllers and those of each subsystem. */
  allControllers(): Controller[] {
    const out = [...this.#discoveryControllers];
    for (const s of this.subsystems.values()) out.push(...s.controllers.values());
    return out;
  }

  /** Bumps the generation counter and tells persistent discovery controllers. */
  discoveryChanged(): void {
    this.genctr++;
    for (const c of this.#discoveryControllers) c.discoveryChanged();
  }

  /**
   * Changes the ANA state of group `grpid` on port `portId` (main thread): I/O through that port to
   * the group's namespaces sees it at once, on every thread; controllers connected through the port
   * get the ANA change event (when enabled). Returns false when the group was in that state already.
   * Throws (RangeError) for an unknown port or a group id out of range.
   */
  setAnaState(portId: number, grpid: number, state: AnaStateName): boolean {
    if (!this.config.ports.some((p) => p.id === portId)) throw new RangeError(`no port with id ${portId}`);
    if (!this.ana.set(portId, grpid, state)) return false;
    let told = 0;
    for (const s of this.subsystems.values()) {
      for (const c of s.controllers.values()) {
        if (c.queues.get(0)?.port.id !== portId) continue;
        c.anaChanged();
        told++;
      }
    }
    this.log.info({ port: portId, anagrpid: grpid, state, chgcnt: this.ana.chgcnt.toString(), controllers: told }, 'ANA state changed');
    return true;
  }

  /** Flushes every namespace of a subsystem. */
  flushNamespaces(subsys: Subsystem): Promise<void> {
    const all = [...subsys.namespaces.values()].map(
      (ns) =>
        new Promise<void>((resolve) => {
          const req: BackendRequest = {
            backendDone: (res: number) => {
              if (res < 0) this.log.error({ nsid: ns.nsid, errno: -res }, 'flush failed');
              resolve();
            },
          };
          ns.backend.submitFlush(req);
          ns.backend.kick();
        }),
    );
    return Promise.all(all).then(() => undefined);
  }

  /** The controller ids in use across subsystems, for logs. */
  controllerCount(): number {
    let n = this.#discoveryControllers.size;
    for (const s of this.subsystems.values()) n += s.controllers.size;
    return n;
  }
}
