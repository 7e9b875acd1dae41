// The OpenSSL side of the TLS engine that holds no session: the two process-wide contexts (TLS 1.3
// only, both suites, no tickets), the cipher suite of a PSK hash, the session that carries an external
// PSK, and the error codes handed to JavaScript.
#include "tls_context.h"

#include <openssl/err.h>

#include <cctype>

namespace nvmetd {

const char* SuiteName(int hash) { return hash == kSha384 ? "TLS_AES_256_GCM_SHA384" : "TLS_AES_128_GCM_SHA256"; }
const unsigned char* SuiteId(int hash) {
  static const unsigned char k128[2] = {0x13, 0x01};
  static const unsigned char k256[2] = {0x13, 0x02};
  return hash == kSha384 ? k256 : k128;
}


namespace {

SSL_CTX* NewContext(bool server) {
  SSL_CTX* ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (ctx == nullptr) return nullptr;
  bool ok = SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) == 1 && SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) == 1 &&
            SSL_CTX_set_ciphersuites(ctx, kSuites) == 1 && SSL_CTX_set_num_tickets(ctx, 0) == 1;
  if (!ok) {
    SSL_CTX_free(ctx);
    return nullptr;
  }
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (server) {
    SSL_CTX_set_client_hello_cb(ctx, TlsOnClientHello, nullptr);
    SSL_CTX_set_psk_find_session_callback(ctx, TlsOnFindSession);
  }
  ERR_clear_error();
  return ctx;
}

}  // namespace

// One context per side for the process (contexts are reference counted and thread safe).
SSL_CTX* Context(bool server) {
  static SSL_CTX* const serverCtx = NewContext(true);
  static SSL_CTX* const clientCtx = NewContext(false);
  return server ? serverCtx : clientCtx;
}

// A session that makes OpenSSL use `psk` as the external PSK, with the suite of its hash.
SSL_SESSION* PskSession(SSL* s, const unsigned char* psk, size_t len, int hash) {
  const SSL_CIPHER* c = SSL_CIPHER_find(s, SuiteId(hash));
  SSL_SESSION* ss = c == nullptr ? nullptr : SSL_SESSION_new();
  if (ss == nullptr) return nullptr;
  if (SSL_SESSION_set1_master_key(ss, psk, len) != 1 || SSL_SESSION_set_cipher(ss, c) != 1 ||
      SSL_SESSION_set_protocol_version(ss, TLS1_3_VERSION) != 1) {
    SSL_SESSION_free(ss);  // wipes its master key
    return nullptr;
  }
  return ss;
}

// "binder does not verify" -> "ERR_SSL_BINDER_DOES_NOT_VERIFY" (the codes Node's TLS errors carry).
std::string ErrorCode(unsigned long e) {
  const char* r = ERR_reason_error_string(e);
  if (r == nullptr) return "ERR_SSL_PROTOCOL";
  std::string code = ERR_GET_LIB(e) == ERR_LIB_SSL ? "ERR_SSL_" : "ERR_OSSL_";
  for (const char* p = r; *p; p++) code += *p == ' ' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(*p)));
  return code;
}

}  // namespace nvmetd
