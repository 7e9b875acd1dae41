// The write range lock of a namespace: what makes a fused Compare and Write atomic with respect to
// every other write to its LBA range, from any queue on any thread.
//
// Design. The namespace's LBAs are cut in chunks of 128 KiB; chunk c maps to stripe (c mod STRIPES)
// of a table of STRIPES Int32 words in a SharedArrayBuffer that every thread serving the namespace
// maps (it travels with the namespace's shared counters, see allocateNsStats()). A word holds:
//   bits 29:0  writers in flight on the stripe (plain writes: Write, Write Zeroes, Copy's write);
//   bit 30     EXCL: a Compare and Write owns the stripe.
// - A plain write enters each stripe of its range with one Atomics.add (1 stripe for any write of
//   up to 128 KiB that does not cross a chunk) and leaves with one Atomics.sub when its command is
//   freed (completed or dropped: the transport calls releaseRange()). If a stripe it entered shows
//   EXCL, it backs out of every stripe it entered and parks. Counting writers in flight, rather than
//   only looking for EXCL, is what lets a Compare and Write wait for writes submitted before it: a
//   write already at the backend could otherwise land between the compare and the write.
// - A Compare and Write sets EXCL on each of its stripes (compare-and-swap; a stripe another one owns
//   makes it give back what it took and park: nothing is held while waiting, so no deadlock), then
//   waits, parked, until the writer counts of its stripes are 0; new writers meanwhile park behind
//   EXCL. It compares and writes, and clears EXCL when its second command is freed.
// - Parked commands wait on this thread's event loop: a setImmediate turn retries them in order
//   while any is parked (a holder may be on another thread, which cannot wake this one; no thread
//   ever blocks in Atomics.wait). Parking is the contended case only and may allocate.
// - A namespace served by one thread only (no I/O workers) has the table in its own, unshared
//   memory: plain writes enter and leave with plain loads and stores, no atomic instruction.
// Distinct chunks may share a stripe (false conflicts only cost a wait). A range of more than
// STRIPES chunks takes every stripe once. Reads are not locked: a read concurrent with a write may
// see either data, as with any write.

export const STRIPES = 1024;
const MASK = STRIPES - 1;
/** Bytes of the stripe table in a namespace's shared memory. */
export const RANGE_LOCK_BYTES = STRIPES * 4;
const EXCL = 1 << 30;
const COUNT = EXCL - 1;
/** log2 of the chunk size in bytes. */
const CHUNK_SHIFT = 17;
const SMALL = 2 ** 31;

/** What a command holds (Command.held). */
export const enum Held {
  NONE = 0,
  /** A plain write in flight. */
  SHARED = 1,
  /** A Compare and Write (its second command). */
  EXCLUSIVE = 2,
}

export class RangeLock {
  readonly #w: Int32Array;
  /** log2 of LBAs per chunk. */
  readonly #shift: number;
  readonly #perChunk: number;
  /** Only this thread uses the table (its memory is not shared): plain writes skip the atomics. */
  readonly #local: boolean;

  constructor(words: Int32Array, lbaShift: number) {
    if (words.length !== STRIPES) throw new RangeError(`a range lock needs ${STRIPES} words`);
    this.#w = words;
    this.#shift = Math.max(0, CHUNK_SHIFT - lbaShift);
    this.#perChunk = 2 ** this.#shift;
    this.#local = !(words.buffer instanceof SharedArrayBuffer);
  }

  /** A lock over its own memory, for a namespace served by this thread alone. */
  static private(lbaShift: number): RangeLock {
    return new RangeLock(new Int32Array(STRIPES), lbaShift);
  }

  // Chunk numbers by shift while LBAs fit in 31 bits (the hot path), by division beyond.
  #first(slba: number): number {
    return (slba < SMALL ? slba >>> this.#shift : Math.floor(slba / this.#perChunk)) & MASK;
  }

  /** Stripes a range of nlb >= 1 blocks covers (each once). */
  #count(slba: number, nlb: number): number {
    const last = slba + nlb - 1;
    const n = last < SMALL ? (last >>> this.#shift) - (slba >>> this.#shift) + 1 : Math.floor(last / this.#perChunk) - Math.floor(slba / this.#perChunk) + 1;
    return n < STRIPES ? n : STRIPES;
  }

  /** A plain write enters its range: false (nothing held) while a Compare and Write owns part of it. */
  enterShared(slba: number, nlb: number): boolean {
    const w = this.#w;
    const first = this.#first(slba);
    const n = this.#count(slba, nlb);
    if (this.#local) {
      for (let k = 0; k < n; k++) if ((w[(first + k) & MASK]! & EXCL) !== 0) return false;
      for (let k = 0; k < n; k++) w[(first + k) & MASK]!++;
      return true;
    }
    for (let k = 0; k < n; k++) {
      if ((Atomics.add(w, (first + k) & MASK, 1) & EXCL) !== 0) {
        for (let j = 0; j <= k; j++) Atomics.sub(w, (first + j) & MASK, 1);
        return false;
      }
    }
    return true;
  }

  leaveShared(slba: number, nlb: number): void {
    const w = this.#w;
    const first = this.#first(slba);
    const n = this.#count(slba, nlb);
    if (this.#local) {
      for (let k = 0; k < n; k++) w[(first + k) & MASK]!--;
      return;
    }
    for (let k = 0; k < n; k++) Atomics.sub(w, (first + k) & MASK, 1);
  }

  /** A Compare and Write takes its stripes: false (nothing held) while another one owns one of them. */
  tryExclusive(slba: number, nlb: number): boolean {
    const w = this.#w;
    const first = this.#first(slba);
    const n = this.#count(slba, nlb);
    for (let k = 0; k < n; k++) {
      const s = (first + k) & MASK;
      for (;;) {
        const v = Atomics.load(w, s);
        if ((v & EXCL) !== 0) {
          for (let j = 0; j < k; j++) Atomics.and(w, (first + j) & MASK, COUNT);
          return false;
        }
        if (Atomics.compareExchange(w, s, v, v | EXCL) === v) break;
      }
    }
    return true;
  }

  /** No plain write is in flight on the stripes of a range this thread holds EXCL on. */
  drained(slba: number, nlb: number): boolean {
    const w = this.#w;
    const first = this.#first(slba);
    const n = this.#count(slba, nlb);
    for (let k = 0; k < n; k++) if ((Atomics.load(w, (first + k) & MASK) & COUNT) !== 0) return false;
    return true;
  }

  leaveExclusive(slba: number, nlb: number): void {
    const w = this.#w;
    const first = this.#first(slba);
    const n = this.#count(slba, nlb);
    for (let k = 0; k < n; k++) Atomics.and(w, (first + k) & MASK, COUNT);
  }

  /** The word of the stripe holding `lba` (tests). */
  word(lba: number): number {
    return Atomics.load(this.#w, this.#first(lba));
  }
}
