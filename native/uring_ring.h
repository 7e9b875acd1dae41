// The Ring class behind uring.h: shared by uring.cc (setup, registration, wake-ups) and uring_io.cc
// (preparing SQEs, submitting, reaping). Internal to the addon.
#pragma once
#include <linux/io_uring.h>
#include <napi.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <memory>
#include <set>
#include <vector>

namespace nvmetd {
namespace uring {

inline int sys_setup(unsigned entries, io_uring_params* p) {
  return static_cast<int>(syscall(__NR_io_uring_setup, entries, p));
}
inline int sys_enter(int fd, unsigned submit, unsigned min_complete, unsigned flags) {
  return static_cast<int>(syscall(__NR_io_uring_enter, fd, submit, min_complete, flags, nullptr, 0));
}
inline int sys_register(int fd, unsigned opcode, const void* arg, unsigned nr) {
  return static_cast<int>(syscall(__NR_io_uring_register, fd, opcode, arg, nr));
}

template <typename T>
inline T load_acquire(const T* p) {
  return reinterpret_cast<const std::atomic<T>*>(p)->load(std::memory_order_acquire);
}
template <typename T>
inline void store_release(T* p, T v) {
  reinterpret_cast<std::atomic<T>*>(p)->store(v, std::memory_order_release);
}

// Operation kinds as the JS side names them.
enum OpKind : uint8_t { kRead = 0, kWrite = 1, kFsync = 2, kFallocate = 3, kBlkDiscard = 4, kBlkZeroout = 5 };

// Per-slot continuation state. Indexed by user_data (the TS slot index).
struct Op {
  uint8_t* user = nullptr;    // caller's buffer
  uint8_t* io = nullptr;      // buffer the kernel sees (user, or the bounce buffer)
  uint8_t* bounce = nullptr;  // aligned buffer, kept for reuse by this slot
  uint32_t bounce_cap = 0;
  uint32_t len = 0;
  uint32_t done = 0;
  uint64_t off = 0;
  uint64_t aux = 0;  // fallocate length
  uint32_t rw_flags = 0;
  uint32_t mode = 0;  // fallocate mode
  int32_t file = 0;
  uint8_t kind = 0;
  bool fixed_buf = false;
  uint16_t buf_index = 0;  // registered buffer table entry, when fixed_buf
  bool active = false;
};

struct FileEntry {
  int fd = -1;
  uint32_t mem_align = 0;  // non-zero: O_DIRECT, buffers must be aligned to this
  bool used = false;
};

constexpr uint32_t kFileTable = 256;
/** Registered buffer table entries (the kernel's maximum): one per pooled slab. */
constexpr uint32_t kBufTable = 16384;

// A memory range registered in the buffer table (IORING_REGISTER_BUFFERS): I/O inside it uses the
// _FIXED opcodes with buf_index = index.
struct BufRange {
  uint8_t* base;
  size_t len;
  uint32_t index;
};

class Ring;

// Per-environment data: every ring alive in this thread, closed at env teardown.
struct AddonData {
  std::set<Ring*> rings;
};

class Ring : public Napi::ObjectWrap<Ring> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Ring(const Napi::CallbackInfo& info);
  ~Ring() override { Close(); }

  void Close();
  void OnPoll();

 private:
  // JS methods
  Napi::Value JsRead(const Napi::CallbackInfo& info) { return PrepRw(info, kRead); }
  Napi::Value JsWrite(const Napi::CallbackInfo& info) { return PrepRw(info, kWrite); }
  Napi::Value JsFsync(const Napi::CallbackInfo& info);
  Napi::Value JsFallocate(const Napi::CallbackInfo& info);
  Napi::Value JsBlkIoctl(const Napi::CallbackInfo& info);
  Napi::Value JsSubmit(const Napi::CallbackInfo& info);
  Napi::Value JsReap(const Napi::CallbackInfo& info);
  Napi::Value JsRegisterFile(const Napi::CallbackInfo& info);
  Napi::Value JsUnregisterFile(const Napi::CallbackInfo& info);
  Napi::Value JsRegisterBuffers(const Napi::CallbackInfo& info);
  Napi::Value JsRegisterSlab(const Napi::CallbackInfo& info);
  Napi::Value JsUnregisterSlab(const Napi::CallbackInfo& info);
  Napi::Value JsClose(const Napi::CallbackInfo& info);
  Napi::Value JsInfo(const Napi::CallbackInfo& info);

  Napi::Value PrepRw(const Napi::CallbackInfo& info, OpKind kind);
  io_uring_sqe* GetSqe();
  io_uring_sqe* BeginFileOp(const Napi::CallbackInfo& info, OpKind kind, uint8_t opcode);
  void QueueRw(uint32_t slot);
  int Submit();
  /** run_tw: with deferred task work, enter the kernel first so pending completions get posted. */
  int Reap(bool poll, bool run_tw = false);
  void Complete(uint32_t slot, int32_t res);
  /** Registers a sparse buffer table (buf_table_ 1), or notes that the kernel refused one (-1). */
  void SetupBufTable();
  /** Registers [base, base+len) in a free entry of the buffer table: its index, or -errno. */
  int RegisterRange(uint8_t* base, size_t len);
  /** Whether [p, p+len) lies inside one registered range; sets *index. */
  bool FindFixed(const uint8_t* p, uint32_t len, uint16_t* index) const;
  void Notify();
  void UpdateRef();

  Napi::Env env_;
  int ring_fd_ = -1;
  int event_fd_ = -1;
  bool sqpoll_ = false;
  bool iopoll_ = false;
  bool defer_ = false;  // IORING_SETUP_DEFER_TASKRUN: completions are posted on GETEVENTS
  uint32_t features_ = 0;
  // mapped rings
  void* sq_map_ = nullptr;
  size_t sq_map_len_ = 0;
  void* cq_map_ = nullptr;
  size_t cq_map_len_ = 0;
  io_uring_sqe* sqes_ = nullptr;
  size_t sqes_len_ = 0;
  uint32_t* sq_khead_ = nullptr;
  uint32_t* sq_ktail_ = nullptr;
  uint32_t* sq_kflags_ = nullptr;
  uint32_t* sq_array_ = nullptr;
  uint32_t sq_mask_ = 0;
  uint32_t sq_entries_ = 0;
  uint32_t sq_tail_ = 0;  // local tail, published by Submit
  uint32_t sq_submitted_ = 0;  // tail value last handed to the kernel
  uint32_t* cq_khead_ = nullptr;
  uint32_t* cq_ktail_ = nullptr;
  uint32_t cq_mask_ = 0;
  io_uring_cqe* cqes_ = nullptr;
  // files and buffers
  FileEntry files_[kFileTable];
  bool files_registered_ = false;
  // Registered buffers: a sparse table (kernel 5.13+) filled and emptied with BUFFERS_UPDATE; ranges_
  // sorted by base. buf_table_: 0 not set up yet, 1 sparse table, -1 the kernel refused one (then at
  // most one range, registered directly at index 0).
  int buf_table_ = 0;
  std::vector<BufRange> ranges_;
  std::vector<uint32_t> buf_free_;
  // Counters of read/write submissions by path (info(): statistics and tests).
  uint64_t fixed_ops_ = 0;
  uint64_t bounce_ops_ = 0;
  uint64_t plain_ops_ = 0;
  // ops and the JS completion ring
  std::vector<Op> ops_;
  Napi::Reference<Napi::Int32Array> compl_ref_;
  int32_t* compl_ = nullptr;
  uint32_t compl_mask_ = 0;
  Napi::FunctionReference on_complete_;
  // Async context for MakeCallback, so promise jobs and nextTicks queued by completions run right after
  // the batch (as after any other I/O callback).
  std::unique_ptr<Napi::AsyncContext> async_ctx_;
  uint32_t inflight_ = 0;
  uv_poll_t* poll_ = nullptr;
  bool polling_ref_ = false;
  bool closed_ = false;
  bool in_callback_ = false;
  AddonData* data_ = nullptr;
  // ioctl work in flight (block discard/zeroout on the thread pool)
  uint32_t blk_inflight_ = 0;

  friend class BlkWork;
  friend void PollCb(uv_poll_t*, int, int);
};

void PollCb(uv_poll_t* handle, int status, int events);
Napi::Error ErrnoError(Napi::Env env, const char* what, int err);

}  // namespace uring
}  // namespace nvmetd
