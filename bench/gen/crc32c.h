/*
 * CRC32C (Castagnoli) for the bench's C programs: SSE4.2 crc32 instructions where the CPU has them
 * (checked once at start-up), a slicing-by-8 table otherwise. Header only: each program that
 * includes it gets its own copy. crc32c_init() must run before the first crc32c().
 *
 *   crc32c(p, n)                      the digest of n bytes
 *   crc32c_update(state, p, n)        incremental: state starts at CRC32C_START, the digest is
 *                                     crc32c_final(state)
 * CRC32C_FORCE_TABLE=1 in the environment selects the table (to compare the two).
 */
#ifndef NVMETD_BENCH_CRC32C_H
#define NVMETD_BENCH_CRC32C_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CRC32C_START 0xffffffffu

static uint32_t crc32c_tab[8][256];
static int crc32c_hw;

/* Three-way hardware loop: three lanes of CRC32C_LANE bytes each run as independent instruction
 * chains, then join. Feeding zero bytes through the register is linear, so the register after
 * CRC32C_LANE zero bytes is a fixed 32x32 bit matrix applied to the register, kept as four
 * byte-indexed tables (crc32c_lane_tab). For a block A B C: crc = M(M(a) ^ b) ^ c, with a the
 * register after A (from the running state), b and c after B and C each from zero. */
#define CRC32C_LANE 256
static uint32_t crc32c_lane_tab[4][256];

static inline uint32_t crc32c_lane_shift(uint32_t c) {
  return crc32c_lane_tab[0][c & 0xff] ^ crc32c_lane_tab[1][(c >> 8) & 0xff] ^ crc32c_lane_tab[2][(c >> 16) & 0xff] ^
         crc32c_lane_tab[3][c >> 24];
}

static inline uint32_t crc32c_final(uint32_t state) { return state ^ 0xffffffffu; }

static uint32_t crc32c_update_table(uint32_t c, const uint8_t *p, size_t n) {
  while (n && ((uintptr_t)p & 7)) { c = (c >> 8) ^ crc32c_tab[0][(c ^ *p++) & 0xff]; n--; }
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    uint32_t lo = (uint32_t)w ^ c, hi = (uint32_t)(w >> 32);
    c = crc32c_tab[7][lo & 0xff] ^ crc32c_tab[6][(lo >> 8) & 0xff] ^ crc32c_tab[5][(lo >> 16) & 0xff] ^
        crc32c_tab[4][lo >> 24] ^ crc32c_tab[3][hi & 0xff] ^ crc32c_tab[2][(hi >> 8) & 0xff] ^
        crc32c_tab[1][(hi >> 16) & 0xff] ^ crc32c_tab[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n--) c = (c >> 8) ^ crc32c_tab[0][(c ^ *p++) & 0xff];
  return c;
}

#if defined(__x86_64__)
#include <nmmintrin.h>
/* 8 bytes per instruction; three lanes at a time on long buffers (the instruction's latency is three
 * times its issue rate), one stream on the rest. */
__attribute__((target("sse4.2"))) static uint32_t crc32c_update_hw(uint32_t c, const uint8_t *p, size_t n) {
  uint64_t c64 = c;
  while (n && ((uintptr_t)p & 7)) { c64 = _mm_crc32_u8((uint32_t)c64, *p++); n--; }
  while (n >= 3 * CRC32C_LANE) {
    uint64_t a = c64, b = 0, d = 0;
    for (size_t i = 0; i < CRC32C_LANE; i += 8) {
      uint64_t x, y, z;
      memcpy(&x, p + i, 8);
      memcpy(&y, p + CRC32C_LANE + i, 8);
      memcpy(&z, p + 2 * CRC32C_LANE + i, 8);
      a = _mm_crc32_u64(a, x);
      b = _mm_crc32_u64(b, y);
      d = _mm_crc32_u64(d, z);
    }
    c64 = crc32c_lane_shift(crc32c_lane_shift((uint32_t)a) ^ (uint32_t)b) ^ (uint32_t)d;
    p += 3 * CRC32C_LANE;
    n -= 3 * CRC32C_LANE;
  }
  while (n >= 32) {
    uint64_t a, b, d, e;
    memcpy(&a, p, 8);
    memcpy(&b, p + 8, 8);
    memcpy(&d, p + 16, 8);
    memcpy(&e, p + 24, 8);
    c64 = _mm_crc32_u64(c64, a);
    c64 = _mm_crc32_u64(c64, b);
    c64 = _mm_crc32_u64(c64, d);
    c64 = _mm_crc32_u64(c64, e);
    p += 32;
    n -= 32;
  }
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    c64 = _mm_crc32_u64(c64, w);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = (uint32_t)c64;
  while (n--) c32 = _mm_crc32_u8(c32, *p++);
  return c32;
}
#endif

static void crc32c_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
    crc32c_tab[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; i++)
    for (int t = 1; t < 8; t++) crc32c_tab[t][i] = (crc32c_tab[t - 1][i] >> 8) ^ crc32c_tab[0][crc32c_tab[t - 1][i] & 0xff];
  /* The lane matrix: the register after CRC32C_LANE zero bytes, for each single-bit register. */
  uint32_t basis[32];
  for (int bit = 0; bit < 32; bit++) {
    uint32_t c = 1u << bit;
    for (int k = 0; k < CRC32C_LANE; k++) c = (c >> 8) ^ crc32c_tab[0][c & 0xff];
    basis[bit] = c;
  }
  for (int t = 0; t < 4; t++)
    for (uint32_t b = 0; b < 256; b++) {
      uint32_t v = 0;
      for (int j = 0; j < 8; j++) if (b & (1u << j)) v ^= basis[8 * t + j];
      crc32c_lane_tab[t][b] = v;
    }
#if defined(__x86_64__)
  const char *force = getenv("CRC32C_FORCE_TABLE");
  crc32c_hw = __builtin_cpu_supports("sse4.2") && !(force && force[0] == '1');
#endif
}

static inline uint32_t crc32c_update(uint32_t state, const uint8_t *p, size_t n) {
#if defined(__x86_64__)
  if (crc32c_hw) return crc32c_update_hw(state, p, n);
#endif
  return crc32c_update_table(state, p, n);
}

static inline uint32_t crc32c(const uint8_t *p, size_t n) { return crc32c_final(crc32c_update(CRC32C_START, p, n)); }

/* "SSE4.2" or "table": what crc32c() uses. */
static inline const char *crc32c_impl(void) { return crc32c_hw ? "sse4.2" : "table"; }

#endif
