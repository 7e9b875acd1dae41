// hosts[].dhchap of the config file: secrets given inline (DHHC-1:...) or as "file:PATH" (read here,
// refused when group or others may read the file), hash and DH group names as one name or a list,
// all checked once with the same policy builder the target uses. Errors name the field's JSON pointer
// and never contain a secret.
//
// The policy builder lives with the key material (src/keys/policy.ts, below the config in the data
// path): the config checks keys exactly as the target will use them.
import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { AuthKeyError } from '../keys/errors.js';
import { DEFAULT_DHGROUPS, DEFAULT_HASHES, hostAuthPolicy } from '../keys/policy.js';
import { hashName } from '../keys/hash.js';
import { dhGroupName } from '../keys/ffdhe.js';
import type { DhchapInput } from './file-format.js';
import type { HostDhchapConfig } from './types.js';
import { ptr } from './errors.js';

/** What the policy builder calls each field, and the config file's name for it. */
const FIELDS: Record<string, string> = { dhchapKey: 'key', dhchapCtrlKey: 'ctrlKey', dhchapHashes: 'hash', dhchapDhgroups: 'dhgroup' };

export const SECRET_FILE_PREFIX = 'file:';

/** A secret field's value: inline, or the trimmed content of the file "file:PATH" names. Throws a reason. */
export function readSecret(value: string, baseDir: string | undefined): string {
  if (!value.startsWith(SECRET_FILE_PREFIX)) return value;
  const given = value.slice(SECRET_FILE_PREFIX.length);
  const path = baseDir !== undefined && !isAbsolute(given) ? resolve(baseDir, given) : given;
  let text: string;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new Error(`${path} is not a regular file`);
    if ((st.mode & 0o044) !== 0) {
      throw new Error(`${path} is readable by group or others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}): chmod 600 it`);
    }
    text = readFileSync(path, 'utf8').trim();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw new Error(`cannot read ${path}: no such file`);
    if (e.code === 'EACCES') throw new Error(`cannot read ${path}: permission denied`);
    if (e.code !== undefined) throw new Error(`cannot read ${path}: ${e.code}`);
    throw e;
  }
  if (text === '') throw new Error(`${path} is empty`);
  return text;
}

/** Checks one host's dhchap settings; `fail(pointer, reason)` throws. */
export function normalizeDhchap(d: DhchapInput, at: string, baseDir: string | undefined, fail: (pointer: string, reason: string) => never): HostDhchapConfig {
  const secret = (field: 'key' | 'ctrlKey', v: string): string => {
    try {
      return readSecret(v, baseDir);
    } catch (err) {
      return fail(ptr(at, field), (err as Error).message);
    }
  };
  const list = (v: string | string[] | undefined, fallback: readonly string[]): string[] =>
    v === undefined ? [...fallback] : typeof v === 'string' ? [v] : [...v];
  const key = secret('key', d.key);
  const ctrlKey = d.ctrlKey === undefined ? undefined : secret('ctrlKey', d.ctrlKey);
  const out: HostDhchapConfig = {
    key,
    ...(ctrlKey !== undefined ? { ctrlKey } : {}),
    hashes: list(d.hash, DEFAULT_HASHES.map(hashName)),
    dhgroups: list(d.dhgroup, DEFAULT_DHGROUPS.map(dhGroupName)),
  };
  try {
    hostAuthPolicy({ dhchapKey: out.key, ...(out.ctrlKey !== undefined ? { dhchapCtrlKey: out.ctrlKey } : {}), dhchapHashes: out.hashes, dhchapDhgroups: out.dhgroups }, '');
  } catch (err) {
    if (!(err instanceof AuthKeyError)) throw err;
    const m = /^\/(\w+): (.*)$/s.exec(err.message);
    const field = m ? FIELDS[m[1]!] : undefined;
    if (!m || field === undefined) return fail(at, err.message);
    return fail(ptr(at, field), m[2]!.replace(/dhchapCtrlKey/g, 'ctrlKey').replace(/dhchapKey/g, 'key'));
  }
  return out;
}

/** A JSON.stringify replacer that hides the secrets of a normalized config (for printing it). */
export function hideSecrets(key: string, value: unknown): unknown {
  if (key === 'tlsKey' && typeof value === 'string') return '(secret)';
  // Keys given at run time by RPC (SubsystemConfig.hostKeys) are not config-file material: left out.
  if (key === 'hostKeys') return undefined;
  if (key !== 'dhchap' || typeof value !== 'object' || value === null) return value;
  const d = value as HostDhchapConfig;
  return { ...d, key: '(secret)', ...(d.ctrlKey !== undefined ? { ctrlKey: '(secret)' } : {}) };
}
