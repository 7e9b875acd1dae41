// TLS sessions handed between threads (see tls_handoff.cc).
#pragma once
#include <napi.h>
#include <openssl/ssl.h>

#include <cstdint>

namespace nvmetd {

/** An established session out of its engine: the SSL object owns both BIOs. */
struct DetachedTls {
  SSL* ssl;
  BIO* in;
  BIO* out;
  bool server;
  int hash;
};

/** Files `d` under a fresh number (never reused). */
uint64_t FileDetached(const DetachedTls& d);
/** Takes the session filed under `id` out (once); false when there is none. */
bool TakeDetached(uint64_t id, DetachedTls* d);
/** Registers tlsFreeDetached and tlsCounts on `exports` (and starts counting SSL objects). */
void InitTlsHandoff(Napi::Env env, Napi::Object exports);

}  // namespace nvmetd
