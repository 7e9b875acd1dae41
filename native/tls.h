// The TLS 1.3 engine of NVMe/TCP over TLS with an external PSK (TP 8011): OpenSSL (the one Node
// exports) over memory buffers, driven from TypeScript (src/native/tls-engine.ts).
#pragma once
#include <napi.h>

namespace nvmetd {

/** Registers TlsEngine on `exports`. */
void InitTls(Napi::Env env, Napi::Object exports);

}  // namespace nvmetd
