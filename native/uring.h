// The io_uring engine: one ring object per I/O thread, driven from TypeScript (src/backend/uring.ts).
//
// Built on the kernel's uapi header and raw system calls only. The TypeScript side owns the op slots
// (user_data is a slot index); the ring keeps, per slot, what it needs to continue short transfers, retry
// EAGAIN and copy through bounce buffers, and reports only final results into a completion ring that
// JavaScript drains: Int32Array [head, tail, mask, _, (slot, res) * capacity].
#pragma once
#include <napi.h>

namespace nvmetd {

/** Registers Ring and the helper functions (uringProbe, blockDeviceSize, ...) on `exports`. */
void InitUring(Napi::Env env, Napi::Object exports);

/**
 * uringProbe, blockDeviceSize, blockLogicalSize, dioAlign, allocAligned, and the buffer pool's slabs:
 * allocSlab, discardSlab, residentBytes (uring_helpers.cc).
 */
void InitUringHelpers(Napi::Env env, Napi::Object exports);

}  // namespace nvmetd
