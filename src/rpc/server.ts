// The JSON-RPC server on a Unix socket (mode 0600), framed as SPDK's: requests are JSON values sent
// back to back with no delimiter (whitespace between them is allowed, not needed); each response is
// one JSON value followed by "\n". Behaviour on the edges, as the reference server's:
//   - a value split over several reads waits for the rest; several values in one read are all
//     answered, in order;
//   - bytes that cannot be JSON: a Parse error (-32700, id null) and the connection is closed (there
//     is no point to resync at in a stream). The reference server builds that answer and then drops
//     it with the connection; this one sends it before closing, which no client can trip on;
//   - a value of more than 8192 JSON values: Parse error, connection closed;
//   - more than 256 KiB of one unfinished value: the connection is closed, with no answer;
//   - the client closing its side: answers still due are sent, then the connection closes; a
//     partial value is dropped;
//   - at most 64 connections at once.
import net from 'node:net';
import fs from 'node:fs';
import type { Logger } from '../util/log.js';
import { JsonScanner } from './json-scan.js';
import { parseJson } from './json-value.js';
import { answer, errorResponse, RpcCode, RpcError, type Dispatch } from './wire.js';

export const RPC_RECV_BUF_SIZE = 256 * 1024;
export const RPC_MAX_VALUES = 8192;
export const RPC_MAX_CONNS = 64;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** One client connection: its receive buffer, its scanner, its answers in request order. */
export class RpcConnection {
  readonly #socket: net.Socket;
  readonly #dispatch: Dispatch;
  readonly #log: Logger;
  #buf: Buffer = Buffer.alloc(0);
  #scanner = new JsonScanner();
  /** Requests run, and their answers go out, in order: each waits for the one before. */
  #chain: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(socket: net.Socket, dispatch: Dispatch, log: Logger) {
    this.#socket = socket;
    this.#dispatch = dispatch;
    this.#log = log;
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('end', () => this.#finish());
    socket.on('error', (err) => log.debug({ err }, 'rpc connection error'));
  }

  /** Bytes from the client (exposed for tests that feed split reads). */
  receive(chunk: Buffer): void {
    if (this.#stopped) return;
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    for (;;) {
      const r = this.#scanner.scan(this.#buf);
      if (r.kind === 'incomplete') {
        if (this.#buf.length > RPC_RECV_BUF_SIZE) {
          this.#log.warn({ bytes: this.#buf.length }, 'rpc request larger than 256 KiB: closing the connection');
          this.#stop(null);
        }
        return;
      }
      if (r.kind === 'invalid') {
        this.#log.warn({ at: r.at }, 'rpc parse error: closing the connection');
        this.#stop(errorResponse(undefined, new RpcError(RpcCode.PARSE_ERROR)));
        return;
      }
      const bytes = this.#buf.subarray(0, r.end);
      this.#buf = this.#buf.subarray(r.end);
      this.#scanner = new JsonScanner();
      let text: string;
      try {
        if (r.values > RPC_MAX_VALUES) throw new Error('too many values');
        text = utf8.decode(bytes);
      } catch (err) {
        this.#log.warn({ reason: (err as Error).message }, 'rpc parse error: closing the connection');
        this.#stop(errorResponse(undefined, new RpcError(RpcCode.PARSE_ERROR)));
        return;
      }
      const parsed = parseJson(text);
      // One request at a time per connection: a script may send "create bdev" and "add namespace
      // on that bdev" back to back, and the second must see the first done.
      this.#chain = this.#chain.then(async () => {
        const text = await answer(parsed, this.#dispatch).catch((err: unknown) => {
          this.#log.error({ err }, 'rpc request failed');
          return errorResponse(undefined, new RpcError(RpcCode.INTERNAL_ERROR));
        });
        if (text !== null && !this.#socket.destroyed) this.#socket.write(`${text}\n`);
      });
    }
  }

  /** Stops reading; sends what is due (and `last`, when given), then closes. */
  #stop(last: string | null): void {
    this.#stopped = true;
    this.#socket.pause();
    this.#chain = this.#chain.then(() => {
      if (this.#socket.destroyed) return;
      if (last !== null) this.#socket.end(`${last}\n`);
      else this.#socket.destroy();
    });
  }

  #finish(): void {
    this.#stopped = true;
    this.#chain = this.#chain.then(() => {
      if (!this.#socket.destroyed) this.#socket.end();
    });
  }

  destroy(): void {
    this.#stopped = true;
    this.#socket.destroy();
  }
}

export class RpcServer {
  readonly #server: net.Server;
  readonly #path: string;
  readonly #conns: Set<RpcConnection>;

  private constructor(server: net.Server, path: string, conns: Set<RpcConnection>) {
    this.#server = server;
    this.#path = path;
    this.#conns = conns;
  }

  static async listen(path: string, dispatch: Dispatch, log: Logger): Promise<RpcServer> {
    // A stale socket file from a previous run is replaced; anything else at that path is an error.
    try {
      if (fs.statSync(path).isSocket()) fs.unlinkSync(path);
    } catch {
      // absent
    }
    const rlog = log.child({ component: 'rpc' });
    const conns = new Set<RpcConnection>();
    const server = net.createServer({ allowHalfOpen: true }, (socket) => {
      const conn = new RpcConnection(socket, dispatch, rlog);
      conns.add(conn);
      socket.on('close', () => conns.delete(conn));
    });
    server.maxConnections = RPC_MAX_CONNS;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // The socket file is created by bind(), within listen(): created 0600, no window where others
      // could connect (then chmod, in case the file system ignores the umask).
      const umask = process.umask(0o177);
      try {
        server.listen(path, () => {
          server.off('error', reject);
          resolve();
        });
      } finally {
        process.umask(umask);
      }
    });
    fs.chmodSync(path, 0o600);
    server.on('error', (err) => rlog.error({ err }, 'rpc socket error'));
    rlog.info({ path }, 'JSON-RPC socket listening');
    return new RpcServer(server, path, conns);
  }

  get path(): string {
    return this.#path;
  }

  /** Stops accepting, closes the open connections and removes the socket file. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      for (const c of this.#conns) c.destroy();
      this.#server.close(() => {
        try {
          fs.unlinkSync(this.#path);
        } catch {
          // already gone
        }
        resolve();
      });
    });
  }
}
