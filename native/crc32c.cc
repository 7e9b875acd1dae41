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

void init_table() {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; i++)
    for (int t = 1; t < 8; t++) table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xFF];
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
