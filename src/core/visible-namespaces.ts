// What one host sees of a subsystem's namespaces (per-host namespace masking): the subsystem's map,
// less the namespaces whose host list leaves that host out. A masked namespace is, for that host's
// controllers, an inactive nsid: absent from the active list, Identify Namespace all zeroes,
// commands to it Invalid Namespace or Format. A live view (no copy): namespaces added, removed or
// re-masked show at once, on the thread that owns the map. get() allocates nothing (the I/O path).
import type { Namespace } from './namespace.js';

export class VisibleNamespaces implements ReadonlyMap<number, Namespace> {
  readonly #all: ReadonlyMap<number, Namespace>;
  readonly #hostnqn: string;

  constructor(all: ReadonlyMap<number, Namespace>, hostnqn: string) {
    this.#all = all;
    this.#hostnqn = hostnqn;
  }

  get(nsid: number): Namespace | undefined {
    const ns = this.#all.get(nsid);
    return ns !== undefined && ns.visibleTo(this.#hostnqn) ? ns : undefined;
  }

  has(nsid: number): boolean {
    return this.get(nsid) !== undefined;
  }

  get size(): number {
    let n = 0;
    for (const ns of this.#all.values()) if (ns.visibleTo(this.#hostnqn)) n++;
    return n;
  }

  *entries(): MapIterator<[number, Namespace]> {
    for (const [nsid, ns] of this.#all) if (ns.visibleTo(this.#hostnqn)) yield [nsid, ns];
  }

  *keys(): MapIterator<number> {
    for (const [nsid] of this.entries()) yield nsid;
  }

  *values(): MapIterator<Namespace> {
    for (const [, ns] of this.entries()) yield ns;
  }

  [Symbol.iterator](): MapIterator<[number, Namespace]> {
    return this.entries();
  }

  forEach(fn: (value: Namespace, key: number, map: ReadonlyMap<number, Namespace>) => void, thisArg?: unknown): void {
    for (const [nsid, ns] of this.entries()) fn.call(thisArg, ns, nsid, this);
  }

  /** Visible nsids in increasing order (Identify active namespace list). */
  activeNsids(): number[] {
    return [...this.keys()].sort((a, b) => a - b);
  }
}
