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
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include <algorithm>

#include "uring_ring.h"

namespace nvmetd {
namespace uring {

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
  // Deferred task work: completions are posted when this thread asks (GETEVENTS), not by interrupting it;
  // the eventfd still says when there is something to collect. Needs a single submitting thread (ours)
  // and kernel 6.1+; refused with EINVAL before that, and then the ring is set up without it.
  defer_ = !sqpoll_ && o.Get("deferTaskrun").ToBoolean().Value();
  if (defer_) p.flags |= IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  ring_fd_ = sys_setup(entries, &p);
  if (ring_fd_ < 0 && defer_ && errno == EINVAL) {
    defer_ = false;
    uint32_t flags = p.flags & ~(IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
    uint32_t cq = p.cq_entries, cpu = p.sq_thread_cpu, idle = p.sq_thread_idle;
    memset(&p, 0, sizeof(p));
    p.flags = flags;
    p.cq_entries = cq;
    p.sq_thread_cpu = cpu;
    p.sq_thread_idle = idle;
    ring_fd_ = sys_setup(entries, &p);
  }
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
  // The buffer table too, now: registering it later could wait for I/O in flight on older kernels
  // (REGISTER_BUFFERS quiesces the ring there; BUFFERS_UPDATE does not).
  SetupBufTable();

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
  ranges_.clear();  // the memory belongs to ArrayBuffers that JS holds; closing the ring unpinned it
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
  Reap(false, true);
  Notify();
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

// The buffer table. Set up on first use as a sparse table of kBufTable empty entries (an empty iovec is
// an empty slot since kernel 5.13); entries are filled and emptied one at a time with BUFFERS_UPDATE, so
// a pool that grows and shrinks registers and unregisters its slabs as it goes. The kernel keeps an
// emptied entry's pages pinned until the requests that use it have finished.
void Ring::SetupBufTable() {
  std::vector<iovec> empty(kBufTable, iovec{nullptr, 0});
  if (sys_register(ring_fd_, IORING_REGISTER_BUFFERS, empty.data(), kBufTable) == 0) {
    buf_table_ = 1;
    buf_free_.reserve(kBufTable);
    for (uint32_t i = kBufTable; i > 0; i--) buf_free_.push_back(i - 1);
  } else {
    buf_table_ = -1;
  }
}

int Ring::RegisterRange(uint8_t* base, size_t len) {
  if (closed_) return -EBADF;
  if (len == 0 || len > (1u << 30)) return -EINVAL;  // the kernel's limit for one registered buffer
  if (buf_table_ == 0) SetupBufTable();
  iovec iov{base, len};
  uint32_t index = 0;
  if (buf_table_ < 0) {
    // Older kernel: one range, registered as the whole table.
    if (!ranges_.empty()) return -ENOSPC;
    if (sys_register(ring_fd_, IORING_REGISTER_BUFFERS, &iov, 1) != 0) return -errno;
  } else {
    if (buf_free_.empty()) return -ENOSPC;
    index = buf_free_.back();
    io_uring_rsrc_update2 up;
    memset(&up, 0, sizeof(up));
    up.offset = index;
    up.data = reinterpret_cast<uint64_t>(&iov);
    up.nr = 1;
    int r = sys_register(ring_fd_, IORING_REGISTER_BUFFERS_UPDATE, &up, sizeof(up));
    if (r < 0) return -errno;
    buf_free_.pop_back();
  }
  BufRange range{base, len, index};
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), base, [](const uint8_t* b, const BufRange& r) { return b < r.base; });
  ranges_.insert(it, range);
  return static_cast<int>(index);
}

bool Ring::FindFixed(const uint8_t* p, uint32_t len, uint16_t* index) const {
  if (ranges_.empty()) return false;
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), p, [](const uint8_t* b, const BufRange& r) { return b < r.base; });
  if (it == ranges_.begin()) return false;
  --it;
  if (p + len > it->base + it->len) return false;
  *index = static_cast<uint16_t>(it->index);
  return true;
}

// registerBuffers(pool: ArrayBuffer): 0, or -errno. I/O into or out of the pool uses READ_FIXED/WRITE_FIXED.
Napi::Value Ring::JsRegisterBuffers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArrayBuffer()) {
    Napi::TypeError::New(env, "registerBuffers: expected an ArrayBuffer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
  int r = RegisterRange(static_cast<uint8_t*>(ab.Data()), ab.ByteLength());
  return Napi::Number::New(env, r < 0 ? r : 0);
}

// registerSlab(slab: ArrayBuffer): the buffer-table index (>= 0), or -errno (ENOSPC: table full,
// ENOMEM: over RLIMIT_MEMLOCK, EOPNOTSUPP-like codes from old kernels). The caller keeps the
// ArrayBuffer alive until unregisterSlab.
Napi::Value Ring::JsRegisterSlab(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArrayBuffer()) {
    Napi::TypeError::New(env, "registerSlab: expected an ArrayBuffer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
  return Napi::Number::New(env, RegisterRange(static_cast<uint8_t*>(ab.Data()), ab.ByteLength()));
}

// unregisterSlab(index): empties the table entry (its pages are unpinned once no request uses them).
Napi::Value Ring::JsUnregisterSlab(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t index = info[0].As<Napi::Number>().Uint32Value();
  for (auto it = ranges_.begin(); it != ranges_.end(); ++it) {
    if (it->index != index) continue;
    ranges_.erase(it);
    if (closed_) break;
    if (buf_table_ > 0) {
      iovec iov{nullptr, 0};
      io_uring_rsrc_update2 up;
      memset(&up, 0, sizeof(up));
      up.offset = index;
      up.data = reinterpret_cast<uint64_t>(&iov);
      up.nr = 1;
      if (sys_register(ring_fd_, IORING_REGISTER_BUFFERS_UPDATE, &up, sizeof(up)) >= 0) buf_free_.push_back(index);
    } else {
      sys_register(ring_fd_, IORING_UNREGISTER_BUFFERS, nullptr, 0);
    }
    break;
  }
  return env.Undefined();
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
  o.Set("deferTaskrun", defer_);
  o.Set("registeredFiles", files_registered_);
  o.Set("fixedBuffers", !ranges_.empty());
  o.Set("registeredBuffers", static_cast<uint32_t>(ranges_.size()));
  o.Set("fixedOps", static_cast<double>(fixed_ops_));
  o.Set("bounceOps", static_cast<double>(bounce_ops_));
  o.Set("plainOps", static_cast<double>(plain_ops_));
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
                         InstanceMethod<&Ring::JsRegisterSlab>("registerSlab"),
                         InstanceMethod<&Ring::JsUnregisterSlab>("unregisterSlab"),
                         InstanceMethod<&Ring::JsClose>("close"),
                         InstanceMethod<&Ring::JsInfo>("info"),
                     });
}

// Env teardown (a worker thread exiting): close every ring this thread still has.
void FreeAddonData(Napi::Env, AddonData* d) {
  std::set<Ring*> rings = d->rings;
  for (Ring* r : rings) r->Close();
  delete d;
}

}  // namespace uring

using uring::AddonData;
using uring::FreeAddonData;
using uring::Ring;

void InitUring(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData<AddonData, FreeAddonData>(new AddonData());
  exports.Set("Ring", Ring::Define(env));
  InitUringHelpers(env, exports);
}

}  // namespace nvmetd
