// Block devices as SPDK's RPC names them ("bdevs"): an opened backend with a name, a block size, a
// block count and a UUID. The namespaces of the config file are registered under a generated name
// (`<subsystem NQN>:ns<nsid>`), already claimed by their namespace; bdev_malloc_create,
// bdev_aio_create and bdev_uring_create add more, which nvmf_subsystem_add_ns can then expose.
import { randomUUID } from 'node:crypto';
import type { Backend } from '../backend/backend.js';
import type { Backing } from '../config/types.js';
import type { Namespace } from '../core/namespace.js';
import type { Json } from './json-value.js';

export type BdevProduct = 'Malloc disk' | 'AIO disk' | 'URING bdev' | 'Ceph Rbd Disk';

export interface Bdev {
  readonly name: string;
  readonly productName: BdevProduct;
  readonly blockSize: 512 | 4096;
  readonly uuid: string;
  readonly backing: Backing;
  readonly readOnly: boolean;
  readonly backend: Backend;
  /** Made by an RPC: the registry closes its backend (else the target does, with its namespaces). */
  readonly owned: boolean;
  /** Options shown under driver_specific. */
  readonly driverSpecific: Record<string, Json>;
  /** Shared memory of a RAM bdev made while I/O workers run (they map the same memory). */
  ramShare?: SharedArrayBuffer[] | null;
  /** The namespace exposing it, if any (a bdev backs one namespace at a time). */
  claimedBy: { nqn: string; nsid: number } | null;
}

export function numBlocks(b: Bdev): number {
  return Math.floor(b.backend.sizeBytes / b.blockSize);
}

export function productOf(backend: Backend): BdevProduct {
  if (backend.kind === 'ram') return 'Malloc disk';
  if (backend.kind === 'rbd') return 'Ceph Rbd Disk';
  return backend.engine.startsWith('io_uring') ? 'URING bdev' : 'AIO disk';
}

/** What bdev_get_bdevs shows under driver_specific, by kind, with SPDK's names. */
export function driverSpecific(b: Backing, backend: Backend, readOnly: boolean): Record<string, Json> {
  switch (b.type) {
    case 'ram':
      return {};
    case 'rbd':
      return { rbd: { pool_name: b.pool, rbd_name: b.image, user_id: b.user, ...(b.cephConf ? { config_file: b.cephConf } : {}) } };
    default:
      return { [productOf(backend) === 'URING bdev' ? 'uring' : 'aio']: { filename: b.path, readonly: readOnly } };
  }
}

export class BdevRegistry {
  readonly #bdevs = new Map<string, Bdev>();
  #mallocCount = 0;

  /** The config's namespaces: one bdev each, claimed by its namespace. */
  registerNamespace(nqn: string, ns: Namespace): void {
    const name = `${nqn}:ns${ns.nsid}`;
    const b = ns.config.backing;
    this.#bdevs.set(name, {
      name,
      productName: productOf(ns.backend),
      blockSize: ns.blockSize as 512 | 4096,
      uuid: ns.config.uuid,
      backing: b,
      readOnly: ns.readOnly,
      backend: ns.backend,
      owned: false,
      driverSpecific: driverSpecific(b, ns.backend, ns.readOnly),
      claimedBy: { nqn, nsid: ns.nsid },
    });
  }

  /** By name, or by UUID as SPDK also accepts. */
  get(name: string): Bdev | undefined {
    const b = this.#bdevs.get(name);
    if (b) return b;
    const lower = name.toLowerCase();
    for (const x of this.#bdevs.values()) if (x.uuid === lower) return x;
    return undefined;
  }

  /** The bdev behind namespace nsid of subsystem nqn. */
  claimedBy(nqn: string, nsid: number): Bdev | undefined {
    for (const b of this.#bdevs.values()) if (b.claimedBy?.nqn === nqn && b.claimedBy.nsid === nsid) return b;
    return undefined;
  }

  has(name: string): boolean {
    return this.#bdevs.has(name);
  }

  list(): Bdev[] {
    return [...this.#bdevs.values()];
  }

  add(b: Bdev): void {
    this.#bdevs.set(b.name, b);
  }

  remove(name: string): Bdev | undefined {
    const b = this.#bdevs.get(name);
    this.#bdevs.delete(name);
    return b;
  }

  /** "MallocN" with the lowest N not taken, as SPDK names unnamed malloc bdevs. */
  nextMallocName(): string {
    while (this.#bdevs.has(`Malloc${this.#mallocCount}`)) this.#mallocCount++;
    return `Malloc${this.#mallocCount++}`;
  }

  static randomUuid(): string {
    return randomUUID();
  }

  /** Closes the backends the RPC opened (called after the target has stopped its I/O). */
  async closeOwned(): Promise<void> {
    await Promise.allSettled(this.list().filter((b) => b.owned).map((b) => b.backend.close()));
  }
}
