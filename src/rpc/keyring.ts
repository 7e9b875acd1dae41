// The keyring of the JSON-RPC service: named secrets read from files (keyring_file_add_key), which
// hosts use by name (nvmf_subsystem_add_host / nvmf_subsystem_set_keys). As with SPDK's file keyring:
// the path must be absolute, the file owned by this process's user and not accessible by group or
// others. The file is read and its content checked (a DHHC-1 or NVMeTLSkey-1 key) when the key is
// added; the secret stays in this process's memory and is never logged nor returned.
//
// Removing a key that hosts still use (SPDK's behaviour): the name leaves the keyring at once (it
// can be added again, as another key), the removed key is listed as removed while hosts still refer
// to it, and those hosts can no longer authenticate with it (their authentication fails, their PSK
// identity is refused) until they are given another key.
import fs from 'node:fs';
import path from 'node:path';
import { AuthKeyError } from '../keys/errors.js';
import { parseDhchapKey } from '../keys/dhchap-key.js';
import { parseTlsKey } from '../keys/tls-key.js';

export type KeyKind = 'dhchap' | 'tls';

export interface KeyringKey {
  readonly id: number;
  readonly name: string;
  readonly path: string;
  readonly kind: KeyKind;
  /** The interchange text (DHHC-1:... or NVMeTLSkey-1:...). */
  readonly secret: string;
  removed: boolean;
}

/** A refusal with the negative errno SPDK answers for it. */
export class KeyringError extends Error {
  constructor(
    readonly errno: 'EPERM' | 'ENOENT' | 'EEXIST' | 'ENOKEY' | 'EINVAL' | 'EACCES',
    message: string,
  ) {
    super(message);
  }
}

/** The mode bits a key file may not have (group and others: any access). */
const FORBIDDEN_MODE = 0o077;
/** Key files are a line of text: anything longer is not a key. */
const MAX_KEY_FILE = 4096;

function kindOf(text: string): KeyKind | null {
  if (text.startsWith('DHHC-1:')) return 'dhchap';
  if (text.startsWith('NVMeTLSkey-1:')) return 'tls';
  return null;
}

/** Reads and checks a key file; throws KeyringError. */
export function readKeyFile(p: string): { secret: string; kind: KeyKind } {
  if (!path.isAbsolute(p)) throw new KeyringError('EPERM', `non-absolute paths are not allowed: ${p}`);
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new KeyringError('ENOENT', `could not stat key file ${p}: no such file`);
    throw new KeyringError(code === 'EACCES' ? 'EACCES' : 'EINVAL', `could not stat key file ${p}: ${code ?? 'error'}`);
  }
  const uid = process.getuid?.();
  if ((st.mode & FORBIDDEN_MODE) !== 0 || (uid !== undefined && st.uid !== uid)) {
    throw new KeyringError('EPERM', `invalid permissions for key file ${p}: mode 0${(st.mode & 0o777).toString(8)}, owner ${st.uid} (must be 0600 or stricter, owned by this user)`);
  }
  if (!st.isFile()) throw new KeyringError('EINVAL', `key file ${p} is not a regular file`);
  if (st.size > MAX_KEY_FILE) throw new KeyringError('EINVAL', `key file ${p} is too large for a key (${st.size} bytes)`);
  let secret: string;
  try {
    secret = fs.readFileSync(p, 'utf8').trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new KeyringError(code === 'EACCES' ? 'EACCES' : 'EINVAL', `could not read key file ${p}: ${code ?? 'error'}`);
  }
  const kind = kindOf(secret);
  if (kind === null) throw new KeyringError('EINVAL', `key file ${p} holds neither a DHHC-1 nor an NVMeTLSkey-1 key`);
  try {
    if (kind === 'dhchap') parseDhchapKey(secret).key.fill(0);
    else parseTlsKey(secret).key.fill(0);
  } catch (err) {
    if (err instanceof AuthKeyError) throw new KeyringError('EINVAL', `key file ${p}: ${err.message}`);
    throw err;
  }
  return { secret, kind };
}

export class Keyring {
  readonly #keys = new Map<string, KeyringKey>();
  /** Removed keys, until nothing refers to them (see list()). */
  readonly #removed: KeyringKey[] = [];
  #lastId = 0;

  /** keyring_file_add_key. A name of the form "keyring:key" is refused (only the global keyring exists). */
  add(name: string, file: string): KeyringKey {
    const colon = name.indexOf(':');
    if (colon > 0) throw new KeyringError('EINVAL', `couldn't add key '${name}': keyring '${name.slice(0, colon)}' doesn't exist`);
    const bare = colon === 0 ? name.slice(1) : name;
    if (bare === '') throw new KeyringError('EINVAL', 'empty key name');
    if (this.#keys.has(bare)) throw new KeyringError('EEXIST', `key '${bare}' already exists`);
    const { secret, kind } = readKeyFile(file);
    const key: KeyringKey = { id: ++this.#lastId, name: bare, path: file, kind, secret, removed: false };
    this.#keys.set(bare, key);
    return key;
  }

  /** The key a host is to use (":name" names "name" too); null when there is none. */
  get(name: string): KeyringKey | null {
    return this.#keys.get(name.startsWith(':') ? name.slice(1) : name) ?? null;
  }

  /** keyring_file_remove_key: the key is marked removed and leaves the name space. */
  remove(name: string): KeyringKey {
    const key = this.get(name);
    if (key === null) throw new KeyringError('ENOKEY', `key '${name}' does not exist`);
    this.#keys.delete(key.name);
    key.removed = true;
    this.#removed.push(key);
    return key;
  }

  /**
   * Every key, then the removed ones that `refs(id)` says are still referred to (forgotten otherwise,
   * their secret dropped); each with its reference count (the keyring's own, plus its users).
   */
  list(refs: (id: number) => number): { key: KeyringKey; refcnt: number }[] {
    const out = [...this.#keys.values()].map((key) => ({ key, refcnt: 1 + refs(key.id) }));
    for (let i = 0; i < this.#removed.length; ) {
      const key = this.#removed[i]!;
      const n = refs(key.id);
      if (n === 0) {
        this.#removed.splice(i, 1);
        continue;
      }
      out.push({ key, refcnt: n });
      i++;
    }
    return out;
  }
}
