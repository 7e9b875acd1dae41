/* The generator's one copy of the CRC32C code (crc32c.h is header-only and static, shared with the
 * null target). */
#include "crc32c.h"
#include "gen.h"

void gen_crc_init(void) { crc32c_init(); }
uint32_t gen_crc_update(uint32_t state, const uint8_t *p, size_t n) { return crc32c_update(state, p, n); }
uint32_t gen_crc(const uint8_t *p, size_t n) { return crc32c(p, n); }
const char *gen_crc_impl(void) { return crc32c_impl(); }
