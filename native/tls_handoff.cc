// The registry of TLS sessions between threads: engine.detach() (tls.cc) files an established
// session here and new TlsEngine(number) takes it out again.
//
// engine.detach() takes the SSL object (with its BIOs: encrypted bytes not yet decrypted, records
// not yet taken) out of the engine and files it under a fresh 64-bit number; new TlsEngine(number)
// in any thread of the process takes it out again, once: a number adopted twice, never issued or
// already freed finds nothing. tlsFreeDetached(number) frees a session nobody adopted (the handoff
// failed). Numbers are never reused, so a late free cannot hit another session. The registry's lock
// orders the two threads' use of the session (OpenSSL objects need only one user at a time).

#include "tls_handoff.h"

#include <openssl/crypto.h>
#include <openssl/err.h>

#include <atomic>
#include <mutex>
#include <unordered_map>

namespace nvmetd {
namespace {

std::mutex detachedLock;
std::unordered_map<uint64_t, DetachedTls> detached;
uint64_t nextDetached = 1;
// Live SSL objects of the process (ex_data callbacks: every SSL_new / SSL_free after load).
std::atomic<int64_t> liveSessions{0};
int marker = 0;

void OnSslNew(void*, void*, CRYPTO_EX_DATA* ad, int idx, long, void*) {
  if (CRYPTO_set_ex_data(ad, idx, &marker) == 1) liveSessions++;
}
void OnSslFree(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  if (ptr == &marker) liveSessions--;
}

// tlsFreeDetached(handle): true when it freed a session nobody had adopted.
Napi::Value FreeDetachedJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBigInt()) return Napi::Boolean::New(env, false);
  bool lossless = false;
  uint64_t id = info[0].As<Napi::BigInt>().Uint64Value(&lossless);
  DetachedTls d{};
  if (!lossless || !TakeDetached(id, &d)) return Napi::Boolean::New(env, false);
  SSL_free(d.ssl);  // frees both BIOs
  ERR_clear_error();
  return Napi::Boolean::New(env, true);
}

// tlsCounts(): { sessions: live SSL objects of the process, detached: sessions waiting to be adopted }.
Napi::Value CountsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  size_t waiting;
  {
    std::lock_guard<std::mutex> g(detachedLock);
    waiting = detached.size();
  }
  o.Set("sessions", Napi::Number::New(env, static_cast<double>(liveSessions.load())));
  o.Set("detached", Napi::Number::New(env, static_cast<double>(waiting)));
  return o;
}

}  // namespace

void InitTlsHandoff(Napi::Env env, Napi::Object exports) {
  static std::once_flag once;
  std::call_once(once, [] { SSL_get_ex_new_index(0, nullptr, OnSslNew, nullptr, OnSslFree); });
  exports.Set("tlsFreeDetached", Napi::Function::New(env, FreeDetachedJs));
  exports.Set("tlsCounts", Napi::Function::New(env, CountsJs));
}


uint64_t FileDetached(const DetachedTls& d) {
  std::lock_guard<std::mutex> g(detachedLock);
  uint64_t id = nextDetached++;
  detached.emplace(id, d);
  return id;
}

bool TakeDetached(uint64_t id, DetachedTls* d) {
  std::lock_guard<std::mutex> g(detachedLock);
  auto it = detached.find(id);
  if (it == detached.end()) return false;
  *d = it->second;
  detached.erase(it);
  return true;
}

}  // namespace nvmetd
