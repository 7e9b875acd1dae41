/* Block tags of --verify, the layout of src/perf/verify.ts, so both generators write and accept the
 * same blocks. 32-bit little-endian words per block: 0 MAGIC, 1-2 the LBA, 3 the generation
 * (never 0), 4.. seed + i * STEP with seed = hash(LBA, generation). */
#include <string.h>

#include "gen.h"

#define MAGIC 0x706d766eu
#define STEP 0x9e3779b9u

const char *const CHECK_NAMES[6] = {"ok", "unwritten", "bad magic", "wrong LBA", "stale generation", "corrupt data"};

static uint32_t seed_of(uint32_t lo, uint32_t hi, uint32_t gen) {
  uint32_t h = ((lo ^ 0x85ebca6bu) * 0xc2b2ae35u) ^ ((hi ^ 0x27d4eb2fu) * 0x165667b1u);
  h ^= gen * 0x9e3779b1u;
  return h ^ (h >> 15);
}

void fill_blocks(uint32_t *u, uint32_t words, uint32_t blocks, uint64_t lba, uint32_t gen) {
  for (uint32_t b = 0; b < blocks; b++, u += words) {
    uint64_t l = lba + b;
    uint32_t lo = (uint32_t)l, hi = (uint32_t)(l >> 32);
    u[0] = MAGIC;
    u[1] = lo;
    u[2] = hi;
    u[3] = gen;
    uint32_t v = seed_of(lo, hi, gen);
    for (uint32_t i = 4; i < words; i++, v += STEP) u[i] = v;
  }
}

/* expect_gen: the generation this run last wrote to the block, 0 when it has not written it
 * (then zeros, or any well-formed block, pass). */
enum block_check check_block(const uint32_t *u, uint32_t words, uint64_t lba, uint32_t expect_gen) {
  uint32_t lo = (uint32_t)lba, hi = (uint32_t)(lba >> 32);
  if (u[0] != MAGIC) {
    if (u[0] != 0 || expect_gen != 0) return BC_BAD_MAGIC;
    for (uint32_t i = 1; i < words; i++) if (u[i] != 0) return BC_BAD_MAGIC;
    return BC_UNWRITTEN;
  }
  if (u[1] != lo || u[2] != hi) return BC_WRONG_LBA;
  uint32_t gen = u[3];
  if (expect_gen != 0 && gen != expect_gen) return BC_STALE;
  uint32_t v = seed_of(lo, hi, gen);
  for (uint32_t i = 4; i < words; i++, v += STEP) if (u[i] != v) return BC_CORRUPT;
  return BC_OK;
}
