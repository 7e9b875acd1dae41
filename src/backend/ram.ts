// RAM namespace: memory reserved at start in segments of up to 1 GiB (zero-filled anonymous mappings:
// the kernel backs a page only when it is first written, so the cost is what is written, and the
// garbage collector sees one allocation per segment instead of one per chunk written). Unwritten and
// deallocated ranges read as zeroes. Completions are delivered in kick(), in submission order.
//
// A shared RAM namespace (for I/O queues spread over worker threads) lives in SharedArrayBuffers made
// the same way; every thread builds its own RamBackend over the same buffers.
import { constants as osConstants } from 'node:os';
import type { Backend, BackendRequest } from './backend.js';

const { EINVAL, EBADF } = osConstants.errno;
const CHUNK_SHIFT = 20;
const CHUNK_SIZE = 1 << CHUNK_SHIFT;
const ZEROES = new Uint8Array(CHUNK_SIZE);
/** Largest single SharedArrayBuffer used for a shared namespace. */
const SHARED_SEGMENT = 1024 * CHUNK_SIZE;

function allocateSegments(sizeBytes: number): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (let at = 0; at < sizeBytes; at += SHARED_SEGMENT) out.push(new ArrayBuffer(Math.min(SHARED_SEGMENT, sizeBytes - at)));
  return out;
}

/** SharedArrayBuffers for a shared RAM namespace of `sizeBytes`. */
export function allocateSharedRam(sizeBytes: number): SharedArrayBuffer[] {
  const out: SharedArrayBuffer[] = [];
  for (let at = 0; at < sizeBytes; at += SHARED_SEGMENT) out.push(new SharedArrayBuffer(Math.min(SHARED_SEGMENT, sizeBytes - at)));
  return out;
}

export class RamBackend implements Backend {
  readonly kind = 'ram';
  readonly engine = 'ram';
  readonly discardZeroes = true;
  readonly sizeBytes: number;
  readonly #chunks: (Uint8Array | undefined)[];
  // Completed-but-not-yet-signalled requests, drained by kick(). Reused arrays: no allocation per I/O.
  readonly #doneReq: BackendRequest[] = [];
  readonly #doneRes: number[] = [];
  #doneCount = 0;
  #closed = false;

  /** Completion delay (ms) injected after every batch; 0: completions are delivered in kick(). */
  readonly #delayMs: number;

  constructor(sizeBytes: number, shared?: readonly SharedArrayBuffer[], delayUs = 0) {
    this.#delayMs = delayUs / 1000;
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) throw new RangeError(`RAM size must be a positive integer, got ${sizeBytes}`);
    this.sizeBytes = sizeBytes;
    this.#chunks = new Array(Math.ceil(sizeBytes / CHUNK_SIZE));
    const segments: readonly (ArrayBuffer | SharedArrayBuffer)[] = shared ?? allocateSegments(sizeBytes);
    {
      let index = 0;
      for (const sab of segments) {
        for (let at = 0; at < sab.byteLength; at += CHUNK_SIZE) {
          this.#chunks[index++] = new Uint8Array(sab, at, Math.min(CHUNK_SIZE, sab.byteLength - at));
        }
      }
      if (index !== this.#chunks.length) throw new RangeError('shared RAM buffers do not match the namespace size');
    }
  }

  #chunkFor(index: number): Uint8Array {
    let c = this.#chunks[index];
    if (!c) {
      const len = Math.min(CHUNK_SIZE, this.sizeBytes - index * CHUNK_SIZE);
      c = new Uint8Array(len);
      this.#chunks[index] = c;
    }
    return c;
  }

  #done(req: BackendRequest, result: number): void {
    const i = this.#doneCount++;
    this.#doneReq[i] = req;
    this.#doneRes[i] = result;
  }

  /** -EBADF after close, -EINVAL out of range, else 0. */
  #bad(offset: number, length: number): number {
    if (this.#closed) return -EBADF;
    return this.#inRange(offset, length) ? 0 : -EINVAL;
  }

  #inRange(offset: number, length: number): boolean {
    return offset >= 0 && length >= 0 && offset + length <= this.sizeBytes;
  }

  view(offset: number, length: number): Uint8Array | null {
    // With an injected delay every read goes through submitRead, so it waits like the rest.
    if (this.#delayMs > 0 || this.#closed || !this.#inRange(offset, length)) return null;
    const index = Math.floor(offset / CHUNK_SIZE);
    const start = offset - index * CHUNK_SIZE;
    if (start + length > CHUNK_SIZE) return null;
    const c = this.#chunks[index];
    return c ? c.subarray(start, start + length) : ZEROES.subarray(0, length);
  }

  #copyOut(offset: number, dst: Uint8Array): void {
    let pos = 0;
    while (pos < dst.length) {
      const abs = offset + pos;
      const index = Math.floor(abs / CHUNK_SIZE);
      const start = abs - index * CHUNK_SIZE;
      const n = Math.min(CHUNK_SIZE - start, dst.length - pos);
      const c = this.#chunks[index];
      if (c) dst.set(c.subarray(start, start + n), pos);
      else dst.fill(0, pos, pos + n);
      pos += n;
    }
  }

  #copyIn(offset: number, src: Uint8Array): void {
    let pos = 0;
    while (pos < src.length) {
      const abs = offset + pos;
      const index = Math.floor(abs / CHUNK_SIZE);
      const start = abs - index * CHUNK_SIZE;
      const n = Math.min(CHUNK_SIZE - start, src.length - pos);
      this.#chunkFor(index).set(src.subarray(pos, pos + n), start);
      pos += n;
    }
  }

  #zero(offset: number, length: number): void {
    let pos = 0;
    while (pos < length) {
      const abs = offset + pos;
      const index = Math.floor(abs / CHUNK_SIZE);
      const start = abs - index * CHUNK_SIZE;
      const c = this.#chunks[index];
      const n = Math.min((c ? c.length : CHUNK_SIZE) - start, length - pos);
      if (c) {
        c.fill(0, start, start + n);
      }
      pos += n;
    }
  }

  submitRead(req: BackendRequest, offset: number, dst: Uint8Array): void {
    const bad = this.#bad(offset, dst.length);
    if (bad) return this.#done(req, bad);
    this.#copyOut(offset, dst);
    this.#done(req, dst.length);
  }

  submitWrite(req: BackendRequest, offset: number, src: Uint8Array, _fua: boolean): void {
    const bad = this.#bad(offset, src.length);
    if (bad) return this.#done(req, bad);
    this.#copyIn(offset, src);
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

  /** Nothing in RAM is more durable than anything else: FUA needs no extra step. */
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
    let i = 0;
    while (i < this.#doneCount) {
      const req = this.#doneReq[i]!;
      const res = this.#doneRes[i]!;
      this.#doneReq[i] = undefined as unknown as BackendRequest;
      i++;
      req.backendDone(res);
    }
    this.#doneCount = 0;
  }

  /** Delivers what was submitted, then drops the data; later submissions fail with -EBADF. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.kick();
    this.#closed = true;
    this.#chunks.fill(undefined);
  }
}
