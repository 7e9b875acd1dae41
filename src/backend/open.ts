// Chooses and opens the backend for one namespace, and says once which engine it runs on.
//
// File and block namespaces run on the thread's io_uring engine where io_uring works, else on Node's fs
// thread pool. The engine is chosen by `opts` and the environment (see engineOptionsFromEnv):
//   NVMETD_ENGINE=fs|uring|auto   NVMETD_URING_MODE=sqpoll|iopoll|interrupt   NVMETD_URING_ENTRIES=1024
//   NVMETD_URING_SPIN_US=0 (poll-mode completion wait after each kick)
//   NVMETD_URING_SIMULATE=unavailable,refuse-sqpoll,refuse-iopoll,no-direct,no-fallocate,no-blkioctl
import type { NamespaceConfig } from '../config/types.js';
import { backingKindProblem } from '../config/path-kind.js';
import type { Logger } from '../util/log.js';
import type { Backend } from './backend.js';
import { RamBackend } from './ram.js';
import { RbdBackend, rbdName } from './rbd.js';
import { FileBackend, setNativeBlockSizeProbe } from './file.js';
import { UringBackend } from './uring.js';
import { engineOptionsFromEnv, sharedUringEngine, type EngineOptions } from './uring-engine.js';
import { loadUringNative } from './uring-native.js';

export async function openBackend(ns: NamespaceConfig, log: Logger, opts: EngineOptions = {}): Promise<Backend> {
  const b = ns.backing;
  let backend: Backend;
  if (b.type === 'ram') {
    backend = new RamBackend(b.size - (b.size % ns.blockSize), undefined, b.delayUs ?? 0, !b.overcommit);
  } else if (b.type === 'rbd') {
    backend = await RbdBackend.open(b, { blockSize: ns.blockSize, readOnly: ns.readOnly }, log);
  } else {
    const problem = backingKindProblem(b.path, b.type);
    if (problem) throw new Error(`namespace ${ns.nsid}: ${problem}`);
    const eo = engineOptionsFromEnv(opts);
    const size = b.type === 'file' ? b.size : undefined;
    const o = { path: b.path, kind: b.type, size, blockSize: ns.blockSize, readOnly: ns.readOnly };
    const engine = eo.engine === 'fs' ? null : await sharedUringEngine(eo, log);
    if (engine) {
      backend = await UringBackend.open({ ...o, buffered: b.buffered ?? false }, engine, log);
    } else {
      // The fs engine still sizes block devices with BLKGETSIZE64 when the addon is there.
      const native = await loadUringNative();
      if (native) {
        setNativeBlockSizeProbe((fd) => {
          const r = native.blockDeviceSize(fd);
          if (r < 0) throw new Error(`BLKGETSIZE64 failed on ${b.path} (errno ${-r})`);
          return r;
        });
      }
      backend = await FileBackend.open(o);
    }
  }
  log.info(
    { nsid: ns.nsid, kind: backend.kind, engine: backend.engine, sizeBytes: backend.sizeBytes, path: b.type === 'ram' ? undefined : b.type === 'rbd' ? rbdName(b) : b.path },
    `namespace ${ns.nsid}: ${backend.kind} backend on ${backend.engine}`,
  );
  return backend;
}

/**
 * A page-aligned I/O buffer pool for this thread: registered with the thread's io_uring engine (fixed
 * buffers) when there is one, so file/block reads and writes from and into it skip per-I/O page pinning.
 */
export async function ioBufferPool(bytes: number, log: Logger, opts: EngineOptions = {}): Promise<Buffer> {
  const eo = engineOptionsFromEnv(opts);
  const engine = eo.engine === 'fs' ? null : await sharedUringEngine(eo, log);
  if (engine) return engine.bufferPool(bytes);
  const native = await loadUringNative();
  return native ? Buffer.from(native.allocAligned(bytes)) : Buffer.alloc(bytes);
}
