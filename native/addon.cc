// Addon entry: exports the native helpers the TypeScript layer uses.
#include <napi.h>
#include <pthread.h>
#include <sched.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>

#include "crc32c.h"
#include "ram_memory.h"
#include "rbd.h"
#include "sock_write.h"
#include "tls.h"
#include "uring.h"

namespace {

// crc32c(view: ArrayBufferView, offset?: number, length?: number, seed?: number): number
// Works on Buffers and views over SharedArrayBuffers without copying.
Napi::Value Crc32c(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray()) {
    Napi::TypeError::New(env, "crc32c: expected a Uint8Array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // The data pointer straight from napi_get_typedarray_info: it is valid for views over an
  // ArrayBuffer and over a SharedArrayBuffer alike (an ArrayBuffer handle is not, for the latter).
  napi_typedarray_type type;
  size_t total = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, info[0], &type, &total, &data, nullptr, nullptr) != napi_ok || data == nullptr) {
    if (total == 0) return Napi::Number::New(env, info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().Uint32Value() : 0);
    Napi::TypeError::New(env, "crc32c: cannot read the view's memory").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (type != napi_uint8_array && type != napi_uint8_clamped_array && type != napi_int8_array) {
    Napi::TypeError::New(env, "crc32c: expected a byte view (Uint8Array or Buffer)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const uint8_t* base = static_cast<const uint8_t*>(data);
  size_t off = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : 0;
  size_t len = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Uint32Value() : total - (off < total ? off : total);
  if (off > total || len > total - off) {
    Napi::RangeError::New(env, "crc32c: range outside the view").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint32_t seed = info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().Uint32Value() : 0;
  // seed is a previous digest (or 0): continue from its register value.
  uint32_t crc = nvmetd::crc32c_update(seed ^ 0xFFFFFFFFu, base + off, len) ^ 0xFFFFFFFFu;
  return Napi::Number::New(env, crc);
}

// The bytes of a Uint8Array/Buffer (over an ArrayBuffer or a SharedArrayBuffer); false if it is not one.
// An empty view may come back with a null pointer.
bool ByteView(napi_env env, napi_value v, uint8_t** data, size_t* len) {
  napi_typedarray_type type;
  void* p = nullptr;
  if (napi_get_typedarray_info(env, v, &type, len, &p, nullptr, nullptr) != napi_ok) return false;
  if (type != napi_uint8_array && type != napi_uint8_clamped_array && type != napi_int8_array) return false;
  *data = static_cast<uint8_t*>(p);
  return p != nullptr || *len == 0;
}

inline void PutLE32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
  p[2] = static_cast<uint8_t>(v >> 16);
  p[3] = static_cast<uint8_t>(v >> 24);
}

// crc32cBatch(arena: Uint8Array, jobs: Uint32Array, count: number, buffers: Uint8Array[]): void
// Fills every digest an out queue recorded for one batch, in one call (nvmetd::FillDigests).
Napi::Value Crc32cBatch(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  if (info.Length() < 4 || !info[2].IsNumber()) {
    Napi::TypeError::New(env, "crc32cBatch: expected (Uint8Array, Uint32Array, count, Uint8Array[])").ThrowAsJavaScriptException();
    return Napi::Value();
  }
  nvmetd::FillDigests(env, info[0], info[1], info[2].As<Napi::Number>().Uint32Value(), info[3]);
  return Napi::Value();
}

Napi::Value Crc32cHardware(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), nvmetd::crc32c_hardware());
}

Napi::Value Crc32cKind(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), nvmetd::crc32c_kind());
}

// setAffinity(cpus: number[]): pins the calling thread.
Napi::Value SetAffinity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) {
    Napi::TypeError::New(env, "setAffinity: expected an array of cpu numbers").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array arr = info[0].As<Napi::Array>();
  cpu_set_t set;
  CPU_ZERO(&set);
  for (uint32_t i = 0; i < arr.Length(); i++) {
    uint32_t cpu = arr.Get(i).As<Napi::Number>().Uint32Value();
    if (cpu < CPU_SETSIZE) CPU_SET(cpu, &set);
  }
  int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
  return Napi::Number::New(env, rc);
}

// getAffinity(): number[] of the calling thread.
Napi::Value GetAffinity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  cpu_set_t set;
  CPU_ZERO(&set);
  Napi::Array out = Napi::Array::New(env);
  if (pthread_getaffinity_np(pthread_self(), sizeof(set), &set) != 0) return out;
  uint32_t n = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
    if (CPU_ISSET(cpu, &set)) out.Set(n++, Napi::Number::New(env, cpu));
  return out;
}

// dupFd(fd): a close-on-exec duplicate of a descriptor, or -errno. Lets a worker thread own a
// connection accepted on the main thread: the main thread closes its copy, the worker wraps the dup.
Napi::Value DupFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "dupFd: expected a descriptor number").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  return Napi::Number::New(env, copy < 0 ? -errno : copy);
}

// gettid(): the kernel thread id of the calling thread (for logs and affinity checks).
Napi::Value GetTid(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(syscall(SYS_gettid)));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("crc32c", Napi::Function::New(env, Crc32c));
  exports.Set("crc32cBatch", Napi::Function::New(env, Crc32cBatch));
  exports.Set("crc32cHardware", Napi::Function::New(env, Crc32cHardware));
  exports.Set("crc32cKind", Napi::Function::New(env, Crc32cKind));
  exports.Set("setAffinity", Napi::Function::New(env, SetAffinity));
  exports.Set("getAffinity", Napi::Function::New(env, GetAffinity));
  exports.Set("dupFd", Napi::Function::New(env, DupFd));
  exports.Set("gettid", Napi::Function::New(env, GetTid));
  nvmetd::InitUring(env, exports);
  nvmetd::InitRbd(env, exports);
  nvmetd::InitTls(env, exports);
  nvmetd::InitRamMemory(env, exports);
  nvmetd::InitSockWrite(env, exports);
  return exports;
}

}  // namespace

namespace nvmetd {

// Job i of a digest batch is the eight words jobs[8i .. 8i+7] = kind, x, xOff, len, y, yOff, dst, a;
// its digest goes little-endian into A[dst, dst+4), where A is `arena` when a is 0 and buffers[a-1]
// otherwise (an arena chunk the out queue has left behind while the batch was built):
//   0: the digest of A[xOff, xOff+len) (a PDU header);
//   1: the digest of buffers[x][xOff, xOff+len) (PDU data);
//   2: copies buffers[y][yOff, yOff+len) into buffers[x][xOff, xOff+len) and digests the copy (PDU
//      data that may change under us: the digest is over exactly the bytes that go out).
// Data is named by a buffer (a view over a whole backing store, usually one of a few per batch)
// and a range, so each buffer's memory is looked up once per call, not once per job. Every index
// and range is checked; a bad job throws a RangeError (the jobs before it are done) and this
// returns false.
constexpr uint32_t kBatchWords = 8;
constexpr uint32_t kBufferCache = 32;

bool FillDigests(napi_env env, napi_value arenaV, napi_value jobsV, uint32_t count, napi_value buffers) {
  uint8_t* arena;
  size_t arenaLen;
  size_t jobsLen;
  napi_typedarray_type jobsType;
  void* jobsData = nullptr;
  bool isArray = false;
  if (!ByteView(env, arenaV, &arena, &arenaLen) || napi_is_array(env, buffers, &isArray) != napi_ok || !isArray ||
      napi_get_typedarray_info(env, jobsV, &jobsType, &jobsLen, &jobsData, nullptr, nullptr) != napi_ok ||
      jobsType != napi_uint32_array) {
    napi_throw_type_error(env, nullptr, "crc32cBatch: expected (Uint8Array, Uint32Array, count, Uint8Array[])");
    return false;
  }
  const uint32_t* jobs = static_cast<const uint32_t*>(jobsData);
  uint32_t nbuffers = 0;
  napi_get_array_length(env, buffers, &nbuffers);
  if (count > jobsLen / kBatchWords) {
    napi_throw_range_error(env, nullptr, "crc32cBatch: more jobs than the job array holds");
    return false;
  }
  uint8_t* cached[kBufferCache] = {};
  size_t cachedLen[kBufferCache] = {};
  // The memory of buffers[idx] (false when there is no such buffer).
  auto whole = [&](uint32_t idx, uint8_t** p, size_t* n) -> bool {
    if (idx < kBufferCache && cached[idx] != nullptr) {
      *p = cached[idx];
      *n = cachedLen[idx];
      return true;
    }
    napi_value v;
    if (idx >= nbuffers || napi_get_element(env, buffers, idx, &v) != napi_ok || !ByteView(env, v, p, n) || *p == nullptr) return false;
    if (idx < kBufferCache) {
      cached[idx] = *p;
      cachedLen[idx] = *n;
    }
    return true;
  };
  // The memory of buffers[idx][off, off+len), or null when there is no such range.
  auto range = [&](uint32_t idx, uint32_t off, uint32_t len) -> uint8_t* {
    uint8_t* p = nullptr;
    size_t n = 0;
    if (!whole(idx, &p, &n) || off > n || len > n - off) return nullptr;
    return p + off;
  };
  for (uint32_t i = 0; i < count; i++) {
    const uint32_t* j = jobs + kBatchWords * i;
    const uint32_t kind = j[0], x = j[1], xOff = j[2], len = j[3], y = j[4], yOff = j[5], dst = j[6], a = j[7];
    uint8_t* base = arena;
    size_t baseLen = arenaLen;
    if (a != 0 && !whole(a - 1, &base, &baseLen)) {
      napi_throw_range_error(env, nullptr, "crc32cBatch: no such arena buffer");
      return false;
    }
    if (dst > baseLen || baseLen - dst < 4) {
      napi_throw_range_error(env, nullptr, "crc32cBatch: digest outside the arena");
      return false;
    }
    uint32_t crc;
    if (len == 0 && kind <= 2) {
      crc = 0;
    } else if (kind == 0) {
      if (xOff > baseLen || len > baseLen - xOff) {
        napi_throw_range_error(env, nullptr, "crc32cBatch: header outside the arena");
        return false;
      }
      crc = nvmetd::crc32c(base + xOff, len);
    } else if (kind == 1 || kind == 2) {
      uint8_t* p = range(x, xOff, len);
      const uint8_t* from = kind == 2 ? range(y, yOff, len) : nullptr;
      if (p == nullptr || (kind == 2 && from == nullptr)) {
        napi_throw_range_error(env, nullptr, "crc32cBatch: data outside its buffer");
        return false;
      }
      crc = kind == 2 ? nvmetd::crc32c_copy_update(0xFFFFFFFFu, p, from, len) ^ 0xFFFFFFFFu : nvmetd::crc32c(p, len);
    } else {
      napi_throw_range_error(env, nullptr, "crc32cBatch: unknown job kind");
      return false;
    }
    PutLE32(base + dst, crc);
  }
  return true;
}

}  // namespace nvmetd

NODE_API_MODULE(nvmetd_native, Init)
