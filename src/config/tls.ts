// hosts[].tlsKey and ports[].tls of the config file. The key is given inline (NVMeTLSkey-1:...) or as
// "file:PATH" (read like the DH-HMAC-CHAP secrets) and checked here exactly as the target will parse
// it (SHA-256 and SHA-384 PSKs alike). Errors never show the key.
import { AuthKeyError } from '../keys/errors.js';
import { parseTlsKey, TLS_KEY_DERIVATIONS, type TlsKeyDerivation } from '../keys/tls-key.js';
import { readSecret } from './dhchap.js';
import type { HostConfig, TlsMode } from './types.js';

/** The key as the host config keeps it (file content read); `fail(reason)` throws. */
export function normalizeTlsKey(value: string, baseDir: string | undefined, fail: (reason: string) => never): string {
  let text: string;
  try {
    text = readSecret(value, baseDir);
  } catch (err) {
    return fail((err as Error).message);
  }
  try {
    parseTlsKey(text).key.fill(0);
  } catch (err) {
    if (err instanceof AuthKeyError) return fail(err.message);
    throw err;
  }
  return text;
}

/** hosts[].tlsKeyDerivation: one of the known encodings, and only next to a tlsKey. */
export function normalizeTlsKeyDerivation(value: unknown, hasKey: boolean, fail: (reason: string) => never): TlsKeyDerivation {
  if (!TLS_KEY_DERIVATIONS.includes(value as TlsKeyDerivation)) {
    return fail(`must be one of ${TLS_KEY_DERIVATIONS.map((d) => `"${d}"`).join(', ')}`);
  }
  if (!hasKey) return fail('is set but the host has no tlsKey');
  return value as TlsKeyDerivation;
}

/** A port that requires TLS needs some host that can use it; `fail(reason)` throws. */
export function checkPortTls(tls: TlsMode, hosts: readonly HostConfig[], fail: (reason: string) => never): void {
  if (tls === 'required' && !hosts.some((h) => h.tlsKey !== undefined)) {
    fail('requires TLS but no host has a tlsKey: no host could connect');
  }
}
