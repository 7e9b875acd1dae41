// The data path of the io_uring Ring (see uring_ring.h): SQEs are prepared in place in the mapped SQ,
// published once per submit(), and CQEs are reaped in batches; short transfers and EAGAIN are continued
// here, so JavaScript sees one final result per operation.
#include <errno.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <time.h>

#include "uring_ring.h"

namespace nvmetd {
namespace uring {

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
    sqe->buf_index = op.buf_index;
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
    bounce_ops_++;
  } else {
    op.io = ptr;
  }
  op.fixed_buf = FindFixed(op.io, op.len, &op.buf_index);
  if (op.fixed_buf) fixed_ops_++;
  else if (op.io == ptr) plain_ops_++;
  inflight_++;
  QueueRw(slot);
  return env.Undefined();
}

// Starts a file operation without data (fsync, fallocate) on `slot`: checks the slot and file,
// takes an SQE and fills opcode, descriptor and user_data. Returns null when the operation already
// ended (a JS exception for bad arguments, or -EBUSY delivered as its completion).
io_uring_sqe* Ring::BeginFileOp(const Napi::CallbackInfo& info, OpKind kind, uint8_t opcode) {
  Napi::Env env = info.Env();
  uint32_t slot = info[0].As<Napi::Number>().Uint32Value();
  uint32_t file = info[1].As<Napi::Number>().Uint32Value();
  if (closed_ || slot >= ops_.size() || file >= kFileTable || !files_[file].used) {
    Napi::RangeError::New(env, "ring: bad slot or file").ThrowAsJavaScriptException();
    return nullptr;
  }
  Op& op = ops_[slot];
  op.kind = kind;
  op.active = true;
  inflight_++;
  io_uring_sqe* sqe = GetSqe();
  if (!sqe) {
    Complete(slot, -EBUSY);
    return nullptr;
  }
  sqe->opcode = opcode;
  if (files_registered_) {
    sqe->fd = static_cast<int32_t>(file);
    sqe->flags = IOSQE_FIXED_FILE;
  } else {
    sqe->fd = files_[file].fd;
  }
  sqe->user_data = slot;
  return sqe;
}

// fsync(slot, file): fdatasync
Napi::Value Ring::JsFsync(const Napi::CallbackInfo& info) {
  io_uring_sqe* sqe = BeginFileOp(info, kFsync, IORING_OP_FSYNC);
  if (sqe) sqe->fsync_flags = IORING_FSYNC_DATASYNC;
  return info.Env().Undefined();
}

// fallocate(slot, file, mode, offset, length)
Napi::Value Ring::JsFallocate(const Napi::CallbackInfo& info) {
  io_uring_sqe* sqe = BeginFileOp(info, kFallocate, IORING_OP_FALLOCATE);
  if (!sqe) return info.Env().Undefined();
  sqe->len = info[2].As<Napi::Number>().Uint32Value();                              // mode
  sqe->off = static_cast<uint64_t>(info[3].As<Napi::Number>().Int64Value());        // offset
  sqe->addr = static_cast<uint64_t>(info[4].As<Napi::Number>().Int64Value());       // length
  return info.Env().Undefined();
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
  if (sq_tail_ != sq_submitted_) {
    store_release(sq_ktail_, sq_tail_);
    sq_submitted_ = sq_tail_;
  }
  if (sqpoll_) {
    if (load_acquire(sq_kflags_) & IORING_SQ_NEED_WAKEUP) sys_enter(ring_fd_, 0, 0, IORING_ENTER_SQ_WAKEUP);
    return 0;
  }
  // Everything published and not yet consumed, including what a partial submit left behind.
  uint32_t pending = sq_tail_ - load_acquire(sq_khead_);
  for (int attempt = 0; pending > 0; attempt++) {
    // With deferred task work, GETEVENTS (min_complete 0) also posts what finished meanwhile.
    int r = sys_enter(ring_fd_, pending, 0, defer_ ? IORING_ENTER_GETEVENTS : 0);
    if (r >= 0) return r;
    if (errno == EINTR) continue;
    if ((errno == EAGAIN || errno == EBUSY) && attempt < 100) {
      // Short of kernel resources or CQ space: make room, then try again.
      Reap(false, true);
      sched_yield();
      pending = sq_tail_ - load_acquire(sq_khead_);
      continue;
    }
    return -errno;
  }
  return 0;
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
int Ring::Reap(bool poll, bool run_tw) {
  if (closed_) return 0;
  if (defer_ && run_tw && !poll) sys_enter(ring_fd_, 0, 0, IORING_ENTER_GETEVENTS);
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
  Reap(info.Length() > 0 && info[0].ToBoolean().Value(), true);
  UpdateRef();
  return Napi::Number::New(info.Env(), static_cast<uint32_t>(compl_[1] - compl_[0]));
}
}  // namespace uring
}  // namespace nvmetd
