// A TCP socket seen through the addon's TLS engine (tls-engine.ts): a net.Socket whose bytes are the
// decrypted stream, so code written for a socket (TcpConnection, the initiator's queue) runs over TLS
// unchanged. It has no descriptor of its own: the TCP socket under it ("raw") carries the records.
//
// Reading: raw 'data' -> engine.feed -> engine.read -> push(). When the reader stops taking data
// (paused, or its buffer over the high-water mark), raw is paused too, so the TCP window closes and a
// peer that sends too much is held back; _read() (the reader wants more) resumes it.
// Writing: each corked batch is one _writev, one call into the engine (small pieces share records)
// and one write of the records to raw. Its callback waits for raw's 'drain' when raw is over its
// high-water mark, so writableLength and 'drain' tell a writer about a peer that stops reading.
// Ending: close_notify, then FIN. The peer's close_notify or FIN ends the readable side.
// Changing threads (an I/O queue handed to a worker): freeze() stops reading raw for good (what raw
// had buffered goes into the engine, still encrypted), handOff() takes the session out of the engine
// with the decrypted bytes not yet read; the other thread wraps a socket over the same connection and
// the adopted engine with `{ adopted: plaintext }`.
//
// Events beyond a socket's: 'secure' once the handshake is done (a client also emits 'secureConnect');
// a handshake failure destroys it with an error whose code names the reason
// (ERR_SSL_BINDER_DOES_NOT_VERIFY, ERR_SSL_NO_SHARED_CIPHER, ...).
import net from 'node:net';
import { TlsState, type NativeTlsEngine } from './tls-engine.js';

/** Decrypted bytes held for a paused reader before raw is paused. */
const READ_HIGH_WATER = 256 * 1024;
/** The most plaintext one read hands over. */
const READ_MAX = 256 * 1024;
/** Size of the buffers records are sent in, and how many idle ones the thread keeps. */
const OUT_CHUNK = 256 * 1024;
const SPARE_MAX = 16;
const spare: Buffer[] = [];
function release(buf: Buffer): void {
  if (spare.length < SPARE_MAX) spare.push(buf);
}

export class TlsSocket extends net.Socket {
  /** As on Node's TLSSocket: the bytes are encrypted on the wire. */
  readonly encrypted = true;
  readonly raw: net.Socket;
  readonly #engine: NativeTlsEngine;
  readonly #server: boolean;
  #secured = false;
  /** raw is paused because the reader's buffer is full. */
  #held = false;
  /** Set by receiveInto(): the reader's buffer and callback. */
  #into: { buf: Buffer; onRead: (buf: Buffer, length: number) => void } | null = null;
  #intoPaused = false;
  #pulling = false;
  /** A _writev callback waiting for raw's 'drain'. */
  #writeDone: ((err?: Error | null) => void) | null = null;
  /** freeze() was called: raw is never read again here. */
  #frozen = false;

  /**
   * Takes over `raw` (its 'data' from now on); `initial`: bytes already read from it. The engine is
   * freed with the socket. `o.adopted`: the engine's session is established already (it came from
   * another thread); the decrypted bytes that thread had not consumed yet are read first.
   */
  constructor(raw: net.Socket, engine: NativeTlsEngine, server: boolean, initial?: Buffer, o: { adopted?: Buffer | null } = {}) {
    super({ allowHalfOpen: false, readableHighWaterMark: READ_HIGH_WATER } as net.SocketConstructorOpts);
    this.raw = raw;
    this.#engine = engine;
    this.#server = server;
    if (o.adopted !== undefined) {
      this.#secured = engine.state() === TlsState.ESTABLISHED;
      if (o.adopted !== null && o.adopted.length > 0) this.push(o.adopted);
    }
    raw.on('data', (chunk: Buffer) => this.#onRaw(chunk));
    raw.on('end', () => this.#onRawEnd());
    raw.on('drain', () => this.#onRawDrain());
    raw.on('error', (err) => this.destroy(err));
    raw.on('close', () => this.destroy());
    if (!server && o.adopted === undefined) this.#flight(engine.feed());
    if (initial !== undefined && initial.length > 0) this.#onRaw(initial);
    if (!this.destroyed) raw.resume();
  }

  /** The negotiated suite (null before the handshake ends). */
  get cipher(): string | null {
    return this.#engine.cipher();
  }

  get secured(): boolean {
    return this.#secured;
  }

  // The addresses are raw's (this socket has no handle to ask).
  _getpeername(): { address?: string; port?: number; family?: string } {
    return { address: this.raw.remoteAddress, port: this.raw.remotePort, family: this.raw.remoteFamily };
  }

  _getsockname(): { address?: string; port?: number; family?: string } {
    return { address: this.raw.localAddress, port: this.raw.localPort, family: this.raw.localFamily };
  }

  override setNoDelay(noDelay?: boolean): this {
    this.raw.setNoDelay(noDelay);
    return this;
  }

  override setKeepAlive(enable?: boolean, initialDelay?: number): this {
    this.raw.setKeepAlive(enable, initialDelay);
    return this;
  }

  /**
   * Sends what the engine has for the peer; false when raw is over its high-water mark. The records
   * go out in buffers of the thread's spare pool, each back in the pool once raw has written it: no
   * buffer is allocated per write (fresh ones only while all are in flight).
   */
  #flush(): boolean {
    let ok = true;
    for (;;) {
      const buf = spare.pop() ?? Buffer.allocUnsafeSlow(OUT_CHUNK);
      const n = this.raw.destroyed ? 0 : this.#engine.takeInto(buf);
      if (n === 0) {
        release(buf);
        return ok;
      }
      ok = this.raw.write(buf.subarray(0, n), () => release(buf));
    }
  }

  /** After a feed: send the engine's answer, then act on its state. */
  #flight(state: TlsState): void {
    this.#flush();
    if (state === TlsState.FAILED) return this.#failed();
    if (!this.#secured && state === TlsState.ESTABLISHED) {
      this.#secured = true;
      this.emit('secure');
      if (!this.#server) this.emit('secureConnect');
    }
  }

  #failed(): void {
    const e = this.#engine.error();
    const err = Object.assign(new Error(e?.message ?? 'TLS failed'), { code: e?.code ?? 'ERR_SSL_PROTOCOL' });
    // The alert already went to raw; end it rather than reset it, so the peer reads the alert.
    this.raw.end();
    this.destroy(err);
  }

  /**
   * Bytes read from raw by its owner (raw reading into a reused buffer instead of emitting 'data'):
   * the engine copies them before this returns.
   */
  feedRaw(chunk: Buffer): void {
    this.#onRaw(chunk);
  }

  #onRaw(chunk: Buffer): void {
    if (this.destroyed) return;
    if (this.#frozen) {
      // Read by freeze() before raw stopped: kept in the engine, decrypted where the session goes.
      this.#engine.feed(chunk);
      return;
    }
    let state: TlsState;
    try {
      state = this.#engine.feed(chunk);
    } catch (err) {
      // The server's lookup threw inside the handshake: this connection fails, nothing else.
      this.raw.end();
      return void this.destroy(err as Error);
    }
    this.#flight(state);
    if (this.#secured && !this.destroyed) this.#pull();
  }

  /**
   * From now on every decrypted read goes to `onRead(buf, length)` in `buf`, which is reused: the
   * callback processes or copies the bytes before it returns (as with a net.Socket's `onread`
   * option); 'data' is not emitted. pause() and resume() stop and restart the reads. False (nothing
   * changes) when bytes already wait in the readable buffer: they go out as 'data' then.
   */
  receiveInto(buf: Buffer, onRead: (buf: Buffer, length: number) => void): boolean {
    if (this.readableLength > 0) return false;
    this.#into = { buf, onRead };
    return true;
  }

  override pause(): this {
    if (this.#into !== null && !this.#intoPaused) {
      this.#intoPaused = true;
      this.raw.pause();
    }
    return super.pause();
  }

  override resume(): this {
    super.resume();
    if (this.#into !== null && this.#intoPaused) {
      this.#intoPaused = false;
      // Inside onRead (the reader resumed itself): the running loop goes on.
      if (this.#secured && !this.#pulling && !this.destroyed) this.#pull();
      if (!this.#intoPaused && !this.destroyed) this.raw.resume();
    }
    return this;
  }

  /** receiveInto mode: reads into the reader's buffer until it pauses or nothing is left. */
  #pullInto(into: { buf: Buffer; onRead: (buf: Buffer, length: number) => void }): void {
    if (this.#pulling) return;
    this.#pulling = true;
    try {
      while (!this.#intoPaused && !this.destroyed) {
        const n = this.#engine.readInto(into.buf);
        if (n === 0) break;
        into.onRead(into.buf, n);
      }
    } finally {
      this.#pulling = false;
    }
    if (this.destroyed) return;
    this.#flush(); // a KeyUpdate answer
    const state = this.#engine.state();
    if (state === TlsState.FAILED) return this.#failed();
    // The peer's close_notify: answer it and end (the peer then closes, and so does this socket).
    if (state === TlsState.CLOSED) this.end();
  }

  /** Hands the decrypted bytes to the reader until it is full. */
  #pull(): void {
    if (this.#into !== null) return this.#pullInto(this.#into);
    let more = true;
    while (more) {
      // A buffer of Node's own (pooled when small) per read: the reader may keep it.
      const cap = Math.min(this.#engine.readable(), READ_MAX);
      if (cap === 0) break;
      const buf = Buffer.allocUnsafe(cap);
      const n = this.#engine.readInto(buf);
      if (n === 0) break;
      more = this.push(n === cap ? buf : buf.subarray(0, n));
    }
    this.#flush(); // a KeyUpdate answer
    const state = this.#engine.state();
    if (state === TlsState.FAILED) return this.#failed();
    if (state === TlsState.CLOSED) {
      this.push(null);
      return;
    }
    if (!more && !this.#held) {
      this.#held = true;
      this.raw.pause();
    }
  }

  #onRawEnd(): void {
    if (this.destroyed) return;
    // FIN without close_notify mid-handshake: the handshake cannot end.
    if (!this.#secured) return void this.destroy(Object.assign(new Error('the peer closed the connection during the TLS handshake'), { code: 'ECONNRESET' }));
    this.push(null);
  }

  #onRawDrain(): void {
    const done = this.#writeDone;
    this.#writeDone = null;
    done?.();
  }

  /**
   * Stops reading for good (a handoff to another thread): raw is paused and its reads stopped; what
   * raw had buffered goes into the engine (decrypted by whoever adopts the session). Nothing is read
   * from the connection here afterwards; writes still go out.
   */
  freeze(): void {
    this.#frozen = true;
    this.pause();
    const raw = this.raw;
    raw.pause();
    const handle = (raw as unknown as { _handle?: { readStop?: () => number } })._handle;
    // read() emits each chunk as 'data' too: #onRaw feeds it (frozen: nothing is decrypted).
    while (raw.read() !== null);
    handle?.readStop?.();
  }

  /** Undoes freeze() (the handoff was called off). */
  thaw(): void {
    if (!this.#frozen || this.destroyed) return;
    this.#frozen = false;
    this.#held = false;
    this.raw.resume();
    (this.raw as unknown as { _handle?: { readStart?: () => number } })._handle?.readStart?.();
    this.resume();
    this.#pull();
  }

  /**
   * After freeze() and once every write has reached raw: takes the session out of the engine (the
   * handle for adoptTlsEngine in another thread). The decrypted bytes not yet read go out now as
   * 'data' to the listeners (they keep them), or with no listener are returned as `plaintext`. Null
   * when the session cannot move (not established); nothing changed then.
   */
  handOff(): { engine: bigint; plaintext: Buffer | null } | null {
    if (!this.#frozen || this.destroyed || this.#engine.state() !== TlsState.ESTABLISHED) return null;
    const engine = this.#engine.detach();
    if (engine === null) return null;
    const keep = this.listenerCount('data') === 0;
    const parts: Buffer[] = [];
    for (let b = this.read() as Buffer | null; b !== null; b = this.read() as Buffer | null) if (keep) parts.push(b);
    return { engine, plaintext: parts.length === 0 ? null : parts.length === 1 ? parts[0]! : Buffer.concat(parts) };
  }

  override _read(): void {
    if (!this.#secured || this.destroyed || this.#frozen) return;
    this.#pull();
    if (this.#held && !this.destroyed && this.#engine.state() === TlsState.ESTABLISHED) {
      this.#held = false;
      this.raw.resume();
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#send([chunk], cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    const pieces: Buffer[] = new Array<Buffer>(chunks.length);
    for (let i = 0; i < chunks.length; i++) pieces[i] = chunks[i]!.chunk;
    this.#send(pieces, cb);
  }

  #send(pieces: readonly (Buffer | string)[], cb: (err?: Error | null) => void): void {
    if (!this.#secured) return cb(Object.assign(new Error('TLS: write before the handshake ended'), { code: 'ERR_TLS_NOT_SECURE' }));
    const bufs = pieces.map((p) => (typeof p === 'string' ? Buffer.from(p) : p));
    if (!this.#engine.write(bufs)) {
      this.#flush();
      const e = this.#engine.error();
      return cb(Object.assign(new Error(e?.message ?? 'TLS write failed'), { code: e?.code ?? 'ERR_SSL_PROTOCOL' }));
    }
    if (this.#flush() || this.raw.destroyed) return cb();
    this.#writeDone = cb;
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.#secured && this.#engine.state() === TlsState.ESTABLISHED) {
      this.#engine.shutdown();
      this.#flush();
    }
    this.raw.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    this.#engine.free();
    this.raw.destroy();
    const done = this.#writeDone;
    this.#writeDone = null;
    done?.(err ?? new Error('socket destroyed'));
    // net.Socket's own, for a socket without a handle: the callback, then 'close'.
    (net.Socket.prototype as unknown as { _destroy(e: Error | null, c: (e: Error | null) => void): void })._destroy.call(this, err, cb);
  }
}
