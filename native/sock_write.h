// Writing a batch of byte views to a socket descriptor in one call (see sock_write.cc).
#pragma once
#include <napi.h>

namespace nvmetd {
void InitSockWrite(Napi::Env env, Napi::Object exports);
// Fills the digests of one out-queue batch (addon.cc, crc32cBatch's jobs); false with a JavaScript
// exception pending when a job or argument is bad.
bool FillDigests(napi_env env, napi_value arena, napi_value jobs, uint32_t count, napi_value buffers);
}
