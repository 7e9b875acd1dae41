// The live management service of a running target: the running state the methods change (the
// bdevs, the config source for save and reload) and, when the config names an rpcSocket, the
// SPDK-compatible JSON-RPC socket with its method table. src/server/target.ts starts it.
import type { Namespace } from '../core/namespace.js';
import { BdevRegistry } from './bdevs.js';
import { createLive, type LiveTarget } from './live.js';
import { ALL_METHODS } from './methods/index.js';
import { reloadConfig, type ReloadResult } from './reload/index.js';
import { RpcServer } from './server.js';
import { createDispatch, createTable } from './table.js';

export interface RpcService {
  readonly live: LiveTarget;
  /** Reads the config file again and applies the difference (SIGHUP); rejects when refused. */
  reload(): Promise<ReloadResult>;
  /** Stops answering (before the target closes). */
  close(): Promise<void>;
  /** Closes the backends of bdevs made by RPC (after the target has stopped its I/O). */
  closeBdevs(): Promise<void>;
}

export type { ReloadResult } from './reload/index.js';

/** `path` absent: no socket, the live state alone (for SIGHUP reloads). */
export async function startRpc(
  path: string | undefined,
  target: Omit<LiveTarget, 'transport' | 'bdevs' | 'keyring'>,
  namespaces: { nqn: string; ns: Namespace }[],
): Promise<RpcService> {
  const bdevs = new BdevRegistry();
  for (const { nqn, ns } of namespaces) bdevs.registerNamespace(nqn, ns);
  const live = createLive({ ...target, bdevs });
  const server = path === undefined ? null : await RpcServer.listen(path, createDispatch(createTable(ALL_METHODS), live), target.log);
  return { live, reload: () => reloadConfig(live), close: async () => server?.close(), closeBdevs: () => bdevs.closeOwned() };
}
