// RAM namespace memory: transparent huge pages for a namespace's segments, and copies into them
// with non-temporal (streaming) stores, which do not read the destination's cache lines first.
#include "ram_memory.h"

#include <sys/mman.h>
#include <cerrno>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#define NVMETD_NT_STORES 1
#endif

namespace nvmetd {
namespace {

constexpr uintptr_t kHuge = 2u << 20;

// The bytes of a byte view (over an ArrayBuffer or a SharedArrayBuffer); false if it is not one.
bool Bytes(napi_env env, napi_value v, uint8_t** data, size_t* len) {
  napi_typedarray_type type;
  void* p = nullptr;
  if (napi_get_typedarray_info(env, v, &type, len, &p, nullptr, nullptr) != napi_ok) return false;
  if (type != napi_uint8_array && type != napi_uint8_clamped_array && type != napi_int8_array) return false;
  *data = static_cast<uint8_t*>(p);
  return p != nullptr || *len == 0;
}

// A non-negative integer argument (up to 2^53); false otherwise.
bool Index(napi_env env, napi_value v, size_t* out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0) || d > 9007199254740991.0 || d != static_cast<double>(static_cast<uint64_t>(d))) return false;
  *out = static_cast<size_t>(d);
  return true;
}

napi_value Throw(napi_env env, bool range, const char* msg) {
  if (range) napi_throw_range_error(env, nullptr, msg);
  else napi_throw_type_error(env, nullptr, msg);
  return nullptr;
}

// Copies with streaming stores: the head up to a 64-byte boundary of dst and the tail plainly, the
// middle one whole cache line at a time (unaligned loads, aligned non-temporal stores: four stores
// fill one line, so each line goes to memory as one full write, never as partial ones). Ends
// with sfence, so the stores are ordered before anything this thread stores afterwards (another
// thread that sees those sees the data too).
void CopyStreaming(uint8_t* dst, const uint8_t* src, size_t len) {
#ifdef NVMETD_NT_STORES
  size_t head = (64 - (reinterpret_cast<uintptr_t>(dst) & 63)) & 63;
  if (head > len) head = len;
  std::memcpy(dst, src, head);
  dst += head;
  src += head;
  len -= head;
  while (len >= 64) {
    __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src));
    __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 16));
    __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 32));
    __m128i d = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 48));
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst), a);
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst + 16), b);
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst + 32), c);
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst + 48), d);
    dst += 64;
    src += 64;
    len -= 64;
  }
  std::memcpy(dst, src, len);
  _mm_sfence();
#else
  std::memcpy(dst, src, len);
#endif
}

// ramCopy(dst: Uint8Array, dstOffset: number, src: Uint8Array, srcOffset: number, length: number, streaming: boolean): void
// Copies src[srcOffset, +length) into dst[dstOffset, +length); with streaming (and on x86-64), with
// non-temporal stores. Throws RangeError when a range lies outside its view.
napi_value RamCopy(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 5) return Throw(env, false, "ramCopy: expected (dst, dstOffset, src, srcOffset, length, streaming?)");
  uint8_t *dst, *src;
  size_t dstLen, srcLen, dstOff, srcOff, len;
  if (!Bytes(env, argv[0], &dst, &dstLen) || !Bytes(env, argv[2], &src, &srcLen)) return Throw(env, false, "ramCopy: expected byte views");
  if (!Index(env, argv[1], &dstOff) || !Index(env, argv[3], &srcOff) || !Index(env, argv[4], &len)) return Throw(env, true, "ramCopy: offsets and length must be non-negative integers");
  if (dstOff > dstLen || len > dstLen - dstOff || srcOff > srcLen || len > srcLen - srcOff) return Throw(env, true, "ramCopy: range outside its view");
  bool streaming = false;
  if (argc > 5) napi_get_value_bool(env, argv[5], &streaming);
  if (len == 0) return nullptr;
  if (streaming) CopyStreaming(dst + dstOff, src + srcOff, len);
  else std::memmove(dst + dstOff, src + srcOff, len);
  return nullptr;
}

// ramAdviseHuge(view: Uint8Array, huge = true): number
// madvise(MADV_HUGEPAGE), or with huge false MADV_NOHUGEPAGE, over the 2 MiB-aligned interior of the
// view's memory: the bytes advised (0 when no whole 2 MiB page lies inside), or -errno (EINVAL where
// the kernel has no transparent huge pages). Changes no data.
napi_value RamAdviseHuge(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  uint8_t* p;
  size_t len;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 1 || !Bytes(env, argv[0], &p, &len)) return Throw(env, false, "ramAdviseHuge: expected a byte view");
  bool huge = true;
  if (argc > 1) napi_get_value_bool(env, argv[1], &huge);
  double result = 0;
  uintptr_t start = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  uintptr_t end = (reinterpret_cast<uintptr_t>(p) + len) & ~(kHuge - 1);
#ifdef MADV_HUGEPAGE
  if (len > 0 && end > start) result = madvise(reinterpret_cast<void*>(start), end - start, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) == 0 ? static_cast<double>(end - start) : -errno;
#else
  if (len > 0 && end > start) result = -EINVAL;
#endif
  napi_value out;
  napi_create_double(env, result, &out);
  return out;
}

// ramStreamingStores(): whether ramCopy's streaming copies use non-temporal stores on this build.
napi_value RamStreamingStores(napi_env env, napi_callback_info) {
  napi_value out;
#ifdef NVMETD_NT_STORES
  napi_get_boolean(env, true, &out);
#else
  napi_get_boolean(env, false, &out);
#endif
  return out;
}

void Set(napi_env env, napi_value exports, const char* name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &fn);
  napi_set_named_property(env, exports, name, fn);
}

}  // namespace

void InitRamMemory(Napi::Env env, Napi::Object exports) {
  Set(env, exports, "ramCopy", RamCopy);
  Set(env, exports, "ramAdviseHuge", RamAdviseHuge);
  Set(env, exports, "ramStreamingStores", RamStreamingStores);
}

}  // namespace nvmetd
