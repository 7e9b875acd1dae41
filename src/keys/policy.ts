// A host's DH-HMAC-CHAP settings as the config gives them (strings), checked once and turned into
// what every AuthTransaction of that host uses. Errors say which setting is wrong, never the key.
import { AuthKeyError } from './errors.js';
import { HashId, constantTimeEqual, hashIdByName } from './hash.js';
import { DhGroupId, dhGroupIdByName } from './ffdhe.js';
import { DhchapKey, parseDhchapKey } from './dhchap-key.js';

export interface HostAuthConfig {
  /** DHHC-1:<hh>:<base64>: — the host proves it knows this secret. */
  dhchapKey: string;
  /** DHHC-1 secret of the controller, for hosts that ask for bidirectional authentication. */
  dhchapCtrlKey?: string;
  /** sha256 | sha384 | sha512 (also the kernel names hmac(sha256)...), most preferred first. */
  dhchapHashes?: readonly string[];
  /** null | ffdhe2048 ... ffdhe8192, most preferred first. */
  dhchapDhgroups?: readonly string[];
}

export interface HostAuthPolicy {
  readonly hostKey: DhchapKey;
  readonly ctrlKey: DhchapKey | null;
  readonly hashes: readonly HashId[];
  readonly dhgroups: readonly DhGroupId[];
}

export const DEFAULT_HASHES: readonly HashId[] = [HashId.SHA256, HashId.SHA384, HashId.SHA512];
/** A DH exchange first (the session key makes a recorded exchange useless offline), NULL last. */
export const DEFAULT_DHGROUPS: readonly DhGroupId[] = [
  DhGroupId.FFDHE2048,
  DhGroupId.FFDHE3072,
  DhGroupId.FFDHE4096,
  DhGroupId.FFDHE6144,
  DhGroupId.FFDHE8192,
  DhGroupId.NULL,
];

function named<T>(list: readonly string[] | undefined, fallback: readonly T[], lookup: (s: string) => T | undefined, what: string, allowed: string): readonly T[] {
  if (list === undefined) return fallback;
  if (list.length === 0) throw new AuthKeyError(`${what}: lists nothing (allowed: ${allowed})`);
  const out: T[] = [];
  for (const s of list) {
    const v = lookup(s);
    if (v === undefined) throw new AuthKeyError(`${what}: "${s}" is not one of ${allowed}`);
    if (out.includes(v)) throw new AuthKeyError(`${what}: "${s}" is listed twice`);
    out.push(v);
  }
  return out;
}

function hashByAnyName(s: string): HashId | undefined {
  const m = /^hmac\((sha\d+)\)$/.exec(s);
  return hashIdByName(m ? m[1]! : s);
}

/** Checks a host's settings; `where` prefixes every error (e.g. "/hosts/0"). */
export function hostAuthPolicy(c: HostAuthConfig, where: string): HostAuthPolicy {
  const at = (field: string, f: () => DhchapKey): DhchapKey => {
    try {
      return f();
    } catch (err) {
      if (err instanceof AuthKeyError) throw new AuthKeyError(`${where}/${field}: ${err.message}`);
      throw err;
    }
  };
  const hostKey = at('dhchapKey', () => parseDhchapKey(c.dhchapKey));
  const ctrlKey = c.dhchapCtrlKey === undefined ? null : at('dhchapCtrlKey', () => parseDhchapKey(c.dhchapCtrlKey!));
  if (ctrlKey && ctrlKey.key.length === hostKey.key.length && constantTimeEqual(ctrlKey.key, hostKey.key)) {
    throw new AuthKeyError(`${where}/dhchapCtrlKey: must differ from dhchapKey`);
  }
  const hashes = named(c.dhchapHashes, DEFAULT_HASHES, hashByAnyName, `${where}/dhchapHashes`, 'sha256, sha384, sha512');
  const dhgroups = named(c.dhchapDhgroups, DEFAULT_DHGROUPS, dhGroupIdByName, `${where}/dhchapDhgroups`, 'null, ffdhe2048, ffdhe3072, ffdhe4096, ffdhe6144, ffdhe8192');
  return { hostKey, ctrlKey, hashes, dhgroups };
}
