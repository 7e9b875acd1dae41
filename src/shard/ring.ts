// A single-producer, single-consumer ring of fixed-size records in a SharedArrayBuffer.
//
// Layout (Int32Array over the buffer):
//   [HEAD]  records consumed so far (written by the consumer only)
//   [TAIL]  records produced so far (written by the producer only)
//   [DROPS] records the producer could not place because the ring was full
//   then `capacity` records of RECORD_WORDS int32 words each.
// Counters grow without wrapping modulo capacity; the slot is counter % capacity.
//
// Memory ordering: the producer writes a record's words with plain stores, then publishes it with
// Atomics.store(TAIL); the consumer reads TAIL with Atomics.load before reading the record's words,
// and frees slots with Atomics.store(HEAD) after it is done with them. Atomics operations are
// sequentially consistent, so a record's words are visible before the TAIL that publishes them, and
// the producer never reuses a slot before the consumer's HEAD says it was read.

export const RECORD_WORDS = 8;
const HEAD = 0;
const TAIL = 1;
const DROPS = 2;
const HEADER_WORDS = 4;

export class SpscRing {
  readonly sab: SharedArrayBuffer;
  readonly capacity: number;
  readonly #i32: Int32Array;

  constructor(capacityOrSab: number | SharedArrayBuffer) {
    if (typeof capacityOrSab === 'number') {
      const cap = capacityOrSab;
      if (cap <= 0 || (cap & (cap - 1)) !== 0) throw new RangeError('ring capacity must be a power of two');
      this.sab = new SharedArrayBuffer((HEADER_WORDS + cap * RECORD_WORDS) * 4);
    } else {
      this.sab = capacityOrSab;
    }
    this.#i32 = new Int32Array(this.sab);
    this.capacity = (this.#i32.length - HEADER_WORDS) / RECORD_WORDS;
  }

  /** Producer: appends a record (up to RECORD_WORDS words); false when the ring is full. */
  push(w0: number, w1 = 0, w2 = 0, w3 = 0, w4 = 0, w5 = 0, w6 = 0, w7 = 0): boolean {
    const a = this.#i32;
    // Our own TAIL: only we write it, a plain read would do; HEAD needs the acquire.
    const tail = Atomics.load(a, TAIL);
    const head = Atomics.load(a, HEAD);
    if (tail - head >= this.capacity) {
      Atomics.add(a, DROPS, 1);
      return false;
    }
    const at = HEADER_WORDS + (tail & (this.capacity - 1)) * RECORD_WORDS;
    a[at] = w0;
    a[at + 1] = w1;
    a[at + 2] = w2;
    a[at + 3] = w3;
    a[at + 4] = w4;
    a[at + 5] = w5;
    a[at + 6] = w6;
    a[at + 7] = w7;
    // Publish: the words above become visible to a consumer that observes this TAIL.
    Atomics.store(a, TAIL, tail + 1);
    return true;
  }

  /** Consumer: calls fn for every published record, then frees their slots. Returns the count. */
  drain(fn: (words: Int32Array, at: number) => void): number {
    const a = this.#i32;
    const head = Atomics.load(a, HEAD);
    // Acquire: records up to this TAIL are fully written.
    const tail = Atomics.load(a, TAIL);
    for (let i = head; i !== tail; i++) fn(a, HEADER_WORDS + (i & (this.capacity - 1)) * RECORD_WORDS);
    // Release the slots back to the producer.
    if (tail !== head) Atomics.store(a, HEAD, tail);
    return tail - head;
  }

  get size(): number {
    return Atomics.load(this.#i32, TAIL) - Atomics.load(this.#i32, HEAD);
  }

  get drops(): number {
    return Atomics.load(this.#i32, DROPS);
  }
}
