// TLS 1.3 with an external PSK (NVMe/TCP, TP 8011) over memory BIOs: no descriptor, no certificate.
// TypeScript moves the bytes (feed what the peer sent, take what goes to it) and the engine keeps the
// session. Built on the OpenSSL that Node itself links and exports (headers from Node's include dir).
//
// Why not Node's own TLS: Node hands external PSKs to OpenSSL through the TLS 1.2-style PSK callback,
// which OpenSSL binds to TLS_AES_128_GCM_SHA256 in TLS 1.3; a SHA-384 PSK needs its session to name
// TLS_AES_256_GCM_SHA384. Here the PSK becomes an SSL_SESSION whose cipher follows the key's hash.
//
// Server: OpenSSL picks the TLS 1.3 cipher suite before it looks at the PSK, and then skips a PSK
// whose hash differs from the suite's. So the ClientHello callback reads the identities of the
// pre_shared_key extension first, asks the JavaScript lookup for each (synchronously: the engine is
// only driven from JavaScript calls), and narrows this connection's suites to the found key's hash;
// the find-session callback then hands OpenSSL that key. The binder is checked by OpenSSL.
// Client: the use-session callback offers the one identity with its key, the suite of its hash only.
//
// Both: TLS 1.3 only, TLS_AES_128_GCM_SHA256 and TLS_AES_256_GCM_SHA384, psk_dhe_ke (OpenSSL's
// default: no PSK-only key exchange), no session tickets (the Linux host fails on a ticket; TP 8011
// keys every session from the PSK). Keys are wiped as soon as OpenSSL has its copy and on free.
// OpenSSL's error queue belongs to the thread and Node uses it too: it is cleared around each call.
#include "tls.h"
#include "tls_context.h"
#include "tls_handoff.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

namespace nvmetd {
namespace {

constexpr size_t kMaxPsk = 64;
constexpr size_t kRecord = 16384;  // TLS's largest plaintext record

enum State { kHandshake = 0, kEstablished = 1, kClosed = 2, kFailed = 3 };

int OnClientHello(SSL* s, int* al, void* arg);
int OnFindSession(SSL* s, const unsigned char* id, size_t len, SSL_SESSION** sess);
int OnUseSession(SSL* s, const EVP_MD* md, const unsigned char** id, size_t* len, SSL_SESSION** sess);

class Engine : public Napi::ObjectWrap<Engine> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "TlsEngine",
                       {
                           InstanceMethod<&Engine::Feed>("feed"),
                           InstanceMethod<&Engine::Readable>("readable"),
                           InstanceMethod<&Engine::ReadInto>("readInto"),
                           InstanceMethod<&Engine::Write>("write"),
                           InstanceMethod<&Engine::TakeInto>("takeInto"),
                           InstanceMethod<&Engine::Shutdown>("shutdown"),
                           InstanceMethod<&Engine::GetState>("state"),
                           InstanceMethod<&Engine::Cipher>("cipher"),
                           InstanceMethod<&Engine::Error>("error"),
                           InstanceMethod<&Engine::FreeJs>("free"),
                           InstanceMethod<&Engine::Detach>("detach"),
                       });
  }

  // new TlsEngine(true, lookup) | new TlsEngine(false, identity, psk, hash)
  explicit Engine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Engine>(info), env_(info.Env()) {
    Napi::Env env = info.Env();
    if (info.Length() == 1 && info[0].IsBigInt()) {  // new TlsEngine(handle): a session from another thread
      Adopt(info);
      return;
    }
    server_ = info.Length() > 0 && info[0].ToBoolean().Value();
    if (server_) {
      if (info.Length() < 2 || !info[1].IsFunction()) {
        Napi::TypeError::New(env, "TlsEngine: a server needs a lookup function").ThrowAsJavaScriptException();
        return;
      }
      lookup_ = Napi::Persistent(info[1].As<Napi::Function>());
    } else {
      if (info.Length() < 4 || !info[1].IsString() || !info[2].IsTypedArray() || !info[3].IsNumber()) {
        Napi::TypeError::New(env, "TlsEngine: a client needs (identity, psk, hash)").ThrowAsJavaScriptException();
        return;
      }
      identity_ = info[1].As<Napi::String>().Utf8Value();
      hash_ = info[3].As<Napi::Number>().Int32Value();
      if (!SetKey(info[2], hash_)) {
        Napi::TypeError::New(env, "TlsEngine: the PSK must be 1 to 64 bytes, hash 1 (SHA-256) or 2 (SHA-384)").ThrowAsJavaScriptException();
        return;
      }
    }
    SSL_CTX* ctx = Context(server_);
    ssl_ = ctx == nullptr ? nullptr : SSL_new(ctx);
    BIO* in = BIO_new(BIO_s_mem());
    BIO* out = BIO_new(BIO_s_mem());
    if (ssl_ == nullptr || in == nullptr || out == nullptr) {
      BIO_free(in);
      BIO_free(out);
      Free();
      ERR_clear_error();
      Napi::Error::New(env, "TlsEngine: OpenSSL could not set up a TLS 1.3 session").ThrowAsJavaScriptException();
      return;
    }
    BIO_set_mem_eof_return(in, -1);  // no input yet: "want read", not end of stream
    SSL_set_bio(ssl_, in, out);
    in_ = in;
    out_ = out;
    SSL_set_app_data(ssl_, this);
    if (server_) {
      SSL_set_accept_state(ssl_);
    } else {
      SSL_set_connect_state(ssl_);
      SSL_set_ciphersuites(ssl_, SuiteName(hash_));
      SSL_set_psk_use_session_callback(ssl_, OnUseSession);
    }
  }

  ~Engine() override { Free(); }

  int ClientHello(SSL* s, int* al);
  int FindSession(SSL* s, const unsigned char* id, size_t len, SSL_SESSION** sess);
  int UseSession(SSL* s, const EVP_MD* md, const unsigned char** id, size_t* len, SSL_SESSION** sess);

 private:
  // Handing an established session to another thread (defined at the end of this file).
  Napi::Value Detach(const Napi::CallbackInfo& info);
  void Adopt(const Napi::CallbackInfo& info);

  bool SetKey(const Napi::Value& v, int hash) {
    WipeKey();
    if (!v.IsTypedArray() || (hash != kSha256 && hash != kSha384)) return false;
    Napi::TypedArray t = v.As<Napi::TypedArray>();
    if (t.TypedArrayType() != napi_uint8_array) return false;
    Napi::Uint8Array a = v.As<Napi::Uint8Array>();
    if (a.ByteLength() == 0 || a.ByteLength() > kMaxPsk) return false;
    std::memcpy(psk_, a.Data(), a.ByteLength());
    pskLen_ = a.ByteLength();
    hash_ = hash;
    return true;
  }

  void WipeKey() {
    OPENSSL_cleanse(psk_, sizeof(psk_));
    pskLen_ = 0;
  }

  void Free() {
    WipeKey();
    if (ssl_ != nullptr) SSL_free(ssl_);  // frees both BIOs
    ssl_ = nullptr;
    in_ = out_ = nullptr;
    if (state_ == kHandshake || state_ == kEstablished) state_ = kClosed;
    if (!lookup_.IsEmpty()) lookup_.Reset();
  }

  void Fail(int sslError) {
    state_ = kFailed;
    unsigned long e = ERR_peek_error();
    if (e != 0) {
      code_ = ErrorCode(e);
      char buf[256];
      ERR_error_string_n(e, buf, sizeof(buf));
      message_ = buf;
    } else if (sslError == SSL_ERROR_ZERO_RETURN) {
      code_ = "ERR_SSL_CLOSE_NOTIFY";
      message_ = "the peer closed the TLS session during the handshake";
    } else {
      code_ = "ERR_SSL_PROTOCOL";
      message_ = "TLS failed (OpenSSL error " + std::to_string(sslError) + ")";
    }
    ERR_clear_error();
    WipeKey();
  }

  int Step() {
    if (ssl_ == nullptr || state_ != kHandshake) return state_;
    ERR_clear_error();
    busy_ = true;
    int r = SSL_do_handshake(ssl_);
    busy_ = false;
    if (r == 1) {
      state_ = kEstablished;
      WipeKey();
    } else {
      int err = SSL_get_error(ssl_, r);
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) Fail(err);
    }
    ERR_clear_error();
    if (freeLater_) Free();
    return state_;
  }

  // feed(bytes?: Uint8Array): state. Takes what the peer sent; drives the handshake while it runs.
  Napi::Value Feed(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (ssl_ != nullptr && info.Length() > 0 && info[0].IsTypedArray()) {
      Napi::Uint8Array a = info[0].As<Napi::Uint8Array>();
      const uint8_t* p = a.Data();
      size_t n = a.ByteLength();
      while (n > 0) {
        int chunk = static_cast<int>(n > (1u << 30) ? (1u << 30) : n);
        int w = BIO_write(in_, p, chunk);
        if (w <= 0) {
          Fail(SSL_ERROR_SSL);
          return Napi::Number::New(env, state_);
        }
        p += w;
        n -= static_cast<size_t>(w);
      }
    }
    return Napi::Number::New(env, Step());
  }

  // Decrypts into [buf, buf + cap): the bytes written (0: none now; the state says why).
  size_t ReadSome(uint8_t* buf, size_t cap) {
    if (ssl_ == nullptr || state_ != kEstablished) return 0;
    size_t total = 0;
    ERR_clear_error();
    while (total < cap) {
      size_t n = 0;
      int r = SSL_read_ex(ssl_, buf + total, cap - total, &n);
      if (r == 1) {
        total += n;
        continue;
      }
      int err = SSL_get_error(ssl_, r);
      if (err == SSL_ERROR_ZERO_RETURN) state_ = kClosed;
      else if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) Fail(err);
      break;
    }
    ERR_clear_error();
    return total;
  }

  // readable(): at least as many bytes as read() could give now (the records waiting, decrypted or
  // not), so that a buffer of this size takes them all.
  Napi::Value Readable(const Napi::CallbackInfo& info) {
    size_t n = ssl_ == nullptr || state_ != kEstablished ? 0 : BIO_ctrl_pending(in_) + static_cast<size_t>(SSL_pending(ssl_));
    return Napi::Number::New(info.Env(), static_cast<double>(n));
  }

  // readInto(buf: Uint8Array): number. Decrypted bytes into the caller's buffer (0: none now).
  Napi::Value ReadInto(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsTypedArray()) return Napi::Number::New(env, 0);
    Napi::Uint8Array a = info[0].As<Napi::Uint8Array>();
    return Napi::Number::New(env, static_cast<double>(ReadSome(a.Data(), a.ByteLength())));
  }

  bool WriteAll(const uint8_t* p, size_t n) {
    while (n > 0) {
      size_t w = 0;
      int r = SSL_write_ex(ssl_, p, n, &w);
      if (r != 1) {
        Fail(SSL_get_error(ssl_, r));
        return false;
      }
      p += w;
      n -= w;
    }
    return true;
  }

  // write(pieces: Uint8Array[], count?): boolean. Encrypts the pieces in order; small ones share
  // records (gathered up to a full record), so a batch of short PDUs is not a record each.
  Napi::Value Write(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (ssl_ == nullptr || state_ != kEstablished || info.Length() < 1 || !info[0].IsArray()) return Napi::Boolean::New(env, false);
    Napi::Array pieces = info[0].As<Napi::Array>();
    uint32_t count = pieces.Length();
    if (info.Length() > 1 && info[1].IsNumber()) count = std::min(count, info[1].As<Napi::Number>().Uint32Value());
    static thread_local uint8_t gather[kRecord];
    size_t held = 0;
    bool ok = true;
    ERR_clear_error();
    for (uint32_t i = 0; i < count && ok; i++) {
      Napi::Value v = pieces.Get(i);
      if (!v.IsTypedArray()) continue;
      Napi::Uint8Array a = v.As<Napi::Uint8Array>();
      const uint8_t* p = a.Data();
      size_t n = a.ByteLength();
      if (n == 0) continue;
      if (held + n <= kRecord) {
        std::memcpy(gather + held, p, n);
        held += n;
        continue;
      }
      if (held > 0) {
        ok = WriteAll(gather, held);
        held = 0;
      }
      if (!ok) break;
      if (n < kRecord) {
        std::memcpy(gather, p, n);
        held = n;
      } else {
        ok = WriteAll(p, n);
      }
    }
    if (ok && held > 0) ok = WriteAll(gather, held);
    ERR_clear_error();
    return Napi::Boolean::New(env, ok);
  }

  // takeInto(buf: Uint8Array): number. The bytes to send to the peer, copied into the caller's buffer
  // (reused once sent): how many, at most buf's length (0: none; call again while it fills buf).
  Napi::Value TakeInto(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (out_ == nullptr || info.Length() < 1 || !info[0].IsTypedArray()) return Napi::Number::New(env, 0);
    Napi::Uint8Array a = info[0].As<Napi::Uint8Array>();
    size_t n = std::min(BIO_ctrl_pending(out_), a.ByteLength());
    if (n == 0) return Napi::Number::New(env, 0);
    int r = BIO_read(out_, a.Data(), static_cast<int>(std::min<size_t>(n, 1u << 30)));
    return Napi::Number::New(env, r > 0 ? r : 0);
  }

  // shutdown(): queues close_notify (take() it).
  Napi::Value Shutdown(const Napi::CallbackInfo& info) {
    if (ssl_ != nullptr && state_ == kEstablished) {
      ERR_clear_error();
      SSL_shutdown(ssl_);
      ERR_clear_error();
    }
    return info.Env().Undefined();
  }

  // state(): 0 handshake, 1 established, 2 closed (close_notify or freed), 3 failed.
  Napi::Value GetState(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), state_); }

  // cipher(): the negotiated suite, or null.
  Napi::Value Cipher(const Napi::CallbackInfo& info) {
    const SSL_CIPHER* c = ssl_ == nullptr ? nullptr : SSL_get_current_cipher(ssl_);
    if (c == nullptr || state_ != kEstablished) return info.Env().Null();
    return Napi::String::New(info.Env(), SSL_CIPHER_get_name(c));
  }

  // error(): { code, message } of the failure, or null.
  Napi::Value Error(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (state_ != kFailed) return env.Null();
    Napi::Object o = Napi::Object::New(env);
    o.Set("code", code_);
    o.Set("message", message_);
    return o;
  }

  Napi::Value FreeJs(const Napi::CallbackInfo& info) {
    if (busy_) freeLater_ = true;  // from inside the lookup: after the handshake step returns
    else Free();
    return info.Env().Undefined();
  }

  Napi::Env env_;
  bool server_ = false;
  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;
  BIO* out_ = nullptr;
  Napi::FunctionReference lookup_;
  unsigned char psk_[kMaxPsk] = {};
  size_t pskLen_ = 0;
  int hash_ = 0;
  std::string identity_;
  int state_ = kHandshake;
  bool busy_ = false;
  bool freeLater_ = false;
  std::string code_;
  std::string message_;
};

// Server, before the suite is chosen: the first offered identity the lookup knows decides the key
// and narrows the suites to its hash. None known: handshake_failure now (the lookup said why).
int Engine::ClientHello(SSL* s, int* al) {
  WipeKey();
  identity_.clear();
  const unsigned char* ext = nullptr;
  size_t len = 0;
  // No pre_shared_key extension: OpenSSL refuses the handshake on its own terms (version, suites).
  if (SSL_client_hello_get0_ext(s, TLSEXT_TYPE_psk, &ext, &len) != 1) return SSL_CLIENT_HELLO_SUCCESS;
  if (len < 2) {
    *al = SSL_AD_DECODE_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  size_t total = (static_cast<size_t>(ext[0]) << 8) | ext[1];
  if (total > len - 2) {
    *al = SSL_AD_DECODE_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  const unsigned char* p = ext + 2;
  const unsigned char* end = p + total;
  while (end - p >= 2) {
    size_t n = (static_cast<size_t>(p[0]) << 8) | p[1];
    p += 2;
    if (n > static_cast<size_t>(end - p) || static_cast<size_t>(end - p) - n < 4) {
      *al = SSL_AD_DECODE_ERROR;
      return SSL_CLIENT_HELLO_ERROR;
    }
    Napi::HandleScope scope(env_);
    Napi::Value v = lookup_.Call({Napi::String::New(env_, reinterpret_cast<const char*>(p), n)});
    if (env_.IsExceptionPending() || v.IsEmpty()) {
      *al = SSL_AD_INTERNAL_ERROR;
      return SSL_CLIENT_HELLO_ERROR;
    }
    if (v.IsObject()) {
      Napi::Object o = v.As<Napi::Object>();
      Napi::Value h = o.Get("hash");
      if (h.IsNumber() && SetKey(o.Get("psk"), h.As<Napi::Number>().Int32Value())) {
        identity_.assign(reinterpret_cast<const char*>(p), n);
        SSL_set_ciphersuites(s, SuiteName(hash_));
        return SSL_CLIENT_HELLO_SUCCESS;
      }
    }
    p += n + 4;  // identity, obfuscated_ticket_age
  }
  *al = SSL_AD_HANDSHAKE_FAILURE;
  return SSL_CLIENT_HELLO_ERROR;
}

int Engine::FindSession(SSL* s, const unsigned char* id, size_t len, SSL_SESSION** sess) {
  *sess = nullptr;
  if (pskLen_ == 0 || len != identity_.size() || std::memcmp(id, identity_.data(), len) != 0) return 1;
  *sess = PskSession(s, psk_, pskLen_, hash_);
  WipeKey();  // OpenSSL has its copy (a HelloRetryRequest runs the ClientHello callback again)
  return *sess == nullptr ? 0 : 1;
}

// Client: offered with the first ClientHello (md null) and again after a HelloRetryRequest (md set
// to the chosen suite's hash: a key of another hash is not offered then).
int Engine::UseSession(SSL* s, const EVP_MD* md, const unsigned char** id, size_t* len, SSL_SESSION** sess) {
  *sess = nullptr;
  if (pskLen_ == 0) return 1;
  const SSL_CIPHER* c = SSL_CIPHER_find(s, SuiteId(hash_));
  if (c == nullptr) return 0;
  const EVP_MD* mine = SSL_CIPHER_get_handshake_digest(c);
  if (md != nullptr && (mine == nullptr || EVP_MD_get_type(md) != EVP_MD_get_type(mine))) return 1;
  *sess = PskSession(s, psk_, pskLen_, hash_);
  if (*sess == nullptr) return 0;
  *id = reinterpret_cast<const unsigned char*>(identity_.data());
  *len = identity_.size();
  return 1;
}

int OnClientHello(SSL* s, int* al, void*) {
  Engine* e = static_cast<Engine*>(SSL_get_app_data(s));
  return e == nullptr ? SSL_CLIENT_HELLO_ERROR : e->ClientHello(s, al);
}
int OnFindSession(SSL* s, const unsigned char* id, size_t len, SSL_SESSION** sess) {
  Engine* e = static_cast<Engine*>(SSL_get_app_data(s));
  if (e == nullptr) {
    *sess = nullptr;
    return 0;
  }
  return e->FindSession(s, id, len, sess);
}
int OnUseSession(SSL* s, const EVP_MD* md, const unsigned char** id, size_t* len, SSL_SESSION** sess) {
  Engine* e = static_cast<Engine*>(SSL_get_app_data(s));
  if (e == nullptr) {
    *sess = nullptr;
    return 0;
  }
  return e->UseSession(s, md, id, len, sess);
}

// --- handing an established session to another thread (registry: tls_handoff.cc) --------------

// detach(): bigint | null. Only an established session whose handshake callbacks are done; the
// engine is closed afterwards (free() is a no-op for it).
Napi::Value Engine::Detach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (ssl_ == nullptr || state_ != kEstablished || busy_ || freeLater_) return env.Null();
  SSL_set_app_data(ssl_, nullptr);
  WipeKey();
  if (!lookup_.IsEmpty()) lookup_.Reset();
  uint64_t id = FileDetached(DetachedTls{ssl_, in_, out_, server_, hash_});
  ssl_ = nullptr;
  in_ = out_ = nullptr;
  state_ = kClosed;
  return Napi::BigInt::New(env, id);
}

void Engine::Adopt(const Napi::CallbackInfo& info) {
  bool lossless = false;
  uint64_t id = info[0].As<Napi::BigInt>().Uint64Value(&lossless);
  DetachedTls d{};
  if (!lossless || !TakeDetached(id, &d)) {
    state_ = kClosed;
    Napi::Error::New(info.Env(), "TlsEngine: no detached TLS session with this handle (adopted or freed already)").ThrowAsJavaScriptException();
    return;
  }
  ssl_ = d.ssl;
  in_ = d.in;
  out_ = d.out;
  server_ = d.server;
  hash_ = d.hash;
  state_ = kEstablished;
  SSL_set_app_data(ssl_, this);
  ERR_clear_error();
}

}  // namespace

int TlsOnClientHello(SSL* s, int* al, void* arg) { return OnClientHello(s, al, arg); }
int TlsOnFindSession(SSL* s, const unsigned char* id, size_t len, SSL_SESSION** sess) { return OnFindSession(s, id, len, sess); }

void InitTls(Napi::Env env, Napi::Object exports) {
  exports.Set("TlsEngine", Engine::Define(env));
  InitTlsHandoff(env, exports);
}

}  // namespace nvmetd
