// The librados / librbd C API as nvmetd uses it, resolved with dlopen on first use (rbd_api.cc), so
// the addon builds and loads on machines without Ceph. Only the functions below are used.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <string>

namespace nvmetd {
namespace rbd {

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

/** The resolved functions (valid once LoadApi() returned ""). */
extern RbdApi api;

/** Loads librados + librbd once per process: "" on success, else what to install. */
std::string LoadApi();

/** strerror of a (possibly negated) errno. */
std::string Errno(int err);

}  // namespace rbd
}  // namespace nvmetd
