// Small synchronous helpers next to the ring (see uring.h): the io_uring probe, block-device geometry,
// O_DIRECT alignment, and page-aligned memory for buffer pools.
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/io_uring.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vector>

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

// allocSlab(bytes): an ArrayBuffer on its own anonymous mapping (page-aligned; pages are committed when
// first touched). Unmapped when the ArrayBuffer is collected; discardSlab gives the memory back before.
Napi::Value AllocSlab(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double want = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 0;
  if (!(want > 0) || want > static_cast<double>(1ull << 40)) {
    Napi::RangeError::New(env, "allocSlab: bad size").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  size_t len = (static_cast<size_t>(want) + 4095) & ~static_cast<size_t>(4095);
  void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return env.Null();  // out of address space or memory: the caller decides
  size_t* hint = new size_t(len);
  return Napi::ArrayBuffer::New(
      env, p, len, [](Napi::Env, void* data, size_t* n) {
        munmap(data, *n);
        delete n;
      },
      hint);
}

// discardSlab(slab): gives the slab's pages back to the system now (MADV_DONTNEED); the mapping stays
// valid and reads as zeroes. 0 or -errno.
Napi::Value DiscardSlab(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArrayBuffer()) {
    Napi::TypeError::New(env, "discardSlab: expected an ArrayBuffer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
  uintptr_t base = reinterpret_cast<uintptr_t>(ab.Data());
  size_t len = ab.ByteLength();
  if ((base & 4095) != 0 || len == 0) return Napi::Number::New(env, -EINVAL);
  len &= ~static_cast<size_t>(4095);
  return Napi::Number::New(env, madvise(ab.Data(), len, MADV_DONTNEED) == 0 ? 0 : -errno);
}

// residentBytes(ab): how many bytes of a page-aligned ArrayBuffer are in memory (mincore), or -errno.
Napi::Value ResidentBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArrayBuffer()) {
    Napi::TypeError::New(env, "residentBytes: expected an ArrayBuffer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
  uintptr_t base = reinterpret_cast<uintptr_t>(ab.Data());
  if ((base & 4095) != 0) return Napi::Number::New(env, -EINVAL);
  size_t pages = (ab.ByteLength() + 4095) / 4096;
  std::vector<unsigned char> vec(pages);
  if (mincore(ab.Data(), pages * 4096, vec.data()) != 0) return Napi::Number::New(env, -errno);
  double n = 0;
  for (unsigned char v : vec) n += (v & 1) ? 4096 : 0;
  return Napi::Number::New(env, n);
}

}  // namespace

void InitUringHelpers(Napi::Env env, Napi::Object exports) {
  exports.Set("uringProbe", Napi::Function::New(env, UringProbe));
  exports.Set("blockDeviceSize", Napi::Function::New(env, BlockDeviceSize));
  exports.Set("blockLogicalSize", Napi::Function::New(env, BlockLogicalSize));
  exports.Set("dioAlign", Napi::Function::New(env, DioAlign));
  exports.Set("allocAligned", Napi::Function::New(env, AllocAligned));
  exports.Set("allocSlab", Napi::Function::New(env, AllocSlab));
  exports.Set("discardSlab", Napi::Function::New(env, DiscardSlab));
  exports.Set("residentBytes", Napi::Function::New(env, ResidentBytes));
}

}  // namespace nvmetd
