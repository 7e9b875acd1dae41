// An NVM subsystem: its namespaces, its allowed hosts, and the controllers hosts have created on it.
import type { SubsystemConfig } from '../config/types.js';
import type { Namespace } from './namespace.js';

/** What a subsystem needs of the controllers hosts create on it (Controller, controller.ts). */
export interface SubsystemController {
  readonly cntlid: number;
  readonly hostnqn: string;
  namespaceChanged(nsid: number): void;
}

export class Subsystem<C extends SubsystemController = SubsystemController> {
  readonly nqn: string;
  readonly config: SubsystemConfig;
  readonly namespaces = new Map<number, Namespace>();
  readonly controllers = new Map<number, C>();
  /** Admin commands completed on this subsystem's controllers (admin queues live on the main thread). */
  adminCommands = 0;
  readonly #allowed: Set<string>;
  #nextCntlid: number;

  constructor(config: SubsystemConfig) {
    this.nqn = config.nqn;
    this.config = config;
    this.#allowed = new Set(config.allowedHosts);
    this.#nextCntlid = config.cntlidMin;
  }

  hostAllowed(hostnqn: string): boolean {
    return this.config.allowAnyHost || this.#allowed.has(hostnqn);
  }

  /** Adds a host NQN to the allowed list; false when it was there already. */
  allowHost(hostnqn: string): boolean {
    if (this.#allowed.has(hostnqn)) return false;
    this.#allowed.add(hostnqn);
    this.config.allowedHosts.push(hostnqn);
    return true;
  }

  /** Removes a host NQN from the allowed list; false when it was not there. */
  disallowHost(hostnqn: string): boolean {
    if (!this.#allowed.delete(hostnqn)) return false;
    const i = this.config.allowedHosts.indexOf(hostnqn);
    if (i >= 0) this.config.allowedHosts.splice(i, 1);
    return true;
  }

  /** Active namespace ids in increasing order. */
  activeNsids(): number[] {
    return [...this.namespaces.keys()].sort((a, b) => a - b);
  }

  /** Next free controller id in [cntlidMin, cntlidMax], or -1 when all are taken. */
  allocateCntlid(): number {
    const { cntlidMin, cntlidMax } = this.config;
    const span = cntlidMax - cntlidMin + 1;
    for (let i = 0; i < span; i++) {
      const id = this.#nextCntlid;
      this.#nextCntlid = id >= cntlidMax ? cntlidMin : id + 1;
      if (!this.controllers.has(id)) return id;
    }
    return -1;
  }

  /** Adds a namespace: the controllers of the hosts that see it are told (Changed Namespace List). */
  addNamespace(ns: Namespace): void {
    this.namespaces.set(ns.nsid, ns);
    this.#tellSeers(ns);
  }

  /** A namespace's attributes changed (its size): the controllers that see it are told. */
  namespaceChanged(nsid: number): void {
    const ns = this.namespaces.get(nsid);
    if (ns) this.#tellSeers(ns);
  }

  removeNamespace(nsid: number): Namespace | undefined {
    const ns = this.namespaces.get(nsid);
    if (!ns) return undefined;
    this.namespaces.delete(nsid);
    this.#tellSeers(ns);
    return ns;
  }

  /**
   * Sets which hosts see namespace `nsid` (null: every admitted host). Each controller whose view
   * changes is told, as for a namespace added or removed; returns how many were. Undefined when
   * there is no such namespace.
   */
  setNamespaceHosts(nsid: number, hosts: readonly string[] | null): number | undefined {
    const ns = this.namespaces.get(nsid);
    if (!ns) return undefined;
    const before = [...this.controllers.values()].map((c) => ns.visibleTo(c.hostnqn));
    ns.setHosts(hosts);
    let told = 0;
    [...this.controllers.values()].forEach((c, i) => {
      if (ns.visibleTo(c.hostnqn) === before[i]) return;
      c.namespaceChanged(nsid);
      told++;
    });
    return told;
  }

  #tellSeers(ns: Namespace): void {
    for (const c of this.controllers.values()) if (ns.visibleTo(c.hostnqn)) c.namespaceChanged(ns.nsid);
  }
}
