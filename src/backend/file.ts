// File and block-device namespaces on Node's fs (the libuv thread pool).
//
// This is the portable engine: it works wherever Node runs, and it is the fallback when the native
// io_uring engine (uring.ts) is unavailable. Every operation is a small state machine held in a
// preallocated FsOp slot whose fs callback is bound once, so steady-state I/O allocates no closures.
//
// Semantics:
//  - read/write: positioned fs.read/fs.write, short transfers continued; a read that meets end of file
//    inside the namespace fails with -EIO (the backing shrank under us).
//  - FUA write: written through a second descriptor opened with O_DSYNC (one system call, durable on return).
//  - flush: fdatasync.
//  - write zeroes: zero writes from a shared zero buffer, 1 MiB at a time; with FUA, fdatasync after.
//  - discard: advisory here (Node's fs has no fallocate): ranges up to DISCARD_ZERO_LIMIT are zeroed,
//    larger ones are ignored, so discardZeroes is false for this engine.
import fs from 'node:fs';
import path from 'node:path';
import { constants as osConstants } from 'node:os';
import type { Backend, BackendRequest } from './backend.js';

const E = osConstants.errno;
export const EINVAL = E.EINVAL;
export const EIO = E.EIO;
export const EBADF = E.EBADF;

/** Largest piece one zero write moves; also the size of the shared zero buffer. */
const ZERO_CHUNK = 1 << 20;
/** Discards up to this length are carried out as zero writes; larger ones are only advisory. */
export const DISCARD_ZERO_LIMIT = 1 << 20;

let zeroBuffer: Uint8Array | undefined;
function zeroes(): Uint8Array {
  return (zeroBuffer ??= new Uint8Array(ZERO_CHUNK));
}

export interface FileBackingOptions {
  path: string;
  /** 'file' for a regular file, 'block' for a block device. */
  kind: 'file' | 'block';
  /** Wanted capacity (files): a shorter file is extended (sparse); absent: the file's size. */
  size?: number;
  /** Capacity is rounded down to a multiple of this. */
  blockSize: number;
  readOnly: boolean;
  /** Extra open(2) flags (O_DIRECT for the native engine). */
  extraFlags?: number;
}

/** An opened backing: descriptor, capacity, and what it is. */
export interface OpenedBacking {
  fd: number;
  path: string;
  kind: 'file' | 'block';
  sizeBytes: number;
  readOnly: boolean;
  /** Set when the capacity was rounded down to a block multiple or cut to the configured size. */
  note?: string;
}

/** Turns an fs error into "cannot open namespace backing <path>: <reason> (<code>)". */
export function backingError(p: string, what: string, err: unknown): Error {
  const e = err as NodeJS.ErrnoException;
  const reason = e && typeof e === 'object' && 'code' in e && e.code ? `${describeCode(e.code)} (${e.code})` : String((e as Error)?.message ?? e);
  const out = new Error(`cannot ${what} namespace backing ${p}: ${reason}`);
  (out as NodeJS.ErrnoException).code = e?.code;
  (out as Error & { cause?: unknown }).cause = err;
  return out;
}

function describeCode(code: string): string {
  switch (code) {
    case 'ENOENT': return 'no such file or directory';
    case 'EACCES': return 'permission denied';
    case 'EPERM': return 'operation not permitted';
    case 'EISDIR': return 'is a directory';
    case 'EROFS': return 'read-only file system';
    case 'EBUSY': return 'device or resource busy';
    case 'EINVAL': return 'invalid argument (O_DIRECT not supported here?)';
    case 'ENOSPC': return 'no space left on device';
    case 'ENXIO': return 'no such device';
    default: return code.toLowerCase();
  }
}

/** Size in bytes of a block device, from /sys/dev/block/<major>:<minor>/size (512-byte sectors). */
export function blockDeviceSizeFromSys(rdev: number): number {
  // Linux dev_t encoding as returned by stat(2) through libuv.
  const major = ((rdev >>> 8) & 0xfff) | Math.floor(rdev / 2 ** 32) & ~0xfff;
  const minor = (rdev & 0xff) | ((rdev >>> 12) & 0xfff00);
  const text = fs.readFileSync(`/sys/dev/block/${major}:${minor}/size`, 'utf8');
  return Number(text.trim()) * 512;
}

/** Optional native size probe (BLKGETSIZE64), installed by the native engine when the addon has it. */
let nativeBlockSize: ((fd: number) => number) | undefined;
export function setNativeBlockSizeProbe(fn: ((fd: number) => number) | undefined): void {
  nativeBlockSize = fn;
}

/**
 * Opens the backing, checks it is what the config says, sizes it (extending a short regular file when a
 * size is configured), and returns the descriptor. Errors name the path and the reason.
 */
export async function openBacking(o: FileBackingOptions): Promise<OpenedBacking> {
  const p = o.path;
  // A file namespace with a size is created (sparse) when its file does not exist yet.
  const create = o.kind === 'file' && o.size !== undefined && !o.readOnly && !fs.existsSync(p);
  const flags = (o.readOnly ? fs.constants.O_RDONLY : fs.constants.O_RDWR) | (create ? fs.constants.O_CREAT : 0) | (o.extraFlags ?? 0);
  let fd: number;
  try {
    fd = await openFd(p, flags);
  } catch (err) {
    throw backingError(p, 'open', err);
  }
  try {
    const st = fs.fstatSync(fd);
    let sizeBytes: number;
    let note: string | undefined;
    if (o.kind === 'block') {
      if (!st.isBlockDevice()) throw new Error(`namespace backing ${p} is not a block device (configured as type "block")`);
      sizeBytes = nativeBlockSize ? nativeBlockSize(fd) : blockDeviceSizeFromSys(st.rdev);
    } else {
      if (st.isDirectory()) throw new Error(`cannot open namespace backing ${p}: is a directory (EISDIR)`);
      if (!st.isFile()) throw new Error(`namespace backing ${p} is not a regular file (configured as type "file"; use type "block" for devices)`);
      sizeBytes = st.size;
      if (o.size !== undefined) {
        if (!Number.isSafeInteger(o.size) || o.size <= 0) throw new Error(`namespace backing ${p}: invalid size ${o.size}`);
        if (st.size < o.size) {
          if (o.readOnly) throw new Error(`namespace backing ${p} is ${st.size} bytes, shorter than the configured ${o.size}, and the namespace is read-only`);
          try {
            fs.ftruncateSync(fd, o.size);
          } catch (err) {
            throw backingError(p, 'extend', err);
          }
        } else if (st.size > o.size) {
          note = `using the first ${o.size} of ${st.size} bytes`;
        }
        sizeBytes = o.size;
      }
    }
    if (create) note = `created ${p} (sparse, ${sizeBytes} bytes)`;
    const rounded = sizeBytes - (sizeBytes % o.blockSize);
    if (rounded !== sizeBytes) note = `capacity rounded down from ${sizeBytes} to ${rounded} bytes (block size ${o.blockSize})`;
    if (rounded <= 0) throw new Error(`namespace backing ${p} is empty (${sizeBytes} bytes); give it a size`);
    return { fd, path: p, kind: o.kind, sizeBytes: rounded, readOnly: o.readOnly, note };
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}

/** Opens `path` with `flags`, as a plain descriptor, without blocking the event loop. */
export function openFd(p: string, flags: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.open(p, flags, 0o600, (err, fd) => (err ? reject(err) : resolve(fd)));
  });
}

const enum OpKind {
  Read,
  Write,
  Flush,
  Zero,
}

/** One in-flight operation. Reused through a free list; its fs callback is bound once. */
class FsOp {
  kind = OpKind.Read;
  req: BackendRequest | null = null;
  buf: Uint8Array = zeroes();
  fd = -1;
  /** Absolute byte position of the next transfer. */
  pos = 0;
  /** Bytes already moved. */
  done = 0;
  /** Bytes to move in total. */
  len = 0;
  /** Result reported on success. */
  result = 0;
  /** Zero op: fdatasync once the range is written (FUA Write Zeroes). */
  sync = false;
  next: FsOp | null = null;
  readonly owner: FileBackend;
  readonly onIo: (err: NodeJS.ErrnoException | null, n: number) => void;
  readonly onSync: (err: NodeJS.ErrnoException | null) => void;

  constructor(owner: FileBackend) {
    this.owner = owner;
    this.onIo = (err, n) => owner.onIo(this, err, n);
    this.onSync = (err) => owner.onIo(this, err, 0);
  }
}

function errnoOf(err: NodeJS.ErrnoException): number {
  const n = err.errno;
  // libuv reports negative errno values.
  return typeof n === 'number' && n !== 0 ? -Math.abs(n) : -EIO;
}

/** The fs (thread-pool) engine for file and block-device namespaces. */
export class FileBackend implements Backend {
  readonly kind: 'file' | 'block';
  readonly engine = 'fs-threadpool';
  sizeBytes: number;
  readonly discardZeroes = false;
  readonly path: string;
  readonly readOnly: boolean;
  #fd: number;
  /** O_DSYNC descriptor for FUA writes, opened with the backend. -1 when read-only. */
  #dsyncFd: number;
  #free: FsOp | null = null;
  #inflight = 0;
  #closing: (() => void) | null = null;
  #closed = false;
  /** kick() is delivering submission-time failures. */
  #draining = false;
  // Failures detected at submission, signalled in kick() (never from inside submit*).
  readonly #errReq: BackendRequest[] = [];
  readonly #errRes: number[] = [];
  #errCount = 0;

  private constructor(b: OpenedBacking, dsyncFd: number) {
    this.kind = b.kind;
    this.path = b.path;
    this.sizeBytes = b.sizeBytes;
    this.readOnly = b.readOnly;
    this.#fd = b.fd;
    this.#dsyncFd = dsyncFd;
  }

  /** Opens (and sizes) the backing and returns a ready backend. */
  static async open(o: FileBackingOptions): Promise<FileBackend> {
    const b = await openBacking({ ...o, extraFlags: 0 });
    let dsyncFd = -1;
    if (!b.readOnly) {
      try {
        dsyncFd = await openFd(b.path, fs.constants.O_RDWR | fs.constants.O_DSYNC);
      } catch (err) {
        fs.closeSync(b.fd);
        throw backingError(b.path, 'open (O_DSYNC)', err);
      }
    }
    return new FileBackend(b, dsyncFd);
  }

  /** Wraps an already opened backing (the native engine's fallback path uses this). */
  static fromOpened(b: OpenedBacking, dsyncFd = -1): FileBackend {
    return new FileBackend(b, dsyncFd);
  }

  #op(kind: OpKind, req: BackendRequest): FsOp {
    let op = this.#free;
    if (op) this.#free = op.next;
    else op = new FsOp(this);
    op.next = null;
    op.kind = kind;
    op.req = req;
    op.done = 0;
    op.sync = false;
    op.fd = this.#fd;
    this.#inflight++;
    return op;
  }

  #fail(req: BackendRequest, res: number): void {
    const i = this.#errCount++;
    this.#errReq[i] = req;
    this.#errRes[i] = res;
  }

  #inRange(offset: number, length: number): boolean {
    return Number.isSafeInteger(offset) && offset >= 0 && length >= 0 && offset + length <= this.sizeBytes;
  }

  submitRead(req: BackendRequest, offset: number, dst: Uint8Array): void {
    if (this.#closed) return this.#fail(req, -EBADF);
    if (!this.#inRange(offset, dst.length)) return this.#fail(req, -EINVAL);
    const op = this.#op(OpKind.Read, req);
    op.fd = this.#fd;
    op.buf = dst;
    op.pos = offset;
    op.len = dst.length;
    op.result = dst.length;
    this.#issue(op);
  }

  submitWrite(req: BackendRequest, offset: number, src: Uint8Array, fua: boolean): void {
    if (this.#closed) return this.#fail(req, -EBADF);
    if (this.readOnly) return this.#fail(req, -E.EROFS);
    if (!this.#inRange(offset, src.length)) return this.#fail(req, -EINVAL);
    const op = this.#op(OpKind.Write, req);
    op.fd = fua ? this.#dsyncFd : this.#fd;
    op.buf = src;
    op.pos = offset;
    op.len = src.length;
    op.result = src.length;
    this.#issue(op);
  }

  submitFlush(req: BackendRequest): void {
    if (this.#closed) return this.#fail(req, -EBADF);
    const op = this.#op(OpKind.Flush, req);
    op.result = 0;
    if (this.readOnly) {
      // Nothing can be dirty; complete through the thread pool anyway to keep ordering simple.
      fs.fstat(this.#fd, (err) => this.onIo(op, err, 0));
      return;
    }
    fs.fdatasync(this.#fd, op.onSync);
  }

  submitDiscard(req: BackendRequest, offset: number, length: number): void {
    if (this.#closed) return this.#fail(req, -EBADF);
    if (this.readOnly) return this.#fail(req, -E.EROFS);
    if (!this.#inRange(offset, length)) return this.#fail(req, -EINVAL);
    // Advisory: large ranges are acknowledged without touching the data (discardZeroes is false).
    if (length > DISCARD_ZERO_LIMIT || length === 0) {
      const op = this.#op(OpKind.Flush, req);
      op.result = 0;
      fs.fstat(this.#fd, (err) => this.onIo(op, err, 0));
      return;
    }
    this.#zeroRange(req, offset, length, false);
  }

  submitWriteZeroes(req: BackendRequest, offset: number, length: number, fua: boolean): void {
    if (this.#closed) return this.#fail(req, -EBADF);
    if (this.readOnly) return this.#fail(req, -E.EROFS);
    if (!this.#inRange(offset, length)) return this.#fail(req, -EINVAL);
    this.#zeroRange(req, offset, length, fua);
  }

  #zeroRange(req: BackendRequest, offset: number, length: number, sync: boolean): void {
    const op = this.#op(OpKind.Zero, req);
    op.fd = this.#fd;
    op.buf = zeroes();
    op.pos = offset;
    op.len = length;
    op.result = 0;
    op.sync = sync;
    if (length === 0) {
      fs.fstat(this.#fd, (err) => this.onIo(op, err, 0));
      return;
    }
    this.#issue(op);
  }

  /** Issues the next piece of a read, write or zero op. */
  #issue(op: FsOp): void {
    const left = op.len - op.done;
    switch (op.kind) {
      case OpKind.Read:
        fs.read(op.fd, op.buf, op.done, left, op.pos + op.done, op.onIo);
        break;
      case OpKind.Write:
        fs.write(op.fd, op.buf, op.done, left, op.pos + op.done, op.onIo);
        break;
      case OpKind.Zero:
        fs.write(op.fd, op.buf, 0, Math.min(left, ZERO_CHUNK), op.pos + op.done, op.onIo);
        break;
      case OpKind.Flush:
        fs.fdatasync(op.fd, op.onSync);
        break;
    }
  }

  /** Turns a finished zero op into its fdatasync (FUA Write Zeroes). */
  #sync(op: FsOp): void {
    op.kind = OpKind.Flush;
    op.sync = false;
    fs.fdatasync(op.fd, op.onSync);
  }

  /** fs callback for every op (internal; public only so the op slots can reach it). */
  onIo(op: FsOp, err: NodeJS.ErrnoException | null, n: number): void {
    if (err) {
      if (err.code === 'EAGAIN' || err.code === 'EINTR') return this.#issue(op);
      return this.#finish(op, errnoOf(err));
    }
    if (op.kind === OpKind.Flush) return this.#finish(op, op.result);
    if (n === 0 && op.len > op.done) {
      // End of file inside the namespace (reads), or a device that takes nothing (writes).
      return this.#finish(op, -EIO);
    }
    op.done += n;
    if (op.done < op.len) return this.#issue(op);
    if (op.sync) return this.#sync(op);
    this.#finish(op, op.result);
  }

  #finish(op: FsOp, res: number): void {
    const req = op.req!;
    op.req = null;
    op.buf = zeroes();
    op.next = this.#free;
    this.#free = op;
    this.#inflight--;
    req.backendDone(res);
    if (this.#inflight === 0 && this.#closing) this.#closing();
  }

  view(_offset: number, _length: number): Uint8Array | null {
    return null;
  }

  kick(): void {
    // fs operations are issued at submission; only submission-time failures wait for the kick.
    // A kick from one of these completions leaves what it submitted to the loop below.
    if (this.#draining) return;
    this.#draining = true;
    try {
      let i = 0;
      while (i < this.#errCount) {
        const req = this.#errReq[i]!;
        const res = this.#errRes[i]!;
        this.#errReq[i] = undefined as unknown as BackendRequest;
        i++;
        req.backendDone(res);
      }
    } finally {
      this.#errCount = 0;
      this.#draining = false;
    }
  }

  /** Operations in flight (for tests and statistics). */
  get inflight(): number {
    return this.#inflight;
  }

  /** The file grew or shrank (seen by the main thread's rescan): I/O is checked against the new size. */
  setCapacity(sizeBytes: number): void {
    this.sizeBytes = sizeBytes;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.kick();
    this.#closed = true;
    if (this.#inflight > 0) await new Promise<void>((resolve) => (this.#closing = resolve));
    this.#closing = null;
    if (!this.readOnly) await syncFd(this.#fd);
    closeQuietly(this.#fd);
    if (this.#dsyncFd >= 0) closeQuietly(this.#dsyncFd);
    this.#fd = -1;
    this.#dsyncFd = -1;
  }
}

function syncFd(fd: number): Promise<void> {
  return new Promise((resolve) => fs.fdatasync(fd, () => resolve()));
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    /* already closed */
  }
}

/** Resolves a /dev path to the kernel's block device name (for log lines). */
export function deviceName(p: string): string {
  try {
    return path.basename(fs.realpathSync(p));
  } catch {
    return path.basename(p);
  }
}
