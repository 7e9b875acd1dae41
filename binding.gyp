{
  "targets": [
    {
      "target_name": "nvmetd_native",
      "sources": ["native/addon.cc", "native/crc32c.cc", "native/uring.cc", "native/uring_io.cc", "native/uring_helpers.cc", "native/rbd.cc", "native/rbd_api.cc", "native/rbd_image.cc", "native/tls.cc", "native/tls_context.cc", "native/tls_handoff.cc", "native/ram_memory.cc", "native/sock_write.cc"],
      "libraries": ["-ldl"],
      "include_dirs": ["<!@(node -p \"require('node-addon-api').include\")"],
      "defines": ["NAPI_VERSION=9", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-O3", "-std=c++17", "-fno-exceptions"],
      "cflags": ["-O3"]
    }
  ]
}
