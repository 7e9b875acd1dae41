// Loading librados and librbd at run time (see rbd_api.h).
#include "rbd_api.h"

#include <dlfcn.h>
#include <string.h>

#include <mutex>

namespace nvmetd {
namespace rbd {

RbdApi api;

namespace {
std::mutex g_load_mu;
bool g_loaded = false;
std::string g_load_error;

template <typename F>
bool Sym(void* lib, const char* name, F& out, std::string& err) {
  out = reinterpret_cast<F>(dlsym(lib, name));
  if (out == nullptr) err = std::string("missing symbol ") + name;
  return out != nullptr;
}

}  // namespace

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

}  // namespace rbd
}  // namespace nvmetd
