// The fuzzer's view of the target: one TargetContext with a subsystem of small RAM namespaces,
// built once and reused by every input, and the single place that names the TCP transport class.
//
// When the transport class changes, edit openConnection() (and its import) only.
import type { Controller } from '../../src/core/controller.js';
import type { Socket } from 'node:net';
import { normalizeConfig } from '../../src/config/index.js';
import type { PortConfig, TargetConfig } from '../../src/config/types.js';
import { buildSubsystems } from '../../src/core/build.js';
import { TargetContext } from '../../src/core/context.js';
import { Subsystem } from '../../src/core/subsystem.js';
import type { Namespace } from '../../src/core/namespace.js';
import type { BackendRequest } from '../../src/backend/backend.js';
import { BufferPool } from '../../src/runtime/buffer-pool.js';
import { TcpConnection } from '../../src/transport/tcp/connection.js';
import { CapturingLog } from './log.js';

/** What the fuzzer needs of one target-side connection. */
export interface FuzzConnection {
  close(reason: string): void;
  readonly closed: boolean;
  /** The buffer pool the connection draws from (leak check). */
  readonly pool: BufferPool;
}

/** One pool for every fuzzed connection (no budget: its buffers are watched by PoolGuard). */
let fuzzPool: BufferPool | null = null;

/** THE transport class reference: one connection over `socket`. */
export function openConnection(socket: Socket, port: PortConfig, ctx: TargetContext, onClose: (c: FuzzConnection) => void): FuzzConnection {
  const pool = (fuzzPool ??= new BufferPool({ maxSize: LIMITS.mdts, trimIdleMs: 0 }));
  const conn = new TcpConnection(socket, port, ctx, { onClose: (c) => onClose(c as unknown as FuzzConnection), pool });
  return { close: (reason) => conn.close(reason), get closed() { return conn.closed; }, pool };
}

export const SUBNQN = 'nqn.2026-11.io.nvmetd:fuzz';
export const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:0f0e0d0c-0b0a-0908-0706-050403020100';
export const DISCOVERY_NQN = 'nqn.2014-08.org.nvmexpress.discovery';

/** Limits small enough that a mutated length costs little, large enough for multi-PDU transfers. */
export const LIMITS = {
  mdts: 65536,
  inlineDataSize: 4096,
  maxH2CData: 8192,
  maxQueueSize: 32,
  /** nsid 1: 256 KiB of 512-byte blocks; nsid 2: 64 KiB of 4 KiB blocks, read-only. */
  ns1Size: 1 << 18,
  ns2Size: 1 << 16,
} as const;

export function fuzzConfig(): TargetConfig {
  return normalizeConfig(
    {
      ports: [
        {
          id: 1,
          address: '127.0.0.1',
          port: 4420,
          subsystems: [SUBNQN],
          inlineDataSize: LIMITS.inlineDataSize,
          maxH2CData: LIMITS.maxH2CData,
          maxQueueSize: LIMITS.maxQueueSize,
        },
      ],
      subsystems: [
        {
          nqn: SUBNQN,
          serial: 'FUZZ0001',
          allowAnyHost: true,
          namespaces: [
            { nsid: 1, backing: { type: 'ram', size: LIMITS.ns1Size }, blockSize: 512 },
            { nsid: 2, backing: { type: 'ram', size: LIMITS.ns2Size }, blockSize: 4096, readOnly: true },
          ],
        },
      ],
      mdts: LIMITS.mdts,
      icreqTimeout: 10,
      logLevel: 'error',
    },
    'fuzz',
  );
}

export interface FuzzTarget {
  /** The context of the current input (a fresh one per reset()). */
  readonly ctx: TargetContext;
  readonly port: PortConfig;
  readonly log: CapturingLog;
  /**
   * A fresh context for the next input: new subsystems over the same namespaces, whose written
   * ranges are zeroed again; no controllers, controller ids from 1 again. An input's outcome
   * depends on that input only.
   */
  reset(): void;
  /**
   * Kicks every namespace backend: completions that a connection queued but never collected (it
   * closed in the middle of a batch) are delivered now, within the input that caused them.
   */
  kickBackends(): void;
}

/** Records what the namespaces' backends write, to zero it again before the next input. */
function trackWrites(ns: Namespace, dirty: { ns: Namespace; offset: number; length: number }[]): void {
  const b = ns.backend;
  const submitWrite = b.submitWrite.bind(b);
  b.submitWrite = (req, offset, src, fua) => {
    dirty.push({ ns, offset, length: src.length });
    submitWrite(req, offset, src, fua);
  };
}

export async function buildTarget(): Promise<FuzzTarget> {
  const config = fuzzConfig();
  const log = new CapturingLog();
  const port = config.ports[0]!;
  const { subsystems, namespaces } = await buildSubsystems(config, log.logger);
  const dirty: { ns: Namespace; offset: number; length: number }[] = [];
  for (const ns of namespaces) trackWrites(ns, dirty);
  const zeroed: BackendRequest = { backendDone: () => undefined };
  let ctx = new TargetContext(config, log.logger);
  const t: FuzzTarget = {
    get ctx(): TargetContext {
      return ctx;
    },
    port,
    log,
    kickBackends(): void {
      for (const ns of namespaces) ns.backend.kick();
    },
    reset(): void {
      for (const d of dirty) {
        d.ns.backend.submitWriteZeroes(zeroed, d.offset, d.length, false);
        d.ns.backend.kick();
      }
      dirty.length = 0;
      ctx = new TargetContext(config, log.logger);
      for (const old of subsystems) {
        const s = new Subsystem<Controller>(old.config);
        for (const [nsid, ns] of old.namespaces) s.namespaces.set(nsid, ns);
        ctx.subsystems.set(s.nqn, s);
      }
    },
  };
  t.reset();
  return t;
}


