// keyring_file_add_key, keyring_file_remove_key, keyring_get_keys: the keyring hosts' keys are taken
// from (src/rpc/keyring.ts). Answers as SPDK's: a refused add or remove is the negative errno with its
// text; keyring_get_keys lists name, module, removed, probed, refcnt and (not removed) path, never
// the secret. A removed key that hosts still use makes them unable to authenticate (host-keys.ts).
import { KeyringError } from '../keyring.js';
import type { LiveTarget } from '../live.js';
import { object, str, type RpcMethod } from '../table.js';
import { RpcError } from '../wire.js';
import { keyRefCount, keyRemoved } from './host-keys.js';

/** The negative errno and text SPDK answers for each refusal. */
const ERRNO: Record<KeyringError['errno'], readonly [number, string]> = {
  EPERM: [-1, 'Operation not permitted'],
  ENOENT: [-2, 'No such file or directory'],
  EACCES: [-13, 'Permission denied'],
  EEXIST: [-17, 'File exists'],
  EINVAL: [-22, 'Invalid argument'],
  ENOKEY: [-126, 'Required key not available'],
};

function refused(live: LiveTarget, method: string, err: unknown): RpcError {
  if (!(err instanceof KeyringError)) throw err;
  live.log.warn({ method }, `rpc: ${method} refused: ${err.message}`);
  const [code, text] = ERRNO[err.errno];
  return new RpcError(code, text, err.message);
}

export const keyringFileAddKey: RpcMethod = {
  name: 'keyring_file_add_key',
  params: { schema: object({ name: str, path: str }, ['name', 'path'], false) },
  handler: (p, live) => {
    try {
      const k = live.keyring.add(p.name as string, p.path as string);
      live.log.info({ key: k.name, path: k.path, kind: k.kind }, 'rpc: key added to the keyring');
      return true;
    } catch (err) {
      throw refused(live, 'keyring_file_add_key', err);
    }
  },
};

export const keyringFileRemoveKey: RpcMethod = {
  name: 'keyring_file_remove_key',
  params: { schema: object({ name: str }, ['name']) },
  handler: async (p, live) => {
    let k;
    try {
      k = live.keyring.remove(p.name as string);
    } catch (err) {
      throw refused(live, 'keyring_file_remove_key', err);
    }
    const users = await keyRemoved(live, k);
    live.log.info({ key: k.name, users }, users > 0 ? `rpc: key removed from the keyring (${users} host(s) used it: they can no longer authenticate with it)` : 'rpc: key removed from the keyring');
    return true;
  },
};

export const keyringGetKeys: RpcMethod = {
  name: 'keyring_get_keys',
  handler: (_p, live) =>
    live.keyring.list((id) => keyRefCount(live, id)).map(({ key, refcnt }) => ({
      name: key.name,
      module: 'keyring_file',
      removed: key.removed,
      probed: false,
      refcnt,
      ...(key.removed ? {} : { path: key.path }),
    })),
};
