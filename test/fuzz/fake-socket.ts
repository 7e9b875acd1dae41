// An in-process stand-in for net.Socket: what the TCP transport calls (events, write/cork/uncork,
// pause/resume, end/destroy, addresses), with every written byte handed to `onWrite` synchronously.
// Write callbacks run on a microtask, as a real socket runs them after the write completes.
//
// Received bytes go where a real socket would put them: once the transport asked for a user buffer
// (transport/tcp/user-buffer.ts), each chunk is delivered as Node delivers reads into one: a read
// lands in the buffer the handle was given, at most its length, and after each read the socket's
// buffer generator names where the next one lands (a command's buffer, when PDU data is read
// straight into place). Without a user buffer, chunks are 'data' events.
import net, { type Socket } from 'node:net';

type Listener = (...args: unknown[]) => void;

/** Node's symbols for a socket's user buffer, its read callback and its buffer generator. */
const sym: Record<string, symbol> = {};
{
  const probe = new net.Socket({ onread: { buffer: () => Buffer.alloc(1), callback: () => true } } as unknown as net.SocketConstructorOpts);
  for (const s of Object.getOwnPropertySymbols(probe)) if (s.description) sym[s.description] = s;
  probe.destroy();
}

export class FakeSocket {
  remoteAddress = '192.0.2.1';
  remotePort = 40000;
  localAddress = '192.0.2.2';
  localPort = 4420;
  writableLength = 0;
  destroyed = false;
  ended = false;
  paused = false;
  corked = 0;
  readonly #listeners = new Map<string, Listener[]>();
  readonly #onWrite: (chunk: Uint8Array) => void;
  /** Where the next read lands once the transport set a user buffer (the native side's buffer). */
  #userBuf: Uint8Array | null = null;
  readonly _handle = {
    useUserBuffer: (b: Uint8Array): void => {
      this.#userBuf = b;
    },
  };

  constructor(onWrite: (chunk: Uint8Array) => void) {
    this.#onWrite = onWrite;
  }

  /** The typed view the transport's constructor takes. */
  get asSocket(): Socket {
    return this as unknown as Socket;
  }

  on(event: string, fn: Listener): this {
    let l = this.#listeners.get(event);
    if (!l) this.#listeners.set(event, (l = []));
    l.push(fn);
    return this;
  }

  once(event: string, fn: Listener): this {
    const wrapped: Listener = (...args) => {
      this.off(event, wrapped);
      fn(...args);
    };
    return this.on(event, wrapped);
  }

  off(event: string, fn: Listener): this {
    const l = this.#listeners.get(event);
    if (l) {
      const i = l.indexOf(fn);
      if (i >= 0) l.splice(i, 1);
    }
    return this;
  }

  removeListener(event: string, fn: Listener): this {
    return this.off(event, fn);
  }

  emit(event: string, ...args: unknown[]): boolean {
    const l = this.#listeners.get(event);
    if (!l || l.length === 0) return false;
    for (const fn of l.length === 1 ? l : [...l]) fn(...args);
    return true;
  }

  /** Delivers one received chunk (as a socket 'data' event). False when nobody listens. */
  receive(chunk: Buffer): boolean {
    if (this.destroyed || this.paused) return false;
    if (this.#userBuf === null) return this.emit('data', chunk);
    const fields = this as unknown as Record<symbol, unknown>;
    for (let at = 0; at < chunk.length && !this.destroyed; ) {
      const target = this.#userBuf;
      const n = Math.min(target.length, chunk.length - at);
      target.set(chunk.subarray(at, at + n));
      at += n;
      (fields[sym.kBufferCb!] as (n: number, buf: unknown) => unknown)(n, fields[sym.kBuffer!]);
      const gen = fields[sym.kBufferGen!];
      if (typeof gen === 'function') {
        const next: unknown = gen();
        if (next instanceof Uint8Array) {
          fields[sym.kBuffer!] = next;
          this.#userBuf = next;
        }
      }
    }
    return true;
  }

  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  cork(): void {
    this.corked++;
  }

  uncork(): void {
    if (this.corked > 0) this.corked--;
  }

  write(chunk: Uint8Array | string, a?: unknown, b?: unknown): boolean {
    const cb = (typeof a === 'function' ? a : typeof b === 'function' ? b : null) as ((err?: Error | null) => void) | null;
    if (typeof chunk === 'string') chunk = Buffer.from(chunk);
    if (!this.destroyed && !this.ended && chunk.length > 0) this.#onWrite(chunk);
    if (cb) {
      const err = this.destroyed ? new Error('write after destroy') : null;
      queueMicrotask(() => cb(err));
    }
    return true;
  }

  pause(): this {
    this.paused = true;
    return this;
  }

  resume(): this {
    this.paused = false;
    return this;
  }

  end(): this {
    this.ended = true;
    return this;
  }

  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    // Like net.Socket: 'close' comes on a later tick, never from inside destroy().
    process.nextTick(() => this.emit('close', false));
    return this;
  }
}
