// The Prometheus endpoint: GET /metrics answers the registry's text format; anything else gets 404
// (another path) or 405 (another method).
import http from 'node:http';
import type { Registry } from 'prom-client';
import { parseMetricsAddress } from '../config/metrics-address.js';
import type { Logger } from '../util/log.js';

export class MetricsServer {
  readonly #server: http.Server;
  /** The bound address (port 0 in the config: the port the system chose). */
  readonly address: { host: string; port: number };

  private constructor(server: http.Server, address: { host: string; port: number }) {
    this.#server = server;
    this.address = address;
  }

  static async listen(addressText: string, registry: Registry, log: Logger): Promise<MetricsServer> {
    const addr = parseMetricsAddress(addressText);
    if (typeof addr === 'string') throw new Error(`metrics: ${addr}`);
    const server = http.createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (path !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the metrics are at /metrics\n');
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' }).end('method not allowed\n');
        return;
      }
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(req.method === 'HEAD' ? undefined : text);
        },
        (err: unknown) => {
          log.error({ err }, 'metrics: collecting failed');
          res.writeHead(500, { 'content-type': 'text/plain' }).end('collecting the metrics failed\n');
        },
      );
    });
    server.on('clientError', (_err, socket) => socket.destroy());
    await new Promise<void>((done, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => reject(new Error(`metrics ${addressText}: ${err.code === 'EADDRINUSE' ? 'address in use' : err.message}`));
      server.once('error', onError);
      server.listen(addr.port, addr.host, () => {
        server.off('error', onError);
        done();
      });
    });
    const bound = server.address();
    const port = typeof bound === 'object' && bound !== null ? bound.port : addr.port;
    log.info({ address: addr.host, port }, 'metrics endpoint listening (GET /metrics)');
    return new MetricsServer(server, { host: addr.host, port });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}
