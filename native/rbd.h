// RBD images through librbd (rbd.cc), loaded with dlopen on first use so that the addon builds and
// loads on machines without Ceph. Exports RbdChannel, rbdOpen, rbdRelease, rbdAvailable and the
// exclusive-lock helpers rbdLockState, rbdTakeLock, rbdReleaseLock.
#pragma once
#include <napi.h>

namespace nvmetd {

void InitRbd(Napi::Env env, Napi::Object exports);

}  // namespace nvmetd
