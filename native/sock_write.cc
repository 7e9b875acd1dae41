// writeFd: hands a batch of byte views to a connected socket's send buffer with sendmsg, without
// blocking, in IOV_MAX-sized chunks. The caller (an out queue's flush) writes here only while
// nothing waits in Node's stream for the same socket, and gives whatever this did not take to the
// stream, so the bytes stay in order.
#include "sock_write.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <climits>
#include <cerrno>

namespace nvmetd {
namespace {

constexpr uint32_t kIovMax = IOV_MAX;

// writeFd(fd: number, pieces: Uint8Array[], count: number): number
// Writes pieces[0 .. count) in order. Returns the bytes the kernel took (less than the total when
// the send buffer filled: EAGAIN), or a negated errno when it took nothing because of an error
// (EPIPE, ECONNRESET, ...). An error after some bytes were taken returns those bytes: the caller
// writes the rest through the stream, which meets the error again and reports it.
Napi::Value WriteFd(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsArray() || !info[2].IsNumber()) {
    Napi::TypeError::New(env, "writeFd: expected (fd, Uint8Array[], count)").ThrowAsJavaScriptException();
    return Napi::Value();
  }
  const int fd = info[0].As<Napi::Number>().Int32Value();
  napi_value pieces = info[1];
  uint32_t n = 0;
  napi_get_array_length(env, pieces, &n);
  const uint32_t count = info[2].As<Napi::Number>().Uint32Value();
  if (fd < 0 || count > n) {
    Napi::RangeError::New(env, "writeFd: bad descriptor or count").ThrowAsJavaScriptException();
    return Napi::Value();
  }
  struct iovec iov[kIovMax];
  double total = 0;
  uint32_t i = 0;
  while (i < count) {
    // Gather up to IOV_MAX non-empty pieces.
    uint32_t k = 0;
    size_t want = 0;
    while (i < count && k < kIovMax) {
      napi_value v;
      napi_typedarray_type type;
      size_t len = 0;
      void* p = nullptr;
      if (napi_get_element(env, pieces, i, &v) != napi_ok ||
          napi_get_typedarray_info(env, v, &type, &len, &p, nullptr, nullptr) != napi_ok ||
          (type != napi_uint8_array && type != napi_int8_array && type != napi_uint8_clamped_array) ||
          (p == nullptr && len != 0)) {
        Napi::TypeError::New(env, "writeFd: a piece is not a byte view").ThrowAsJavaScriptException();
        return Napi::Value();
      }
      i++;
      if (len == 0) continue;
      iov[k].iov_base = p;
      iov[k].iov_len = len;
      want += len;
      k++;
    }
    if (k == 0) break;
    struct msghdr msg = {};
    msg.msg_iov = iov;
    msg.msg_iovlen = k;
    ssize_t w;
    do {
      w = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (w < 0 && errno == EINTR);
    if (w < 0) {
      const int e = errno;
      if (e == EAGAIN || e == EWOULDBLOCK || total > 0) return Napi::Number::New(env, total);
      return Napi::Number::New(env, -e);
    }
    total += static_cast<double>(w);
    if (static_cast<size_t>(w) < want) break;  // the send buffer is full
  }
  return Napi::Number::New(env, total);
}

}  // namespace

void InitSockWrite(Napi::Env env, Napi::Object exports) {
  exports.Set("writeFd", Napi::Function::New(env, WriteFd));
}

}  // namespace nvmetd
