// A socket stand-in for driving a TcpConnection in-process: what the connection writes is parsed
// back into PDUs; what a test "sends" is emitted as 'data'.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { PduReader, type PduSink } from '../../../src/transport/tcp/pdu-reader.js';
import { PduType } from '../../../src/spec/pdu.js';

export interface SeenPdu {
  type: number;
  hdr: Buffer;
  data: Buffer | null;
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
  /** Order of events, for ordering assertions ('pdu 5', 'end', 'destroy'). */
  readonly events: string[] = [];
  readonly #reader = new PduReader(this, {
    accept: [PduType.ICResp, PduType.C2HTermReq, PduType.CapsuleResp, PduType.C2HData, PduType.R2T],
    maxPlen: 1 << 24,
  });

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
  cork(): void {}
  uncork(): void {}
  write(b: Uint8Array, cb?: () => void): boolean {
    if (b.length > 0) this.#reader.push(Buffer.from(b));
    if (cb) queueMicrotask(cb);
    return true;
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
  onPdu(hdr: Buffer, data: Uint8Array | null): void {
    const copy = Buffer.from(hdr);
    this.pdus.push({ type: copy[0]!, hdr: copy, data: data ? Buffer.from(data) : null });
    this.events.push(`pdu ${copy[0]}`);
  }
  onFatal(): void {
    throw new Error('the target wrote a malformed PDU stream');
  }

  ofType(type: number): SeenPdu[] {
    return this.pdus.filter((p) => p.type === type);
  }
}

/** Lets queued immediates, microtasks and timers of 0 ms run. */
export function settle(): Promise<void> {
  return new Promise((r) => setTimeout(r, 5));
}

/** Waits until cond() holds (polling each turn), failing after timeoutMs. */
export async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
