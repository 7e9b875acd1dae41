// Keys of a host on a subsystem, by keyring name: nvmf_subsystem_add_host's dhchap_key,
// dhchap_ctrlr_key and psk, and nvmf_subsystem_set_keys (re-keying a host live: the queues already
// connected stay; the next authentication or re-authentication, on any thread, uses the new keys).
// The keys land in SubsystemConfig.hostKeys, which the fabrics layer reads at each Connect and each
// AUTH_Negotiate and the TLS listener at each handshake; the I/O workers get every change before the
// method answers. As with SPDK: a DH-HMAC-CHAP key is used by reference (removing it from the keyring
// makes the host's authentication fail), a PSK is taken when the host is added.
import type { KeyRef, SubsystemHostKeys } from '../../config/types.js';
import type { Controller } from '../../core/controller.js';
import type { Subsystem } from '../../core/subsystem.js';
import { AuthKeyError } from '../../keys/errors.js';
import { dhGroupName } from '../../keys/ffdhe.js';
import { HashId, hashName } from '../../keys/hash.js';
import { DEFAULT_DHGROUPS, DEFAULT_HASHES, hostAuthPolicy } from '../../keys/policy.js';
import { parseTlsKey } from '../../keys/tls-key.js';
import type { KeyKind, KeyringKey } from '../keyring.js';
import type { LiveTarget } from '../live.js';
import { object, str, type ParamsObject, type RpcMethod } from '../table.js';
import { RpcCode, RpcError } from '../wire.js';
import { checkTarget, findSubsystem } from './common.js';

const invalidParams = (detail: string): RpcError => new RpcError(RpcCode.INVALID_PARAMS, 'Invalid parameters', detail);
const internalError = (detail: string): RpcError => new RpcError(RpcCode.INTERNAL_ERROR, 'Internal error', detail);
const einval = (detail: string): RpcError => new RpcError(-22, 'Invalid argument', detail);

/** How a method answers a controller key given without a host key (SPDK: add_host -32603, set_keys -EINVAL). */
type Refuse = (detail: string) => RpcError;

function lookup(live: LiveTarget, name: string, param: string, kind: KeyKind, unknown: Refuse): KeyringKey {
  const k = live.keyring.get(name);
  if (k === null) throw unknown(`${param}: key '${name}' does not exist`);
  if (k.kind !== kind) throw invalidParams(`${param}: key '${name}' is ${k.kind === 'tls' ? 'a TLS PSK' : 'a DH-HMAC-CHAP secret'}`);
  return k;
}

const ref = (k: KeyringKey): KeyRef => ({ name: k.name, id: k.id });

/**
 * The keys the params name (null: none). Throws the answer SPDK gives: an unknown DH-HMAC-CHAP key
 * -32602; a controller key without a host key `noHostKey`; an unknown PSK -32603.
 */
export function keysFromParams(live: LiveTarget, p: ParamsObject, noHostKey: Refuse): SubsystemHostKeys | null {
  const out: SubsystemHostKeys = {};
  const key = typeof p.dhchap_key === 'string' ? lookup(live, p.dhchap_key, 'dhchap_key', 'dhchap', invalidParams) : null;
  const ckey = typeof p.dhchap_ctrlr_key === 'string' ? lookup(live, p.dhchap_ctrlr_key, 'dhchap_ctrlr_key', 'dhchap', invalidParams) : null;
  if (ckey !== null && key === null) throw noHostKey('a DH-HMAC-CHAP controller key requires a host key (dhchap_key)');
  if (key !== null) {
    out.dhchapKeyRef = ref(key);
    out.dhchap = {
      key: key.secret,
      ...(ckey !== null ? { ctrlKey: ckey.secret } : {}),
      hashes: DEFAULT_HASHES.map(hashName),
      dhgroups: DEFAULT_DHGROUPS.map(dhGroupName),
    };
    if (ckey !== null) out.dhchapCtrlKeyRef = ref(ckey);
    try {
      hostAuthPolicy({ dhchapKey: key.secret, ...(ckey !== null ? { dhchapCtrlKey: ckey.secret } : {}) }, '');
    } catch (err) {
      if (err instanceof AuthKeyError) throw invalidParams(err.message.replace(/^\/dhchapCtrlKey/, 'dhchap_ctrlr_key').replace(/dhchapKey/, 'dhchap_key'));
      throw err;
    }
  }
  if (typeof p.psk === 'string') {
    const psk = lookup(live, p.psk, 'psk', 'tls', internalError);
    parseTlsKey(psk.secret).key.fill(0);
    out.pskRef = ref(psk);
    out.tlsKey = psk.secret;
  }
  return out.dhchap === undefined && out.tlsKey === undefined ? null : out;
}

/**
 * Sets (or with null drops) a host's keys on a subsystem, here and on every I/O worker; `s` null: on
 * the discovery controller (main thread only: a discovery controller has no I/O queues).
 */
export async function setHostKeys(live: LiveTarget, s: Subsystem<Controller> | null, hostnqn: string, keys: SubsystemHostKeys | null): Promise<void> {
  const all = s === null ? live.ctx.discoveryHostKeys : (s.config.hostKeys ??= {});
  if (keys === null) {
    if (all[hostnqn] === undefined) return;
    delete all[hostnqn];
  } else {
    all[hostnqn] = keys;
  }
  if (s !== null && live.workers) await live.workers.setHostKeys({ op: 'host-keys', subnqn: s.nqn, hostnqn, keys });
}

function* entries(live: LiveTarget): Generator<{ s: Subsystem<Controller> | null; hostnqn: string; keys: SubsystemHostKeys }> {
  for (const s of live.ctx.subsystems.values()) {
    for (const [hostnqn, keys] of Object.entries(s.config.hostKeys ?? {})) yield { s, hostnqn, keys };
  }
  for (const [hostnqn, keys] of Object.entries(live.ctx.discoveryHostKeys)) yield { s: null, hostnqn, keys };
}

/** The discovery NQN names the discovery controller in the host methods, as in SPDK. */
export function isDiscoveryNqn(live: LiveTarget, nqn: string): boolean {
  return nqn === 'discovery' || nqn === live.ctx.discoveryNqn;
}

/** The subsystem the params name, or null for the discovery controller. */
export function keyTarget(live: LiveTarget, p: ParamsObject): Subsystem<Controller> | null {
  checkTarget(p);
  return isDiscoveryNqn(live, p.nqn as string) ? null : findSubsystem(live, p);
}

/** The host is on the subsystem's list (on the discovery controller: was added to it). */
export function hostListed(live: LiveTarget, s: Subsystem<Controller> | null, host: string): boolean {
  return s === null ? live.ctx.discoveryHostKeys[host] !== undefined : s.config.allowedHosts.includes(host);
}

/** How many host entries refer to keyring key `id`. */
export function keyRefCount(live: LiveTarget, id: number): number {
  let n = 0;
  for (const { keys } of entries(live)) for (const r of [keys.dhchapKeyRef, keys.dhchapCtrlKeyRef, keys.pskRef]) if (r?.id === id) n++;
  return n;
}

/** A key left the keyring: hosts that authenticate with it can no longer do so. Returns how many. */
export async function keyRemoved(live: LiveTarget, key: KeyringKey): Promise<number> {
  const hit = [...entries(live)].filter(({ keys }) => keys.dhchapKeyRef?.id === key.id || keys.dhchapCtrlKeyRef?.id === key.id);
  for (const { s, hostnqn, keys } of hit) {
    await setHostKeys(live, s, hostnqn, { ...keys, unusable: `DH-HMAC-CHAP key '${key.name}' was removed from the keyring` });
  }
  return hit.length;
}

export const nvmfSubsystemSetKeys: RpcMethod = {
  name: 'nvmf_subsystem_set_keys',
  params: { schema: object({ nqn: str, host: str, tgt_name: str, dhchap_key: str, dhchap_ctrlr_key: str }, ['nqn', 'host']) },
  handler: async (p, live) => {
    const s = keyTarget(live, p);
    const subnqn = s?.nqn ?? live.ctx.discoveryNqn;
    const host = p.host as string;
    if (!hostListed(live, s, host)) {
      live.log.warn({ subnqn, hostnqn: host }, 'rpc: nvmf_subsystem_set_keys refused: the host is not allowed on the subsystem');
      throw einval(`host ${host} is not in the subsystem's allowed list`);
    }
    let keys: SubsystemHostKeys | null;
    try {
      keys = keysFromParams(live, p, einval);
    } catch (err) {
      if (err instanceof RpcError) live.log.warn({ subnqn, hostnqn: host }, `rpc: nvmf_subsystem_set_keys refused: ${err.data ?? err.message}`);
      throw err;
    }
    // The host's PSK is not changed here (as with SPDK: it is set when the host is added).
    const psk = s?.config.hostKeys?.[host];
    if (psk?.tlsKey !== undefined && psk.pskRef !== undefined) keys = { ...(keys ?? {}), tlsKey: psk.tlsKey, pskRef: psk.pskRef };
    // On the discovery controller the entry stays (it says the host was added there).
    await setHostKeys(live, s, host, s === null ? (keys ?? {}) : keys);
    live.log.info(
      { subnqn, hostnqn: host, dhchapKey: keys?.dhchapKeyRef?.name ?? null, dhchapCtrlrKey: keys?.dhchapCtrlKeyRef?.name ?? null },
      'rpc: host keys set (the next authentication uses them)',
    );
    return true;
  },
};
