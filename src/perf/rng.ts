// The offset generator of the load: seedable, so a run can be repeated.

/** xorshift32: fast, seedable, good enough to scatter offsets. */
export class Rng {
  #x: number;
  constructor(seed: number) {
    this.#x = seed >>> 0 || 0x9e3779b9;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let x = this.#x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#x = x >>> 0;
    return this.#x / 0x1_0000_0000;
  }
}
