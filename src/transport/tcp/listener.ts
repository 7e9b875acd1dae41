// A listening TCP port: accepts connections and gives each its own TcpConnection.
import net from 'node:net';
import type { PortConfig } from '../../config/types.js';
import type { TargetContext } from '../../core/context.js';
import { TcpConnection } from './connection.js';
import type { QueueMover } from './handoff.js';

export class TcpListener {
  readonly port: PortConfig;
  readonly #server: net.Server;
  readonly #ctx: TargetContext;
  readonly queues = new Set<TcpConnection>();
  readonly #mover: QueueMover | null;

  constructor(port: PortConfig, ctx: TargetContext, mover: QueueMover | null = null) {
    this.port = port;
    this.#ctx = ctx;
    this.#mover = mover;
    this.#server = net.createServer({ noDelay: true, keepAlive: true }, (socket) => this.#accept(socket));
  }

  #accept(socket: net.Socket): void {
    try {
      const q = new TcpConnection(socket, this.port, this.#ctx, { onClose: (closed) => this.queues.delete(closed), mover: this.#mover });
      this.queues.add(q);
    } catch (err) {
      this.#ctx.log.error({ err }, 'failed to set up an accepted connection');
      socket.destroy();
    }
  }

  listen(): Promise<{ address: string; port: number }> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.#server.once('error', onError);
      this.#server.listen({ host: this.port.address, port: this.port.port }, () => {
        this.#server.off('error', onError);
        this.#server.on('error', (err) => this.#ctx.log.error({ err }, 'listener error'));
        const a = this.#server.address() as net.AddressInfo;
        resolve({ address: a.address, port: a.port });
      });
    });
  }

  /** Stops accepting; existing connections stay until closeQueues(). */
  stopAccepting(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
