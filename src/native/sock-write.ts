// One system call for a batch of byte views bound for a plain TCP socket (see native writeFd):
// bypasses Node's stream machinery, which costs several microseconds per write. NVMETD_NATIVE_WRITE=0
// turns it off (every write goes through the socket's stream).
import { native } from './addon.js';

/** Whether out queues may write to socket descriptors directly (read once, at start). */
export const nativeWriteEnabled = process.env.NVMETD_NATIVE_WRITE !== '0';

/**
 * Writes pieces[0, count) to `fd` without blocking: returns the bytes the kernel took (fewer than all
 * when the send buffer is full), or a negated errno when an error came before any byte was taken.
 */
export function writeFd(fd: number, pieces: Uint8Array[], count: number): number {
  return native.writeFd(fd, pieces, count);
}
