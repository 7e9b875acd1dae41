// Minimal stand-ins for the transport, so the controller logic can be driven directly.
import { createLogger } from '../../../src/util/log.js';
import { normalizeConfig } from '../../../src/config/index.js';
import type { TargetConfig } from '../../../src/config/types.js';
import type { Command, HostQueue, IoController } from '../../../src/core/command.js';
import type { Controller } from '../../../src/core/controller.js';
import { TargetContext } from '../../../src/core/context.js';
import { Namespace } from '../../../src/core/namespace.js';
import { Subsystem } from '../../../src/core/subsystem.js';
import { RamBackend } from '../../../src/backend/ram.js';
import { releaseRange } from '../../../src/core/range-hold.js';
import type { BackendRequest } from '../../../src/backend/backend.js';
import type { Namespace as Ns } from '../../../src/core/namespace.js';
import { ConnectData, FabricsSqe, FabricsType } from '../../../src/spec/opcodes.js';
import { executeAdmin } from '../../../src/core/admin/dispatch.js';
import { executeIo } from '../../../src/core/io.js';

export const SUBNQN = 'nqn.2026-11.io.nvmetd:test';
export const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555';

export function makeConfig(extra: Record<string, unknown> = {}): TargetConfig {
  return normalizeConfig(
    {
      ports: [{ id: 1, address: '127.0.0.1', port: 4420, subsystems: [SUBNQN] }],
      subsystems: [
        {
          nqn: SUBNQN,
          serial: 'SERIAL0001',
          namespaces: [
            { nsid: 1, backing: { type: 'ram', size: 1 << 20 }, blockSize: 512 },
            { nsid: 2, backing: { type: 'ram', size: 1 << 20 }, blockSize: 4096, readOnly: true },
          ],
        },
      ],
      ...extra,
    },
    'test',
  );
}

export function makeContext(config = makeConfig()): TargetContext {
  const ctx = new TargetContext(config, createLogger('silent'));
  for (const sc of config.subsystems) {
    const s = new Subsystem<Controller>(sc);
    for (const nc of sc.namespaces) {
      if (nc.backing.type !== 'ram') throw new Error('fakes support RAM namespaces only');
      s.namespaces.set(nc.nsid, new Namespace(nc, new RamBackend(nc.backing.size, undefined, nc.backing.delayUs ?? 0)));
    }
    ctx.subsystems.set(s.nqn, s);
  }
  return ctx;
}

export class FakeQueue implements HostQueue {
  qid = 0;
  ctrl: Controller | null = null;
  ioCtrl: IoController | null = null;
  sqEntries = 0;
  sqflowDisabled = false;
  readonly peer = '127.0.0.1:1';
  readonly localAddress = '127.0.0.1';
  readonly id = 1;
  inflight = 0;
  closedWith: string | null = null;
  auth: HostQueue['auth'] = null;
  drainedWith: string | null = null;
  constructor(readonly port: TargetConfig['ports'][number]) {}
  close(reason: string): void {
    this.closedWith = reason;
  }
  drain(reason: string): Promise<void> {
    this.drainedWith = reason;
    return Promise.resolve();
  }
}

export class FakeCommand implements Command {
  readonly sqe = Buffer.alloc(64);
  inData: Uint8Array | null = null;
  inLent = false;
  outData: Uint8Array | null = null;
  outShared = false;
  auxData: Uint8Array | null = null;
  status = 0;
  dw0 = 0;
  dw1 = 0;
  ns: Ns | null = null;
  stage = 0;
  held = 0;
  heldSlba = 0;
  heldNlb = 0;
  fusedWith: Command | null = null;
  onBackend: ((cmd: Command, result: number) => void) | null = null;
  completed = 0;
  constructor(
    readonly queue: HostQueue,
    public dataLen = 0,
  ) {}
  keepInData(): void {
    this.inData = Uint8Array.from(this.inData!);
    this.inLent = false;
  }
  buffer(n: number): Uint8Array {
    return Buffer.alloc(n);
  }
  dataBuffer(n: number): Uint8Array {
    return Buffer.alloc(n);
  }
  complete(): void {
    this.completed++;
    // What the transport does when it frees a command's slot.
    releaseRange(this);
  }
  backendDone(result: number): void {
    this.onBackend!(this, result);
  }
}

export function connectCommand(
  q: HostQueue,
  o: { qid?: number; sqsize?: number; cntlid?: number; subnqn?: string; hostnqn?: string; kato?: number; hostid?: Uint8Array },
): FakeCommand {
  const cmd = new FakeCommand(q, 1024);
  cmd.sqe[0] = 0x7f;
  cmd.sqe[FabricsSqe.fctype] = FabricsType.Connect;
  cmd.sqe.writeUInt16LE(o.qid ?? 0, FabricsSqe.qid);
  cmd.sqe.writeUInt16LE(o.sqsize ?? 31, FabricsSqe.sqsize);
  cmd.sqe.writeUInt32LE(o.kato ?? 0, FabricsSqe.kato);
  const data = Buffer.alloc(1024);
  (o.hostid ?? Buffer.alloc(16, 7)).forEach((b, i) => (data[ConnectData.hostid + i] = b));
  data.writeUInt16LE(o.cntlid ?? 0xffff, ConnectData.cntlid);
  data.write(o.subnqn ?? SUBNQN, ConnectData.subnqn);
  data.write(o.hostnqn ?? HOSTNQN, ConnectData.hostnqn);
  cmd.inData = data;
  return cmd;
}

/** Runs an admin command synchronously and returns it. */
export function admin(q: HostQueue, ctx: TargetContext, build: (sqe: Buffer) => void, dataLen = 4096): FakeCommand {
  const cmd = new FakeCommand(q, dataLen);
  build(cmd.sqe);
  executeAdmin(cmd, ctx);
  return cmd;
}

/** Submits an I/O command, kicks the namespace backends, returns it (completed for RAM). */
export function io(q: HostQueue, ctx: TargetContext, build: (sqe: Buffer) => void, dataLen = 0, inData: Uint8Array | null = null): FakeCommand {
  const cmd = new FakeCommand(q, dataLen);
  build(cmd.sqe);
  cmd.inData = inData;
  executeIo(cmd, ctx);
  for (const s of ctx.subsystems.values()) for (const ns of s.namespaces.values()) ns.backend.kick();
  return cmd;
}

export function propertySet(q: HostQueue, ctx: TargetContext, offset: number, value: number): FakeCommand {
  return admin(q, ctx, (sqe) => {
    sqe[0] = 0x7f;
    sqe[4] = FabricsType.PropertySet;
    sqe.writeUInt32LE(offset, FabricsSqe.propOffset);
    sqe.writeUInt32LE(value, FabricsSqe.propValue);
  }, 0);
}

export function propertyGet(q: HostQueue, ctx: TargetContext, offset: number, size8 = false): FakeCommand {
  return admin(q, ctx, (sqe) => {
    sqe[0] = 0x7f;
    sqe[4] = FabricsType.PropertyGet;
    sqe[FabricsSqe.propAttrib] = size8 ? 1 : 0;
    sqe.writeUInt32LE(offset, FabricsSqe.propOffset);
  }, 0);
}

/** A connected, enabled admin queue on the test subsystem. */
export function enabledAdmin(ctx: TargetContext, kato = 0): FakeQueue {
  const q = new FakeQueue(ctx.config.ports[0]!);
  const c = connectCommand(q, { kato });
  executeAdmin(c, ctx);
  if (c.status !== 0) throw new Error(`connect failed: ${c.status}`);
  // CC: EN, IOSQES 6, IOCQES 4
  propertySet(q, ctx, 0x14, 1 | (6 << 16) | (4 << 20));
  return q;
}

/**
 * A RAM backend that records how each write reached it (the FUA flag of writes and write zeroes) and has
 * no in-memory view, so reads and compares go through submitRead like on a file.
 */
export class RecordingBackend extends RamBackend {
  /** One entry per submitWrite / submitWriteZeroes: [operation, fua]. */
  readonly writes: ['write' | 'zeroes', boolean][] = [];
  override view(): Uint8Array | null {
    return null;
  }
  override submitWrite(req: BackendRequest, offset: number, src: Uint8Array, fua: boolean): void {
    this.writes.push(['write', fua]);
    super.submitWrite(req, offset, src, fua);
  }
  override submitWriteZeroes(req: BackendRequest, offset: number, length: number, fua: boolean): void {
    this.writes.push(['zeroes', fua]);
    super.submitWriteZeroes(req, offset, length, fua);
  }
}

/** Puts a RecordingBackend under namespace `nsid` of the test subsystem and returns it. */
export function recordNamespace(ctx: TargetContext, nsid = 1): RecordingBackend {
  const s = ctx.subsystems.get(SUBNQN)!;
  const nc = s.config.namespaces.find((n) => n.nsid === nsid)!;
  if (nc.backing.type !== 'ram') throw new Error('recordNamespace: RAM namespaces only');
  const b = new RecordingBackend(nc.backing.size);
  s.namespaces.set(nsid, new Namespace(nc, b));
  return b;
}

/** Connects I/O queue `qid` to the controller of the enabled admin queue `adminQ`. */
export function ioQueue(ctx: TargetContext, adminQ: FakeQueue, qid = 1): FakeQueue {
  const q = new FakeQueue(ctx.config.ports[0]!);
  const c = connectCommand(q, { qid, cntlid: adminQ.ctrl!.cntlid, sqsize: 31 });
  executeAdmin(c, ctx);
  if (c.status !== 0) throw new Error(`I/O queue connect failed: ${c.status}`);
  return q;
}
