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

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <uv.h>

#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace nvmetd {
namespace {

// --- the librados / librbd C API, resolved at run time ---------------------------------------------------
typedef void* rados_t;
typedef void* rados_ioctx_t;
typedef void* rbd_image_t;
typedef void* rbd_completion_t;
typedef void (*rbd_callback_t)(rbd_completion_t cb, void* arg);
typedef void (*rbd_update_callback_t)(void* arg);
constexpr int kRbdLockModeExclusive = 0;
constexpr uint64_t kRbdFeatureExclusiveLock = 1ULL << 2;

struct RbdApi {
  int (*rados_create2)(rados_t*, const char*, const char*, uint64_t);
  int (*rados_conf_read_file)(rados_t, const char*);
  int (*rados_conf_set)(rados_t, const char*, const char*);
  int (*rados_connect)(rados_t);
  void (*rados_shutdown)(rados_t);
  int (*rados_ioctx_create)(rados_t, const char*, rados_ioctx_t*);
  void (*rados_ioctx_destroy)(rados_ioctx_t);
  uint64_t (*rados_get_instance_id)(rados_t);
  int (*rados_getaddrs)(rados_t, char**);
  int (*rbd_open)(rados_ioctx_t, const char*, rbd_image_t*, const char*);
  int (*rbd_close)(rbd_image_t);
  int (*rbd_get_size)(rbd_image_t, uint64_t*);
  int (*rbd_get_features)(rbd_image_t, uint64_t*);
  int (*rbd_resize)(rbd_image_t, uint64_t);
  int (*rbd_aio_create_completion)(void*, rbd_callback_t, rbd_completion_t*);
  int (*rbd_aio_read)(rbd_image_t, uint64_t, size_t, char*, rbd_completion_t);
  int (*rbd_aio_write)(rbd_image_t, uint64_t, size_t, const char*, rbd_completion_t);
  int (*rbd_aio_discard)(rbd_image_t, uint64_t, uint64_t, rbd_completion_t);
  int (*rbd_aio_write_zeroes)(rbd_image_t, uint64_t, size_t, rbd_completion_t, int, int);
  int (*rbd_aio_flush)(rbd_image_t, rbd_completion_t);
  ssize_t (*rbd_aio_get_return_value)(rbd_completion_t);
  void (*rbd_aio_release)(rbd_completion_t);
  int (*rbd_update_watch)(rbd_image_t, uint64_t*, rbd_update_callback_t, void*);
  int (*rbd_update_unwatch)(rbd_image_t, uint64_t);
  int (*rbd_lock_acquire)(rbd_image_t, int);
  int (*rbd_lock_release)(rbd_image_t);
  int (*rbd_is_exclusive_lock_owner)(rbd_image_t, int*);
  int (*rbd_lock_get_owners)(rbd_image_t, int*, char**, size_t*);
  void (*rbd_lock_get_owners_cleanup)(char**, size_t);
  int (*rbd_lock_break)(rbd_image_t, int, const char*);
};

RbdApi api;
std::mutex g_load_mu;
bool g_loaded = false;
std::string g_load_error;

template <typename F>
bool Sym(void* lib, const char* name, F& out, std::string& err) {
  out = reinterpret_cast<F>(dlsym(lib, name));
  if (out == nullptr) err = std::string("missing symbol ") + name;
  return out != nullptr;
}

// Loads librados + librbd once per process; "" on success, else what to install.
std::string LoadApi() {
  std::lock_guard<std::mutex> lk(g_load_mu);
  if (g_loaded) return "";
  if (!g_load_error.empty()) return g_load_error;
  void* rados = dlopen("librados.so.2", RTLD_NOW | RTLD_GLOBAL);
  void* rbd = rados ? dlopen("librbd.so.1", RTLD_NOW | RTLD_GLOBAL) : nullptr;
  if (rados == nullptr || rbd == nullptr) {
    g_load_error = std::string("librbd is not installed (") + dlerror() +
                   "): install Ceph's client libraries, e.g. `apt-get install librbd1` on Debian/Ubuntu or "
                   "`dnf install librbd1` on Fedora/RHEL";
    return g_load_error;
  }
  std::string err;
  bool ok = Sym(rados, "rados_create2", api.rados_create2, err) && Sym(rados, "rados_conf_read_file", api.rados_conf_read_file, err) &&
            Sym(rados, "rados_conf_set", api.rados_conf_set, err) && Sym(rados, "rados_connect", api.rados_connect, err) &&
            Sym(rados, "rados_shutdown", api.rados_shutdown, err) && Sym(rados, "rados_ioctx_create", api.rados_ioctx_create, err) &&
            Sym(rados, "rados_ioctx_destroy", api.rados_ioctx_destroy, err) &&
            Sym(rados, "rados_get_instance_id", api.rados_get_instance_id, err) && Sym(rados, "rados_getaddrs", api.rados_getaddrs, err) &&
            Sym(rbd, "rbd_open", api.rbd_open, err) && Sym(rbd, "rbd_close", api.rbd_close, err) &&
            Sym(rbd, "rbd_get_size", api.rbd_get_size, err) && Sym(rbd, "rbd_resize", api.rbd_resize, err) &&
            Sym(rbd, "rbd_get_features", api.rbd_get_features, err) &&
            Sym(rbd, "rbd_aio_create_completion", api.rbd_aio_create_completion, err) &&
            Sym(rbd, "rbd_aio_read", api.rbd_aio_read, err) && Sym(rbd, "rbd_aio_write", api.rbd_aio_write, err) &&
            Sym(rbd, "rbd_aio_discard", api.rbd_aio_discard, err) && Sym(rbd, "rbd_aio_write_zeroes", api.rbd_aio_write_zeroes, err) &&
            Sym(rbd, "rbd_aio_flush", api.rbd_aio_flush, err) && Sym(rbd, "rbd_aio_get_return_value", api.rbd_aio_get_return_value, err) &&
            Sym(rbd, "rbd_aio_release", api.rbd_aio_release, err) && Sym(rbd, "rbd_update_watch", api.rbd_update_watch, err) &&
            Sym(rbd, "rbd_update_unwatch", api.rbd_update_unwatch, err) && Sym(rbd, "rbd_lock_acquire", api.rbd_lock_acquire, err) &&
            Sym(rbd, "rbd_lock_release", api.rbd_lock_release, err) &&
            Sym(rbd, "rbd_is_exclusive_lock_owner", api.rbd_is_exclusive_lock_owner, err) &&
            Sym(rbd, "rbd_lock_get_owners", api.rbd_lock_get_owners, err) &&
            Sym(rbd, "rbd_lock_get_owners_cleanup", api.rbd_lock_get_owners_cleanup, err) &&
            Sym(rbd, "rbd_lock_break", api.rbd_lock_break, err);
  if (!ok) {
    g_load_error = "librbd is too old for nvmetd (" + err + "): Ceph 15 (Octopus) or later is needed";
    return g_load_error;
  }
  g_loaded = true;
  return "";
}

std::string Errno(int err) { return std::string(strerror(err < 0 ? -err : err)); }

// --- shared images ----------------------------------------------------------------------------------------
class Channel;

struct SharedImage {
  std::string key;
  rados_t cluster = nullptr;
  rados_ioctx_t io = nullptr;
  rbd_image_t image = nullptr;
  uint64_t watch = 0;
  bool watching = false;
  int refs = 0;
  std::mutex mu;                // guards channels
  std::set<Channel*> channels;  // for header-change notices
};

std::mutex g_images_mu;
std::map<std::string, SharedImage*> g_images;

void OnHeaderUpdate(void* arg);

void CloseShared(SharedImage* s) {
  if (s->watching) api.rbd_update_unwatch(s->image, s->watch);
  if (s->image) api.rbd_close(s->image);
  if (s->io) api.rados_ioctx_destroy(s->io);
  if (s->cluster) api.rados_shutdown(s->cluster);
  delete s;
}

struct OpenArgs {
  std::string key, conf, user, pool, image, cluster_name;
  std::vector<std::pair<std::string, std::string>> options;
};

// Opens (or takes another reference on) the shared image; "" on success. Runs off the loop thread.
std::string Acquire(const OpenArgs& a) {
  std::string err = LoadApi();
  if (!err.empty()) return err;
  std::lock_guard<std::mutex> lk(g_images_mu);
  auto it = g_images.find(a.key);
  if (it != g_images.end()) {
    it->second->refs++;
    return "";
  }
  SharedImage* s = new SharedImage();
  s->key = a.key;
  std::string who = "client." + a.user;
  int r = api.rados_create2(&s->cluster, a.cluster_name.c_str(), who.c_str(), 0);
  if (r < 0) {
    s->cluster = nullptr;
    CloseShared(s);
    return "rados_create2(" + who + "): " + Errno(r);
  }
  if (!a.conf.empty() && (r = api.rados_conf_read_file(s->cluster, a.conf.c_str())) < 0) {
    CloseShared(s);
    return "reading " + a.conf + ": " + Errno(r);
  }
  // A gateway acknowledges a write only once RADOS has it: no client write-back cache.
  api.rados_conf_set(s->cluster, "rbd_cache", "false");
  for (const auto& kv : a.options) {
    if ((r = api.rados_conf_set(s->cluster, kv.first.c_str(), kv.second.c_str())) < 0) {
      CloseShared(s);
      return "Ceph option " + kv.first + ": " + Errno(r);
    }
  }
  if ((r = api.rados_connect(s->cluster)) < 0) {
    CloseShared(s);
    return "connecting to the Ceph cluster as " + who + ": " + Errno(r);
  }
  if ((r = api.rados_ioctx_create(s->cluster, a.pool.c_str(), &s->io)) < 0) {
    s->io = nullptr;
    CloseShared(s);
    return "pool " + a.pool + ": " + Errno(r);
  }
  if ((r = api.rbd_open(s->io, a.image.c_str(), &s->image, nullptr)) < 0) {
    s->image = nullptr;
    CloseShared(s);
    return "image " + a.pool + "/" + a.image + ": " + Errno(r);
  }
  if (api.rbd_update_watch(s->image, &s->watch, OnHeaderUpdate, s) == 0) s->watching = true;
  s->refs = 1;
  g_images[a.key] = s;
  return "";
}

// Drops a reference; the last one closes the image and the RADOS client. Runs off the loop thread.
void Release(const std::string& key) {
  SharedImage* gone = nullptr;
  {
    std::lock_guard<std::mutex> lk(g_images_mu);
    auto it = g_images.find(key);
    if (it == g_images.end()) return;
    if (--it->second->refs == 0) {
      gone = it->second;
      g_images.erase(it);
    }
  }
  if (gone) CloseShared(gone);
}

SharedImage* Find(const std::string& key) {
  std::lock_guard<std::mutex> lk(g_images_mu);
  auto it = g_images.find(key);
  return it == g_images.end() ? nullptr : it->second;
}

// --- async helpers (promises for the blocking librados/librbd calls) --------------------------------------
class Job : public Napi::AsyncWorker {
 public:
  using Fn = std::function<std::string(std::string& out)>;
  Job(Napi::Env env, Fn fn) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), fn_(std::move(fn)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    std::string err = fn_(out_);
    if (!err.empty()) SetError(err);
  }
  void OnOK() override { deferred_.Resolve(Napi::String::New(Env(), out_)); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Fn fn_;
  std::string out_;
};

Napi::Value RunJob(Napi::Env env, Job::Fn fn) {
  Job* j = new Job(env, std::move(fn));
  Napi::Promise p = j->Promise();
  j->Queue();
  return p;
}

std::string Str(const Napi::Object& o, const char* k, const char* dflt = "") {
  Napi::Value v = o.Get(k);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string(dflt);
}

// rbdOpen({ key, conf, user, pool, image, cluster?, options?: {name: value} }): Promise<string> (the key)
Napi::Value RbdOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "rbdOpen: expected an options object").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object o = info[0].As<Napi::Object>();
  OpenArgs a;
  a.key = Str(o, "key");
  a.conf = Str(o, "conf");
  a.user = Str(o, "user", "admin");
  a.pool = Str(o, "pool");
  a.image = Str(o, "image");
  a.cluster_name = Str(o, "cluster", "ceph");
  if (o.Get("options").IsObject()) {
    Napi::Object opts = o.Get("options").As<Napi::Object>();
    Napi::Array names = opts.GetPropertyNames();
    for (uint32_t i = 0; i < names.Length(); i++) {
      std::string n = names.Get(i).As<Napi::String>().Utf8Value();
      a.options.emplace_back(n, opts.Get(n).ToString().Utf8Value());
    }
  }
  if (a.key.empty() || a.pool.empty() || a.image.empty()) {
    Napi::TypeError::New(env, "rbdOpen: key, pool and image are required").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return RunJob(env, [a](std::string& out) {
    out = a.key;
    return Acquire(a);
  });
}

// rbdRelease(key): Promise<string>
Napi::Value RbdRelease(const Napi::CallbackInfo& info) {
  std::string key = info[0].As<Napi::String>().Utf8Value();
  return RunJob(info.Env(), [key](std::string&) {
    Release(key);
    return std::string();
  });
}

// rbdLockState(key): Promise<string>: JSON { exclusiveLock, owner, owners: [...], client }
Napi::Value RbdLockState(const Napi::CallbackInfo& info) {
  std::string key = info[0].As<Napi::String>().Utf8Value();
  return RunJob(info.Env(), [key](std::string& out) -> std::string {
    SharedImage* s = Find(key);
    if (!s) return "rbd: image not open";
    uint64_t features = 0;
    api.rbd_get_features(s->image, &features);
    int owner = 0;
    api.rbd_is_exclusive_lock_owner(s->image, &owner);
    char* owners[16];
    size_t n = 16;
    int mode = 0;
    int r = api.rbd_lock_get_owners(s->image, &mode, owners, &n);
    std::string list;
    if (r >= 0) {
      for (size_t i = 0; i < n; i++) list += std::string(i ? "," : "") + "\"" + owners[i] + "\"";
      api.rbd_lock_get_owners_cleanup(owners, n);
    }
    char* addrs = nullptr;
    std::string client;
    if (api.rados_getaddrs(s->cluster, &addrs) == 0 && addrs) {
      client = addrs;
      free(addrs);
    }
    out = std::string("{\"exclusiveLock\":") + ((features & kRbdFeatureExclusiveLock) ? "true" : "false") +
          ",\"owner\":" + (owner ? "true" : "false") + ",\"owners\":[" + list + "],\"client\":\"" + client + "\"}";
    return "";
  });
}

// rbdTakeLock(key): Promise<string>: breaks every other owner's exclusive lock (librbd blocklists the old
// owner's client, so a gateway that is only presumed dead cannot write any more), then takes the lock in
// managed mode (it is no longer handed over on request). Resolves with the broken owners, comma-separated.
Napi::Value RbdTakeLock(const Napi::CallbackInfo& info) {
  std::string key = info[0].As<Napi::String>().Utf8Value();
  return RunJob(info.Env(), [key](std::string& out) -> std::string {
    SharedImage* s = Find(key);
    if (!s) return "rbd: image not open";
    uint64_t features = 0;
    api.rbd_get_features(s->image, &features);
    if (!(features & kRbdFeatureExclusiveLock)) return "";
    int owner = 0;
    if (api.rbd_is_exclusive_lock_owner(s->image, &owner) == 0 && owner) {
      int r = api.rbd_lock_acquire(s->image, kRbdLockModeExclusive);
      return r < 0 ? "rbd_lock_acquire: " + Errno(r) : "";
    }
    char* owners[16];
    size_t n = 16;
    int mode = 0;
    int r = api.rbd_lock_get_owners(s->image, &mode, owners, &n);
    if (r >= 0) {
      for (size_t i = 0; i < n; i++) {
        int b = api.rbd_lock_break(s->image, kRbdLockModeExclusive, owners[i]);
        if (b < 0 && b != -ENOENT) {
          api.rbd_lock_get_owners_cleanup(owners, n);
          return std::string("rbd_lock_break(") + owners[i] + "): " + Errno(b);
        }
        out += std::string(out.empty() ? "" : ",") + owners[i];
      }
      api.rbd_lock_get_owners_cleanup(owners, n);
    } else if (r != -ENOENT) {
      return "rbd_lock_get_owners: " + Errno(r);
    }
    r = api.rbd_lock_acquire(s->image, kRbdLockModeExclusive);
    return r < 0 ? "rbd_lock_acquire: " + Errno(r) : "";
  });
}

// rbdReleaseLock(key): Promise<string>: gives a managed lock back (the next writer takes it transparently).
Napi::Value RbdReleaseLock(const Napi::CallbackInfo& info) {
  std::string key = info[0].As<Napi::String>().Utf8Value();
  return RunJob(info.Env(), [key](std::string&) -> std::string {
    SharedImage* s = Find(key);
    if (!s) return "rbd: image not open";
    int owner = 0;
    if (api.rbd_is_exclusive_lock_owner(s->image, &owner) < 0 || !owner) return "";
    int r = api.rbd_lock_release(s->image);
    return r < 0 && r != -EINVAL ? "rbd_lock_release: " + Errno(r) : "";
  });
}

// --- per-thread channels -----------------------------------------------------------------------------------
enum OpKind : uint8_t { kRead, kWrite, kFlush, kDiscard, kZeroes };

struct Op {
  Channel* ch = nullptr;
  uint32_t tag = 0;
  bool active = false;
};

class Channel : public Napi::ObjectWrap<Channel> {
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
      shared_->channels.insert(this);
    }
    env.AddCleanupHook([this]() { Close(); });
  }

  ~Channel() override { Close(); }

  // librbd's thread: a header change (resize).
  void NotifyUpdate() {
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

  // read(tag, view, offset)
  Napi::Value JsRead(const Napi::CallbackInfo& info) {
    char* data;
    size_t len;
    uint32_t tag;
    if (!View(info[1], data, len)) return Throw(info, "rbd read: expected a byte view");
    int e = Begin(info, tag);
    if (e < 0) return Fail(info, e);
    uint64_t off = static_cast<uint64_t>(info[2].As<Napi::Number>().Int64Value());
    rbd_completion_t c = NewCompletion(tag);
    Submitted(tag, api.rbd_aio_read(shared_->image, off, len, data, c), c);
    return info.Env().Undefined();
  }

  // write(tag, view, offset)
  Napi::Value JsWrite(const Napi::CallbackInfo& info) {
    char* data;
    size_t len;
    uint32_t tag;
    if (!View(info[1], data, len)) return Throw(info, "rbd write: expected a byte view");
    int e = Begin(info, tag);
    if (e < 0) return Fail(info, e);
    uint64_t off = static_cast<uint64_t>(info[2].As<Napi::Number>().Int64Value());
    rbd_completion_t c = NewCompletion(tag);
    Submitted(tag, api.rbd_aio_write(shared_->image, off, len, data, c), c);
    return info.Env().Undefined();
  }

  // flush(tag)
  Napi::Value JsFlush(const Napi::CallbackInfo& info) {
    uint32_t tag;
    int e = Begin(info, tag);
    if (e < 0) return Fail(info, e);
    rbd_completion_t c = NewCompletion(tag);
    Submitted(tag, api.rbd_aio_flush(shared_->image, c), c);
    return info.Env().Undefined();
  }

  // discard(tag, offset, length)
  Napi::Value JsDiscard(const Napi::CallbackInfo& info) {
    uint32_t tag;
    int e = Begin(info, tag);
    if (e < 0) return Fail(info, e);
    uint64_t off = static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value());
    uint64_t len = static_cast<uint64_t>(info[2].As<Napi::Number>().Int64Value());
    rbd_completion_t c = NewCompletion(tag);
    Submitted(tag, api.rbd_aio_discard(shared_->image, off, len, c), c);
    return info.Env().Undefined();
  }

  // writeZeroes(tag, offset, length)
  Napi::Value JsWriteZeroes(const Napi::CallbackInfo& info) {
    uint32_t tag;
    int e = Begin(info, tag);
    if (e < 0) return Fail(info, e);
    uint64_t off = static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value());
    uint64_t len = static_cast<uint64_t>(info[2].As<Napi::Number>().Int64Value());
    rbd_completion_t c = NewCompletion(tag);
    Submitted(tag, api.rbd_aio_write_zeroes(shared_->image, off, len, c, 0, 0), c);
    return info.Env().Undefined();
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
      shared_->channels.erase(this);
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

void OnHeaderUpdate(void* arg) {
  SharedImage* s = static_cast<SharedImage*>(arg);
  std::lock_guard<std::mutex> lk(s->mu);
  for (Channel* ch : s->channels) ch->NotifyUpdate();
}

// rbdResize(key, bytes): Promise<string>: resizes the image (every client sees it through the header watch).
Napi::Value RbdResize(const Napi::CallbackInfo& info) {
  std::string key = info[0].As<Napi::String>().Utf8Value();
  uint64_t bytes = static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value());
  return RunJob(info.Env(), [key, bytes](std::string&) -> std::string {
    SharedImage* s = Find(key);
    if (!s) return "rbd: image not open";
    int r = api.rbd_resize(s->image, bytes);
    return r < 0 ? "rbd_resize: " + Errno(r) : "";
  });
}

// rbdAvailable(): "" when librbd loads here, else what to install.
Napi::Value RbdAvailable(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), LoadApi()); }

}  // namespace

void InitRbd(Napi::Env env, Napi::Object exports) {
  exports.Set("RbdChannel", Channel::Define(env));
  exports.Set("rbdOpen", Napi::Function::New(env, RbdOpen));
  exports.Set("rbdRelease", Napi::Function::New(env, RbdRelease));
  exports.Set("rbdAvailable", Napi::Function::New(env, RbdAvailable));
  exports.Set("rbdResize", Napi::Function::New(env, RbdResize));
  exports.Set("rbdLockState", Napi::Function::New(env, RbdLockState));
  exports.Set("rbdTakeLock", Napi::Function::New(env, RbdTakeLock));
  exports.Set("rbdReleaseLock", Napi::Function::New(env, RbdReleaseLock));
}

}  // namespace nvmetd
