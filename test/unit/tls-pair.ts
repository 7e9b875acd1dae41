// A client and a server TlsSocket over one loopback TCP connection, handshake done, for the tests of
// the TLS socket, the session hand-off and the socket writer.
import net from 'node:net';
import { once } from 'node:events';
import { tlsClientEngine, tlsServerEngine, type TlsPskHash } from '../../src/native/tls-engine.js';
import { TlsSocket } from '../../src/native/tls-socket.js';

export async function tlsLoopbackPair(id: string, psk: Buffer, hash: TlsPskHash): Promise<{ client: TlsSocket; server: TlsSocket }> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const accepted = once(srv, 'connection') as Promise<[net.Socket]>;
  const client = new TlsSocket(net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1'), tlsClientEngine(id, psk, hash), false);
  const [raw] = await accepted;
  srv.close();
  const server = new TlsSocket(raw, tlsServerEngine(() => ({ psk: Buffer.from(psk), hash })), true);
  await Promise.all([once(server, 'secure'), once(client, 'secureConnect')]);
  return { client, server };
}
