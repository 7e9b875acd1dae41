// RAM namespace: memory in segments of 1 GiB (4 GiB for namespaces over 1 TiB), each a zero-filled
// anonymous mapping: the kernel backs a page only when it is first written, and the garbage collector
// sees one allocation per segment. A private namespace allocates a segment when it is first written,
// so start time and memory do not depend on the declared size; unwritten and deallocated ranges read
// as zeroes. Completions are delivered in kick(), in submission order.
//
// A shared RAM namespace (for I/O queues spread over worker threads) lives in SharedArrayBuffers
// allocated up front (address space only: one mapping per segment, none of it backed until written);
// every thread builds its own RamBackend over the same buffers. Its last segment, when shorter than
// a full one, is growable up to a full segment, so the namespace grows in place (resize(); the other
// threads then adopt() the new buffers): nothing is copied while other threads write.
//
// Whether the declared size fits the machine is checked with the config (config/memory.ts).
import type { Backend, BackendRequest } from './backend.js';
import { adviseHugePages, copyIntoRam } from '../native/ram-memory.js';

const ZEROES = new Uint8Array(1 << 20);
/**
 * TypedArray.prototype.subarray on a constant, for view() (every read): optimized code calls it
 * directly, where `c.subarray` was a generic inline-cache load (segments come in more than one kind of
 * typed array: private, shared, growable shared).
 */
const typedArraySubarray = Uint8Array.prototype.subarray;
const ENOMEM = 12;
const EINVAL = 22;
const EBADF = 9;
const SEGMENT_SMALL = 2 ** 30;
/** The largest typed array: segments of namespaces over 1 TiB, so a shared one stays well under vm.max_map_count mappings. */
const SEGMENT_LARGE = 2 ** 32;
const LARGE_FROM = 2 ** 40;

/** Segment size for a RAM namespace of `sizeBytes` (the same in every thread). */
export function ramSegmentBytes(sizeBytes: number): number {
  return sizeBytes > LARGE_FROM ? SEGMENT_LARGE : SEGMENT_SMALL;
}

/** Growable shared memory (ES2024; typed here since the project's lib is ES2022). */
interface GrowableSab extends SharedArrayBuffer {
  readonly growable: boolean;
  readonly maxByteLength: number;
  grow(bytes: number): void;
}
type SabConstructor = new (bytes: number, o?: { maxByteLength: number }) => GrowableSab;

/** One shared segment of `length` bytes; a partial one may grow up to `segment` bytes. */
function sharedSegment(length: number, segment: number, hugePages: boolean): SharedArrayBuffer {
  const Sab = SharedArrayBuffer as unknown as SabConstructor;
  const sab = length < segment ? new Sab(length, { maxByteLength: segment }) : new Sab(length);
  // The mapping is the process's: advised here, it has huge pages in every thread that maps it.
  adviseHugePages(new Uint8Array(sab), hugePages);
  return sab;
}

/** SharedArrayBuffers for a shared RAM namespace of `sizeBytes` (hugePages: see RamBackend). */
export function allocateSharedRam(sizeBytes: number, hugePages = true): SharedArrayBuffer[] {
  checkSize(sizeBytes);
  const seg = ramSegmentBytes(sizeBytes);
  const out: SharedArrayBuffer[] = [];
  try {
    for (let at = 0; at < sizeBytes; at += seg) out.push(sharedSegment(Math.min(seg, sizeBytes - at), seg, hugePages));
  } catch (err) {
    throw new RangeError(`cannot reserve a shared RAM namespace of ${sizeBytes} bytes (${out.length} segments of ${seg} bytes reserved): ${(err as Error).message}`);
  }
  return out;
}

function checkSize(sizeBytes: number): void {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) throw new RangeError(`RAM size must be a positive integer, got ${sizeBytes}`);
}

export class RamBackend implements Backend {
  readonly kind = 'ram';
  readonly engine = 'ram';
  readonly discardZeroes = true;
  sizeBytes: number;
  /** Bytes per segment (the last one may be shorter). */
  readonly segmentBytes: number;
  /** Segments not yet written are holes (private namespace only). */
  readonly #segments: (Uint8Array | undefined)[];
  #allocated = 0;
  /** The shared buffers (null: a private namespace). */
  #shares: SharedArrayBuffer[] | null = null;
  #closed = false;
  // Completed-but-not-yet-signalled requests, drained by kick(). Reused arrays: no allocation per I/O.
  readonly #doneReq: BackendRequest[] = [];
  readonly #doneRes: number[] = [];
  #doneCount = 0;
  /** kick() is delivering: a kick from a completion leaves what it submitted to that loop. */
  #draining = false;

  /** Completion delay (ms) injected after every batch; 0: completions are delivered in kick(). */
  readonly #delayMs: number;
  /** Segments allocated or grown here get transparent huge pages (src/native/ram-memory.ts). */
  readonly #hugePages: boolean;

  /**
   * hugePages: whether memory this backend allocates asks for transparent huge pages; false (an
   * overcommitted namespace) asks for none, so a first write backs 4 KiB, not 2 MiB, even where THP
   * is "always". Shared buffers are advised by allocateSharedRam.
   */
  constructor(sizeBytes: number, shared?: readonly SharedArrayBuffer[], delayUs = 0, hugePages = true) {
    this.#delayMs = delayUs / 1000;
    this.#hugePages = hugePages;
    checkSize(sizeBytes);
    this.sizeBytes = sizeBytes;
    this.segmentBytes = ramSegmentBytes(sizeBytes);
    const count = Math.ceil(sizeBytes / this.segmentBytes);
    this.#segments = new Array(count);
    if (shared) this.#mapShares(shared);
  }

  /** Views over shared buffers; a buffer may be longer than its segment (after a shrink). */
  #mapShares(shared: readonly SharedArrayBuffer[]): void {
    const count = Math.ceil(this.sizeBytes / this.segmentBytes);
    if (shared.length !== count) throw new RangeError('shared RAM buffers do not match the namespace size');
    this.#segments.length = count;
    shared.forEach((sab, i) => {
      if (sab.byteLength < this.#segmentLength(i) || sab.byteLength > this.segmentBytes) throw new RangeError('shared RAM buffers do not match the namespace size');
      // Length-tracking over a growable buffer: growth by another thread is seen here.
      this.#segments[i] = new Uint8Array(sab);
    });
    this.#allocated = count;
    this.#shares = [...shared];
  }

  /** The shared buffers other threads map (null: a private namespace). */
  get shares(): SharedArrayBuffer[] | null {
    return this.#shares ? [...this.#shares] : null;
  }

  /** Whether any byte in [offset, sizeBytes) is not zero (what a shrink to `offset` would lose). */
  holdsDataFrom(offset: number): boolean {
    const seg = this.segmentBytes;
    for (let at = offset; at < this.sizeBytes; ) {
      const index = Math.floor(at / seg);
      const start = at - index * seg;
      const n = Math.min(seg - start, this.sizeBytes - at, ZEROES.length);
      const c = this.#segments[index];
      if (c && Buffer.compare(Buffer.from(c.buffer, c.byteOffset + start, n), ZEROES.subarray(0, n)) !== 0) return true;
      at += c ? n : seg - start;
    }
    return false;
  }

  /**
   * Resizes the namespace on the thread that owns the memory (the main thread). Growing adds
   * segments and grows the last one (in place when shared; copied when private, on this thread
   * only); shrinking zeroes the range cut off first, so growing again reads zeroes. Returns the
   * shared buffers after the change (null when private) for the other threads' adopt().
   */
  resize(sizeBytes: number): SharedArrayBuffer[] | null {
    checkSize(sizeBytes);
    if (this.#closed) throw new RangeError('the namespace is closed');
    if (ramSegmentBytes(sizeBytes) !== this.segmentBytes) throw new RangeError(`a RAM namespace cannot be resized across ${LARGE_FROM} bytes`);
    const seg = this.segmentBytes;
    if (sizeBytes < this.sizeBytes) {
      this.#zero(sizeBytes, this.sizeBytes - sizeBytes);
      const count = Math.ceil(sizeBytes / seg);
      for (let i = count; i < this.#segments.length; i++) if (this.#segments[i]) this.#allocated--;
      this.#segments.length = count;
      this.#shares?.splice(count);
      this.sizeBytes = sizeBytes;
      return this.shares;
    }
    const count = Math.ceil(sizeBytes / seg);
    const lengthAt = (i: number): number => Math.min(seg, sizeBytes - i * seg);
    const last = this.#segments.length - 1;
    if (this.#shares) {
      const sab = this.#shares[last] as GrowableSab;
      if (sab.byteLength < lengthAt(last)) {
        if (!sab.growable) throw new RangeError('the last shared RAM segment cannot grow');
        sab.grow(lengthAt(last));
        adviseHugePages(new Uint8Array(sab), this.#hugePages);
      }
      for (let i = last + 1; i < count; i++) {
        const added = sharedSegment(lengthAt(i), seg, this.#hugePages);
        this.#shares.push(added);
        this.#segments[i] = new Uint8Array(added);
        this.#allocated++;
      }
    } else {
      const c = this.#segments[last];
      if (c && c.length < lengthAt(last)) {
        const bigger = new Uint8Array(lengthAt(last));
        adviseHugePages(bigger, this.#hugePages);
        bigger.set(c);
        this.#segments[last] = bigger;
      }
      this.#segments.length = count;
    }
    this.sizeBytes = sizeBytes;
    return this.shares;
  }

  /** Another thread's side of resize(): the namespace is `sizeBytes` over `shared` from now on. */
  adopt(sizeBytes: number, shared: readonly SharedArrayBuffer[]): void {
    checkSize(sizeBytes);
    if (!this.#shares) throw new RangeError('a private RAM namespace has no shared memory to adopt');
    const old = this.sizeBytes;
    this.sizeBytes = sizeBytes;
    try {
      this.#mapShares(shared);
    } catch (err) {
      this.sizeBytes = old;
      throw err;
    }
  }

  /** Segments holding memory (all of them for a shared namespace; those written so far otherwise). */
  get segmentsAllocated(): number {
    return this.#allocated;
  }

  #segmentLength(index: number): number {
    return Math.min(this.segmentBytes, this.sizeBytes - index * this.segmentBytes);
  }

  /** The segment for a write, allocated on first use; null when the machine refuses the memory. */
  #segmentFor(index: number): Uint8Array | null {
    let c = this.#segments[index];
    if (!c) {
      try {
        c = new Uint8Array(this.#segmentLength(index));
      } catch {
        return null;
      }
      adviseHugePages(c, this.#hugePages);
      this.#segments[index] = c;
      this.#allocated++;
    }
    return c;
  }

  #done(req: BackendRequest, result: number): void {
    const i = this.#doneCount++;
    this.#doneReq[i] = req;
    this.#doneRes[i] = result;
  }

  #inRange(offset: number, length: number): boolean {
    return offset >= 0 && length >= 0 && offset + length <= this.sizeBytes;
  }

  /** -EBADF after close, -EINVAL out of range, else 0. */
  #bad(offset: number, length: number): number {
    if (this.#closed) return -EBADF;
    return this.#inRange(offset, length) ? 0 : -EINVAL;
  }

  /** Whether view() would give a view (the same tests; nothing allocated). */
  viewable(offset: number, length: number): boolean {
    if (this.#delayMs > 0 || this.#closed || !(offset >= 0 && length >= 0 && offset + length <= this.sizeBytes)) return false;
    const seg = this.segmentBytes;
    const index = Math.floor(offset / seg);
    if (offset - index * seg + length > seg) return false;
    return this.#segments[index] !== undefined || length <= ZEROES.length;
  }

  view(offset: number, length: number): Uint8Array | null {
    // With an injected delay every read goes through submitRead, so it waits like the rest.
    // viewable() makes the same tests: keep the two in step.
    if (this.#delayMs > 0 || this.#closed || !this.#inRange(offset, length)) return null;
    const seg = this.segmentBytes;
    const index = Math.floor(offset / seg);
    const start = offset - index * seg;
    if (start + length > seg) return null;
    const c = this.#segments[index];
    if (c) return typedArraySubarray.call(c, start, start + length);
    return length <= ZEROES.length ? typedArraySubarray.call(ZEROES, 0, length) : null;
  }

  #copyOut(offset: number, dst: Uint8Array): void {
    const seg = this.segmentBytes;
    let pos = 0;
    while (pos < dst.length) {
      const abs = offset + pos;
      const index = Math.floor(abs / seg);
      const start = abs - index * seg;
      const n = Math.min(seg - start, dst.length - pos);
      const c = this.#segments[index];
      if (c) dst.set(c.subarray(start, start + n), pos);
      else dst.fill(0, pos, pos + n);
      pos += n;
    }
  }

  /** False when a segment could not be allocated (nothing past it was written). */
  #copyIn(offset: number, src: Uint8Array): boolean {
    const seg = this.segmentBytes;
    let pos = 0;
    while (pos < src.length) {
      const abs = offset + pos;
      const index = Math.floor(abs / seg);
      const start = abs - index * seg;
      const n = Math.min(seg - start, src.length - pos);
      const c = this.#segmentFor(index);
      if (!c) return false;
      copyIntoRam(c, start, src, pos, n);
      pos += n;
    }
    return true;
  }

  #zero(offset: number, length: number): void {
    const seg = this.segmentBytes;
    let pos = 0;
    while (pos < length) {
      const abs = offset + pos;
      const index = Math.floor(abs / seg);
      const start = abs - index * seg;
      const n = Math.min(seg - start, length - pos);
      // A segment never written reads as zeroes already.
      this.#segments[index]?.fill(0, start, start + n);
      pos += n;
    }
  }

  submitRead(req: BackendRequest, offset: number, dst: Uint8Array): void {
    const bad = this.#bad(offset, dst.length);
    if (bad) return this.#done(req, bad);
    this.#copyOut(offset, dst);
    this.#done(req, dst.length);
  }

  /** submitWrite copies (or refuses) before it returns, whatever the delay injected. */
  readonly writeSourceReleasedOnSubmit = true;

  submitWrite(req: BackendRequest, offset: number, src: Uint8Array, _fua: boolean): void {
    const bad = this.#bad(offset, src.length);
    if (bad) return this.#done(req, bad);
    if (!this.#copyIn(offset, src)) return this.#done(req, -ENOMEM);
    this.#done(req, src.length);
  }

  submitFlush(req: BackendRequest): void {
    this.#done(req, this.#closed ? -EBADF : 0);
  }

  submitDiscard(req: BackendRequest, offset: number, length: number): void {
    const bad = this.#bad(offset, length);
    if (bad) return this.#done(req, bad);
    this.#zero(offset, length);
    this.#done(req, 0);
  }

  submitWriteZeroes(req: BackendRequest, offset: number, length: number, _fua: boolean): void {
    this.submitDiscard(req, offset, length);
  }

  kick(): void {
    if (this.#delayMs > 0 && this.#doneCount > 0) {
      // Test latency: hand this batch's completions over after the delay (allocates per batch).
      const reqs = this.#doneReq.slice(0, this.#doneCount);
      const results = this.#doneRes.slice(0, this.#doneCount);
      this.#doneReq.length = 0;
      this.#doneCount = 0;
      setTimeout(() => reqs.forEach((r, i) => r.backendDone(results[i]!)), this.#delayMs);
      return;
    }
    // A completion may submit more work (and kick again); drain until nothing is left.
    if (this.#draining) return;
    this.#draining = true;
    try {
      let i = 0;
      while (i < this.#doneCount) {
        const req = this.#doneReq[i]!;
        const res = this.#doneRes[i]!;
        this.#doneReq[i] = undefined as unknown as BackendRequest;
        i++;
        req.backendDone(res);
      }
    } finally {
      this.#doneCount = 0;
      this.#draining = false;
    }
  }

  /** Delivers what was submitted, then drops the data; later submissions fail with -EBADF. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.kick();
    this.#closed = true;
    this.#segments.fill(undefined);
    this.#allocated = 0;
  }
}
