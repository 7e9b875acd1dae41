// Outgoing bytes of one connection, gathered per batch and written with one sendmsg (socket-write.ts).
//
// PDU headers are carved from an append-only arena chunk: adjacent headers merge into one piece, so a
// batch of 32 responses is one 768-byte write. Pieces are named by buffer and range in a word table
// (buffer index, offset, length), not one view each: the addon reads the table as plain words and
// looks each buffer up once (native writeFdTable); views are made only for the stream path. Regions handed to the socket are never reused (the
// socket may still hold them); a fresh 64 KiB chunk replaces a full one. Payloads (read data) are
// queued as views, not copied. Digests (header and data) are recorded as the PDUs are built and
// computed together just before the bytes they cover go out: on the direct path (socket-write.ts)
// in the same native call as the sendmsg.
//
// Volatile data (dataWithDigest(view, null, true): a view of a RAM namespace's memory that only this
// thread writes) is sent without a copy even with a data digest. The digest must match the bytes the
// host gets, and a later command of this connection (or another on this thread) may write those
// blocks. Nothing can change them between the digest and the sendmsg: both happen in one native call
// (writeFdDigests), no JavaScript runs in between, and no other thread writes that memory (a
// namespace shared with I/O workers lives in a SharedArrayBuffer: the responder copies its views into
// a buffer of ours before they are digested, as before). The kernel copies what sendmsg takes into its
// own buffers before returning (a plain TCP send, no MSG_ZEROCOPY). What it does not take (a full send
// buffer), and a whole flush that takes the stream path, are copied into a buffer of ours right after
// the digests, before control returns to anything that could write: the stream then holds bytes that
// match their digests whatever happens to the namespace.
import type { Socket } from 'node:net';
import { BatchBuffers, DigestBatch } from '../../native/digest-batch.js';
import { SocketWriter } from './socket-write.js';

const ARENA_SIZE = 64 * 1024;

export class OutQueue {
  #chunk = Buffer.allocUnsafe(ARENA_SIZE);
  #pos = 0;
  /** Start of the header piece being extended, or -1 when none is open. */
  #openStart = -1;
  /** Index of #chunk in #buffers for this batch (-1: not added yet). */
  #arenaIdx = -1;
  /** Piece i is #buffers.list[t[3i]][t[3i+1], +t[3i+2]). */
  #table = new Uint32Array(3 * 256);
  #count = 0;
  #bytes = 0;
  readonly #buffers = new BatchBuffers();
  readonly #digests = new DigestBatch(this.#buffers);
  /** Pieces [0, #volatileEnd) hold the last volatile piece queued (0: none in this batch). */
  #volatileEnd = 0;
  readonly #writer: SocketWriter;

  /** `nativeWrite` false: every flush goes through the socket's stream (default: NVMETD_NATIVE_WRITE). */
  constructor(nativeWrite?: boolean) {
    this.#writer = new SocketWriter(nativeWrite);
  }

  /** Reserves n bytes of header space; write the fields into `buf` at the returned offset. */
  header(n: number): number {
    if (this.#pos + n > ARENA_SIZE) {
      // The digests recorded so far point into this chunk: they name it as a buffer from now on
      // (filled at the flush, with the rest: a volatile piece's digest must not be computed early).
      this.#digests.retarget(this.#chunk);
      this.#closePiece();
      this.#chunk = Buffer.allocUnsafe(ARENA_SIZE);
      this.#pos = 0;
      this.#arenaIdx = -1;
    }
    if (this.#openStart < 0) this.#openStart = this.#pos;
    const at = this.#pos;
    this.#pos += n;
    this.#bytes += n;
    return at;
  }

  /** The arena chunk that header() offsets refer to (valid until the next header() call). */
  get buf(): Buffer {
    return this.#chunk;
  }

  /** Queues a payload view (not copied: it must stay unchanged until written). */
  data(view: Uint8Array): void {
    this.#closePiece();
    const len = view.length;
    this.#push(this.#buffers.index(view.buffer), view.byteOffset, len);
    this.#bytes += len;
  }

  /**
   * The header digest of buf[at, at+hlen) goes at at+hlen (space the caller reserved with the
   * header). Call it once the header's fields are written: it is computed before the flush writes.
   */
  headerDigest(at: number, hlen: number): void {
    this.#digests.header(at, hlen, at + hlen);
  }

  /**
   * Queues a payload view followed by its 4-byte data digest. With `from`, `view` is a buffer of our
   * own that receives a copy of `from` when the digest is computed: the digest is over the very
   * bytes that go out even if `from` changes meanwhile. `volatile`: `view` is memory this thread may
   * write before the bytes are written (a RAM namespace's, never shared with another thread): sent
   * without a copy where the digest and the write are one native call, copied otherwise (see above).
   */
  dataWithDigest(view: Uint8Array, from: Uint8Array | null = null, volatile = false): void {
    this.#closePiece();
    const len = view.length;
    const off = view.byteOffset;
    const x = this.#buffers.index(view.buffer);
    this.#push(x, off, len);
    this.#bytes += len;
    if (volatile) this.#volatileEnd = this.#count;
    const d = this.header(4);
    if (from === null) this.#digests.dataAt(x, off, len, d);
    else this.#digests.copy(view, from, d);
  }

  #closePiece(): void {
    const start = this.#openStart;
    if (start >= 0) {
      let a = this.#arenaIdx;
      if (a < 0) this.#arenaIdx = a = this.#buffers.index(this.#chunk.buffer);
      this.#push(a, start, this.#pos - start);
      this.#openStart = -1;
    }
  }

  #push(x: number, off: number, len: number): void {
    let t = this.#table;
    const at = 3 * this.#count++;
    if (at + 3 > t.length) {
      // Grows once to the largest batch seen; steady state allocates nothing.
      const bigger = new Uint32Array(t.length * 2);
      bigger.set(t);
      this.#table = t = bigger;
    }
    t[at] = x;
    t[at + 1] = off;
    t[at + 2] = len;
  }

  get pendingBytes(): number {
    return this.#bytes;
  }

  /**
   * Writes everything queued; returns false when the socket's buffer is over its high-water mark.
   * `written` (optional) runs once these bytes are handed to the kernel: never synchronously, and in
   * order with earlier flushes' callbacks.
   */
  flush(socket: Socket, written?: () => void): boolean {
    this.#closePiece();
    const n = this.#count;
    if (n === 0) {
      this.#digests.run(this.#chunk);
      this.#buffers.clear();
      this.#arenaIdx = -1;
      if (written) socket.write(EMPTY, written);
      return true;
    }
    const volatileEnd = this.#volatileEnd;
    this.#volatileEnd = 0;
    let ok: boolean;
    try {
      ok = this.#writer.writeTable(socket, this.#table, n, this.#buffers.list, this.#bytes, written, this.#digests, this.#chunk, volatileEnd);
    } finally {
      this.#buffers.clear();
      this.#arenaIdx = -1;
      this.#count = 0;
      this.#bytes = 0;
    }
    return ok;
  }
}

const EMPTY = new Uint8Array(0);
