// Receiving into buffers we choose instead of a fresh 64 KiB Buffer per socket read.
//
// Node reads a socket into a new buffer every time unless the socket was created with the `onread`
// option ({ buffer, callback }), which it documents for sockets it connects; `buffer` may also be a
// function, asked after every read for the buffer of the next one. Accepted sockets (and sockets
// wrapped around a descriptor handed to a worker) take the same path once the per-socket fields that
// option sets are in place and the handle is told to use the buffer. The symbols of those fields are
// read off a probe socket, so nothing here depends on Node's private module layout; when they cannot
// be found, the caller falls back to 'data' events. A TlsSocket (the TLS engine's) is told to decrypt
// into the thread buffer (TlsSocket.receiveInto); its records are read into a second one.
//
// By default a read lands in the thread's receive buffer, shared by every connection of the thread:
// a read is processed completely (the PDU reader copies what it keeps) before the next read into it.
// A connection may instead name, after each read, where the next one lands (the destination of PDU
// data still missing: direct receive); it must take that back (useThreadBuffer) before the memory
// it named is given to anything else. NVMETD_DIRECT_RECEIVE=0 keeps every read in the thread buffer;
// NVMETD_USER_BUFFER=0 goes back to 'data' events.
import net from 'node:net';
import { TlsSocket } from '../../native/tls-socket.js';

const THREAD_BUFFER_SIZE = 256 * 1024;

let kBuffer: symbol | undefined;
let kBufferCb: symbol | undefined;
let kBufferGen: symbol | undefined;
{
  const probe = new net.Socket({ onread: { buffer: () => Buffer.alloc(1), callback: () => true } } as unknown as net.SocketConstructorOpts);
  for (const s of Object.getOwnPropertySymbols(probe)) {
    if (s.description === 'kBuffer') kBuffer = s;
    if (s.description === 'kBufferCb') kBufferCb = s;
    if (s.description === 'kBufferGen') kBufferGen = s;
  }
  probe.destroy();
}

let threadBuffer: Buffer | null = null;
/** A TLS connection's records (TCP reads under the session): copied into the engine at once. */
let recordBuffer: Buffer | null = null;
/** Views of the thread buffer by length (the short reads of readLimit), made once. */
const shortViews = new Map<number, Buffer>();

interface UserBufferHandle {
  useUserBuffer?: (b: Uint8Array) => void;
}

function handleOf(socket: net.Socket): UserBufferHandle | undefined {
  return (socket as unknown as { _handle?: UserBufferHandle })._handle;
}

/** Chooses where the next read lands: a buffer of the caller's, or null for the thread buffer (at most `limit` bytes of it). */
export interface ReadTarget {
  direct(): Uint8Array | null;
  limit(): number;
}

/** Points the socket's reads at `buf`, or at what `next` names before each read; false when this Node cannot. */
function useBuffer(socket: net.Socket, buf: Buffer, onRead: (buf: Buffer, length: number) => void, next?: () => Uint8Array): boolean {
  const handle = handleOf(socket);
  if (!kBuffer || !kBufferCb || !handle || typeof handle.useUserBuffer !== 'function') return false;
  const fields = socket as unknown as Record<symbol, unknown>;
  fields[kBuffer] = buf;
  fields[kBufferCb] = (nread: number, b: Buffer): void => onRead(b, nread);
  if (next && kBufferGen) fields[kBufferGen] = next;
  handle.useUserBuffer(buf);
  return true;
}

/**
 * The next read goes to the thread buffer again, whatever the socket was told before: called before
 * memory named by a ReadTarget is released while the socket may still be read.
 */
export function useThreadBuffer(socket: net.Socket): void {
  const fields = socket as unknown as Record<symbol, unknown>;
  const buf = sharedBuffer();
  const handle = handleOf(socket);
  if (!kBuffer || !handle || typeof handle.useUserBuffer !== 'function') return;
  const now = fields[kBuffer] as Uint8Array | null | undefined;
  if (now == null || now.buffer === buf.buffer) return; // not receiving into user buffers, or into thread memory already
  fields[kBuffer] = buf;
  handle.useUserBuffer(buf);
}

function sharedBuffer(): Buffer {
  return (threadBuffer ??= Buffer.allocUnsafeSlow(THREAD_BUFFER_SIZE));
}

function shortView(limit: number): Buffer {
  const buf = sharedBuffer();
  if (limit >= buf.length) return buf;
  let v = shortViews.get(limit);
  if (v === undefined) shortViews.set(limit, (v = buf.subarray(0, limit)));
  return v;
}

/**
 * Routes the socket's reads into the thread's receive buffer, or where `target` says after each read
 * (when this Node lets a socket change its buffer between reads): `onRead(buf, length)` runs for
 * every read, `buf` being the buffer the read landed in. Returns false (and changes nothing) when
 * this Node does not support it. A TLS session: its decrypted bytes go to the thread buffer (no direct
 * receive under TLS), and the TCP reads under it into a second buffer.
 */
export function receiveIntoThreadBuffer(socket: net.Socket, onRead: (buf: Buffer, length: number) => void, target?: ReadTarget): boolean {
  if (process.env.NVMETD_USER_BUFFER === '0') return false;
  if (socket instanceof TlsSocket) {
    if (!socket.receiveInto(sharedBuffer(), onRead)) return false;
    const tls = socket;
    useBuffer(tls.raw, (recordBuffer ??= Buffer.allocUnsafeSlow(THREAD_BUFFER_SIZE)), (b, n) => tls.feedRaw(b.subarray(0, n)));
    return true;
  }
  const next = target && kBufferGen && process.env.NVMETD_DIRECT_RECEIVE !== '0' ? (): Uint8Array => target.direct() ?? shortView(target.limit()) : undefined;
  return useBuffer(socket, sharedBuffer(), onRead, next);
}
