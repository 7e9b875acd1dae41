// Shared RBD images: one RADOS client and image handle per (ceph.conf, user, pool, image) in the
// process, reference counted, whatever the number of threads that serve it (rbd_image.cc); and the
// promise-returning JS functions around the blocking librados/librbd calls (open, release, resize,
// exclusive lock). Threads do I/O through their own channel (rbd.cc).
#pragma once
#include <napi.h>

#include <mutex>
#include <set>
#include <string>

#include "rbd_api.h"

namespace nvmetd {
namespace rbd {

/** Told (on a librbd thread) when the image header changes: a resize. */
struct ImageListener {
  virtual void NotifyUpdate() = 0;

 protected:
  ~ImageListener() = default;
};

struct SharedImage {
  std::string key;
  rados_t cluster = nullptr;
  rados_ioctx_t io = nullptr;
  rbd_image_t image = nullptr;
  uint64_t watch = 0;
  bool watching = false;
  int refs = 0;
  std::mutex mu;                       // guards listeners
  std::set<ImageListener*> listeners;  // for header-change notices
};

/** The open image of `key`, or null. */
SharedImage* Find(const std::string& key);

/** A string member of an options object, or the default. */
std::string Str(const Napi::Object& o, const char* k, const char* dflt = "");

/** rbdOpen, rbdRelease, rbdResize, rbdAvailable, rbdLockState, rbdTakeLock, rbdReleaseLock. */
void InitImages(Napi::Env env, Napi::Object exports);

}  // namespace rbd
}  // namespace nvmetd
