// File and block-device namespaces on the native io_uring engine (uring-engine.ts, native/uring.cc).
//
//  - read/write: IORING_OP_READ/WRITE (the _FIXED forms for buffers inside a registered slab of the
//    thread's BufferPool, see uring-slabs.ts); FUA is RWF_DSYNC on the write itself. O_DIRECT unless the
//    namespace is buffered or the backing refuses it; unaligned buffers go through a per-slot bounce
//    buffer in the addon.
//  - flush: IORING_OP_FSYNC with IORING_FSYNC_DATASYNC.
//  - files: discard = fallocate(PUNCH_HOLE|KEEP_SIZE), write zeroes = fallocate(ZERO_RANGE|KEEP_SIZE); when the
//    file system says EOPNOTSUPP the other mode is tried, then zeroes are written. Either way the range reads
//    back as zeroes, so discardZeroes is true. A FUA Write Zeroes is followed by a datasync before it completes.
//  - block devices: BLKDISCARD / BLKZEROOUT on the thread pool (io_uring has no op for them on every
//    kernel). Discard is advisory on devices (discardZeroes false): when the device cannot discard, the
//    command succeeds without effect. Write zeroes falls back to writing zeroes.
import fs from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { Logger } from '../util/log.js';
import type { Backend, BackendRequest } from './backend.js';
import { backingError, openBacking, setNativeBlockSizeProbe, type FileBackingOptions, type OpenedBacking } from './file.js';
import { CONTINUED, Stage, ZERO_CHUNK, errnoName, type EngineClient, type UringEngine } from './uring-engine.js';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE, type NativeRing } from './uring-native.js';

const E = osConstants.errno;

// Slot plan bits for file fallocate chains.
const TRIED_PUNCH = 1;
const TRIED_ZERO = 2;
/** The mode in flight is PUNCH_HOLE (else ZERO_RANGE). */
const CUR_PUNCH = 4;
/** Set: a Write Zeroes (zero range first); clear: a discard (punch first). */
const WRITE_ZEROES = 0x80;
/** Write Zeroes with FUA: datasync once the range is zeroed. */
const FUA = 0x40;

export interface UringBackingOptions extends FileBackingOptions {
  buffered: boolean;
}

export class UringBackend implements Backend, EngineClient {
  readonly kind: 'file' | 'block';
  readonly engine: string;
  sizeBytes: number;
  readonly discardZeroes: boolean;
  readonly path: string;
  readonly readOnly: boolean;
  /** O_DIRECT in use. */
  readonly direct: boolean;
  /** Offset/length alignment O_DIRECT needs (1 when buffered). */
  readonly align: number;
  readonly #e: UringEngine;
  /** Ring for reads and writes: the engine's rw ring, or its aux ring when IOPOLL is refused here. */
  #ring: NativeRing;
  /** File index on #ring. */
  #file: number;
  /** File index on the engine's rw ring and on its aux ring (the same when there is one ring). */
  readonly #rwFile: number;
  readonly #auxFile: number;
  #fd: number;
  readonly #ownsEngine: boolean;
  #noPunch = false;
  #noZeroRange = false;
  #noBlkDiscard = false;
  #noBlkZeroout = false;
  #inflight = 0;
  #closed = false;

  private constructor(b: OpenedBacking, e: UringEngine, direct: boolean, align: number, memAlign: number, ownsEngine: boolean) {
    this.kind = b.kind;
    this.path = b.path;
    this.sizeBytes = b.sizeBytes;
    this.readOnly = b.readOnly;
    this.direct = direct;
    this.align = align;
    this.discardZeroes = b.kind === 'file';
    this.#e = e;
    this.#fd = b.fd;
    this.#ownsEngine = ownsEngine;
    this.#ring = e.rw;
    this.#rwFile = e.rw.registerFile(b.fd, direct ? memAlign : 0);
    this.#auxFile = e.aux === e.rw ? this.#rwFile : e.aux.registerFile(b.fd, direct ? memAlign : 0);
    this.#file = this.#rwFile;
    this.engine = `io_uring(${e.mode},${direct ? 'direct' : 'buffered'})`;
  }

  /**
   * Opens the backing for the engine: O_DIRECT when allowed (else buffered, logged), sized, registered.
   * ownsEngine: close the engine with the backend (tests, benchmarks); the shared per-thread engine is not.
   */
  static async open(o: UringBackingOptions, e: UringEngine, log: Logger, ownsEngine = false): Promise<UringBackend> {
    const n = e.native;
    setNativeBlockSizeProbe((fd) => {
      const r = n.blockDeviceSize(fd);
      if (r < 0) throw new Error(`BLKGETSIZE64 failed on ${o.path}: ${errnoName(-r)}`);
      return r;
    });
    let b: OpenedBacking | null = null;
    let direct = false;
    let align = 1;
    let memAlign = 0;
    if (!o.buffered) {
      if (e.simulate.has('no-direct')) {
        log.info({ path: o.path }, `O_DIRECT refused for ${o.path} (simulated); buffered I/O`);
      } else {
        try {
          b = await openBacking({ ...o, extraFlags: fs.constants.O_DIRECT });
          direct = true;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
          log.info({ path: o.path }, `O_DIRECT refused for ${o.path} (EINVAL); buffered I/O`);
        }
      }
      if (b && direct) {
        const [mem, off] = n.dioAlign(b.fd);
        let offAlign = off;
        memAlign = mem;
        if (b.kind === 'block' && offAlign === 0) {
          const lbs = n.blockLogicalSize(b.fd);
          offAlign = lbs > 0 ? lbs : 512;
          memAlign = memAlign || offAlign;
        }
        if (offAlign === 0 || offAlign > o.blockSize) {
          log.info(
            { path: o.path, dioAlign: offAlign, blockSize: o.blockSize },
            offAlign === 0
              ? `O_DIRECT alignment of ${o.path} unknown; buffered I/O`
              : `O_DIRECT on ${o.path} needs ${offAlign}-byte alignment, more than the ${o.blockSize}-byte blocks; buffered I/O`,
          );
          fs.closeSync(b.fd);
          b = null;
          direct = false;
          memAlign = 0;
        } else {
          align = offAlign;
        }
      }
    }
    if (!b) b = await openBacking({ ...o, extraFlags: 0 });
    let backend: UringBackend;
    try {
      backend = new UringBackend(b, e, direct, align, memAlign, ownsEngine);
    } catch (err) {
      fs.closeSync(b.fd);
      throw backingError(b.path, 'register', err);
    }
    if (e.rw !== e.aux) await backend.#checkIopoll(log);
    if (b.note) log.info({ path: b.path }, `${b.path}: ${b.note}`);
    return backend;
  }

  /** IOPOLL needs O_DIRECT on a device with poll queues: try one read, else use the interrupt ring. */
  async #checkIopoll(log: Logger): Promise<void> {
    let why = '';
    if (!this.direct) {
      why = 'not O_DIRECT';
    } else if (!devicePolls(this.#fd, this.kind)) {
      why = 'the device has no poll queues (queue/io_poll is not 1)';
    } else {
      const buf = new Uint8Array(this.#e.native.allocAligned(Math.max(this.align, 4096)), 0, this.align);
      let res: number | undefined;
      const probe: BackendRequest = { backendDone: (r: number) => void (res = r) };
      this.submitRead(probe, 0, buf);
      this.kick();
      while (res === undefined) {
        this.#e.rw.reap(true);
        this.#e.drain();
        if (res === undefined) await new Promise((r) => setImmediate(r));
      }
      if (res < 0) why = `${errnoName(-res)} on a polled read`;
    }
    if (why) {
      this.#ring = this.#e.aux;
      this.#file = this.#auxFile;
      (this as { engine: string }).engine = `io_uring(interrupt,${this.direct ? 'direct' : 'buffered'})`;
      log.info({ path: this.path, reason: why }, `IOPOLL refused for ${this.path} (${why}); interrupt mode for it`);
    }
  }

  #queued(): void {
    if (this.#ring === this.#e.rw) this.#e.queuedRw();
    else this.#e.queuedAux();
  }

  #bad(offset: number, length: number): number {
    if (this.#closed) return -E.EBADF;
    if (!Number.isSafeInteger(offset) || offset < 0 || length < 0 || offset + length > this.sizeBytes) return -E.EINVAL;
    if (this.align > 1 && (offset % this.align !== 0 || length % this.align !== 0)) return -E.EINVAL;
    return 0;
  }

  #take(req: BackendRequest, stage: Stage): number {
    this.#inflight++;
    return this.#e.take(this, req, stage);
  }

  #now(req: BackendRequest, res: number): void {
    this.#inflight++;
    this.#e.immediate(req, res, this);
  }

  submitRead(req: BackendRequest, offset: number, dst: Uint8Array): void {
    const bad = this.#bad(offset, dst.length);
    if (bad) return this.#now(req, bad);
    const slot = this.#take(req, Stage.Rw);
    if (slot < 0) return this.#e.wait(this, req, (s) => this.#startRw(s, false, offset, dst, false));
    this.#e.bufs[slot] = dst;
    this.#ring.read(slot, this.#file, dst, offset);
    this.#queued();
  }

  submitWrite(req: BackendRequest, offset: number, src: Uint8Array, fua: boolean): void {
    if (this.readOnly) return this.#now(req, -E.EROFS);
    const bad = this.#bad(offset, src.length);
    if (bad) return this.#now(req, bad);
    const slot = this.#take(req, Stage.Rw);
    if (slot < 0) return this.#e.wait(this, req, (s) => this.#startRw(s, true, offset, src, fua));
    this.#e.bufs[slot] = src;
    this.#ring.write(slot, this.#file, src, offset, fua);
    this.#queued();
  }

  #startRw(slot: number, write: boolean, offset: number, buf: Uint8Array, fua: boolean): void {
    this.#e.stage[slot] = Stage.Rw;
    this.#e.bufs[slot] = buf;
    if (write) this.#ring.write(slot, this.#file, buf, offset, fua);
    else this.#ring.read(slot, this.#file, buf, offset);
    this.#queued();
  }

  submitFlush(req: BackendRequest): void {
    if (this.#closed) return this.#now(req, -E.EBADF);
    if (this.readOnly) return this.#now(req, 0);
    const slot = this.#take(req, Stage.Fsync);
    if (slot < 0) return this.#e.wait(this, req, (s) => this.#startFsync(s));
    this.#startFsync(slot);
  }

  #startFsync(slot: number): void {
    this.#e.stage[slot] = Stage.Fsync;
    this.#e.aux.fsync(slot, this.#auxFile);
    this.#e.queuedAux();
  }

  submitDiscard(req: BackendRequest, offset: number, length: number): void {
    if (this.readOnly) return this.#now(req, -E.EROFS);
    const bad = this.#bad(offset, length);
    if (bad) return this.#now(req, bad);
    if (length === 0) return this.#now(req, 0);
    if (this.kind === 'block' && (this.#noBlkDiscard || this.#e.simulate.has('no-blkioctl'))) return this.#now(req, 0);
    const slot = this.#take(req, Stage.Falloc);
    if (slot < 0) return this.#e.wait(this, req, (s) => this.#startZeroing(s, offset, length, false));
    this.#startZeroing(slot, offset, length, false);
  }

  submitWriteZeroes(req: BackendRequest, offset: number, length: number, fua: boolean): void {
    if (this.readOnly) return this.#now(req, -E.EROFS);
    const bad = this.#bad(offset, length);
    if (bad) return this.#now(req, bad);
    if (length === 0) return this.#now(req, 0);
    const slot = this.#take(req, Stage.Falloc);
    if (slot < 0) return this.#e.wait(this, req, (s) => this.#startZeroing(s, offset, length, true, fua));
    this.#startZeroing(slot, offset, length, true, fua);
  }

  #startZeroing(slot: number, offset: number, length: number, writeZeroes: boolean, fua = false): void {
    const e = this.#e;
    e.pos[slot] = offset;
    e.left[slot] = length;
    e.plan[slot] = (writeZeroes ? WRITE_ZEROES : 0) | (fua ? FUA : 0);
    if (this.kind === 'block') {
      if (writeZeroes && (this.#noBlkZeroout || e.simulate.has('no-blkioctl'))) return this.#zeroWrite(slot);
      e.stage[slot] = writeZeroes ? Stage.BlkZeroout : Stage.BlkDiscard;
      e.aux.blkIoctl(slot, this.#fd, writeZeroes ? 1 : 0, offset, length);
      return;
    }
    this.#nextFalloc(slot);
  }

  /** Issues the next fallocate mode of the slot's plan, or starts writing zeroes when none is left. */
  #nextFalloc(slot: number): void {
    const e = this.#e;
    const plan = e.plan[slot]!;
    const canPunch = !this.#noPunch && !(plan & TRIED_PUNCH) && !e.simulate.has('no-fallocate');
    const canZero = !this.#noZeroRange && !(plan & TRIED_ZERO) && !e.simulate.has('no-fallocate');
    let mode = 0;
    if (plan & WRITE_ZEROES) {
      if (canZero) mode = FALLOC_FL_ZERO_RANGE;
      else if (canPunch) mode = FALLOC_FL_PUNCH_HOLE;
    } else {
      if (canPunch) mode = FALLOC_FL_PUNCH_HOLE;
      else if (canZero) mode = FALLOC_FL_ZERO_RANGE;
    }
    if (mode === 0) return this.#zeroWrite(slot);
    e.plan[slot] = (plan & ~CUR_PUNCH) | (mode === FALLOC_FL_PUNCH_HOLE ? TRIED_PUNCH | CUR_PUNCH : TRIED_ZERO);
    this.#issueFalloc(slot);
  }

  #issueFalloc(slot: number): void {
    const e = this.#e;
    const mode = e.plan[slot]! & CUR_PUNCH ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE;
    e.stage[slot] = Stage.Falloc;
    e.aux.fallocate(slot, this.#auxFile, mode | FALLOC_FL_KEEP_SIZE, e.pos[slot]!, e.left[slot]!);
    e.queuedAux();
  }

  /** Writes the next chunk of zeroes for the slot. */
  #zeroWrite(slot: number): void {
    const e = this.#e;
    e.stage[slot] = Stage.ZeroWrites;
    const n = Math.min(ZERO_CHUNK, e.left[slot]!);
    this.#ring.write(slot, this.#file, n === ZERO_CHUNK ? e.zeroes : e.zeroes.subarray(0, n), e.pos[slot]!, false);
    this.#queued();
  }

  continueOp(slot: number, res: number): number {
    const e = this.#e;
    switch (e.stage[slot]) {
      case Stage.Fsync:
        if (res === -E.EAGAIN || res === -E.EINTR) {
          this.#startFsync(slot);
          return CONTINUED;
        }
        return res;
      case Stage.Falloc:
        if (res === -E.EOPNOTSUPP || res === -E.ENOSYS) {
          // This file system cannot do that mode: remember, and try the next way.
          if (e.plan[slot]! & CUR_PUNCH) this.#noPunch = true;
          else this.#noZeroRange = true;
          this.#nextFalloc(slot);
          return CONTINUED;
        }
        if (res === -E.EAGAIN || res === -E.EINTR) {
          this.#issueFalloc(slot);
          return CONTINUED;
        }
        return res < 0 ? res : this.#zeroed(slot);
      case Stage.ZeroWrites: {
        if (res < 0) return res;
        e.pos[slot] = e.pos[slot]! + res;
        e.left[slot] = e.left[slot]! - res;
        if (e.left[slot]! > 0) {
          this.#zeroWrite(slot);
          return CONTINUED;
        }
        return this.#zeroed(slot);
      }
      case Stage.BlkDiscard:
        if (res === -E.EOPNOTSUPP || res === -E.ENOTTY) {
          // Advisory on a device that cannot: no effect, still success (discardZeroes is false).
          this.#noBlkDiscard = true;
          return 0;
        }
        return res;
      case Stage.BlkZeroout:
        if (res === -E.EOPNOTSUPP || res === -E.ENOTTY) {
          this.#noBlkZeroout = true;
          this.#zeroWrite(slot);
          return CONTINUED;
        }
        return res < 0 ? res : this.#zeroed(slot);
      default:
        return res;
    }
  }

  /** The slot's range is zeroed: a FUA Write Zeroes goes on to a datasync, anything else completes. */
  #zeroed(slot: number): number {
    if (!(this.#e.plan[slot]! & FUA)) return 0;
    this.#startFsync(slot);
    return CONTINUED;
  }

  released(): void {
    this.#inflight--;
  }

  view(_offset: number, _length: number): Uint8Array | null {
    return null;
  }

  kick(): void {
    this.#e.kick();
  }

  /** Operations of this namespace in flight. */
  get inflight(): number {
    return this.#inflight;
  }

  /** The file grew or shrank (seen by the main thread's rescan): I/O is checked against the new size. */
  setCapacity(sizeBytes: number): void {
    this.sizeBytes = sizeBytes;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    while (this.#inflight > 0) {
      this.#e.kick();
      if (this.#e.rw !== this.#e.aux) this.#e.rw.reap(true);
      this.#e.drain();
      if (this.#inflight > 0) await new Promise((r) => setImmediate(r));
    }
    if (!this.readOnly) await new Promise<void>((r) => fs.fdatasync(this.#fd, () => r()));
    if (!this.#e.closed) {
      this.#e.rw.unregisterFile(this.#rwFile);
      if (this.#e.aux !== this.#e.rw) this.#e.aux.unregisterFile(this.#auxFile);
    }
    fs.closeSync(this.#fd);
    this.#fd = -1;
    if (this.#ownsEngine) this.#e.close();
  }
}

/** Whether the block device under `fd` (the device itself, or the one holding the file) has polling on. */
export function devicePolls(fd: number, kind: 'file' | 'block'): boolean {
  const st = fs.fstatSync(fd, { bigint: true });
  const dev = kind === 'block' ? st.rdev : st.dev;
  const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
  const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
  const base = `/sys/dev/block/${major}:${minor}`;
  for (const q of [`${base}/queue/io_poll`, `${base}/../queue/io_poll`]) {
    try {
      return fs.readFileSync(q, 'utf8').trim() === '1';
    } catch {
      /* a partition has its queue on the parent */
    }
  }
  return false;
}
