/* Checks bench/gen/crc32c.h: known CRC32C values (iSCSI test vectors), and on random buffers of
 * every length up to 5000 bytes at every alignment the SSE4.2 path (three-lane loop included)
 * against the table, whole and fed in random pieces. Prints what failed; exit code 1 if anything
 * did. Built and run by bench/gen-check.ts. */
#include <stdio.h>

#include "../crc32c.h"

static int failed;

static void expect(const char *what, uint32_t got, uint32_t want) {
  if (got != want) { printf("%s: 0x%08x, expected 0x%08x\n", what, got, want); failed = 1; }
}

int main(void) {
  crc32c_init();
  printf("crc32c: %s\n", crc32c_impl());
  uint8_t v[32];
  expect("\"123456789\"", crc32c((const uint8_t *)"123456789", 9), 0xe3069283u);
  memset(v, 0, 32);
  expect("32 zero bytes", crc32c(v, 32), 0x8a9136aau);
  memset(v, 0xff, 32);
  expect("32 bytes of 0xff", crc32c(v, 32), 0x62a8ab43u);
  for (int i = 0; i < 32; i++) v[i] = (uint8_t)i;
  expect("bytes 0..31", crc32c(v, 32), 0x46dd794eu);
  for (int i = 0; i < 32; i++) v[i] = (uint8_t)(31 - i);
  expect("bytes 31..0", crc32c(v, 32), 0x113fdb5cu);
  static uint8_t buf[5008 + 8];
  uint32_t x = 12345;
  for (size_t i = 0; i < sizeof buf; i++) { x = x * 1103515245u + 12345u; buf[i] = (uint8_t)(x >> 16); }
  for (size_t off = 0; off < 8 && !failed; off++)
    for (size_t n = 0; n <= 5000 && !failed; n++) {
      uint32_t want = crc32c_final(crc32c_update_table(CRC32C_START, buf + off, n));
      char what[64];
      snprintf(what, sizeof what, "%zu bytes at offset %zu", n, off);
      expect(what, crc32c(buf + off, n), want);
      uint32_t st = CRC32C_START;
      for (size_t at = 0; at < n;) {
        x = x * 1103515245u + 12345u;
        size_t k = (x >> 16) % 1100;
        if (k > n - at) k = n - at;
        st = crc32c_update(st, buf + off + at, k);
        at += k;
      }
      snprintf(what, sizeof what, "%zu bytes at offset %zu in pieces", n, off);
      expect(what, crc32c_final(st), want);
    }
  if (!failed) printf("ok\n");
  return failed;
}
