// The TLS engine's process-wide OpenSSL state and helpers (see tls_context.cc).
#pragma once
#include <openssl/ssl.h>

#include <cstddef>
#include <string>

namespace nvmetd {

constexpr int kSha256 = 1;  // HashId of src/keys/hash.ts
constexpr int kSha384 = 2;
constexpr const char* kSuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384";

/** TLS_AES_128_GCM_SHA256 or TLS_AES_256_GCM_SHA384, the suite of a PSK of this hash. */
const char* SuiteName(int hash);
/** That suite's two-byte identifier. */
const unsigned char* SuiteId(int hash);
/** The process's server or client context (null when OpenSSL refused the settings). */
SSL_CTX* Context(bool server);
/** A session that makes OpenSSL use `psk` as the external PSK, with the suite of its hash. */
SSL_SESSION* PskSession(SSL* s, const unsigned char* psk, size_t len, int hash);
/** "binder does not verify" -> "ERR_SSL_BINDER_DOES_NOT_VERIFY" (the codes Node's TLS errors carry). */
std::string ErrorCode(unsigned long e);

// The server context's callbacks, defined with the engine (tls.cc).
int TlsOnClientHello(SSL* s, int* al, void* arg);
int TlsOnFindSession(SSL* s, const unsigned char* id, size_t len, SSL_SESSION** sess);

}  // namespace nvmetd
