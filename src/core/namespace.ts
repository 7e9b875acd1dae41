// A namespace: an LBA-addressed view of a backend, with its identifiers and I/O counters.
import type { Backend } from '../backend/backend.js';
import type { NamespaceConfig } from '../config/types.js';

export function hexBytes(hex: string, size: number): Uint8Array {
  const clean = hex.replace(/[-:]/g, '');
  const out = new Uint8Array(size);
  for (let i = 0; i < size && i * 2 + 1 < clean.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export class Namespace {
  readonly nsid: number;
  readonly blockSize: number;
  readonly lbaShift: number;
  readonly backend: Backend;
  readonly uuid: Uint8Array;
  readonly nguid: Uint8Array;
  readonly eui64: Uint8Array;
  readonly readOnly: boolean;
  readonly config: NamespaceConfig;
  /** Counters for the SMART / Health log. */
  readCommands = 0;
  writeCommands = 0;
  /** In 512-byte units, as the SMART log counts data units (of 1000 such units). */
  blocksRead512 = 0;
  blocksWritten512 = 0;
  mediaErrors = 0;

  constructor(config: NamespaceConfig, backend: Backend) {
    this.config = config;
    this.nsid = config.nsid;
    this.blockSize = config.blockSize;
    this.lbaShift = Math.log2(config.blockSize);
    this.backend = backend;
    this.uuid = hexBytes(config.uuid, 16);
    this.nguid = hexBytes(config.nguid, 16);
    this.eui64 = hexBytes(config.eui64, 8);
    this.readOnly = config.readOnly;
  }

  /** Number of logical blocks (NSZE). */
  get nlb(): number {
    return Math.floor(this.backend.sizeBytes / this.blockSize);
  }
}
