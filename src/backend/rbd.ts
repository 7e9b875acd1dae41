// Namespaces on Ceph RBD images through librbd (native/rbd.cc).
//
//  - Every thread that serves the namespace (main, I/O workers) has its own channel on ONE shared image
//    handle per process, so librbd's exclusive lock is held by one RADOS client per gateway and never
//    bounces between our threads.
//  - read/write/flush/discard/write zeroes are rbd_aio_* calls tagged with a slot index; librbd completes
//    them on its own threads and the channel hands each batch to this thread's event loop through an
//    eventfd: one wake-up and one JS call per batch, no closure or object per I/O.
//  - The client write-back cache is off (rbd_cache=false): a write is acknowledged once RADOS has it, so
//    FUA needs nothing more and Flush is cheap.
//  - discard: librbd may skip partial-object discards, so deallocated blocks are not promised to read as
//    zeroes (discardZeroes false); Write Zeroes always zeroes.
//  - Another gateway holding the image's exclusive lock in managed mode (it was made the owner, see
//    rpc/methods/ana.ts) makes librbd refuse this gateway's writes with EROFS: answered as a path
//    error (ANA Inaccessible), so the host writes through the owner instead of failing the write.
//  - A resize of the image (rbd resize, or through another gateway) is seen through librbd's header
//    watch: onCapacityChange tells the owner (the main thread), which spreads it to workers and hosts.
import { constants as osConstants } from 'node:os';
import type { RbdBacking } from '../config/types.js';
import type { Logger } from '../util/log.js';
import type { Backend, BackendRequest } from './backend.js';
import { loadRbdNative, rbdLoadError, type NativeRbdChannel, type RbdNative } from './rbd-native.js';

const E = osConstants.errno;
/** Linux ESHUTDOWN: what the NVMe layer answers as Asymmetric Access Inaccessible (errno.ts). */
const ESHUTDOWN = 108;

/** Operations in flight per channel before further ones wait (in an allocating queue). */
const CAPACITY = 1024;

/** The key under which every thread of this process shares one image handle. */
export function rbdKey(b: RbdBacking): string {
  return `${b.cephConf ?? ''}\u0000${b.user}\u0000${b.pool}\u0000${b.image}`;
}

export function rbdName(b: RbdBacking): string {
  return `rbd:${b.pool}/${b.image}`;
}

/** A request waiting for a free tag (more than CAPACITY in flight on this thread). */
interface Waiting {
  req: BackendRequest;
  start: (tag: number) => void;
}

export class RbdBackend implements Backend {
  readonly kind = 'rbd';
  readonly engine = 'librbd(aio,eventfd)';
  readonly discardZeroes = false;
  readonly name: string;
  sizeBytes: number;
  readonly blockSize: number;
  readonly readOnly: boolean;
  /** Set by the owner of the namespace on the main thread: the image changed size to `sizeBytes`. */
  onCapacityChange: ((sizeBytes: number) => void) | null = null;
  readonly #n: RbdNative;
  readonly #key: string;
  readonly #ch: NativeRbdChannel;
  readonly #compl: Int32Array;
  readonly #reqs: (BackendRequest | null)[] = new Array<BackendRequest | null>(CAPACITY).fill(null);
  readonly #free = new Int32Array(CAPACITY);
  #freeTop = CAPACITY;
  readonly #waiting: Waiting[] = [];
  #closed = false;
  readonly #log: Logger;
  /** Writes are being refused because another gateway owns the image (logged once per episode). */
  #notOwner = false;

  private constructor(n: RbdNative, key: string, b: RbdBacking, blockSize: number, readOnly: boolean, log: Logger) {
    this.#n = n;
    this.#log = log;
    this.#key = key;
    this.name = rbdName(b);
    this.blockSize = blockSize;
    this.readOnly = readOnly;
    for (let i = 0; i < CAPACITY; i++) this.#free[i] = CAPACITY - 1 - i;
    this.#compl = new Int32Array(4 + 2 * CAPACITY);
    this.#ch = new n.RbdChannel({ key, completions: this.#compl, onComplete: () => this.#drain(), onUpdate: () => this.#headerChanged() });
    const size = this.#ch.size();
    if (size < 0) throw new Error(`${this.name}: cannot read the image size (errno ${-size})`);
    this.sizeBytes = size - (size % blockSize);
  }

  /** Connects to the cluster (once per image and process) and opens the image for this thread. */
  static async open(b: RbdBacking, o: { blockSize: number; readOnly: boolean }, log: Logger): Promise<RbdBackend> {
    const n = await loadRbdNative();
    if (!n) throw new Error(`${rbdName(b)}: ${rbdLoadError()}`);
    const key = rbdKey(b);
    const t0 = Date.now();
    try {
      await n.rbdOpen({ key, conf: b.cephConf, user: b.user, pool: b.pool, image: b.image, options: b.options });
    } catch (err) {
      throw new Error(`${rbdName(b)}: ${(err as Error).message}`);
    }
    let backend: RbdBackend;
    try {
      backend = new RbdBackend(n, key, b, o.blockSize, o.readOnly, log);
    } catch (err) {
      await n.rbdRelease(key);
      throw err;
    }
    if (backend.sizeBytes < o.blockSize) {
      await backend.close();
      throw new Error(`${rbdName(b)}: the image is smaller than one ${o.blockSize}-byte block`);
    }
    log.debug({ image: backend.name, ms: Date.now() - t0 }, `${backend.name}: open`);
    return backend;
  }

  #take(req: BackendRequest): number {
    if (this.#freeTop === 0) return -1;
    const tag = this.#free[--this.#freeTop]!;
    this.#reqs[tag] = req;
    return tag;
  }

  #bad(offset: number, length: number): number {
    if (this.#closed) return -E.EBADF;
    if (!Number.isSafeInteger(offset) || offset < 0 || length < 0 || offset + length > this.sizeBytes) return -E.EINVAL;
    return 0;
  }

  /** Completes without librbd (a refused request): on the next tick, like any completion. */
  #now(req: BackendRequest, res: number): void {
    queueMicrotask(() => req.backendDone(res));
  }

  /** Runs `start` with a tag now, or once one is free. */
  #run(req: BackendRequest, start: (tag: number) => void): void {
    const tag = this.#take(req);
    if (tag >= 0) return this.#issue(tag, start);
    this.#waiting.push({ req, start });
  }

  #issue(tag: number, start: (tag: number) => void): void {
    try {
      start(tag);
    } catch (err) {
      const req = this.#reqs[tag]!;
      this.#reqs[tag] = null;
      this.#free[this.#freeTop++] = tag;
      const e = (err as { errno?: number }).errno;
      this.#now(req, typeof e === 'number' && e < 0 ? e : -E.EIO);
    }
  }

  submitRead(req: BackendRequest, offset: number, dst: Uint8Array): void {
    const bad = this.#bad(offset, dst.length);
    if (bad) return this.#now(req, bad);
    const tag = this.#take(req);
    if (tag >= 0) this.#ch.read(tag, dst, offset);
    else this.#run(req, (t) => this.#ch.read(t, dst, offset));
  }

  submitWrite(req: BackendRequest, offset: number, src: Uint8Array, _fua: boolean): void {
    if (this.readOnly) return this.#now(req, -E.EROFS);
    const bad = this.#bad(offset, src.length);
    if (bad) return this.#now(req, bad);
    const tag = this.#take(req);
    if (tag >= 0) this.#ch.write(tag, src, offset);
    else this.#run(req, (t) => this.#ch.write(t, src, offset));
  }

  submitFlush(req: BackendRequest): void {
    if (this.#closed) return this.#now(req, -E.EBADF);
    if (this.readOnly) return this.#now(req, 0);
    this.#run(req, (t) => this.#ch.flush(t));
  }

  submitDiscard(req: BackendRequest, offset: number, length: number): void {
    if (this.readOnly) return this.#now(req, -E.EROFS);
    const bad = this.#bad(offset, length);
    if (bad) return this.#now(req, bad);
    if (length === 0) return this.#now(req, 0);
    this.#run(req, (t) => this.#ch.discard(t, offset, length));
  }

  submitWriteZeroes(req: BackendRequest, offset: number, length: number, _fua: boolean): void {
    if (this.readOnly) return this.#now(req, -E.EROFS);
    const bad = this.#bad(offset, length);
    if (bad) return this.#now(req, bad);
    if (length === 0) return this.#now(req, 0);
    this.#run(req, (t) => this.#ch.writeZeroes(t, offset, length));
  }

  /** A batch of completions from librbd (the channel's eventfd woke this thread's loop). */
  #drain(): void {
    const c = this.#compl;
    const mask = c[2]!;
    while (c[0] !== c[1]) {
      const head = c[0]!;
      const i = 4 + 2 * (head & mask);
      const tag = c[i]!;
      const res = c[i + 1]!;
      c[0] = (head + 1) | 0;
      const req = this.#reqs[tag]!;
      this.#reqs[tag] = null;
      const next = this.#waiting.shift();
      if (next) {
        this.#reqs[tag] = next.req;
        this.#issue(tag, next.start);
      } else {
        this.#free[this.#freeTop++] = tag;
      }
      // librbd returns bytes for reads/writes, 0 for the rest, or -errno.
      req.backendDone(res === -E.EROFS && !this.readOnly ? this.#refusedWrite() : res);
    }
  }

  /** A write refused because another gateway holds the image: a path error for the host. */
  #refusedWrite(): number {
    if (!this.#notOwner) {
      this.#notOwner = true;
      this.#log.warn({ image: this.name }, `${this.name}: another gateway holds the image's exclusive lock; writes here answer ANA Inaccessible until this gateway is made the owner`);
    }
    return -ESHUTDOWN;
  }

  #headerChanged(): void {
    if (this.#closed) return;
    const size = this.#ch.size();
    if (size < 0) return;
    const usable = size - (size % this.blockSize);
    if (usable !== this.sizeBytes && this.onCapacityChange) this.onCapacityChange(usable);
  }

  view(_offset: number, _length: number): Uint8Array | null {
    return null;
  }

  /** librbd queues each operation as it is called: nothing is held back for a kick. */
  kick(): void {}

  setCapacity(sizeBytes: number): void {
    this.sizeBytes = sizeBytes;
  }

  /** The image size as librbd sees it now (bytes), or -errno. */
  imageSize(): number {
    return this.#ch.size();
  }

  get inflight(): number {
    return CAPACITY - this.#freeTop + this.#waiting.length;
  }

  /** Resizes the image itself (bdev_rbd_resize); the header watch then reports the new size. */
  async resizeImage(bytes: number): Promise<void> {
    await this.#n.rbdResize(this.#key, bytes);
  }

  /** The exclusive lock as librbd reports it. */
  async lockState(): Promise<{ exclusiveLock: boolean; owner: boolean; owners: string[]; client: string }> {
    return JSON.parse(await this.#n.rbdLockState(this.#key)) as { exclusiveLock: boolean; owner: boolean; owners: string[]; client: string };
  }

  /** Breaks (and so blocklists) any other owner of the exclusive lock and holds it; the owners broken. */
  async takeLock(): Promise<string[]> {
    const broken = await this.#n.rbdTakeLock(this.#key);
    this.#notOwner = false;
    return broken ? broken.split(',') : [];
  }

  /** Hands a held lock back (librbd then passes it on to the next writer that asks). */
  async releaseLock(): Promise<void> {
    await this.#n.rbdReleaseLock(this.#key);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    while (this.inflight > 0) await new Promise((r) => setTimeout(r, 1));
    this.#ch.close();
    await this.#n.rbdRelease(this.#key);
  }
}
