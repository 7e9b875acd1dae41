// CRC32C (Castagnoli) used by NVMe/TCP header and data digests.
#pragma once
#include <cstddef>
#include <cstdint>

namespace nvmetd {
// Raw update: crc is the running (already inverted) register value.
uint32_t crc32c_update(uint32_t crc, const uint8_t* data, size_t len);
// Full digest of one buffer: init 0xFFFFFFFF, final xor 0xFFFFFFFF.
inline uint32_t crc32c(const uint8_t* data, size_t len) {
  return crc32c_update(0xFFFFFFFFu, data, len) ^ 0xFFFFFFFFu;
}
// Copies src[0, len) to dst and returns the raw register over the bytes stored, in one pass where
// the CPU allows (each byte loaded once: the digest matches dst even if src changes meanwhile).
uint32_t crc32c_copy_update(uint32_t crc, uint8_t* dst, const uint8_t* src, size_t len);
bool crc32c_hardware();
// The implementation in use: "avx512-vpclmulqdq", "sse4.2" or "table".
const char* crc32c_kind();
}  // namespace nvmetd
