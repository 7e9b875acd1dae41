// Writing one flush's pieces to a socket. A plain TCP socket with nothing waiting in its stream is
// written directly: all pieces in one sendmsg on its descriptor (native writeFd, or writeFdTable for
// an out queue's pieces named by buffer and range), with none of the stream layer's per-write cost. Whatever the kernel does not take then (a full send buffer), and
// every write to a socket whose stream still holds bytes, goes through socket.write, so bytes stay in
// order: once the stream holds some, later flushes queue behind them until it drains. TLS sockets
// (no descriptor of their own) always take the stream path. NVMETD_NATIVE_WRITE=0 turns it off.
// The flush's digests are filled in the same native call as the direct write (DigestBatch.send or
// sendTable), or just before the stream write; pieces that must not stay referenced after this call
// (volatile ones, see out-queue.ts) are copied, with everything after them, when they are not all
// taken directly.
import type { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';
import { nativeWriteEnabled, writeFd } from '../../native/sock-write.js';
import type { DigestBatch } from '../../native/digest-batch.js';

/** The part of net.Socket that is not in its public type. */
interface SocketInternals {
  _handle: { fd?: number } | null;
}

export class SocketWriter {
  readonly #enabled: boolean;
  /** The handle whose descriptor #fd is (looked up once per handle: its getter is a native call). */
  #handle: object | null = null;
  #fd = -1;
  /**
   * Bytes written directly (socket.bytesWritten counts only what went through the stream: its
   * counter lives in the handle, out of our reach; nothing in nvmetd reads it).
   */
  directBytes = 0;
  /** Views of a table's pieces, made only when they go through the stream. */
  readonly #views: Uint8Array[] = [];

  constructor(enabled = nativeWriteEnabled) {
    this.#enabled = enabled;
  }

  /**
   * Writes pieces[0, n) (`total` bytes in all) to `socket`. Returns false when the socket's stream is
   * over its high-water mark (socket.write's answer). `written` runs once the kernel has taken the
   * bytes, never before this returns, and in order with the completions of earlier writes.
   * Pieces in the array may be replaced (the caller clears it after the flush).
   * `digests` (with `arena`, the buffer its offsets refer to) are filled first: in the same native
   * call as the direct write, else just before the stream write. pieces[0, volatileEnd) hold pieces
   * that may change once this returns: whatever of them is not taken directly goes to the stream as
   * a copy (made before anything else runs, so it matches the digests), with every piece after it.
   */
  write(
    socket: Socket,
    pieces: Uint8Array[],
    n: number,
    total: number,
    written?: () => void,
    digests: DigestBatch | null = null,
    arena: Uint8Array | null = null,
    volatileEnd = 0,
  ): boolean {
    const fd = this.#directFd(socket);
    if (fd < 0) return viaStream(socket, pieces, n, total, written, digests, arena, volatileEnd);
    const w = digests !== null && digests.pending ? digests.send(arena!, fd, pieces, n) : writeFd(fd, pieces, n);
    if (w === total || w < 0) return this.#whole(socket, w, written);
    return this.#rest(socket, pieces, n, total, w, written, volatileEnd);
  }

  /**
   * As write(), for pieces named by a table: piece i is buffers[table[3i]][table[3i+1], +table[3i+2])
   * (`buffers` is the list `digests` names its buffers by). The direct path passes the table as is
   * (native writeFdTable); views of the pieces are made only for what goes through the stream.
   */
  writeTable(
    socket: Socket,
    table: Uint32Array,
    n: number,
    buffers: Uint8Array[],
    total: number,
    written: (() => void) | undefined,
    digests: DigestBatch,
    arena: Uint8Array,
    volatileEnd = 0,
  ): boolean {
    const fd = this.#directFd(socket);
    let w: number;
    if (fd >= 0) {
      w = digests.sendTable(arena, fd, table, n);
      if (w === total || w < 0) return this.#whole(socket, w, written);
    }
    const pieces = this.#views;
    try {
      for (let i = 0; i < n; i++) {
        const x = 3 * i;
        const off = table[x + 1]!;
        pieces[i] = buffers[table[x]!]!.subarray(off, off + table[x + 2]!);
      }
      if (fd < 0) return viaStream(socket, pieces, n, total, written, digests, arena, volatileEnd);
      return this.#rest(socket, pieces, n, total, w!, written, volatileEnd);
    } finally {
      for (let i = 0; i < n; i++) pieces[i] = EMPTY;
    }
  }

  /** After a direct write that took everything (w === total) or failed (w < 0, a negated errno). */
  #whole(socket: Socket, w: number, written?: () => void): boolean {
    if (w >= 0) {
      this.directBytes += w;
      // A stream completion of an earlier write may still wait in the nextTick queue: this one
      // comes after it, as it would through the stream.
      if (written) process.nextTick(written);
      return true;
    }
    // As a failed stream write does: the socket is destroyed with the system error, and the
    // callback still runs (the caller releases what the bytes referenced).
    const code = getSystemErrorName(w);
    socket.destroy(Object.assign(new Error(`write ${code}`), { errno: w, code, syscall: 'write' }));
    if (written) process.nextTick(written);
    return true;
  }

  /** After a direct write that took w of `total` bytes (a full send buffer): the rest through the stream. */
  #rest(socket: Socket, pieces: Uint8Array[], n: number, total: number, w: number, written: (() => void) | undefined, volatileEnd: number): boolean {
    this.directBytes += w;
    let i = 0;
    let left = w;
    while (left >= pieces[i]!.length) left -= pieces[i++]!.length;
    if (i < volatileEnd) return streamWriteCopy(socket, pieces, i, left, n, total - w, written);
    if (left > 0) pieces[i] = pieces[i]!.subarray(left);
    return streamWrite(socket, pieces, i, n, written);
  }

  /** The descriptor to write to directly now, or -1 (not a plain TCP socket, or its stream holds bytes). */
  #directFd(socket: Socket): number {
    if (!this.#enabled) return -1;
    const h = (socket as unknown as SocketInternals)._handle;
    if (h == null || socket.writableLength !== 0 || socket.writableCorked !== 0 || socket.connecting || !socket.writable) return -1;
    if (h !== this.#handle) {
      const fd = h.fd;
      this.#handle = h;
      this.#fd = typeof fd === 'number' && fd >= 0 ? fd : -1;
    }
    return this.#fd;
  }
}

/** A flush that cannot be written directly: digests filled, then the stream (a copy when volatile pieces are in it). */
function viaStream(
  socket: Socket,
  pieces: Uint8Array[],
  n: number,
  total: number,
  written: (() => void) | undefined,
  digests: DigestBatch | null,
  arena: Uint8Array | null,
  volatileEnd: number,
): boolean {
  if (digests !== null) digests.run(arena!);
  if (volatileEnd > 0) return streamWriteCopy(socket, pieces, 0, 0, n, total, written);
  return streamWrite(socket, pieces, 0, n, written);
}

const EMPTY = new Uint8Array(0);

/**
 * pieces[from, n), less the first `skip` bytes of pieces[from] (`bytes` in all), copied into one
 * buffer of ours and written through the socket's stream: none of the pieces is referenced after
 * this returns. Only for what the direct path left (a full send buffer) or a flush that cannot take
 * it, when volatile pieces are among them: one allocation per such flush, not per command.
 */
function streamWriteCopy(socket: Socket, pieces: Uint8Array[], from: number, skip: number, n: number, bytes: number, written?: () => void): boolean {
  const copy = Buffer.allocUnsafe(bytes);
  let at = 0;
  for (let i = from; i < n; i++) {
    const p = i === from && skip > 0 ? pieces[i]!.subarray(skip) : pieces[i]!;
    copy.set(p, at);
    at += p.length;
  }
  if (at !== bytes) throw new RangeError(`socket write: ${at} bytes to copy, ${bytes} expected`);
  return written ? socket.write(copy, written) : socket.write(copy);
}

/** pieces[from, n) through the socket's stream, corked into one writev. */
function streamWrite(socket: Socket, pieces: Uint8Array[], from: number, n: number, written?: () => void): boolean {
  const last = pieces[n - 1]!;
  if (n - from === 1) return written ? socket.write(last, written) : socket.write(last);
  socket.cork();
  for (let i = from; i < n - 1; i++) socket.write(pieces[i]!);
  const ok = written ? socket.write(last, written) : socket.write(last);
  socket.uncork();
  return ok;
}
