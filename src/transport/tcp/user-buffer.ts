// Receiving into one reused buffer instead of a fresh 64 KiB Buffer per socket read.
//
// Node reads a socket into a new buffer every time unless the socket was created with the `onread`
// option ({ buffer, callback }), which it documents for sockets it connects. Accepted sockets (and
// sockets wrapped around a descriptor handed to a worker) take the same path once the two per-socket
// fields that option sets are in place and the handle is told to use the buffer. The symbols of those
// fields are read off a probe socket, so nothing here depends on Node's private module layout; when
// they cannot be found, the caller falls back to 'data' events. A TlsSocket (the TLS engine's) is told
// to decrypt into the buffer (TlsSocket.receiveInto).
//
// The buffer is shared by every connection of the thread: a read is processed completely (the PDU
// reader copies what it keeps) before the next read into it.
import net from 'node:net';
import { TlsSocket } from '../../native/tls-socket.js';

const THREAD_BUFFER_SIZE = 256 * 1024;

let kBuffer: symbol | undefined;
let kBufferCb: symbol | undefined;
{
  const probe = new net.Socket({ onread: { buffer: Buffer.alloc(1), callback: () => true } } as net.SocketConstructorOpts);
  for (const s of Object.getOwnPropertySymbols(probe)) {
    if (s.description === 'kBuffer') kBuffer = s;
    if (s.description === 'kBufferCb') kBufferCb = s;
  }
  probe.destroy();
}

let threadBuffer: Buffer | null = null;
/** A TLS connection's records (TCP reads under the session): copied into the engine at once. */
let recordBuffer: Buffer | null = null;

/** Points the socket's reads at `buf`; false when this Node cannot. */
function useBuffer(socket: net.Socket, buf: Buffer, onRead: (buf: Buffer, length: number) => void): boolean {
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: (b: Buffer) => void } })._handle;
  if (!kBuffer || !kBufferCb || !handle || typeof handle.useUserBuffer !== 'function') return false;
  const fields = socket as unknown as Record<symbol, unknown>;
  fields[kBuffer] = buf;
  fields[kBufferCb] = (nread: number, b: Buffer): void => onRead(b, nread);
  handle.useUserBuffer(buf);
  return true;
}

/**
 * Routes the socket's reads into the thread's receive buffer: `onRead(buf, length)` runs for every
 * read. Returns false (and changes nothing) when this Node does not support it. A TLS session: its
 * decrypted bytes go there, and the TCP reads under it into a second buffer.
 */
export function receiveIntoThreadBuffer(socket: net.Socket, onRead: (buf: Buffer, length: number) => void): boolean {
  if (process.env.NVMETD_USER_BUFFER === '0') return false;
  if (socket instanceof TlsSocket) {
    if (!socket.receiveInto((threadBuffer ??= Buffer.allocUnsafeSlow(THREAD_BUFFER_SIZE)), onRead)) return false;
    const tls = socket;
    useBuffer(tls.raw, (recordBuffer ??= Buffer.allocUnsafeSlow(THREAD_BUFFER_SIZE)), (b, n) => tls.feedRaw(b.subarray(0, n)));
    return true;
  }
  return useBuffer(socket, (threadBuffer ??= Buffer.allocUnsafeSlow(THREAD_BUFFER_SIZE)), onRead);
}
