// The two fuzz targets. Each runs one input and returns the first invariant it broke (or null),
// plus feature hashes of what the input made the target do (the mutator keeps inputs that show new
// ones).
//
// reader: the PDU reader alone, fed the input once in its own chunking and once per connection in
//   one piece; both runs must report the same PDUs, and the reader's callbacks must keep their
//   contract (header sizes, data lengths, nothing after a fatal error).
// connection: whole connections in-process over fake sockets, wired to one TargetContext; the
//   responses are checked against the commands sent (wire.ts), and after every connection is closed
//   nothing may be left behind (pool buffers, controllers, queue and in-flight counters).
import { PduReader, type PduSink } from '../../src/transport/tcp/pdu-reader.js';
import { CH, DIGEST_LEN, HLEN, IC, PduType } from '../../src/spec/pdu.js';
import { crc32c } from '../../src/native/crc32c.js';
import { StatField, threadStats } from '../../src/runtime/stats.js';
import { buildTarget, LIMITS, openConnection, type FuzzConnection, type FuzzTarget } from './harness.js';
import { FakeSocket } from './fake-socket.js';
import { FLAG_TURN, MAX_CONNS, type FuzzInput } from './input.js';
import { TimerTrap } from './timers.js';
import { templateHash } from './log.js';
import { PoolGuard } from './pool-guard.js';
import { InputMirror, newCounts, OutputChecker, type CidCounts, type Violation } from './wire.js';

export type { Violation };

export interface RunResult {
  violation: Violation | null;
  /** Feature hashes (deduplicated by the caller). */
  features: number[];
  /** connection target: what the target sent, over all connections. */
  summary?: { completions: number; failed: number; termReqs: number; r2t: number; c2hData: number };
}

export interface FuzzTargetRunner {
  readonly name: string;
  run(input: FuzzInput): Promise<RunResult> | RunResult;
  dispose(): void;
}

const TARGET_ACCEPT: readonly number[] = [PduType.ICReq, PduType.H2CTermReq, PduType.CapsuleCmd, PduType.H2CData];
/** The target's own PLEN limit for these LIMITS (header + largest payload + digests + slack). */
const READER_MAX_PLEN = 128 + Math.max(8192, LIMITS.inlineDataSize, LIMITS.maxH2CData) + 2 * DIGEST_LEN + 256;

// ---------------------------------------------------------------------------------------------
// reader

function fnv(h: number, v: number): number {
  return Math.imul(h ^ v, 0x01000193) >>> 0;
}

class RecordingSink implements PduSink {
  readonly reader: PduReader;
  hash = 0x811c9dc5;
  events = 0;
  violation: Violation | null = null;
  features: number[] | null = null;
  #fatal = false;
  #sawIcreq = false;
  #pendingLen = -1;
  readonly #buf: Buffer;

  constructor(buf: Buffer) {
    this.#buf = buf;
    this.reader = new PduReader(this, { accept: TARGET_ACCEPT, maxPlen: READER_MAX_PLEN });
  }

  #fail(invariant: string, detail: string): void {
    if (!this.violation) this.violation = { invariant, detail };
  }

  #checkHeader(hdr: Buffer, what: string): void {
    const type = hdr[CH.pduType]!;
    const hlen = (HLEN as Record<number, number>)[type];
    if (!TARGET_ACCEPT.includes(type) || hlen === undefined) return this.#fail('reader-contract', `${what}: PDU type 0x${type.toString(16)} is not one the reader accepts`);
    if (hdr[CH.hlen] !== hlen) this.#fail('reader-contract', `${what}: HLEN ${hdr[CH.hlen]} for type 0x${type.toString(16)}`);
    if (hdr.length !== hlen && hdr.length !== hlen + DIGEST_LEN) this.#fail('reader-contract', `${what}: header of ${hdr.length} bytes for HLEN ${hlen}`);
  }

  onHeader(hdr: Buffer, dataLen: number): Uint8Array | null {
    if (this.#fatal) this.#fail('reader-contract', 'onHeader after onFatal');
    this.#checkHeader(hdr, 'onHeader');
    // Every PDU's header comes to onHeader first (dataLen 0 for a PDU without data).
    if (!(dataLen >= 0 && dataLen <= READER_MAX_PLEN)) this.#fail('reader-contract', `onHeader with dataLen ${dataLen}`);
    if (this.#pendingLen >= 0) this.#fail('reader-contract', 'onHeader twice without onPdu');
    this.#pendingLen = dataLen;
    this.hash = fnv(fnv(this.hash, 0x48), dataLen);
    return this.#buf.subarray(0, Math.max(0, Math.min(dataLen, this.#buf.length)));
  }

  onPdu(hdr: Buffer, data: Uint8Array | null, ddgstOk: boolean): void {
    if (this.#fatal) this.#fail('reader-contract', 'onPdu after onFatal');
    this.#checkHeader(hdr, 'onPdu');
    const type = hdr[CH.pduType]!;
    if (this.#pendingLen < 0) this.#fail('reader-contract', 'onPdu without onHeader first');
    if (data === null) {
      if (this.#pendingLen > 0) this.#fail('reader-contract', 'onPdu without data after onHeader gave a buffer');
    } else if (data.length !== this.#pendingLen) {
      this.#fail('reader-contract', `onPdu with ${data.length} bytes of data, onHeader said ${this.#pendingLen}`);
    }
    this.#pendingLen = -1;
    let h = fnv(this.hash, 0x50);
    for (let i = 0; i < hdr.length; i++) h = fnv(h, hdr[i]!);
    h = fnv(h, ddgstOk ? 1 : 0);
    if (data) h = fnv(fnv(h, data.length), crc32c(data));
    this.hash = h;
    this.events++;
    if (this.features) {
      // Type, digests in force, data size class, padding before the data.
      const size = data ? 32 - Math.clz32(data.length) : 0;
      const padded = data && hdr[CH.pdo]! > hdr.length ? 1 : 0;
      this.features.push(((type << 12) | (size << 4) | (padded << 3) | (this.reader.hdgst ? 4 : 0) | (this.reader.ddgst ? 2 : 0) | (ddgstOk ? 1 : 0)) >>> 0);
    }
    if (type === PduType.ICReq && !this.#sawIcreq) {
      // As the target does: the first ICReq settles the digests of everything after it.
      this.#sawIcreq = true;
      this.reader.hdgst = (hdr[IC.digest]! & 1) !== 0;
      this.reader.ddgst = (hdr[IC.digest]! & 2) !== 0;
    }
  }

  onFatal(fes: number, fei: number, _hdr: Buffer, reason: string): void {
    if (this.#fatal) this.#fail('reader-contract', 'onFatal twice');
    this.#fatal = true;
    this.hash = fnv(fnv(fnv(this.hash, 0x46), fes), fei);
    this.features?.push(templateHash(reason, 0x46), 0x46000000 | (fes << 16) | (fei & 0xffff));
  }
}

export class ReaderTarget implements FuzzTargetRunner {
  readonly name = 'reader';
  /** Data destinations: one per connection (their PDUs interleave), one for the whole-stream runs. */
  readonly #bufs = Array.from({ length: MAX_CONNS + 1 }, () => Buffer.allocUnsafe(READER_MAX_PLEN));

  run(input: FuzzInput): RunResult {
    const features: number[] = [];
    const chunked: RecordingSink[] = [];
    const whole: Buffer[][] = [];
    try {
      for (const c of input) {
        const s = (chunked[c.conn] ??= new RecordingSink(this.#bufs[c.conn]!));
        if (!s.features) s.features = features;
        s.reader.push(c.bytes);
        (whole[c.conn] ??= []).push(c.bytes);
      }
    } catch (err) {
      return { violation: exceptionViolation('reader push (chunked)', err), features };
    }
    for (let conn = 0; conn < MAX_CONNS; conn++) {
      const a = chunked[conn];
      if (!a) continue;
      if (a.violation) return { violation: a.violation, features };
      const b = new RecordingSink(this.#bufs[MAX_CONNS]!);
      try {
        b.reader.push(Buffer.concat(whole[conn]!));
      } catch (err) {
        return { violation: exceptionViolation('reader push (whole stream)', err), features };
      }
      if (b.violation) return { violation: b.violation, features };
      if (a.hash !== b.hash || a.events !== b.events) {
        return {
          violation: { invariant: 'chunking-divergence', detail: `connection ${conn}: ${a.events} PDUs (hash ${a.hash.toString(16)}) fed in chunks, ${b.events} (hash ${b.hash.toString(16)}) fed whole` },
          features,
        };
      }
    }
    return { violation: null, features };
  }

  dispose(): void {}
}

function exceptionViolation(where: string, err: unknown): Violation {
  const e = err instanceof Error ? err : new Error(String(err));
  return { invariant: 'exception', detail: `${where}: ${e.name}: ${e.message}`, stack: e.stack };
}

// ---------------------------------------------------------------------------------------------
// connection

interface Live {
  socket: FakeSocket;
  conn: FuzzConnection;
  mirror: InputMirror;
  out: OutputChecker;
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class ConnectionTarget implements FuzzTargetRunner {
  readonly name = 'connection';
  readonly #t: FuzzTarget;
  readonly #trap = new TimerTrap();
  readonly #counts: CidCounts[] = [];
  #guard: PoolGuard | null = null;
  #uncaught: unknown = null;
  readonly #onUncaught = (err: unknown): void => {
    this.#uncaught ??= err;
  };
  /** Inputs run, connections opened, bytes the target wrote. */
  connections = 0;
  outBytes = 0;

  private constructor(t: FuzzTarget) {
    this.#t = t;
    for (let i = 0; i < MAX_CONNS; i++) this.#counts.push(newCounts());
    this.#trap.install();
    process.on('uncaughtException', this.#onUncaught);
    process.on('unhandledRejection', this.#onUncaught);
  }

  static async create(): Promise<ConnectionTarget> {
    // PDU data that a read leaves unfinished is read straight into its destination, however little
    // is missing (the fuzzer's transfers are small): the direct receive path is fuzzed too.
    PduReader.directMin = 1;
    return new ConnectionTarget(await buildTarget());
  }

  get timersStarted(): number {
    return this.#trap.started;
  }

  #open(i: number): Live {
    const t = this.#t;
    const counts = this.#counts[i]!;
    counts.reset();
    const mirror = new InputMirror(counts);
    const out = new OutputChecker(i, counts);
    const socket = new FakeSocket((b) => {
      this.outBytes += b.length;
      out.reader.push(b as Buffer);
    });
    socket.remotePort = 40000 + i;
    const conn = openConnection(socket.asSocket, t.port, t.ctx, () => undefined);
    this.#guard ??= new PoolGuard(conn.pool);
    this.connections++;
    return { socket, conn, mirror, out };
  }

  async run(input: FuzzInput): Promise<RunResult> {
    const t = this.#t;
    t.reset();
    t.log.reset();
    this.#uncaught = null;
    this.#guard?.reset();
    // The counters are this thread's: every input starts them at zero.
    const stats = threadStats().f;
    stats[StatField.QUEUES] = 0;
    stats[StatField.INFLIGHT] = 0;
    const live: (Live | undefined)[] = [];
    let violation: Violation | null = null;
    this.#trap.active = true;
    try {
      for (const c of input) {
        if (c.flags & FLAG_TURN) await turn();
        let l = live[c.conn];
        if (!l) {
          try {
            l = live[c.conn] = this.#open(c.conn);
          } catch (err) {
            violation = exceptionViolation('opening a connection', err);
            break;
          }
        }
        l.mirror.reader.push(c.bytes);
        try {
          l.socket.receive(c.bytes);
        } catch (err) {
          violation = exceptionViolation(`receive on connection ${c.conn}`, err);
          break;
        }
      }
      // Responses go out on the next turn; a shutdown's flush completes a turn later.
      await turn();
      await turn();
    } finally {
      for (const l of live) {
        if (!l) continue;
        try {
          l.conn.close('fuzz: end of input');
        } catch (err) {
          violation ??= exceptionViolation('close', err);
        }
      }
      await turn();
      t.kickBackends();
      this.#trap.active = false;
      this.#trap.cancelAll();
    }
    const features: number[] = [];
    const summary = { completions: 0, failed: 0, termReqs: 0, r2t: 0, c2hData: 0 };
    const log = t.log;
    if (process.env.FUZZ_DEBUG) for (const e of (log as unknown as { dbg: string[] }).dbg ?? []) console.log(e);
    for (let i = 0; i < log.lineHashes.length; i++) {
      const h = log.lineHashes[i]!;
      features.push(h, fnv(h, log.lineHashes[i + 1] ?? 0));
    }
    for (const l of live) {
      if (!l) continue;
      violation ??= l.out.violation;
      for (const f of l.out.features) features.push(f);
      const s = l.out.summary;
      summary.completions += s.completions;
      summary.failed += s.failed;
      summary.termReqs += s.termReqs;
      summary.r2t += s.r2t;
      summary.c2hData += s.c2hData;
    }
    if (!violation && this.#uncaught !== null) violation = exceptionViolation('uncaught', this.#uncaught);
    if (!violation) {
      const internal = log.errors.find((e) => e.msg.includes('internal error'));
      if (internal) violation = { invariant: 'internal-error-logged', detail: internal.msg, stack: internal.stack ?? undefined };
    }
    const guard = this.#guard;
    if (!violation && guard?.doubleRelease) {
      violation = { invariant: 'buffer-double-release', detail: 'a pool buffer was released twice', stack: guard.doubleRelease };
    }
    if (!violation && guard && guard.out.size !== 0) {
      violation = { invariant: 'buffer-leak', detail: `${guard.out.size} pool buffer(s) still handed out after every connection closed` };
    }
    if (!violation && t.ctx.controllerCount() !== 0) {
      violation = { invariant: 'controller-leak', detail: `${t.ctx.controllerCount()} controller(s) left after every connection closed` };
    }
    if (!violation && stats[StatField.QUEUES] !== 0) {
      violation = { invariant: 'queue-count-leak', detail: `queue counter ${stats[StatField.QUEUES]} after every connection closed (started at 0)` };
    }
    if (!violation && stats[StatField.INFLIGHT] !== 0) {
      violation = { invariant: 'inflight-leak', detail: `in-flight counter ${stats[StatField.INFLIGHT]} after every connection closed (started at 0)` };
    }
    return { violation, features, summary };
  }

  dispose(): void {
    this.#trap.uninstall();
    process.off('uncaughtException', this.#onUncaught);
    process.off('unhandledRejection', this.#onUncaught);
  }
}

export async function createTarget(name: string): Promise<FuzzTargetRunner> {
  if (name === 'reader') return new ReaderTarget();
  if (name === 'connection') return ConnectionTarget.create();
  throw new Error(`unknown target '${name}' (reader | connection)`);
}
