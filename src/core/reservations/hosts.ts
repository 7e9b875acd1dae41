// Host indexes: the small number the main thread gives each Host Identifier (Connect data hostid)
// that has a controller or a registration, so that the shared reservation snapshot can name hosts
// in a bitset (snapshot.ts). An index is given back once no controller and no registration uses it.
import { HOST_INDEX_MAX } from './snapshot.js';

/** Lower-case hex of a 16-byte Host Identifier: the key registrants are stored by. */
export function hostKey(hostid: Uint8Array): string {
  return Buffer.from(hostid.buffer, hostid.byteOffset, hostid.byteLength).toString('hex');
}

export class HostTable {
  readonly #byKey = new Map<string, number>();
  readonly #free: number[] = [];
  #next = 1;

  /** The index of a host, given one if it has none; 0 when every index is in use. */
  index(key: string): number {
    let i = this.#byKey.get(key);
    if (i !== undefined) return i;
    i = this.#free.pop() ?? (this.#next <= HOST_INDEX_MAX ? this.#next++ : 0);
    if (i !== 0) this.#byKey.set(key, i);
    return i;
  }

  /** The index of a host that has one (0: none). */
  peek(key: string): number {
    return this.#byKey.get(key) ?? 0;
  }

  /** Gives a host's index back (the caller checked nothing uses it). */
  release(key: string): void {
    const i = this.#byKey.get(key);
    if (i === undefined) return;
    this.#byKey.delete(key);
    this.#free.push(i);
  }

  get size(): number {
    return this.#byKey.size;
  }
}
