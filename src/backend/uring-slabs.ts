// The thread's pooled buffer slabs (src/runtime/buffer-pool.ts), registered with the io_uring ring(s) of
// the thread's engine as they are made and unregistered before they are given back, so reads and
// writes on pooled buffers use READ_FIXED/WRITE_FIXED: no page pinning per I/O, and (the slabs being
// page-aligned) no bounce copy under O_DIRECT.
import { constants as osConstants } from 'node:os';
import type { Logger } from '../util/log.js';
import { watchSlabs } from '../runtime/slab-registry.js';
import type { NativeRing } from './uring-native.js';

const E = osConstants.errno;

function errnoName(n: number): string {
  for (const [k, v] of Object.entries(E)) if (v === n) return k;
  return `errno ${n}`;
}

export class RingSlabs {
  readonly #rw: NativeRing;
  readonly #aux: NativeRing;
  readonly #log: Logger;
  /** Buffer-table index of each registered slab on rw and on aux (the same when there is one ring). */
  readonly #index = new Map<ArrayBuffer, [number, number]>();
  #unwatch: (() => void) | null = null;
  /** The last refusal logged (logged once per kind). */
  #refusal = 0;

  private constructor(rw: NativeRing, aux: NativeRing, log: Logger) {
    this.#rw = rw;
    this.#aux = aux;
    this.#log = log;
  }

  /** Starts registering this thread's slabs (those alive now first); null when the addon cannot. */
  static watch(rw: NativeRing, aux: NativeRing, log: Logger): RingSlabs | null {
    if (typeof rw.registerSlab !== 'function') return null;
    const s = new RingSlabs(rw, aux, log);
    s.#unwatch = watchSlabs({ slabAdded: (ab) => s.#add(ab), slabRemoved: (ab) => s.#remove(ab) });
    return s;
  }

  get size(): number {
    return this.#index.size;
  }

  #add(ab: ArrayBuffer): void {
    if (this.#index.has(ab)) return;
    const r = this.#rw.registerSlab(ab);
    let a = r;
    if (r >= 0 && this.#aux !== this.#rw) {
      a = this.#aux.registerSlab(ab);
      if (a < 0) this.#rw.unregisterSlab(r);
    }
    if (r < 0 || a < 0) {
      const err = r < 0 ? r : a;
      if (this.#refusal !== err) {
        this.#refusal = err;
        this.#log.warn({ errno: -err, bytes: ab.byteLength }, `io_uring: pooled buffer memory not registered (${errnoName(-err)}); plain reads and writes for it`);
      }
      return;
    }
    this.#index.set(ab, [r, a]);
  }

  #remove(ab: ArrayBuffer): void {
    const idx = this.#index.get(ab);
    if (!idx) return;
    this.#index.delete(ab);
    this.#rw.unregisterSlab(idx[0]);
    if (this.#aux !== this.#rw) this.#aux.unregisterSlab(idx[1]);
  }

  /** Stops watching (the engine is closing; closing the rings unregisters everything). */
  close(): void {
    this.#unwatch?.();
    this.#unwatch = null;
    this.#index.clear();
  }
}
