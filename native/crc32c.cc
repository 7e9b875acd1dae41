// CRC32C with the SSE4.2 crc32 instruction when the CPU has it, a slicing table otherwise.
#include "crc32c.h"

#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define NVMETD_X86 1
#endif

namespace nvmetd {
namespace {

uint32_t table[8][256];

// Buffers of 3 * LANE bytes and more run as three independent instruction chains of LANE bytes
// (the crc32 instruction's latency is three times its issue rate), joined with lane_table:
// for a block A B C, crc = M(M(a) ^ b) ^ c, where a is the register after A from the running state,
// b and c the registers after B and C each from zero, and M the register after LANE zero bytes.
constexpr size_t LANE = 256;
uint32_t lane_table[4][256];

void init_table() {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; i++)
    for (int t = 1; t < 8; t++) table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xFF];
  // The lane matrix: the register after LANE zero bytes, for each single-bit register, as four
  // byte-indexed tables (feeding zero bytes through the register is linear).
  uint32_t basis[32];
  for (int bit = 0; bit < 32; bit++) {
    uint32_t c = 1u << bit;
    for (size_t k = 0; k < LANE; k++) c = (c >> 8) ^ table[0][c & 0xFF];
    basis[bit] = c;
  }
  for (int t = 0; t < 4; t++)
    for (uint32_t b = 0; b < 256; b++) {
      uint32_t v = 0;
      for (int j = 0; j < 8; j++)
        if (b & (1u << j)) v ^= basis[8 * t + j];
      lane_table[t][b] = v;
    }
}

// The register after LANE more zero bytes.
inline uint32_t lane_shift(uint32_t c) {
  return lane_table[0][c & 0xFF] ^ lane_table[1][(c >> 8) & 0xFF] ^ lane_table[2][(c >> 16) & 0xFF] ^ lane_table[3][c >> 24];
}

uint32_t update_soft(uint32_t crc, const uint8_t* p, size_t len) {
  while (len >= 8) {
    uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + 4, 4);
    lo ^= crc;
    crc = table[7][lo & 0xFF] ^ table[6][(lo >> 8) & 0xFF] ^ table[5][(lo >> 16) & 0xFF] ^
          table[4][lo >> 24] ^ table[3][hi & 0xFF] ^ table[2][(hi >> 8) & 0xFF] ^
          table[1][(hi >> 16) & 0xFF] ^ table[0][hi >> 24];
    p += 8;
    len -= 8;
  }
  while (len--) crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xFF];
  return crc;
}

#ifdef NVMETD_X86
__attribute__((target("sse4.2"))) uint32_t update_hw(uint32_t crc, const uint8_t* p, size_t len) {
#if defined(__x86_64__)
  uint64_t c = crc;
  while (len >= 3 * LANE) {
    uint64_t a = c, b = 0, d = 0;
    for (size_t i = 0; i < LANE; i += 8) {
      uint64_t x, y, z;
      std::memcpy(&x, p + i, 8);
      std::memcpy(&y, p + LANE + i, 8);
      std::memcpy(&z, p + 2 * LANE + i, 8);
      a = __builtin_ia32_crc32di(a, x);
      b = __builtin_ia32_crc32di(b, y);
      d = __builtin_ia32_crc32di(d, z);
    }
    c = lane_shift(lane_shift(static_cast<uint32_t>(a)) ^ static_cast<uint32_t>(b)) ^ static_cast<uint32_t>(d);
    p += 3 * LANE;
    len -= 3 * LANE;
  }
  while (len >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = __builtin_ia32_crc32di(c, v);
    p += 8;
    len -= 8;
  }
  crc = static_cast<uint32_t>(c);
#endif
  while (len--) crc = __builtin_ia32_crc32qi(crc, *p++);
  return crc;
}

bool detect_sse42() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  return (c & bit_SSE4_2) != 0;
}
#endif

using update_fn = uint32_t (*)(uint32_t, const uint8_t*, size_t);

update_fn pick() {
  init_table();
#ifdef NVMETD_X86
  if (detect_sse42()) return update_hw;
#endif
  return update_soft;
}

update_fn impl = pick();

}  // namespace

uint32_t crc32c_update(uint32_t crc, const uint8_t* data, size_t len) { return impl(crc, data, len); }

bool crc32c_hardware() { return impl != update_soft; }

}  // namespace nvmetd
