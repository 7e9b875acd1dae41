// An NVM subsystem: its namespaces, its allowed hosts, and the controllers hosts have created on it.
import type { SubsystemConfig } from '../config/types.js';
import type { Namespace } from './namespace.js';

/** What a subsystem needs of the controllers hosts create on it (Controller, controller.ts). */
export interface SubsystemController {
  readonly cntlid: number;
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

  addNamespace(ns: Namespace): void {
    this.namespaces.set(ns.nsid, ns);
    for (const c of this.controllers.values()) c.namespaceChanged(ns.nsid);
  }

  /** A namespace's attributes changed (its size): every controller is told (Changed Namespace List). */
  namespaceChanged(nsid: number): void {
    for (const c of this.controllers.values()) c.namespaceChanged(nsid);
  }

  removeNamespace(nsid: number): Namespace | undefined {
    const ns = this.namespaces.get(nsid);
    if (!ns) return undefined;
    this.namespaces.delete(nsid);
    for (const c of this.controllers.values()) c.namespaceChanged(nsid);
    return ns;
  }
}
