// A socket stand-in for driving a TcpConnection in-process: what the connection writes is parsed
// back into PDUs (and each write is kept as written, for tests of the writer side); what a test
// "sends" is emitted as 'data'.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { PduReader, type PduSink } from '../../../src/transport/tcp/pdu-reader.js';
import { PduType } from '../../../src/spec/pdu.js';

export interface SeenPdu {
  type: number;
  hdr: Buffer;
  data: Buffer | null;
  /** False when the data digest did not match. */
  ddgstOk: boolean;
}

/** One socket.write() call: the very chunk passed (not a copy), and how it was made. */
export interface SeenWrite {
  chunk: Uint8Array;
  /** Written between cork() and uncork(). */
  corked: boolean;
  /** A callback came with it. */
  withCallback: boolean;
}

export class FakeSocket extends EventEmitter implements PduSink {
  readonly remoteAddress = '127.0.0.1';
  readonly remotePort = 5555;
  readonly localAddress = '127.0.0.1';
  writableLength = 0;
  paused = false;
  ended = false;
  destroyed = false;
  readonly pdus: SeenPdu[] = [];
  readonly writes: SeenWrite[] = [];
  /** What write() returns (false: as if over the high-water mark). */
  writeReturns = true;
  #corks = 0;
  /** Order of events, for ordering assertions ('pdu 5', 'end', 'destroy'). */
  readonly events: string[] = [];
  readonly #reader = new PduReader(this, {
    accept: [PduType.ICResp, PduType.C2HTermReq, PduType.CapsuleResp, PduType.C2HData, PduType.R2T],
    maxPlen: 1 << 24,
  });

  readonly #parse: boolean;

  /**
   * hdgst/ddgst: parse what is written as on a connection that negotiated those digests.
   * parse false: only record the writes (for tests that write bytes that are not PDUs).
   */
  constructor(o: { hdgst?: boolean; ddgst?: boolean; parse?: boolean } = {}) {
    super();
    this.#reader.hdgst = o.hdgst ?? false;
    this.#reader.ddgst = o.ddgst ?? false;
    this.#parse = o.parse ?? true;
  }

  get asSocket(): Socket {
    return this as unknown as Socket;
  }

  setNoDelay(): this {
    return this;
  }
  pause(): this {
    this.paused = true;
    return this;
  }
  resume(): this {
    this.paused = false;
    return this;
  }
  cork(): void {
    this.#corks++;
  }
  uncork(): void {
    if (this.#corks > 0) this.#corks--;
  }
  write(b: Uint8Array, cb?: () => void): boolean {
    this.writes.push({ chunk: b, corked: this.#corks > 0, withCallback: cb !== undefined });
    if (b.length > 0 && this.#parse) this.#reader.push(Buffer.from(b));
    if (cb) queueMicrotask(cb);
    return this.writeReturns;
  }
  /** Every byte written so far, in order. */
  written(): Buffer {
    return Buffer.concat(this.writes.map((w) => w.chunk));
  }
  /** Our FIN; the peer answers by closing its side (as the Linux host and Node sockets do). */
  end(): this {
    if (this.ended) return this;
    this.ended = true;
    this.events.push('end');
    setTimeout(() => this.destroy(), 1);
    return this;
  }
  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.events.push('destroy');
    queueMicrotask(() => this.emit('close'));
    return this;
  }
  /** The peer sends bytes. */
  send(b: Buffer): void {
    this.emit('data', b);
  }

  onHeader(_hdr: Buffer, dataLen: number): Uint8Array | null {
    return Buffer.alloc(dataLen);
  }
  onPdu(hdr: Buffer, data: Uint8Array | null, ddgstOk: boolean): void {
    const copy = Buffer.from(hdr);
    this.pdus.push({ type: copy[0]!, hdr: copy, data: data ? Buffer.from(data) : null, ddgstOk });
    this.events.push(`pdu ${copy[0]}`);
  }
  onFatal(fes: number, fei: number, _hdr: Buffer, reason: string): void {
    throw new Error(`the target wrote a malformed PDU stream: ${reason} (FES ${fes}, FEI ${fei})`);
  }

  ofType(type: number): SeenPdu[] {
    return this.pdus.filter((p) => p.type === type);
  }
}

/**
 * Lets queued immediates, microtasks and timers of 0 ms run. The 5 ms alone is not enough on a
 * loaded machine: one loop turn can outlast it, and the timer then fires while the target's chain of
 * immediates (receive, execute, batched send) is still under way; the loop turns after it let such
 * a chain finish whatever the clock did.
 */
export async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 5));
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
}

/** Waits until cond() holds (polling each turn), failing after timeoutMs. */
export async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
