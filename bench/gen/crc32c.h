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
/* One stream, 8 bytes per instruction (about 8 GB/s at 3 GHz): far above what a loopback socket
 * moves, so no interleaving of several streams. */
__attribute__((target("sse4.2"))) static uint32_t crc32c_update_hw(uint32_t c, const uint8_t *p, size_t n) {
  uint64_t c64 = c;
  while (n && ((uintptr_t)p & 7)) { c64 = _mm_crc32_u8((uint32_t)c64, *p++); n--; }
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
