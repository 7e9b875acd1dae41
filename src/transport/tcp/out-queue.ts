// Outgoing bytes of one connection, gathered per batch and written with one sendmsg (socket-write.ts).
//
// PDU headers are carved from an append-only arena chunk: adjacent headers merge into one piece, so a
// batch of 32 responses is one 768-byte write. Regions handed to the socket are never reused (the
// socket may still hold them); a fresh 64 KiB chunk replaces a full one. Payloads (read data) are
// queued as views, not copied. Digests (header and data) are recorded as the PDUs are built and
// computed together, in one native call, just before the bytes they cover go out.
import type { Socket } from 'node:net';
import { DigestBatch } from '../../native/digest-batch.js';
import { SocketWriter } from './socket-write.js';

const ARENA_SIZE = 64 * 1024;

export class OutQueue {
  #chunk = Buffer.allocUnsafe(ARENA_SIZE);
  #pos = 0;
  /** Start of the header piece being extended, or -1 when none is open. */
  #openStart = -1;
  readonly #pieces: Uint8Array[] = [];
  #count = 0;
  #bytes = 0;
  readonly #digests = new DigestBatch();
  readonly #writer: SocketWriter;

  /** `nativeWrite` false: every flush goes through the socket's stream (default: NVMETD_NATIVE_WRITE). */
  constructor(nativeWrite?: boolean) {
    this.#writer = new SocketWriter(nativeWrite);
  }

  /** Reserves n bytes of header space; write the fields into `buf` at the returned offset. */
  header(n: number): number {
    if (this.#pos + n > ARENA_SIZE) {
      // The digests recorded so far point into this chunk: fill them before it is left behind.
      this.#digests.run(this.#chunk);
      this.#closePiece();
      this.#chunk = Buffer.allocUnsafe(ARENA_SIZE);
      this.#pos = 0;
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
    this.#pieces[this.#count++] = view;
    this.#bytes += view.length;
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
   * bytes that go out even if `from` changes meanwhile.
   */
  dataWithDigest(view: Uint8Array, from: Uint8Array | null = null): void {
    this.data(view);
    const d = this.header(4);
    if (from === null) this.#digests.data(view, d);
    else this.#digests.copy(view, from, d);
  }

  #closePiece(): void {
    if (this.#openStart >= 0) {
      this.#pieces[this.#count++] = this.#chunk.subarray(this.#openStart, this.#pos);
      this.#openStart = -1;
    }
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
    this.#digests.run(this.#chunk);
    this.#closePiece();
    const n = this.#count;
    if (n === 0) {
      if (written) socket.write(EMPTY, written);
      return true;
    }
    const ok = this.#writer.write(socket, this.#pieces, n, this.#bytes, written);
    for (let i = 0; i < n; i++) this.#pieces[i] = EMPTY;
    this.#count = 0;
    this.#bytes = 0;
    return ok;
  }
}

const EMPTY = new Uint8Array(0);
