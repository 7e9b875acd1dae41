// Data verification for `nvmetd perf --verify`: every block written carries a tag (magic, its own
// LBA, a generation number) and a fill derived from the tag, so a read can tell, block by block,
// whether it got the right block, the latest write to it, and intact bytes.
//
// Block layout (32-bit little-endian words):
//   word 0  MAGIC
//   word 1  LBA bits 31:0
//   word 2  LBA bits 63:32
//   word 3  generation (1, 2, ... per worker; 0 never appears in a written block)
//   word 4+ seed + i * STEP, seed = hash(LBA, generation)

export const MAGIC = 0x706d766e; // "nvmp" read as little-endian bytes
const STEP = 0x9e3779b9;

export const enum BlockCheck {
  OK,
  /** All zero: never written (a fresh RAM namespace or file). */
  UNWRITTEN,
  BAD_MAGIC,
  WRONG_LBA,
  /** A valid block, but not the generation last written there (a lost or stale write). */
  STALE,
  /** Tag right, fill wrong: corrupted bytes. */
  CORRUPT,
}

export const CHECK_NAMES = ['ok', 'unwritten', 'bad magic', 'wrong LBA', 'stale generation', 'corrupt data'] as const;

function seedOf(lbaLo: number, lbaHi: number, gen: number): number {
  let h = Math.imul(lbaLo ^ 0x85ebca6b, 0xc2b2ae35) ^ Math.imul(lbaHi ^ 0x27d4eb2f, 0x165667b1);
  h ^= Math.imul(gen, 0x9e3779b1);
  return (h ^ (h >>> 15)) >>> 0;
}

/**
 * Fills `blocks` blocks of `words` 32-bit words each (block size / 4), starting at word `at` of
 * `u32`, for LBAs lba, lba+1, ... with generation `gen`.
 */
export function fillBlocks(u32: Uint32Array, at: number, words: number, blocks: number, lba: number, gen: number): void {
  for (let b = 0; b < blocks; b++) {
    const l = lba + b;
    const lo = l >>> 0;
    const hi = Math.floor(l / 0x1_0000_0000) >>> 0;
    const base = at + b * words;
    u32[base] = MAGIC;
    u32[base + 1] = lo;
    u32[base + 2] = hi;
    u32[base + 3] = gen >>> 0;
    let v = seedOf(lo, hi, gen);
    for (let i = 4; i < words; i++) {
      u32[base + i] = v;
      v = (v + STEP) >>> 0;
    }
  }
}

/**
 * Checks one block at word `base`. `expectGen` is the generation this run last wrote to the block,
 * or 0 when it has not written it (then any well-formed block, or zeros, is accepted).
 */
export function checkBlock(u32: Uint32Array, base: number, words: number, lba: number, expectGen: number): BlockCheck {
  const magic = u32[base]!;
  const lo = lba >>> 0;
  const hi = Math.floor(lba / 0x1_0000_0000) >>> 0;
  if (magic !== MAGIC) {
    if (magic !== 0 || expectGen !== 0) return BlockCheck.BAD_MAGIC;
    for (let i = 1; i < words; i++) if (u32[base + i] !== 0) return BlockCheck.BAD_MAGIC;
    return BlockCheck.UNWRITTEN;
  }
  if (u32[base + 1] !== lo || u32[base + 2] !== hi) return BlockCheck.WRONG_LBA;
  const gen = u32[base + 3]!;
  if (expectGen !== 0 && gen !== expectGen) return BlockCheck.STALE;
  let v = seedOf(lo, hi, gen);
  for (let i = 4; i < words; i++) {
    if (u32[base + i] !== v) return BlockCheck.CORRUPT;
    v = (v + STEP) >>> 0;
  }
  return BlockCheck.OK;
}
