// A connected loopback TCP pair for the send-side tests (digest-send, piece-table): the server side
// is the one written to (its descriptor for the native writes), the client side does not read until
// readAll() resumes it.
import net from 'node:net';
import { once } from 'node:events';

export interface TcpPair {
  client: net.Socket;
  server: net.Socket;
  /** The server socket's descriptor. */
  fd: number;
  close(): void;
}

export async function tcpPair(): Promise<TcpPair> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const accepted = once(srv, 'connection') as Promise<[net.Socket]>;
  const client = net.connect({ port: (srv.address() as net.AddressInfo).port, host: '127.0.0.1' });
  client.pause();
  const [server] = await accepted;
  await once(client, 'connect').catch(() => undefined);
  srv.close();
  const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
  return { client, server, fd, close: () => (client.destroy(), server.destroy()) };
}

/** Reads n bytes from `s` (resumed now); rejects after 30 s without them. */
export async function readAll(s: net.Socket, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`read ${got} of ${n} bytes`)), 30000);
    s.on('data', (d: Buffer) => {
      parts.push(d);
      got += d.length;
      if (got >= n) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  s.resume();
  await done;
  return Buffer.concat(parts);
}
