// Small synchronous helpers next to the ring (see uring.h): the io_uring probe, block-device geometry,
// O_DIRECT alignment, and page-aligned memory for buffer pools.
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/io_uring.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "uring.h"

namespace nvmetd {
namespace {

// uringProbe(): 0 when io_uring_setup works here, else -errno (ENOSYS, EPERM under seccomp or
// io_uring_disabled, ...).
Napi::Value UringProbe(const Napi::CallbackInfo& info) {
  io_uring_params p;
  memset(&p, 0, sizeof(p));
  int fd = static_cast<int>(syscall(__NR_io_uring_setup, 2, &p));
  if (fd < 0) return Napi::Number::New(info.Env(), -errno);
  close(fd);
  return Napi::Number::New(info.Env(), 0);
}

// blockDeviceSize(fd): BLKGETSIZE64 in bytes, or -errno.
Napi::Value BlockDeviceSize(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  uint64_t size = 0;
  if (ioctl(fd, BLKGETSIZE64, &size) != 0) return Napi::Number::New(info.Env(), -errno);
  return Napi::Number::New(info.Env(), static_cast<double>(size));
}

// blockLogicalSize(fd): BLKSSZGET (logical sector size), or -errno.
Napi::Value BlockLogicalSize(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  int size = 0;
  if (ioctl(fd, BLKSSZGET, &size) != 0) return Napi::Number::New(info.Env(), -errno);
  return Napi::Number::New(info.Env(), size);
}

// dioAlign(fd): [memAlign, offsetAlign] for O_DIRECT from statx, [0, 0] when unknown.
Napi::Value DioAlign(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Array out = Napi::Array::New(env, 2);
  struct statx stx;
  memset(&stx, 0, sizeof(stx));
  uint32_t mem = 0, off = 0;
  if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 && (stx.stx_mask & STATX_DIOALIGN)) {
    mem = stx.stx_dio_mem_align;
    off = stx.stx_dio_offset_align;
  }
  out.Set(0u, mem);
  out.Set(1u, off);
  return out;
}

// allocAligned(bytes): an ArrayBuffer on page-aligned memory (a buffer pool usable with O_DIRECT).
Napi::Value AllocAligned(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t len = static_cast<size_t>(info[0].As<Napi::Number>().Int64Value());
  void* p = nullptr;
  if (len == 0 || posix_memalign(&p, 4096, len) != 0) {
    Napi::Error::New(env, "allocAligned: out of memory").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  memset(p, 0, len);
  return Napi::ArrayBuffer::New(env, p, len, [](Napi::Env, void* data) { free(data); });
}

}  // namespace

void InitUringHelpers(Napi::Env env, Napi::Object exports) {
  exports.Set("uringProbe", Napi::Function::New(env, UringProbe));
  exports.Set("blockDeviceSize", Napi::Function::New(env, BlockDeviceSize));
  exports.Set("blockLogicalSize", Napi::Function::New(env, BlockLogicalSize));
  exports.Set("dioAlign", Napi::Function::New(env, DioAlign));
  exports.Set("allocAligned", Napi::Function::New(env, AllocAligned));
}

}  // namespace nvmetd
