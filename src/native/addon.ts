// Loads the C++ addon built by node-gyp during `npm install`.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export interface NativeAddon {
  /** CRC32C of view[offset, offset+length), continuing from `seed` (a previous digest, or 0). */
  crc32c(view: Uint8Array, offset?: number, length?: number, seed?: number): number;
  /**
   * Fills the digests of one batch in one call: job i is jobs[8i..8i+7] = kind, x, xOff, len, y,
   * yOff, dst, a, its digest written little-endian at A[dst], A being arena when a is 0, else
   * buffers[a-1]. Kind 0: digest of A[xOff, xOff+len); 1: digest of buffers[x][xOff, +len); 2: copies buffers[y][yOff, +len) into
   * buffers[x][xOff, +len) and digests the copy. Throws RangeError on a job outside its buffers.
   */
  crc32cBatch(arena: Uint8Array, jobs: Uint32Array, count: number, buffers: Uint8Array[]): void;
  crc32cHardware(): boolean;
  /** The implementation in use: "avx512-vpclmulqdq", "sse4.2" or "table" (NVMETD_CRC32C=sse4.2|table caps it). */
  crc32cKind(): string;
  /** Pins the calling thread to the given CPUs; returns 0 or an errno. */
  setAffinity(cpus: number[]): number;
  getAffinity(): number[];
  /** A close-on-exec duplicate of fd, or a negated errno. */
  dupFd(fd: number): number;
  /** Kernel thread id of the calling thread. */
  gettid(): number;
  /**
   * sendmsg of pieces[0, count) to a socket descriptor without blocking (MSG_DONTWAIT|MSG_NOSIGNAL):
   * the bytes taken (fewer than all when its send buffer filled), or a negated errno when an error
   * came before any byte was taken.
   */
  writeFd(fd: number, pieces: Uint8Array[], count: number): number;
  /**
   * crc32cBatch(arena, jobs, jobCount, buffers), then writeFd(fd, pieces, count), in one call: no
   * JavaScript runs between the digests and the sendmsg. A bad job throws before anything is written.
   */
  writeFdDigests(fd: number, pieces: Uint8Array[], count: number, arena: Uint8Array, jobs: Uint32Array, jobCount: number, buffers: Uint8Array[]): number;
  /**
   * writeFd of the pieces a table names: table[3i, 3i+3) = (index into buffers, offset, length);
   * `buffers` are views over whole backing stores, each looked up once. A piece outside its buffer
   * throws a RangeError before anything is written.
   */
  writeFdTable(fd: number, table: Uint32Array, count: number, buffers: Uint8Array[]): number;
  /** crc32cBatch(arena, jobs, jobCount, buffers), then writeFdTable(fd, table, count, buffers), in one call. */
  writeFdTableDigests(fd: number, table: Uint32Array, count: number, buffers: Uint8Array[], arena: Uint8Array, jobs: Uint32Array, jobCount: number): number;
}

const here = path.dirname(fileURLToPath(import.meta.url));
// dist/src/native -> project root
const root = path.resolve(here, '..', '..', '..');
const require = createRequire(import.meta.url);

export const native: NativeAddon = require(path.join(root, 'build', 'Release', 'nvmetd_native.node')) as NativeAddon;
