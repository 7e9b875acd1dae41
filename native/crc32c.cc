// CRC32C: carry-less multiplication folding (AVX-512 VPCLMULQDQ) for long buffers where the CPU has
// it, the SSE4.2 crc32 instruction in three lanes otherwise, a slicing table without either.
#include "crc32c.h"

#include <cstdlib>
#include <cstring>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
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

#if defined(__x86_64__)
// Carry-less multiplication folding, 256 bytes a step in four 512-bit registers (each four 128-bit
// lanes). The polynomial arithmetic, in the reflected bit order of this CRC: a 16-byte block A is
// L x^64 + H (L its first eight bytes, H the next eight; in each, bit i is the coefficient of
// x^(63-i)). Moving A forward over D bytes is A x^(8D) = L x^(8D+64) + H x^(8D) (mod P); each
// term is one carry-less product of a 64-bit half with a 32-bit constant. The product of two
// 64-bit fields read as a 128-bit field is the polynomial product times x, so the constants are
// x^(8D+63) and x^(8D-1) mod P, in the high half of a 64-bit field (bit 63-d for x^d). Folded
// blocks are congruent mod P to what they stand for, so the CRC of the last 64 folded bytes
// followed by the tail (by the crc32 instruction, from a zero register) is the CRC of the whole.
// The running register enters by xor into the first four bytes.
struct FoldK {
  uint64_t lo, hi;
};
FoldK fold_k[4];  // distances 64, 128, 192, 256 bytes

// x^n mod P as a 32-bit reflected register (bit 31-d is the coefficient of x^d).
uint32_t xpow(unsigned n) {
  uint32_t r = 0x80000000u;  // x^0
  while (n--) r = (r & 1) ? (r >> 1) ^ 0x82F63B78u : r >> 1;
  return r;
}

void init_fold() {
  for (unsigned i = 0; i < 4; i++) {
    unsigned bits = 8 * 64 * (i + 1);
    fold_k[i].lo = static_cast<uint64_t>(xpow(bits + 63)) << 32;
    fold_k[i].hi = static_cast<uint64_t>(xpow(bits - 1)) << 32;
  }
}

#define NVMETD_FOLD_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,vpclmulqdq,pclmul,sse4.2")))

NVMETD_FOLD_TARGET inline __m512i fold_k512(const FoldK& k) {
  const long long lo = static_cast<long long>(k.lo), hi = static_cast<long long>(k.hi);
  return _mm512_set_epi64(hi, lo, hi, lo, hi, lo, hi, lo);
}

// x moved forward by the distance of k, xor y.
NVMETD_FOLD_TARGET inline __m512i fold512(__m512i x, __m512i k, __m512i y) {
  return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, k, 0x00), _mm512_clmulepi64_epi128(x, k, 0x11), y, 0x96);
}

// 64 bytes at p; when copying (Copy true), also stored at q.
template <bool Copy>
NVMETD_FOLD_TARGET inline __m512i load64(const uint8_t* p, uint8_t* q) {
  __m512i v = _mm512_loadu_si512(p);
  if (Copy) _mm512_storeu_si512(q, v);
  return v;
}

// The register after p[0, len) from crc; with Copy, p is also copied to q in the same pass (the
// digest is over the bytes stored, each loaded once).
template <bool Copy>
NVMETD_FOLD_TARGET uint32_t fold_run(uint32_t crc, const uint8_t* p, uint8_t* q, size_t len) {
  if (len < 256) {
    if (Copy) {
      std::memcpy(q, p, len);
      return update_hw(crc, q, len);
    }
    return update_hw(crc, p, len);
  }
  __m512i x0 = load64<Copy>(p, q), x1 = load64<Copy>(p + 64, q + 64);
  __m512i x2 = load64<Copy>(p + 128, q + 128), x3 = load64<Copy>(p + 192, q + 192);
  x0 = _mm512_xor_si512(x0, _mm512_maskz_mov_epi32(1, _mm512_set1_epi32(static_cast<int>(crc))));
  p += 256;
  q += Copy ? 256 : 0;
  len -= 256;
  const __m512i k256 = fold_k512(fold_k[3]);
  while (len >= 256) {
    x0 = fold512(x0, k256, load64<Copy>(p, q));
    x1 = fold512(x1, k256, load64<Copy>(p + 64, q + 64));
    x2 = fold512(x2, k256, load64<Copy>(p + 128, q + 128));
    x3 = fold512(x3, k256, load64<Copy>(p + 192, q + 192));
    p += 256;
    q += Copy ? 256 : 0;
    len -= 256;
  }
  const __m512i k64 = fold_k512(fold_k[0]);
  __m512i x = fold512(x0, fold_k512(fold_k[2]), fold512(x1, fold_k512(fold_k[1]), fold512(x2, k64, x3)));
  while (len >= 64) {
    x = fold512(x, k64, load64<Copy>(p, q));
    p += 64;
    q += Copy ? 64 : 0;
    len -= 64;
  }
  alignas(64) uint64_t rest[8];
  _mm512_store_si512(rest, x);
  uint64_t c = 0;
  for (int i = 0; i < 8; i++) c = __builtin_ia32_crc32di(c, rest[i]);
  if (Copy) {
    std::memcpy(q, p, len);
    return update_hw(static_cast<uint32_t>(c), q, len);
  }
  return update_hw(static_cast<uint32_t>(c), p, len);
}

NVMETD_FOLD_TARGET uint32_t update_fold(uint32_t crc, const uint8_t* p, size_t len) {
  return fold_run<false>(crc, p, nullptr, len);
}

NVMETD_FOLD_TARGET uint32_t copy_update_fold(uint32_t crc, uint8_t* dst, const uint8_t* src, size_t len) {
  return fold_run<true>(crc, src, dst, len);
}

bool detect_fold() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_PCLMUL) || !(c & bit_OSXSAVE)) return false;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  if (!(b & bit_AVX512F) || !(b & bit_AVX512BW) || !(b & bit_AVX512VL) || !(c & bit_VPCLMULQDQ)) return false;
  uint32_t lo, hi;
  __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (lo & 0xE6) == 0xE6;  // the OS saves SSE, AVX and all AVX-512 state
}
#endif
#endif

using update_fn = uint32_t (*)(uint32_t, const uint8_t*, size_t);

// NVMETD_CRC32C=sse4.2 or =table caps the choice (for tests of each path, and a way out).
update_fn pick() {
  init_table();
  const char* cap = std::getenv("NVMETD_CRC32C");
  std::string want = cap != nullptr ? cap : "";
#ifdef NVMETD_X86
#if defined(__x86_64__)
  init_fold();
  if (want != "sse4.2" && want != "table" && detect_sse42() && detect_fold()) return update_fold;
#endif
  if (want != "table" && detect_sse42()) return update_hw;
#endif
  return update_soft;
}

update_fn impl = pick();

}  // namespace

uint32_t crc32c_update(uint32_t crc, const uint8_t* data, size_t len) { return impl(crc, data, len); }

uint32_t crc32c_copy_update(uint32_t crc, uint8_t* dst, const uint8_t* src, size_t len) {
#if defined(__x86_64__)
  // Overlapping ranges take the plain path (a copy forwards would read bytes it already wrote).
  if (impl == update_fold && (dst + len <= src || src + len <= dst)) return copy_update_fold(crc, dst, src, len);
#endif
  std::memmove(dst, src, len);
  return impl(crc, dst, len);
}

bool crc32c_hardware() { return impl != update_soft; }

const char* crc32c_kind() {
#if defined(__x86_64__)
  if (impl == update_fold) return "avx512-vpclmulqdq";
#endif
#ifdef NVMETD_X86
  if (impl == update_hw) return "sse4.2";
#endif
  return "table";
}

}  // namespace nvmetd
