// Shared RBD images and the JS functions around them (see rbd_image.h).
#include "rbd_image.h"

#include <errno.h>
#include <stdlib.h>

#include <functional>
#include <map>

namespace nvmetd {
namespace rbd {
namespace {


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

}  // namespace

SharedImage* Find(const std::string& key) {
  std::lock_guard<std::mutex> lk(g_images_mu);
  auto it = g_images.find(key);
  return it == g_images.end() ? nullptr : it->second;
}

namespace {

// Promises for the blocking librados/librbd calls.
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

}  // namespace

std::string Str(const Napi::Object& o, const char* k, const char* dflt) {
  Napi::Value v = o.Get(k);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string(dflt);
}

namespace {

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

void OnHeaderUpdate(void* arg) {
  SharedImage* s = static_cast<SharedImage*>(arg);
  std::lock_guard<std::mutex> lk(s->mu);
  for (ImageListener* l : s->listeners) l->NotifyUpdate();
}

}  // namespace

void InitImages(Napi::Env env, Napi::Object exports) {
  exports.Set("rbdOpen", Napi::Function::New(env, RbdOpen));
  exports.Set("rbdRelease", Napi::Function::New(env, RbdRelease));
  exports.Set("rbdAvailable", Napi::Function::New(env, RbdAvailable));
  exports.Set("rbdResize", Napi::Function::New(env, RbdResize));
  exports.Set("rbdLockState", Napi::Function::New(env, RbdLockState));
  exports.Set("rbdTakeLock", Napi::Function::New(env, RbdTakeLock));
  exports.Set("rbdReleaseLock", Napi::Function::New(env, RbdReleaseLock));
}

}  // namespace rbd
}  // namespace nvmetd
