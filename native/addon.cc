// Addon entry: exports the native helpers the TypeScript layer uses.
#include <napi.h>
#include <pthread.h>
#include <sched.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cerrno>

#include "crc32c.h"
#include "rbd.h"
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

Napi::Value Crc32cHardware(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), nvmetd::crc32c_hardware());
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
  exports.Set("crc32cHardware", Napi::Function::New(env, Crc32cHardware));
  exports.Set("setAffinity", Napi::Function::New(env, SetAffinity));
  exports.Set("getAffinity", Napi::Function::New(env, GetAffinity));
  exports.Set("dupFd", Napi::Function::New(env, DupFd));
  exports.Set("gettid", Napi::Function::New(env, GetTid));
  nvmetd::InitUring(env, exports);
  nvmetd::InitRbd(env, exports);
  nvmetd::InitTls(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(nvmetd_native, Init)
