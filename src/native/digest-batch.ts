// Digests recorded while a batch of PDUs is built and filled in one native call before the batch is
// written: header digests, data digests, and data copied and digested in the same call. One call per
// batch instead of one per digest (each call into the addon costs about as much as digesting 4 KiB);
// send() fills them and writes the batch to a socket descriptor in that same call.
import { native } from './addon.js';

const enum Kind {
  /** The digest of arena[xOff, xOff+len). */
  Header = 0,
  /** The digest of buffers[x][xOff, xOff+len). */
  Data = 1,
  /** buffers[y][yOff, +len) copied into buffers[x][xOff, +len), the digest of the copy. */
  Copy = 2,
}

/** Words per job (kind, x, xOff, len, y, yOff, dst, arena): see native FillDigests (addon.cc). */
const WORDS = 8;
/** Whole-buffer views kept across batches (pool slabs, a namespace's memory), replaced round robin. */
const KNOWN = 16;

const EMPTY = new Uint8Array(0);

/**
 * The buffers one batch names (views over whole backing stores, passed to the addon as a list, so
 * each is looked up once per native call): digest jobs and an out queue's piece table index it.
 */
export class BatchBuffers {
  readonly list: Uint8Array[] = [];
  readonly #key: ArrayBufferLike[] = [];
  #n = 0;
  readonly #known: (ArrayBufferLike | null)[] = new Array<ArrayBufferLike | null>(KNOWN).fill(null);
  readonly #knownView: Uint8Array[] = new Array<Uint8Array>(KNOWN).fill(EMPTY);
  #knownNext = 0;

  /** Index in this batch's list of a view over all of `ab` (added when not there yet). */
  index(ab: ArrayBufferLike): number {
    const n = this.#n;
    const key = this.#key;
    for (let i = 0; i < n; i++) if (key[i] === ab) return i;
    let whole: Uint8Array | null = null;
    for (let i = 0; i < KNOWN; i++) {
      if (this.#known[i] === ab) {
        whole = this.#knownView[i]!;
        break;
      }
    }
    if (whole === null) {
      // A backing store not seen lately (once per pool slab or namespace, not per I/O).
      whole = new Uint8Array(ab);
      const k = this.#knownNext;
      this.#knownNext = (k + 1) % KNOWN;
      this.#known[k] = ab;
      this.#knownView[k] = whole;
    }
    this.list[n] = whole;
    key[n] = ab;
    this.#n = n + 1;
    return n;
  }

  /** Forgets this batch's buffers (the known views stay for the next batches). */
  clear(): void {
    const n = this.#n;
    for (let i = 0; i < n; i++) this.list[i] = EMPTY;
    this.#n = 0;
  }
}

export class DigestBatch {
  #jobs = new Uint32Array(WORDS * 128);
  #count = 0;
  /** The buffers this batch's jobs name (shared with an out queue's piece table when given). */
  readonly buffers: BatchBuffers;
  readonly #ownBuffers: boolean;

  /**
   * `buffers`: a list shared with the caller, who clears it once the batch is written (clear()
   * here then leaves it alone); without one, the batch keeps its own.
   */
  constructor(buffers: BatchBuffers | null = null) {
    this.#ownBuffers = buffers === null;
    this.buffers = buffers ?? new BatchBuffers();
  }

  get pending(): boolean {
    return this.#count > 0;
  }

  /** The digest of arena[at, at+len) goes to arena[dst, dst+4). */
  header(at: number, len: number, dst: number): void {
    this.#push(Kind.Header, 0, at, len, 0, 0, dst);
  }

  /** The digest of `view` goes to arena[dst, dst+4). */
  data(view: Uint8Array, dst: number): void {
    this.#push(Kind.Data, this.buffers.index(view.buffer), view.byteOffset, view.length, 0, 0, dst);
  }

  /** The digest of buffers.list[x][off, off+len) goes to arena[dst, dst+4). */
  dataAt(x: number, off: number, len: number, dst: number): void {
    this.#push(Kind.Data, x, off, len, 0, 0, dst);
  }

  /** `from` is copied into `to` (the same length), and the digest of the copy goes to arena[dst, dst+4). */
  copy(to: Uint8Array, from: Uint8Array, dst: number): void {
    if (to.length !== from.length) throw new RangeError(`digest copy: ${from.length} bytes into ${to.length}`);
    const x = this.buffers.index(to.buffer);
    this.#push(Kind.Copy, x, to.byteOffset, to.length, this.buffers.index(from.buffer), from.byteOffset, dst);
  }

  /** Computes every recorded digest into `arena` (the buffer the offsets refer to) and starts over. */
  run(arena: Uint8Array): void {
    if (this.#count === 0) return;
    try {
      native.crc32cBatch(arena, this.#jobs, this.#count, this.buffers.list);
    } finally {
      this.clear();
    }
  }

  /**
   * Computes every recorded digest into `arena`, then writes pieces[0, n) to the socket descriptor
   * `fd`, in one native call (writeFdDigests): no JavaScript runs between the two. Returns what
   * writeFd returns (bytes taken, or a negated errno); starts over.
   */
  send(arena: Uint8Array, fd: number, pieces: Uint8Array[], n: number): number {
    if (this.#count === 0) return native.writeFd(fd, pieces, n);
    try {
      return native.writeFdDigests(fd, pieces, n, arena, this.#jobs, this.#count, this.buffers.list);
    } finally {
      this.clear();
    }
  }

  /**
   * As send(), for pieces named by a table over this batch's buffers (native writeFdTableDigests:
   * the buffers list is shared with the table's).
   */
  sendTable(arena: Uint8Array, fd: number, table: Uint32Array, n: number): number {
    if (this.#count === 0) return native.writeFdTable(fd, table, n, this.buffers.list);
    try {
      return native.writeFdTableDigests(fd, table, n, this.buffers.list, arena, this.#jobs, this.#count);
    } finally {
      this.clear();
    }
  }

  /**
   * The arena the offsets of the jobs recorded so far refer to is being left behind for a new one
   * (`old` stays alive: the batch's pieces reference it): those jobs name it as a buffer from now on,
   * so run()/send() with the new arena still fill them in `old`. Nothing is computed early.
   */
  retarget(old: Uint8Array): void {
    const n = this.#count;
    if (n === 0) return;
    if (old.byteOffset !== 0 || old.byteLength !== old.buffer.byteLength) throw new RangeError('digest batch: an arena must be a whole buffer');
    const a = this.buffers.index(old.buffer) + 1;
    const j = this.#jobs;
    for (let at = 7; at < WORDS * n; at += WORDS) if (j[at] === 0) j[at] = a;
  }

  /** Drops what was recorded (the batch will not be written). */
  clear(): void {
    if (this.#ownBuffers) this.buffers.clear();
    this.#count = 0;
  }

  #push(kind: Kind, x: number, xOff: number, len: number, y: number, yOff: number, dst: number): void {
    let j = this.#jobs;
    const at = WORDS * this.#count++;
    if (at + WORDS > j.length) {
      // Grows once to the largest batch seen; steady state allocates nothing.
      const bigger = new Uint32Array(j.length * 2);
      bigger.set(j);
      this.#jobs = j = bigger;
    }
    j[at] = kind;
    j[at + 1] = x;
    j[at + 2] = xOff;
    j[at + 3] = len;
    j[at + 4] = y;
    j[at + 5] = yOff;
    j[at + 6] = dst;
    j[at + 7] = 0;
  }
}
