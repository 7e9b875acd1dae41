// The io_uring engine (see uring.h). Raw system calls on <linux/io_uring.h>; no external library.
//
// Life of an operation:
//   JS ring.read(slot, file, view, offset) -> prep(): an SQE written into the mapped SQ, not yet visible
//   JS ring.submit()  -> publish the SQ tail; io_uring_enter once (or nothing under SQPOLL while the
//                        kernel thread is awake); then reap what completed inline
//   kernel completes  -> CQE; the registered eventfd wakes a uv_poll on the loop thread
//   reap()            -> every ready CQE: short transfer / EAGAIN -> re-prepared in place; otherwise the
//                        final (slot, res) is appended to the JS completion ring; one JS callback per batch
#include "uring.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/io_uring.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <memory>
#include <set>
#include <vector>

namespace nvmetd {
namespace {

int sys_setup(unsigned entries, io_uring_params* p) {
  return static_cast<int>(syscall(__NR_io_uring_setup, entries, p));
}
int sys_enter(int fd, unsigned submit, unsigned min_complete, unsigned flags) {
  return static_cast<int>(syscall(__NR_io_uring_enter, fd, submit, min_complete, flags, nullptr, 0));
}
int sys_register(int fd, unsigned opcode, const void* arg, unsigned nr) {
  return static_cast<int>(syscall(__NR_io_uring_register, fd, opcode, arg, nr));
}

template <typename T>
T load_acquire(const T* p) {
  return reinterpret_cast<const std::atomic<T>*>(p)->load(std::memory_order_acquire);
}
template <typename T>
void store_release(T* p, T v) {
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
  bool active = false;
};

struct FileEntry {
  int fd = -1;
  uint32_t mem_align = 0;  // non-zero: O_DIRECT, buffers must be aligned to this
  bool used = false;
};

constexpr uint32_t kFileTable = 256;

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
  Napi::Value JsClose(const Napi::CallbackInfo& info);
  Napi::Value JsInfo(const Napi::CallbackInfo& info);

  Napi::Value PrepRw(const Napi::CallbackInfo& info, OpKind kind);
  io_uring_sqe* GetSqe();
  void QueueRw(uint32_t slot);
  int Submit();
  int Reap(bool poll);
  void Complete(uint32_t slot, int32_t res);
  void Notify();
  void UpdateRef();

  Napi::Env env_;
  int ring_fd_ = -1;
  int event_fd_ = -1;
  bool sqpoll_ = false;
  bool iopoll_ = false;
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
  uint8_t* pool_ = nullptr;
  size_t pool_len_ = 0;
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
};

void PollCb(uv_poll_t* handle, int status, int events) {
  (void)status;
  (void)events;
  static_cast<Ring*>(handle->data)->OnPoll();
}

Napi::Error ErrnoError(Napi::Env env, const char* what, int err) {
  Napi::Error e = Napi::Error::New(env, std::string(what) + ": " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  return e;
}

// new Ring({ entries, sqpoll, sqThreadIdle, sqThreadCpu, iopoll, completions: Int32Array, onComplete })
Ring::Ring(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Ring>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "Ring: expected an options object").ThrowAsJavaScriptException();
    return;
  }
  Napi::Object o = info[0].As<Napi::Object>();
  uint32_t entries = o.Get("entries").IsNumber() ? o.Get("entries").As<Napi::Number>().Uint32Value() : 256;
  sqpoll_ = o.Get("sqpoll").ToBoolean();
  iopoll_ = o.Get("iopoll").ToBoolean();
  Napi::Value cv = o.Get("completions");
  Napi::Value cb = o.Get("onComplete");
  if (!cv.IsTypedArray() || cv.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array || !cb.IsFunction()) {
    Napi::TypeError::New(env, "Ring: completions (Int32Array) and onComplete (function) are required")
        .ThrowAsJavaScriptException();
    return;
  }
  Napi::Int32Array compl_arr = cv.As<Napi::Int32Array>();
  uint32_t cap = static_cast<uint32_t>((compl_arr.ElementLength() - 4) / 2);
  if (compl_arr.ElementLength() < 6 || (cap & (cap - 1)) != 0) {
    Napi::RangeError::New(env, "Ring: completions must hold 4 + 2 * (power of two) entries").ThrowAsJavaScriptException();
    return;
  }
  compl_ref_ = Napi::Persistent(compl_arr);
  compl_ = compl_arr.Data();
  compl_mask_ = cap - 1;
  compl_[0] = 0;
  compl_[1] = 0;
  compl_[2] = static_cast<int32_t>(compl_mask_);
  on_complete_ = Napi::Persistent(cb.As<Napi::Function>());
  async_ctx_ = std::make_unique<Napi::AsyncContext>(env, "nvmetd:io_uring");
  ops_.resize(cap);

  io_uring_params p;
  memset(&p, 0, sizeof(p));
  p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
  p.cq_entries = entries * 2;
  if (sqpoll_) {
    p.flags |= IORING_SETUP_SQPOLL;
    p.sq_thread_idle = o.Get("sqThreadIdle").IsNumber() ? o.Get("sqThreadIdle").As<Napi::Number>().Uint32Value() : 1000;
    if (o.Get("sqThreadCpu").IsNumber()) {
      p.flags |= IORING_SETUP_SQ_AFF;
      p.sq_thread_cpu = o.Get("sqThreadCpu").As<Napi::Number>().Uint32Value();
    }
  }
  if (iopoll_) p.flags |= IORING_SETUP_IOPOLL;
  ring_fd_ = sys_setup(entries, &p);
  if (ring_fd_ < 0) {
    int err = errno;
    ring_fd_ = -1;
    ErrnoError(env, "io_uring_setup", err).ThrowAsJavaScriptException();
    return;
  }
  features_ = p.features;
  sq_map_len_ = p.sq_off.array + p.sq_entries * sizeof(uint32_t);
  cq_map_len_ = p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe);
  if (features_ & IORING_FEAT_SINGLE_MMAP) {
    if (cq_map_len_ > sq_map_len_) sq_map_len_ = cq_map_len_;
    cq_map_len_ = sq_map_len_;
  }
  sq_map_ = mmap(nullptr, sq_map_len_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring_fd_, IORING_OFF_SQ_RING);
  if (sq_map_ == MAP_FAILED) {
    int err = errno;
    sq_map_ = nullptr;
    Close();
    ErrnoError(env, "io_uring mmap (sq)", err).ThrowAsJavaScriptException();
    return;
  }
  if (features_ & IORING_FEAT_SINGLE_MMAP) {
    cq_map_ = sq_map_;
  } else {
    cq_map_ = mmap(nullptr, cq_map_len_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring_fd_, IORING_OFF_CQ_RING);
    if (cq_map_ == MAP_FAILED) {
      int err = errno;
      cq_map_ = nullptr;
      Close();
      ErrnoError(env, "io_uring mmap (cq)", err).ThrowAsJavaScriptException();
      return;
    }
  }
  sqes_len_ = p.sq_entries * sizeof(io_uring_sqe);
  void* sq = mmap(nullptr, sqes_len_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring_fd_, IORING_OFF_SQES);
  if (sq == MAP_FAILED) {
    int err = errno;
    Close();
    ErrnoError(env, "io_uring mmap (sqes)", err).ThrowAsJavaScriptException();
    return;
  }
  sqes_ = static_cast<io_uring_sqe*>(sq);
  uint8_t* s = static_cast<uint8_t*>(sq_map_);
  sq_khead_ = reinterpret_cast<uint32_t*>(s + p.sq_off.head);
  sq_ktail_ = reinterpret_cast<uint32_t*>(s + p.sq_off.tail);
  sq_kflags_ = reinterpret_cast<uint32_t*>(s + p.sq_off.flags);
  sq_array_ = reinterpret_cast<uint32_t*>(s + p.sq_off.array);
  sq_mask_ = *reinterpret_cast<uint32_t*>(s + p.sq_off.ring_mask);
  sq_entries_ = *reinterpret_cast<uint32_t*>(s + p.sq_off.ring_entries);
  sq_tail_ = sq_submitted_ = *sq_ktail_;
  uint8_t* c = static_cast<uint8_t*>(cq_map_);
  cq_khead_ = reinterpret_cast<uint32_t*>(c + p.cq_off.head);
  cq_ktail_ = reinterpret_cast<uint32_t*>(c + p.cq_off.tail);
  cq_mask_ = *reinterpret_cast<uint32_t*>(c + p.cq_off.ring_mask);
  cqes_ = reinterpret_cast<io_uring_cqe*>(c + p.cq_off.cqes);

  // A sparse table of registered files; entries are filled with FILES_UPDATE.
  int sparse[kFileTable];
  for (uint32_t i = 0; i < kFileTable; i++) sparse[i] = -1;
  files_registered_ = sys_register(ring_fd_, IORING_REGISTER_FILES, sparse, kFileTable) == 0;

  // Completion wake-up: an eventfd the kernel signals, polled by the loop (interrupt and SQPOLL modes).
  if (!iopoll_) {
    event_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (event_fd_ < 0 || sys_register(ring_fd_, IORING_REGISTER_EVENTFD, &event_fd_, 1) != 0) {
      int err = errno;
      Close();
      ErrnoError(env, "io_uring eventfd", err).ThrowAsJavaScriptException();
      return;
    }
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      Close();
      Napi::Error::New(env, "io_uring: no event loop").ThrowAsJavaScriptException();
      return;
    }
    poll_ = static_cast<uv_poll_t*>(malloc(sizeof(uv_poll_t)));
    uv_poll_init(loop, poll_, event_fd_);
    poll_->data = this;
    uv_poll_start(poll_, UV_READABLE, PollCb);
    uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
  }
  data_ = env.GetInstanceData<AddonData>();
  if (data_) data_->rings.insert(this);
}

void Ring::Close() {
  if (closed_) return;
  closed_ = true;
  if (data_) data_->rings.erase(this);
  data_ = nullptr;
  if (poll_) {
    uv_poll_stop(poll_);
    // The close callback may run after this addon is unloaded (a worker thread's loop closes its handles
    // after the env, and with it the addon, is gone), so it must not be addon code: the handle is malloc'd
    // and the callback is libc's free, which takes the handle pointer as its only argument.
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), reinterpret_cast<uv_close_cb>(reinterpret_cast<void (*)()>(&free)));
    poll_ = nullptr;
  }
  if (sqes_) munmap(sqes_, sqes_len_);
  if (cq_map_ && cq_map_ != sq_map_) munmap(cq_map_, cq_map_len_);
  if (sq_map_) munmap(sq_map_, sq_map_len_);
  sqes_ = nullptr;
  cq_map_ = sq_map_ = nullptr;
  if (ring_fd_ >= 0) close(ring_fd_);  // the kernel cancels and drains what is left
  if (event_fd_ >= 0) close(event_fd_);
  ring_fd_ = event_fd_ = -1;
  for (Op& op : ops_) {
    free(op.bounce);
    op.bounce = nullptr;
    op.bounce_cap = 0;
  }
  compl_ = nullptr;
  // pool_ belongs to the ArrayBuffer that JS holds; nothing to free here.
}

io_uring_sqe* Ring::GetSqe() {
  uint32_t head = load_acquire(sq_khead_);
  if (sq_tail_ - head >= sq_entries_) {
    // Full: hand what is queued to the kernel and, under SQPOLL, wait for the thread to take it.
    Submit();
    head = load_acquire(sq_khead_);
    while (sqpoll_ && sq_tail_ - head >= sq_entries_) {
      sys_enter(ring_fd_, 0, 0, IORING_ENTER_SQ_WAIT);
      head = load_acquire(sq_khead_);
    }
    if (sq_tail_ - head >= sq_entries_) return nullptr;
  }
  uint32_t idx = sq_tail_ & sq_mask_;
  io_uring_sqe* sqe = &sqes_[idx];
  memset(sqe, 0, sizeof(*sqe));
  sq_array_[idx] = idx;
  sq_tail_++;
  return sqe;
}

void Ring::QueueRw(uint32_t slot) {
  Op& op = ops_[slot];
  io_uring_sqe* sqe = GetSqe();
  if (!sqe) {
    Complete(slot, -EBUSY);
    return;
  }
  const FileEntry& f = files_[op.file];
  bool write = op.kind == kWrite;
  if (op.fixed_buf) {
    sqe->opcode = write ? IORING_OP_WRITE_FIXED : IORING_OP_READ_FIXED;
    sqe->buf_index = 0;
  } else {
    sqe->opcode = write ? IORING_OP_WRITE : IORING_OP_READ;
  }
  if (files_registered_) {
    sqe->fd = op.file;
    sqe->flags = IOSQE_FIXED_FILE;
  } else {
    sqe->fd = f.fd;
  }
  sqe->addr = reinterpret_cast<uint64_t>(op.io + op.done);
  sqe->len = op.len - op.done;
  sqe->off = op.off + op.done;
  sqe->rw_flags = static_cast<__kernel_rwf_t>(op.rw_flags);
  sqe->user_data = slot;
}

// read(slot, file, view, offset) / write(slot, file, view, offset, fua)
Napi::Value Ring::PrepRw(const Napi::CallbackInfo& info, OpKind kind) {
  Napi::Env env = info.Env();
  uint32_t slot = info[0].As<Napi::Number>().Uint32Value();
  uint32_t file = info[1].As<Napi::Number>().Uint32Value();
  if (closed_ || slot >= ops_.size() || file >= kFileTable || !files_[file].used || !info[2].IsTypedArray()) {
    Napi::RangeError::New(env, "ring: bad slot, file or buffer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // napi_get_typedarray_info gives the element pointer for views over ArrayBuffers and SharedArrayBuffers.
  void* data = nullptr;
  size_t count = 0;
  napi_typedarray_type type;
  if (napi_get_typedarray_info(env, info[2], &type, &count, &data, nullptr, nullptr) != napi_ok ||
      (type != napi_uint8_array && type != napi_int8_array && type != napi_uint8_clamped_array)) {
    Napi::TypeError::New(env, "ring: expected a Uint8Array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint8_t* ptr = static_cast<uint8_t*>(data);
  Op& op = ops_[slot];
  op.kind = kind;
  op.user = ptr;
  op.len = static_cast<uint32_t>(count);
  op.done = 0;
  op.off = static_cast<uint64_t>(info[3].As<Napi::Number>().Int64Value());
  op.file = static_cast<int32_t>(file);
  op.rw_flags = kind == kWrite && info.Length() > 4 && info[4].ToBoolean().Value() ? RWF_DSYNC : 0;
  op.active = true;
  uint32_t align = files_[file].mem_align;
  if (align > 1 && (reinterpret_cast<uintptr_t>(ptr) & (align - 1)) != 0) {
    // O_DIRECT with an unaligned buffer: go through this slot's aligned bounce buffer.
    if (op.bounce_cap < op.len) {
      free(op.bounce);
      op.bounce = nullptr;
      op.bounce_cap = 0;
      void* b = nullptr;
      uint32_t cap = (op.len + 4095) & ~4095u;
      if (posix_memalign(&b, 4096, cap) != 0) {
        op.active = false;
        Napi::Error::New(env, "ring: out of memory for a bounce buffer").ThrowAsJavaScriptException();
        return env.Undefined();
      }
      op.bounce = static_cast<uint8_t*>(b);
      op.bounce_cap = cap;
    }
    op.io = op.bounce;
    if (kind == kWrite) memcpy(op.io, ptr, op.len);
  } else {
    op.io = ptr;
  }
  op.fixed_buf = pool_ && op.io >= pool_ && op.io + op.len <= pool_ + pool_len_;
  inflight_++;
  QueueRw(slot);
  return env.Undefined();
}

// fsync(slot, file): fdatasync
Napi::Value Ring::JsFsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t slot = info[0].As<Napi::Number>().Uint32Value();
  uint32_t file = info[1].As<Napi::Number>().Uint32Value();
  if (closed_ || slot >= ops_.size() || file >= kFileTable || !files_[file].used) {
    Napi::RangeError::New(env, "ring: bad slot or file").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Op& op = ops_[slot];
  op.kind = kFsync;
  op.active = true;
  inflight_++;
  io_uring_sqe* sqe = GetSqe();
  if (!sqe) {
    Complete(slot, -EBUSY);
    return env.Undefined();
  }
  sqe->opcode = IORING_OP_FSYNC;
  if (files_registered_) {
    sqe->fd = static_cast<int32_t>(file);
    sqe->flags = IOSQE_FIXED_FILE;
  } else {
    sqe->fd = files_[file].fd;
  }
  sqe->fsync_flags = IORING_FSYNC_DATASYNC;
  sqe->user_data = slot;
  return env.Undefined();
}

// fallocate(slot, file, mode, offset, length)
Napi::Value Ring::JsFallocate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t slot = info[0].As<Napi::Number>().Uint32Value();
  uint32_t file = info[1].As<Napi::Number>().Uint32Value();
  if (closed_ || slot >= ops_.size() || file >= kFileTable || !files_[file].used) {
    Napi::RangeError::New(env, "ring: bad slot or file").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Op& op = ops_[slot];
  op.kind = kFallocate;
  op.active = true;
  inflight_++;
  io_uring_sqe* sqe = GetSqe();
  if (!sqe) {
    Complete(slot, -EBUSY);
    return env.Undefined();
  }
  sqe->opcode = IORING_OP_FALLOCATE;
  if (files_registered_) {
    sqe->fd = static_cast<int32_t>(file);
    sqe->flags = IOSQE_FIXED_FILE;
  } else {
    sqe->fd = files_[file].fd;
  }
  sqe->len = info[2].As<Napi::Number>().Uint32Value();                              // mode
  sqe->off = static_cast<uint64_t>(info[3].As<Napi::Number>().Int64Value());        // offset
  sqe->addr = static_cast<uint64_t>(info[4].As<Napi::Number>().Int64Value());       // length
  sqe->user_data = slot;
  return env.Undefined();
}

// Block-device discard / zero-out: io_uring has no portable op for these on every kernel, so they run as
// ioctls on the libuv thread pool and complete through the same completion ring.
class BlkWork : public Napi::AsyncWorker {
 public:
  BlkWork(Ring* ring, Napi::Env env, uint32_t slot, int fd, unsigned long req, uint64_t off, uint64_t len)
      : Napi::AsyncWorker(env), ring_(ring), slot_(slot), fd_(fd), req_(req) {
    range_[0] = off;
    range_[1] = len;
    ring_->Ref();
  }
  void Execute() override {
    res_ = ioctl(fd_, req_, range_) == 0 ? 0 : -errno;
  }
  void OnOK() override { Finish(); }
  void OnError(const Napi::Error&) override { Finish(); }

 private:
  void Finish() {
    ring_->blk_inflight_--;
    if (!ring_->closed_) {
      ring_->Complete(slot_, res_);
      ring_->Notify();
    }
    ring_->Unref();
  }
  Ring* ring_;
  uint32_t slot_;
  int fd_;
  unsigned long req_;
  uint64_t range_[2];
  int32_t res_ = 0;
};

// blkIoctl(slot, fd, which: 0 discard | 1 zeroout, offset, length)
Napi::Value Ring::JsBlkIoctl(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t slot = info[0].As<Napi::Number>().Uint32Value();
  int fd = info[1].As<Napi::Number>().Int32Value();
  if (closed_ || slot >= ops_.size()) {
    Napi::RangeError::New(env, "ring: bad slot").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  unsigned long req = info[2].As<Napi::Number>().Uint32Value() == 0 ? BLKDISCARD : BLKZEROOUT;
  Op& op = ops_[slot];
  op.kind = req == BLKDISCARD ? kBlkDiscard : kBlkZeroout;
  op.active = true;
  inflight_++;
  blk_inflight_++;
  auto* w = new BlkWork(this, env, slot, fd, req, static_cast<uint64_t>(info[3].As<Napi::Number>().Int64Value()),
                        static_cast<uint64_t>(info[4].As<Napi::Number>().Int64Value()));
  w->Queue();
  UpdateRef();
  return env.Undefined();
}

// Publishes the SQ tail and tells the kernel: one io_uring_enter, or none under SQPOLL while it is awake.
int Ring::Submit() {
  uint32_t n = sq_tail_ - sq_submitted_;
  if (n == 0 && !iopoll_) return 0;
  store_release(sq_ktail_, sq_tail_);
  sq_submitted_ = sq_tail_;
  if (sqpoll_) {
    if (load_acquire(sq_kflags_) & IORING_SQ_NEED_WAKEUP) sys_enter(ring_fd_, 0, 0, IORING_ENTER_SQ_WAKEUP);
    return static_cast<int>(n);
  }
  if (n == 0) return 0;
  for (;;) {
    int r = sys_enter(ring_fd_, n, 0, 0);
    if (r >= 0) return r;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EBUSY) {
      // Out of kernel resources or CQ pressure: reap and retry.
      Reap(false);
      continue;
    }
    return -errno;
  }
}

// Appends a final result for JS.
void Ring::Complete(uint32_t slot, int32_t res) {
  Op& op = ops_[slot];
  if (res >= 0 && op.kind == kRead && op.io != op.user) memcpy(op.user, op.io, op.len);
  op.active = false;
  op.user = op.io = nullptr;
  inflight_--;
  uint32_t tail = static_cast<uint32_t>(compl_[1]);
  uint32_t i = 4 + 2 * (tail & compl_mask_);
  compl_[i] = static_cast<int32_t>(slot);
  compl_[i + 1] = res;
  compl_[1] = static_cast<int32_t>(tail + 1);
}

// Moves every ready CQE out of the kernel ring; continues short transfers and EAGAIN in place.
int Ring::Reap(bool poll) {
  if (closed_) return 0;
  if (poll && iopoll_) {
    // IOPOLL: completions appear only when someone polls for them.
    if (sq_tail_ != sq_submitted_) Submit();
    sys_enter(ring_fd_, 0, 0, IORING_ENTER_GETEVENTS);
  }
  int finals = 0;
  bool requeued = false;
  for (;;) {
    uint32_t head = *cq_khead_;
    uint32_t tail = load_acquire(cq_ktail_);
    if (head == tail) break;
    while (head != tail) {
      // The JS ring holds at most `capacity` results, and at most `capacity` ops exist: never full.
      const io_uring_cqe& cqe = cqes_[head & cq_mask_];
      uint32_t slot = static_cast<uint32_t>(cqe.user_data);
      int32_t res = cqe.res;
      head++;
      if (slot >= ops_.size() || !ops_[slot].active) continue;
      Op& op = ops_[slot];
      if (op.kind == kRead || op.kind == kWrite) {
        if (res == -EAGAIN || res == -EINTR) {
          QueueRw(slot);
          requeued = true;
          continue;
        }
        if (res > 0) {
          op.done += static_cast<uint32_t>(res);
          if (op.done < op.len) {
            QueueRw(slot);
            requeued = true;
            continue;
          }
          res = static_cast<int32_t>(op.len);
        } else if (res == 0 && op.len > 0) {
          res = -EIO;  // end of file / device inside the namespace
        }
      }
      // fsync/fallocate results (EAGAIN included) go to JS as they are; the TS layer retries those.
      Complete(slot, res);
      finals++;
    }
    store_release(cq_khead_, head);
  }
  if (requeued) Submit();
  return finals;
}

void Ring::Notify() {
  if (compl_ == nullptr || compl_[0] == compl_[1] || in_callback_) {
    UpdateRef();
    return;
  }
  Napi::HandleScope scope(env_);
  in_callback_ = true;
  on_complete_.MakeCallback(Value(), {}, *async_ctx_);
  in_callback_ = false;
  UpdateRef();
}

// The loop keeps running while operations are in flight, and not because of an idle ring.
void Ring::UpdateRef() {
  if (!poll_) return;
  bool want = inflight_ > 0;
  if (want == polling_ref_) return;
  polling_ref_ = want;
  if (want) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
  else uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
}

void Ring::OnPoll() {
  if (closed_) return;
  uint64_t v;
  // One read resets the eventfd counter (it is not a semaphore eventfd).
  if (read(event_fd_, &v, sizeof(v)) < 0) {
  }
  Reap(false);
  Notify();
}

// submit(): publishes queued SQEs, then collects what already completed (page-cache hits complete inline).
// Returns the number of final results now waiting in the completion ring, or -errno.
// submit(spinUs = 0): with spinUs > 0 and nothing completed yet, watches the CQ (no system calls) for up to
// spinUs microseconds before returning: trades CPU for latency, like a poll-mode driver.
Napi::Value Ring::JsSubmit(const Napi::CallbackInfo& info) {
  if (closed_) return Napi::Number::New(info.Env(), -EBADF);
  int r = Submit();
  if (r < 0) return Napi::Number::New(info.Env(), r);
  uint32_t spin_us = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Uint32Value() : 0;
  if (spin_us > 0 && inflight_ > blk_inflight_ && !iopoll_ && load_acquire(cq_ktail_) == *cq_khead_) {
    timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const int64_t limit = static_cast<int64_t>(spin_us) * 1000;
    for (uint32_t i = 0;; i++) {
      if (load_acquire(cq_ktail_) != *cq_khead_) break;
      if ((i & 63) == 63) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000000000LL + (t.tv_nsec - t0.tv_nsec) > limit) break;
      }
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#elif defined(__aarch64__)
      asm volatile("yield");
#endif
    }
  }
  Reap(false);
  UpdateRef();
  return Napi::Number::New(info.Env(), static_cast<uint32_t>(compl_[1] - compl_[0]));
}

// reap(poll): collects completions (polling the device first in IOPOLL mode); returns results waiting.
Napi::Value Ring::JsReap(const Napi::CallbackInfo& info) {
  if (closed_) return Napi::Number::New(info.Env(), 0);
  Reap(info.Length() > 0 && info[0].ToBoolean().Value());
  UpdateRef();
  return Napi::Number::New(info.Env(), static_cast<uint32_t>(compl_[1] - compl_[0]));
}

// registerFile(fd, memAlign): returns the file index.
Napi::Value Ring::JsRegisterFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  uint32_t align = info.Length() > 1 ? info[1].As<Napi::Number>().Uint32Value() : 0;
  for (uint32_t i = 0; i < kFileTable; i++) {
    if (files_[i].used) continue;
    if (files_registered_) {
      io_uring_files_update up;
      memset(&up, 0, sizeof(up));
      up.offset = i;
      up.fds = reinterpret_cast<uint64_t>(&fd);
      int r = sys_register(ring_fd_, IORING_REGISTER_FILES_UPDATE, &up, 1);
      if (r < 0) {
        ErrnoError(env, "io_uring register file", errno).ThrowAsJavaScriptException();
        return env.Undefined();
      }
    }
    files_[i].fd = fd;
    files_[i].mem_align = align;
    files_[i].used = true;
    return Napi::Number::New(env, i);
  }
  Napi::Error::New(env, "io_uring: file table full").ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value Ring::JsUnregisterFile(const Napi::CallbackInfo& info) {
  uint32_t i = info[0].As<Napi::Number>().Uint32Value();
  if (i < kFileTable && files_[i].used && !closed_) {
    if (files_registered_) {
      int fd = -1;
      io_uring_files_update up;
      memset(&up, 0, sizeof(up));
      up.offset = i;
      up.fds = reinterpret_cast<uint64_t>(&fd);
      sys_register(ring_fd_, IORING_REGISTER_FILES_UPDATE, &up, 1);
    }
    files_[i] = FileEntry();
  }
  return info.Env().Undefined();
}

// registerBuffers(pool: ArrayBuffer): I/O into or out of the pool uses READ_FIXED/WRITE_FIXED.
Napi::Value Ring::JsRegisterBuffers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArrayBuffer()) {
    Napi::TypeError::New(env, "registerBuffers: expected an ArrayBuffer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
  iovec iov{ab.Data(), ab.ByteLength()};
  int r = sys_register(ring_fd_, IORING_REGISTER_BUFFERS, &iov, 1);
  if (r < 0) return Napi::Number::New(env, -errno);
  pool_ = static_cast<uint8_t*>(ab.Data());
  pool_len_ = ab.ByteLength();
  return Napi::Number::New(env, 0);
}

Napi::Value Ring::JsClose(const Napi::CallbackInfo& info) {
  Close();
  return info.Env().Undefined();
}

Napi::Value Ring::JsInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("sqEntries", sq_entries_);
  o.Set("features", features_);
  o.Set("sqpoll", sqpoll_);
  o.Set("iopoll", iopoll_);
  o.Set("registeredFiles", files_registered_);
  o.Set("fixedBuffers", pool_ != nullptr);
  o.Set("inflight", inflight_);
  return o;
}

Napi::Function Ring::Define(Napi::Env env) {
  return DefineClass(env, "Ring",
                     {
                         InstanceMethod<&Ring::JsRead>("read"),
                         InstanceMethod<&Ring::JsWrite>("write"),
                         InstanceMethod<&Ring::JsFsync>("fsync"),
                         InstanceMethod<&Ring::JsFallocate>("fallocate"),
                         InstanceMethod<&Ring::JsBlkIoctl>("blkIoctl"),
                         InstanceMethod<&Ring::JsSubmit>("submit"),
                         InstanceMethod<&Ring::JsReap>("reap"),
                         InstanceMethod<&Ring::JsRegisterFile>("registerFile"),
                         InstanceMethod<&Ring::JsUnregisterFile>("unregisterFile"),
                         InstanceMethod<&Ring::JsRegisterBuffers>("registerBuffers"),
                         InstanceMethod<&Ring::JsClose>("close"),
                         InstanceMethod<&Ring::JsInfo>("info"),
                     });
}

// uringProbe(): 0 when io_uring_setup works here, else -errno (ENOSYS, EPERM under seccomp or
// io_uring_disabled, ...).
Napi::Value UringProbe(const Napi::CallbackInfo& info) {
  io_uring_params p;
  memset(&p, 0, sizeof(p));
  int fd = sys_setup(2, &p);
  if (fd < 0) return Napi::Number::New(info.Env(), -errno);
  // Is FALLOCATE known to this kernel? (5.6+). Report the opcode table size with the probe.
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

// fileFallocate(fd, mode, offset, length): synchronous fallocate(2), 0 or -errno (used by tests/probes).
Napi::Value FileFallocate(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  int mode = info[1].As<Napi::Number>().Int32Value();
  off_t off = static_cast<off_t>(info[2].As<Napi::Number>().Int64Value());
  off_t len = static_cast<off_t>(info[3].As<Napi::Number>().Int64Value());
  int r = fallocate(fd, mode, off, len);
  return Napi::Number::New(info.Env(), r == 0 ? 0 : -errno);
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

// openDirect(path, flags): open(2) with caller flags (O_DIRECT has no Node constant on every platform).
Napi::Value OpenFlags(const Napi::CallbackInfo& info) {
  std::string p = info[0].As<Napi::String>().Utf8Value();
  int flags = info[1].As<Napi::Number>().Int32Value();
  int fd = open(p.c_str(), flags | O_CLOEXEC);
  return Napi::Number::New(info.Env(), fd >= 0 ? fd : -errno);
}

// Env teardown (a worker thread exiting): close every ring this thread still has.
void FreeAddonData(Napi::Env, AddonData* d) {
  std::set<Ring*> rings = d->rings;
  for (Ring* r : rings) r->Close();
  delete d;
}

}  // namespace

void InitUring(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData<AddonData, FreeAddonData>(new AddonData());
  exports.Set("Ring", Ring::Define(env));
  exports.Set("uringProbe", Napi::Function::New(env, UringProbe));
  exports.Set("blockDeviceSize", Napi::Function::New(env, BlockDeviceSize));
  exports.Set("blockLogicalSize", Napi::Function::New(env, BlockLogicalSize));
  exports.Set("dioAlign", Napi::Function::New(env, DioAlign));
  exports.Set("fileFallocate", Napi::Function::New(env, FileFallocate));
  exports.Set("allocAligned", Napi::Function::New(env, AllocAligned));
  exports.Set("openFlags", Napi::Function::New(env, OpenFlags));
  exports.Set("O_DIRECT", Napi::Number::New(env, O_DIRECT));
}

}  // namespace nvmetd
