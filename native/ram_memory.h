// RAM namespace memory helpers (native/ram_memory.cc): ramCopy, ramAdviseHuge, ramStreamingStores.
#pragma once
#include <napi.h>

namespace nvmetd {
void InitRamMemory(Napi::Env env, Napi::Object exports);
}  // namespace nvmetd
