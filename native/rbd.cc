// RBD images through librbd, loaded with dlopen the first time an rbd namespace opens (so the addon
// builds and loads on machines without Ceph; see rbd.h).
//
// One image handle per (ceph.conf, user, pool, image) in the process, shared by every thread that serves
// the namespace: one RADOS client, so librbd's exclusive lock does not bounce between our own threads.
// Each thread talks to it through an RbdChannel:
//   JS channel.read(tag, view, offset) -> rbd_aio_read with the channel's preallocated op for `tag`
//   librbd completes (its own thread) -> OnAioDone: result into the channel's done list; the eventfd is
//                                       written only when the list was empty (one wake-up per batch)
//   the channel's uv_poll (owner loop) -> every (tag, result) into the JS completion ring
//                                       [head, tail, mask, _, (tag, res) * capacity]; one JS call per batch
// Image header changes (a resize by `rbd resize` or another gateway) reach each channel's onUpdate
// through a uv_async_t.
#include "rbd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <uv.h>

#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "rbd_api.h"
#include "rbd_image.h"

namespace nvmetd {
namespace {

using rbd::api;
using rbd::Errno;
using rbd::Find;
using rbd::SharedImage;
using rbd::Str;
using rbd::rbd_completion_t;

class Channel;

// --- per-thread channels -----------------------------------------------------------------------------------
enum OpKind : uint8_t { kRead, kWrite, kFlush, kDiscard, kZeroes };

struct Op {
  Channel* ch = nullptr;
  uint32_t tag = 0;
  bool active = false;
};

class Channel : public Napi::ObjectWrap<Channel>, public rbd::ImageListener {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "RbdChannel",
                       {InstanceMethod("read", &Channel::JsRead), InstanceMethod("write", &Channel::JsWrite),
                        InstanceMethod("flush", &Channel::JsFlush), InstanceMethod("discard", &Channel::JsDiscard),
                        InstanceMethod("writeZeroes", &Channel::JsWriteZeroes), InstanceMethod("size", &Channel::JsSize),
                        InstanceMethod("inflight", &Channel::JsInflight), InstanceMethod("close", &Channel::JsClose)});
  }

  // new RbdChannel({ key, completions: Int32Array, onComplete, onUpdate? })
  explicit Channel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Channel>(info), env_(info.Env()) {
    Napi::Env env = info.Env();
    Napi::Object o = info[0].As<Napi::Object>();
    key_ = Str(o, "key");
    shared_ = Find(key_);
    Napi::Value cv = o.Get("completions");
    Napi::Value cb = o.Get("onComplete");
    if (!shared_ || !cv.IsTypedArray() || cv.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array || !cb.IsFunction()) {
      Napi::TypeError::New(env, "RbdChannel: an open image key, completions (Int32Array) and onComplete are required")
          .ThrowAsJavaScriptException();
      return;
    }
    Napi::Int32Array arr = cv.As<Napi::Int32Array>();
    uint32_t cap = (arr.ElementLength() - 4) / 2;
    if (arr.ElementLength() < 6 || (cap & (cap - 1)) != 0) {
      Napi::RangeError::New(env, "RbdChannel: completions must hold 4 + 2 * (power of two) entries").ThrowAsJavaScriptException();
      return;
    }
    compl_ref_ = Napi::Persistent(arr);
    compl_ = arr.Data();
    mask_ = cap - 1;
    compl_[0] = compl_[1] = 0;
    compl_[2] = static_cast<int32_t>(mask_);
    ops_.resize(cap);
    done_.reserve(cap);
    swap_.reserve(cap);
    on_complete_ = Napi::Persistent(cb.As<Napi::Function>());
    if (o.Get("onUpdate").IsFunction()) on_update_ = Napi::Persistent(o.Get("onUpdate").As<Napi::Function>());
    async_ctx_ = std::make_unique<Napi::AsyncContext>(env, "nvmetd:rbd");
    event_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    uv_loop_t* loop = nullptr;
    if (event_fd_ < 0 || napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      Napi::Error::New(env, "RbdChannel: no eventfd / event loop").ThrowAsJavaScriptException();
      return;
    }
    poll_ = static_cast<uv_poll_t*>(malloc(sizeof(uv_poll_t)));
    uv_poll_init(loop, poll_, event_fd_);
    poll_->data = this;
    uv_poll_start(poll_, UV_READABLE, [](uv_poll_t* h, int, int) { static_cast<Channel*>(h->data)->OnPoll(); });
    uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
    update_ = static_cast<uv_async_t*>(malloc(sizeof(uv_async_t)));
    uv_async_init(loop, update_, [](uv_async_t* h) { static_cast<Channel*>(h->data)->OnUpdate(); });
    update_->data = this;
    uv_unref(reinterpret_cast<uv_handle_t*>(update_));
    {
      std::lock_guard<std::mutex> lk(shared_->mu);
      shared_->listeners.insert(this);
    }
    env.AddCleanupHook([this]() { Close(); });
  }

  ~Channel() override { Close(); }

  // librbd's thread: a header change (resize).
  void NotifyUpdate() override {
    if (update_) uv_async_send(update_);
  }

  // librbd's thread: one operation finished.
  static void OnAioDone(rbd_completion_t c, void* arg) {
    Op* op = static_cast<Op*>(arg);
    int32_t res = static_cast<int32_t>(api.rbd_aio_get_return_value(c));
    api.rbd_aio_release(c);
    op->ch->Push(op->tag, res);
  }

 private:
  void Push(uint32_t tag, int32_t res) {
    bool wake;
    {
      std::lock_guard<std::mutex> lk(mu_);
      wake = done_.empty();
      done_.emplace_back(tag, res);
    }
    if (wake) {
      uint64_t one = 1;
      ssize_t w = write(event_fd_, &one, sizeof(one));
      (void)w;
    }
  }

  void OnPoll() {
    if (closed_) return;
    uint64_t v;
    ssize_t r = read(event_fd_, &v, sizeof(v));
    (void)r;
    {
      std::lock_guard<std::mutex> lk(mu_);
      swap_.swap(done_);
    }
    for (const auto& d : swap_) {
      Op& op = ops_[d.first];
      op.active = false;
      inflight_--;
      uint32_t tail = static_cast<uint32_t>(compl_[1]);
      uint32_t i = 4 + 2 * (tail & mask_);
      compl_[i] = static_cast<int32_t>(d.first);
      compl_[i + 1] = d.second;
      compl_[1] = static_cast<int32_t>(tail + 1);
    }
    swap_.clear();
    if (compl_[0] != compl_[1]) {
      Napi::HandleScope scope(env_);
      on_complete_.MakeCallback(Value(), {}, *async_ctx_);
    }
    UpdateRef();
  }

  void OnUpdate() {
    if (closed_ || on_update_.IsEmpty()) return;
    Napi::HandleScope scope(env_);
    on_update_.MakeCallback(Value(), {}, *async_ctx_);
  }

  void UpdateRef() {
    if (!poll_) return;
    bool want = inflight_ > 0;
    if (want == ref_) return;
    ref_ = want;
    if (want) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
    else uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
  }

  // Takes the op for a tag; a negative errno when it cannot be used.
  int Begin(const Napi::CallbackInfo& info, uint32_t& tag) {
    if (closed_) return -EBADF;
    tag = info[0].As<Napi::Number>().Uint32Value();
    if (tag > mask_ || ops_[tag].active) return -EBUSY;
    Op& op = ops_[tag];
    op.ch = this;
    op.tag = tag;
    op.active = true;
    inflight_++;
    UpdateRef();
    return 0;
  }

  // After an aio call: a synchronous refusal completes the op through the same path as librbd would.
  void Submitted(uint32_t tag, int r, rbd_completion_t c) {
    if (r < 0) {
      api.rbd_aio_release(c);
      Push(tag, r);
    }
  }

  bool View(const Napi::Value& v, char*& data, size_t& len) {
    napi_typedarray_type type;
    void* p = nullptr;
    size_t n = 0;
    if (napi_get_typedarray_info(env_, v, &type, &n, &p, nullptr, nullptr) != napi_ok || p == nullptr) return false;
    data = static_cast<char*>(p);
    len = n;
    return true;
  }

  Napi::Value Fail(const Napi::CallbackInfo& info, int err) {
    Napi::Error e = Napi::Error::New(info.Env(), std::string("rbd: ") + Errno(err));
    e.Set("errno", Napi::Number::New(info.Env(), err));
    e.ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }

  Napi::Value Throw(const Napi::CallbackInfo& info, const char* msg) {
    Napi::TypeError::New(info.Env(), msg).ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }

  rbd_completion_t NewCompletion(uint32_t tag) {
    rbd_completion_t c = nullptr;
    api.rbd_aio_create_completion(&ops_[tag], &Channel::OnAioDone, &c);
    return c;
  }

  // Every operation: takes the tag's op, makes a completion, calls `submit` (an rbd_aio_* call); a
  // synchronous refusal completes through the same path as librbd's completions.
  template <typename Submit>
  Napi::Value Run(const Napi::CallbackInfo& info, Submit submit) {
    uint32_t tag;
    int e = Begin(info, tag);
    if (e < 0) return Fail(info, e);
    rbd_completion_t c = NewCompletion(tag);
    Submitted(tag, submit(c), c);
    return info.Env().Undefined();
  }

  uint64_t U64(const Napi::CallbackInfo& info, size_t i) { return static_cast<uint64_t>(info[i].As<Napi::Number>().Int64Value()); }

  // read(tag, view, offset)
  Napi::Value JsRead(const Napi::CallbackInfo& info) {
    char* data;
    size_t len;
    if (!View(info[1], data, len)) return Throw(info, "rbd read: expected a byte view");
    uint64_t off = U64(info, 2);
    return Run(info, [&](rbd_completion_t c) { return api.rbd_aio_read(shared_->image, off, len, data, c); });
  }

  // write(tag, view, offset)
  Napi::Value JsWrite(const Napi::CallbackInfo& info) {
    char* data;
    size_t len;
    if (!View(info[1], data, len)) return Throw(info, "rbd write: expected a byte view");
    uint64_t off = U64(info, 2);
    return Run(info, [&](rbd_completion_t c) { return api.rbd_aio_write(shared_->image, off, len, data, c); });
  }

  // flush(tag)
  Napi::Value JsFlush(const Napi::CallbackInfo& info) {
    return Run(info, [&](rbd_completion_t c) { return api.rbd_aio_flush(shared_->image, c); });
  }

  // discard(tag, offset, length)
  Napi::Value JsDiscard(const Napi::CallbackInfo& info) {
    uint64_t off = U64(info, 1), len = U64(info, 2);
    return Run(info, [&](rbd_completion_t c) { return api.rbd_aio_discard(shared_->image, off, len, c); });
  }

  // writeZeroes(tag, offset, length)
  Napi::Value JsWriteZeroes(const Napi::CallbackInfo& info) {
    uint64_t off = U64(info, 1), len = U64(info, 2);
    return Run(info, [&](rbd_completion_t c) { return api.rbd_aio_write_zeroes(shared_->image, off, len, c, 0, 0); });
  }

  // size(): bytes (from librbd's cached header), or -errno
  Napi::Value JsSize(const Napi::CallbackInfo& info) {
    if (closed_) return Napi::Number::New(info.Env(), -EBADF);
    uint64_t size = 0;
    int r = api.rbd_get_size(shared_->image, &size);
    return Napi::Number::New(info.Env(), r < 0 ? static_cast<double>(r) : static_cast<double>(size));
  }

  Napi::Value JsInflight(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), inflight_); }

  // close(): detaches from the shared image (the caller waits for inflight() == 0 first, and then
  // calls rbdRelease(key) to drop its reference).
  Napi::Value JsClose(const Napi::CallbackInfo& info) {
    if (inflight_ > 0) return Fail(info, -EBUSY);
    Close();
    return info.Env().Undefined();
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    if (shared_) {
      std::lock_guard<std::mutex> lk(shared_->mu);
      shared_->listeners.erase(this);
    }
    // The handles are malloc'd and their close callback is libc's free: it may run after the addon is
    // unloaded (a worker's loop closes its handles after its env is gone).
    if (poll_) {
      uv_poll_stop(poll_);
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), reinterpret_cast<uv_close_cb>(reinterpret_cast<void (*)()>(&free)));
      poll_ = nullptr;
    }
    if (update_) {
      uv_close(reinterpret_cast<uv_handle_t*>(update_), reinterpret_cast<uv_close_cb>(reinterpret_cast<void (*)()>(&free)));
      update_ = nullptr;
    }
    if (event_fd_ >= 0 && inflight_ == 0) {
      close(event_fd_);
      event_fd_ = -1;
    }
    compl_ = nullptr;
  }

  Napi::Env env_;
  std::string key_;
  SharedImage* shared_ = nullptr;
  Napi::Reference<Napi::Int32Array> compl_ref_;
  int32_t* compl_ = nullptr;
  uint32_t mask_ = 0;
  std::vector<Op> ops_;
  std::mutex mu_;
  std::vector<std::pair<uint32_t, int32_t>> done_, swap_;
  Napi::FunctionReference on_complete_, on_update_;
  std::unique_ptr<Napi::AsyncContext> async_ctx_;
  int event_fd_ = -1;
  uv_poll_t* poll_ = nullptr;
  uv_async_t* update_ = nullptr;
  uint32_t inflight_ = 0;
  bool ref_ = false;
  bool closed_ = false;
};

}  // namespace

void InitRbd(Napi::Env env, Napi::Object exports) {
  exports.Set("RbdChannel", Channel::Define(env));
  rbd::InitImages(env, exports);
}

}  // namespace nvmetd
