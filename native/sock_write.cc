// writeFd: hands a batch of byte views to a connected socket's send buffer with sendmsg, without
// blocking, in IOV_MAX-sized chunks. writeFdDigests: fills the batch's digests first, in the same
// call (one call into the addon per flush instead of two, and no JavaScript runs between the digests
// and the sendmsg: see out-queue.ts for what that lets a RAM read skip). The caller (an out queue's
// flush) writes here only while nothing waits in Node's stream for the same socket, and gives
// whatever this did not take to the stream, so the bytes stay in order.
#include "sock_write.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <climits>
#include <cerrno>

namespace nvmetd {
namespace {

constexpr uint32_t kIovMax = IOV_MAX;

// Writes pieces 0 .. count) to fd in order, up to IOV_MAX per sendmsg; piece(i, &p, &len) names
// piece i (empty pieces are skipped) or returns false with a JavaScript exception pending (then
// *threw is set and nothing more is written). Returns the bytes the kernel took (less than the
// total when the send buffer filled: EAGAIN), or a negated errno when it took nothing because of an
// error (EPIPE, ECONNRESET, ...). An error after some bytes were taken returns those bytes: the
// caller writes the rest through the stream, which meets the error again and reports it.
template <typename Piece>
double SendInOrder(int fd, uint32_t count, Piece piece, bool* threw) {
  struct iovec iov[kIovMax];
  double total = 0;
  uint32_t i = 0;
  *threw = false;
  while (i < count) {
    uint32_t k = 0;
    size_t want = 0;
    while (i < count && k < kIovMax) {
      uint8_t* p = nullptr;
      size_t len = 0;
      if (!piece(i++, &p, &len)) {
        *threw = true;
        return 0;
      }
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
      if (e == EAGAIN || e == EWOULDBLOCK || total > 0) return total;
      return -e;
    }
    total += static_cast<double>(w);
    if (static_cast<size_t>(w) < want) break;  // the send buffer is full
  }
  return total;
}

// pieces[0 .. count), each a byte view (else a TypeError), written as SendInOrder does.
double SendPieces(napi_env env, int fd, napi_value pieces, uint32_t count, bool* threw) {
  return SendInOrder(
      fd, count,
      [&](uint32_t i, uint8_t** p, size_t* len) {
        napi_value v;
        napi_typedarray_type type;
        void* data = nullptr;
        if (napi_get_element(env, pieces, i, &v) != napi_ok ||
            napi_get_typedarray_info(env, v, &type, len, &data, nullptr, nullptr) != napi_ok ||
            (type != napi_uint8_array && type != napi_int8_array && type != napi_uint8_clamped_array) ||
            (data == nullptr && *len != 0)) {
          napi_throw_type_error(env, nullptr, "writeFd: a piece is not a byte view");
          return false;
        }
        *p = static_cast<uint8_t*>(data);
        return true;
      },
      threw);
}

// fd, pieces and count from info[0..2]; false (an exception pending) when they are not usable.
bool SendArgs(const Napi::CallbackInfo& info, int* fd, uint32_t* count) {
  napi_env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsArray() || !info[2].IsNumber()) {
    Napi::TypeError::New(env, "writeFd: expected (fd, Uint8Array[], count)").ThrowAsJavaScriptException();
    return false;
  }
  *fd = info[0].As<Napi::Number>().Int32Value();
  uint32_t n = 0;
  napi_get_array_length(env, info[1], &n);
  *count = info[2].As<Napi::Number>().Uint32Value();
  if (*fd < 0 || *count > n) {
    Napi::RangeError::New(env, "writeFd: bad descriptor or count").ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

// writeFd(fd: number, pieces: Uint8Array[], count: number): number (see SendPieces)
Napi::Value WriteFd(const Napi::CallbackInfo& info) {
  int fd;
  uint32_t count;
  if (!SendArgs(info, &fd, &count)) return Napi::Value();
  bool threw;
  const double w = SendPieces(info.Env(), fd, info[1], count, &threw);
  if (threw) return Napi::Value();
  return Napi::Number::New(info.Env(), w);
}

// writeFdDigests(fd, pieces, count, arena, jobs, jobCount, buffers): number
// Fills the digests (crc32cBatch's arguments: arena, jobs, jobCount, buffers), then writes as writeFd
// does. Nothing is written when a digest job is bad (the RangeError is thrown).
Napi::Value WriteFdDigests(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  int fd;
  uint32_t count;
  if (!SendArgs(info, &fd, &count)) return Napi::Value();
  if (info.Length() < 7 || !info[5].IsNumber()) {
    Napi::TypeError::New(env, "writeFdDigests: expected (fd, pieces, count, arena, jobs, jobCount, buffers)").ThrowAsJavaScriptException();
    return Napi::Value();
  }
  if (!FillDigests(env, info[3], info[4], info[5].As<Napi::Number>().Uint32Value(), info[6])) return Napi::Value();
  bool threw;
  const double w = SendPieces(env, fd, info[1], count, &threw);
  if (threw) return Napi::Value();
  return Napi::Number::New(env, w);
}

// Writes the pieces a table names: table[3i .. 3i+3) = (buffer index, offset, length) into
// buffers (views over whole backing stores: the out queue's arena chunks, a namespace's memory, pool
// slabs; a few per batch). Each buffer's memory is looked up once per call, and the table is read
// as plain words: two N-API calls per buffer instead of two per piece, and no view object per
// header piece. Every index and range is checked (a bad one throws a RangeError, nothing written).
// Returns as SendInOrder does.
constexpr uint32_t kTableWords = 3;
constexpr uint32_t kTableBuffers = 32;

double SendTable(napi_env env, int fd, napi_value tableV, uint32_t count, napi_value buffers, bool* threw) {
  *threw = false;
  napi_typedarray_type type;
  size_t words = 0;
  void* data = nullptr;
  bool isArray = false;
  if (napi_get_typedarray_info(env, tableV, &type, &words, &data, nullptr, nullptr) != napi_ok || type != napi_uint32_array ||
      napi_is_array(env, buffers, &isArray) != napi_ok || !isArray) {
    napi_throw_type_error(env, nullptr, "writeFdTable: expected (fd, Uint32Array, count, Uint8Array[])");
    *threw = true;
    return 0;
  }
  if (count > words / kTableWords) {
    napi_throw_range_error(env, nullptr, "writeFdTable: more pieces than the table holds");
    *threw = true;
    return 0;
  }
  const uint32_t* t = static_cast<const uint32_t*>(data);
  uint32_t nbuffers = 0;
  napi_get_array_length(env, buffers, &nbuffers);
  uint8_t* cached[kTableBuffers] = {};
  size_t cachedLen[kTableBuffers] = {};
  auto whole = [&](uint32_t idx, uint8_t** p, size_t* n) -> bool {
    if (idx < kTableBuffers && cached[idx] != nullptr) {
      *p = cached[idx];
      *n = cachedLen[idx];
      return true;
    }
    napi_value v;
    napi_typedarray_type vt;
    size_t len = 0;
    void* vp = nullptr;
    if (idx >= nbuffers || napi_get_element(env, buffers, idx, &v) != napi_ok ||
        napi_get_typedarray_info(env, v, &vt, &len, &vp, nullptr, nullptr) != napi_ok ||
        (vt != napi_uint8_array && vt != napi_int8_array && vt != napi_uint8_clamped_array) || vp == nullptr) {
      return false;
    }
    *p = static_cast<uint8_t*>(vp);
    *n = len;
    if (idx < kTableBuffers) {
      cached[idx] = *p;
      cachedLen[idx] = len;
    }
    return true;
  };
  // Every piece is checked before anything is written.
  for (uint32_t i = 0; i < count; i++) {
    const uint32_t* e = t + kTableWords * i;
    uint8_t* p;
    size_t n;
    if (e[2] == 0) continue;
    if (!whole(e[0], &p, &n) || e[1] > n || e[2] > n - e[1]) {
      napi_throw_range_error(env, nullptr, "writeFdTable: a piece outside its buffer");
      *threw = true;
      return 0;
    }
  }
  return SendInOrder(
      fd, count,
      [&](uint32_t i, uint8_t** p, size_t* len) {
        const uint32_t* e = t + kTableWords * i;
        *len = e[2];
        if (e[2] == 0) return true;
        uint8_t* base = nullptr;
        size_t n = 0;
        whole(e[0], &base, &n);  // checked above
        *p = base + e[1];
        return true;
      },
      threw);
}

// writeFdTable(fd, table: Uint32Array, count, buffers: Uint8Array[]): number (see SendTable)
Napi::Value WriteFdTable(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  if (info.Length() < 4 || !info[0].IsNumber() || !info[2].IsNumber()) {
    Napi::TypeError::New(env, "writeFdTable: expected (fd, Uint32Array, count, Uint8Array[])").ThrowAsJavaScriptException();
    return Napi::Value();
  }
  const int fd = info[0].As<Napi::Number>().Int32Value();
  if (fd < 0) {
    Napi::RangeError::New(env, "writeFdTable: bad descriptor").ThrowAsJavaScriptException();
    return Napi::Value();
  }
  bool threw;
  const double w = SendTable(env, fd, info[1], info[2].As<Napi::Number>().Uint32Value(), info[3], &threw);
  if (threw) return Napi::Value();
  return Napi::Number::New(env, w);
}

// writeFdTableDigests(fd, table, count, buffers, arena, jobs, jobCount): number
// Fills the digests (crc32cBatch's arguments: arena, jobs, jobCount, and the same buffers), then
// writes as writeFdTable does. Nothing is written when a digest job is bad (the RangeError is thrown).
Napi::Value WriteFdTableDigests(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  if (info.Length() < 7 || !info[0].IsNumber() || !info[2].IsNumber() || !info[6].IsNumber()) {
    Napi::TypeError::New(env, "writeFdTableDigests: expected (fd, table, count, buffers, arena, jobs, jobCount)").ThrowAsJavaScriptException();
    return Napi::Value();
  }
  const int fd = info[0].As<Napi::Number>().Int32Value();
  if (fd < 0) {
    Napi::RangeError::New(env, "writeFdTableDigests: bad descriptor").ThrowAsJavaScriptException();
    return Napi::Value();
  }
  if (!FillDigests(env, info[4], info[5], info[6].As<Napi::Number>().Uint32Value(), info[3])) return Napi::Value();
  bool threw;
  const double w = SendTable(env, fd, info[1], info[2].As<Napi::Number>().Uint32Value(), info[3], &threw);
  if (threw) return Napi::Value();
  return Napi::Number::New(env, w);
}

}  // namespace

void InitSockWrite(Napi::Env env, Napi::Object exports) {
  exports.Set("writeFd", Napi::Function::New(env, WriteFd));
  exports.Set("writeFdDigests", Napi::Function::New(env, WriteFdDigests));
  exports.Set("writeFdTable", Napi::Function::New(env, WriteFdTable));
  exports.Set("writeFdTableDigests", Napi::Function::New(env, WriteFdTableDigests));
}

}  // namespace nvmetd
