// Digests recorded while a batch of PDUs is built and filled in one native call before the batch is
// written: header digests, data digests, and data copied and digested in the same pass. One call per
// batch instead of one per digest (each call into the addon costs about as much as digesting 4 KiB).
import { native } from './addon.js';

const enum Kind {
  /** The digest of arena[a, a+b). */
  Header = 0,
  /** The digest of views[a]. */
  Data = 1,
  /** views[b] copied into views[a], the digest of the bytes stored. */
  Copy = 2,
}

const EMPTY = new Uint8Array(0);

export class DigestBatch {
  #jobs = new Uint32Array(4 * 128);
  #count = 0;
  readonly #views: Uint8Array[] = [];
  #nviews = 0;

  get pending(): boolean {
    return this.#count > 0;
  }

  /** The digest of arena[at, at+len) goes to arena[dst, dst+4). */
  header(at: number, len: number, dst: number): void {
    this.#push(Kind.Header, at, len, dst);
  }

  /** The digest of `view` goes to arena[dst, dst+4). */
  data(view: Uint8Array, dst: number): void {
    this.#push(Kind.Data, this.#view(view), 0, dst);
  }

  /** `from` is copied into `to` (the same length), and the digest of the copy goes to arena[dst, dst+4). */
  copy(to: Uint8Array, from: Uint8Array, dst: number): void {
    if (to.length !== from.length) throw new RangeError(`digest copy: ${from.length} bytes into ${to.length}`);
    const a = this.#view(to);
    this.#push(Kind.Copy, a, this.#view(from), dst);
  }

  /** Computes every recorded digest into `arena` (the buffer the offsets refer to) and starts over. */
  run(arena: Uint8Array): void {
    if (this.#count === 0) return;
    try {
      native.crc32cBatch(arena, this.#jobs, this.#count, this.#views);
    } finally {
      this.clear();
    }
  }

  /** Drops what was recorded (the batch will not be written). */
  clear(): void {
    for (let i = 0; i < this.#nviews; i++) this.#views[i] = EMPTY;
    this.#nviews = 0;
    this.#count = 0;
  }

  #view(v: Uint8Array): number {
    const i = this.#nviews++;
    this.#views[i] = v;
    return i;
  }

  #push(kind: Kind, a: number, b: number, dst: number): void {
    let j = this.#jobs;
    const at = 4 * this.#count++;
    if (at + 4 > j.length) {
      // Grows once to the largest batch seen; steady state allocates nothing.
      const bigger = new Uint32Array(j.length * 2);
      bigger.set(j);
      this.#jobs = j = bigger;
    }
    j[at] = kind;
    j[at + 1] = a;
    j[at + 2] = b;
    j[at + 3] = dst;
  }
}
