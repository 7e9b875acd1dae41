// The SPDK-compatible JSON-RPC service of a running target: the socket, the method table and the
// bdevs made through it. src/server/target.ts starts it when the config names an rpcSocket.
import type { Namespace } from '../core/namespace.js';
import { BdevRegistry } from './bdevs.js';
import { createLive, type LiveTarget } from './live.js';
import { ALL_METHODS } from './methods/index.js';
import { RpcServer } from './server.js';
import { createDispatch, createTable } from './table.js';

export interface RpcService {
  readonly live: LiveTarget;
  /** Stops answering (before the target closes). */
  close(): Promise<void>;
  /** Closes the backends of bdevs made by RPC (after the target has stopped its I/O). */
  closeBdevs(): Promise<void>;
}

export async function startRpc(
  path: string,
  target: Omit<LiveTarget, 'transport' | 'bdevs' | 'keyring'>,
  namespaces: { nqn: string; ns: Namespace }[],
): Promise<RpcService> {
  const bdevs = new BdevRegistry();
  for (const { nqn, ns } of namespaces) bdevs.registerNamespace(nqn, ns);
  const live = createLive({ ...target, bdevs });
  const server = await RpcServer.listen(path, createDispatch(createTable(ALL_METHODS), live), target.log);
  return { live, close: () => server.close(), closeBdevs: () => bdevs.closeOwned() };
}
