// Writing a batch of byte views to a socket descriptor in one call (see sock_write.cc).
#pragma once
#include <napi.h>

namespace nvmetd {
void InitSockWrite(Napi::Env env, Napi::Object exports);
}
