// Chooses and opens the backend for one namespace, and says once which engine it runs on.
import type { NamespaceConfig } from '../config/types.js';
import type { Logger } from '../util/log.js';
import type { Backend } from './backend.js';
import { RamBackend } from './ram.js';
import { FileBackend } from './file.js';

export async function openBackend(ns: NamespaceConfig, log: Logger): Promise<Backend> {
  const b = ns.backing;
  let backend: Backend;
  if (b.type === 'ram') {
    backend = new RamBackend(b.size - (b.size % ns.blockSize));
  } else {
    const size = b.type === 'file' ? b.size : undefined;
    backend = await FileBackend.open({ path: b.path, kind: b.type, size, blockSize: ns.blockSize, readOnly: ns.readOnly });
  }
  log.info(
    { nsid: ns.nsid, kind: backend.kind, engine: backend.engine, sizeBytes: backend.sizeBytes, path: b.type === 'ram' ? undefined : b.path },
    `namespace ${ns.nsid}: ${backend.kind} backend on ${backend.engine}`,
  );
  return backend;
}
