// spdk_get_version and rpc_get_methods.
import { packageVersion } from '../../config/version.js';
import { bool, object, type RpcMethod } from '../table.js';

export const spdkGetVersion: RpcMethod = {
  name: 'spdk_get_version',
  noParamsMessage: 'spdk_get_version method requires no parameters',
  handler: () => {
    const version = packageVersion();
    const [major = 0, minor = 0, patch = 0] = version.split(/[.-]/).map((x) => Number(x) || 0);
    const suffix = version.includes('-') ? version.slice(version.indexOf('-')) : '';
    return { version: `nvmetd v${version}`, fields: { major, minor, patch, suffix } };
  },
};

/** The target is up before the socket listens: there is nothing to wait for. */
export const frameworkWaitInit: RpcMethod = {
  name: 'framework_wait_init',
  noParamsMessage: 'framework_wait_init method requires no parameters',
  handler: () => true,
};

export const rpcGetMethods: RpcMethod = {
  name: 'rpc_get_methods',
  params: { schema: object({ current: bool, include_aliases: bool }, []), optional: true },
  // current: only the methods callable in the current state. Every method here is a run-time one;
  // those that change the target are not callable while I/O worker threads run (see table.ts).
  handler: (p, live, table) =>
    table.methods.filter((m) => p.current !== true || !m.available || m.available(live)).map((m) => m.name),
};
