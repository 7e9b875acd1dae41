// A listening TCP port: accepts connections and gives each its own TcpConnection; on a port with TLS
// (optional or required) the connection first goes through acceptTls (tls.ts).
import net from 'node:net';
import type { PortConfig } from '../../config/types.js';
import type { TargetContext } from '../../core/context.js';
import { DISCOVERY_NQN } from '../../spec/discovery.js';
import { parseTlsKey } from '../../keys/tls-key.js';
import { TcpConnection, type ConnectionOptions } from './connection.js';
import type { QueueMover } from './handoff.js';
import { acceptTls } from './tls.js';
import { hostPskLookup, type PskLookup, type TlsHostKey } from './tls-psk.js';

export class TcpListener {
  readonly port: PortConfig;
  readonly #server: net.Server;
  readonly #ctx: TargetContext;
  readonly queues = new Set<TcpConnection>();
  readonly #mover: QueueMover | null;
  readonly #lookup: PskLookup | null;

  constructor(port: PortConfig, ctx: TargetContext, mover: QueueMover | null = null) {
    this.port = port;
    this.#ctx = ctx;
    this.#mover = mover;
    this.#lookup = port.tls === 'none' ? null : portPskLookup(port, ctx);
    this.#server = net.createServer({ noDelay: true, keepAlive: true }, (socket) => this.#accept(socket));
  }

  #accept(socket: net.Socket): void {
    const mode = this.port.tls;
    if (mode === 'none' || this.#lookup === null) return this.#start(socket);
    acceptTls(socket, { mode, lookup: this.#lookup, log: this.#ctx.log, timeoutMs: this.#ctx.config.icreqTimeout * 1000 }, (a) =>
      a.kind === 'plain' ? this.#start(a.socket, { initial: a.initial }) : this.#start(a.socket, { tlsPeer: a.peer }),
    );
  }

  #start(socket: net.Socket, extra: Pick<ConnectionOptions, 'initial' | 'tlsPeer'> = {}): void {
    try {
      const q = new TcpConnection(socket, this.port, this.#ctx, {
        onClose: (closed) => this.queues.delete(closed),
        mover: this.#mover,
        ...extra,
      });
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

/**
 * The hosts with a TLS key, for the subsystems of this port and its discovery controller: the PSKs
 * given to hosts of a subsystem at run time (SubsystemConfig.hostKeys, read at each handshake) first,
 * then hosts[].tlsKey (parsed once).
 */
function portPskLookup(port: PortConfig, ctx: TargetContext): PskLookup {
  const hosts: TlsHostKey[] = [];
  for (const h of ctx.config.hosts) if (h.tlsKey !== undefined) hosts.push({ hostnqn: h.nqn, key: parseTlsKey(h.tlsKey) });
  const serves = (nqn: string): boolean => port.subsystems.includes(nqn) || nqn === ctx.discoveryNqn || nqn === DISCOVERY_NQN;
  const configured = hostPskLookup(hosts, serves);
  return (identity) => {
    const runtime: TlsHostKey[] = [];
    for (const s of ctx.portSubsystems(port)) {
      for (const [hostnqn, k] of Object.entries(s.config.hostKeys ?? {})) if (k.tlsKey !== undefined) runtime.push({ hostnqn, key: parseTlsKey(k.tlsKey), subnqn: s.nqn });
    }
    if (runtime.length === 0) return configured(identity);
    const v = hostPskLookup(runtime, serves)(identity);
    for (const h of runtime) h.key.key.fill(0);
    if (!('refused' in v) || hosts.length === 0) return v;
    return configured(identity);
  };
}
