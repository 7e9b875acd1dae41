// `nvmetd keys gen-dhchap | gen-tls | check`: make and check the secrets of in-band authentication
// (DH-HMAC-CHAP, DHHC-1:...) and NVMe/TCP pre-shared keys (NVMeTLSkey-1:...). Generated keys go to
// stdout; `check` never prints key material. Bad arguments or keys: exit 2 with one line.
import type { Command } from 'commander';
import {
  AuthKeyError,
  HashId,
  deriveTlsPsk,
  formatDhchapKey,
  formatTlsKey,
  generateDhchapKey,
  generateTlsKey,
  hashIdByName,
  hashName,
  parseDhchapKey,
  parseTlsKey,
  pskHash,
  type DhchapTransform,
} from '../core/auth/index.js';
import { UsageError } from '../util/exit.js';

const NQN_MAX = 223;

function nqnArg(flag: string, v: string | undefined): string {
  if (v === undefined || v === '') throw new UsageError(`${flag} NQN is required`);
  if (Buffer.byteLength(v, 'utf8') > NQN_MAX) throw new UsageError(`${flag}: an NQN is at most ${NQN_MAX} bytes`);
  if (/\s/.test(v)) throw new UsageError(`${flag}: an NQN has no white space`);
  return v;
}

function secretArg(v: string | undefined): Buffer | undefined {
  if (v === undefined) return undefined;
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(v)) throw new UsageError('--secret: must be hex digits (an even number of them)');
  return Buffer.from(v, 'hex');
}

function keyError<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof AuthKeyError) throw new UsageError(err.message);
    throw err;
  }
}

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('make and check in-band authentication secrets and NVMe/TCP PSKs');
  keys
    .command('gen-dhchap')
    .description('print a new DH-HMAC-CHAP secret (DHHC-1:<hh>:<base64>:) for a host')
    .option('--hostnqn <nqn>', 'the host NQN the secret belongs to')
    .option('--hmac <hash>', 'transformation hash: none, sha256, sha384 or sha512 (default none)')
    .option('--key-length <bytes>', 'with --hmac none: 32, 48 or 64 (default 32); otherwise the hash length')
    .option('--secret <hex>', 'use these bytes instead of random ones (reproducible output)')
    .action(genDhchapCommand);
  keys
    .command('gen-tls')
    .description('print a new NVMe/TCP configured PSK (NVMeTLSkey-1:<hh>:<base64>:) and its PSK identities')
    .option('--hostnqn <nqn>', 'host NQN')
    .option('--subnqn <nqn>', 'subsystem NQN')
    .option('--hmac <hash>', 'sha256 (32-byte key) or sha384 (48-byte key) (default sha256)')
    .option('--secret <hex>', 'use these bytes instead of random ones (reproducible output)')
    .action(genTlsCommand);
  keys
    .command('check <key>')
    .description('validate a DHHC-1 or NVMeTLSkey-1 key and print its kind and hash (never the key)')
    .option('--hostnqn <nqn>', 'with --subnqn, for a TLS PSK: also print its PSK identities')
    .option('--subnqn <nqn>', 'see --hostnqn')
    .action(checkCommand);
}

export function genDhchapCommand(o: { hostnqn?: string; hmac?: string; keyLength?: string; secret?: string }): void {
  const hostnqn = nqnArg('--hostnqn', o.hostnqn);
  const name = o.hmac ?? 'none';
  const transform: DhchapTransform | undefined = name === 'none' ? 0 : hashIdByName(name);
  if (transform === undefined) throw new UsageError(`--hmac ${name}: must be none, sha256, sha384 or sha512`);
  let keyLen: number | undefined;
  if (o.keyLength !== undefined) {
    keyLen = Number(o.keyLength);
    if (![32, 48, 64].includes(keyLen)) throw new UsageError(`--key-length ${o.keyLength}: must be 32, 48 or 64`);
  }
  const secret = secretArg(o.secret);
  const key = keyError(() => generateDhchapKey({ transform, hostnqn, keyLen, secret }));
  process.stdout.write(`${formatDhchapKey(key)}\n`);
  key.key.fill(0);
}

export function genTlsCommand(o: { hostnqn?: string; subnqn?: string; hmac?: string; secret?: string }): void {
  const hostnqn = nqnArg('--hostnqn', o.hostnqn);
  const subnqn = nqnArg('--subnqn', o.subnqn);
  const name = o.hmac ?? 'sha256';
  const h = hashIdByName(name);
  if (h !== HashId.SHA256 && h !== HashId.SHA384) throw new UsageError(`--hmac ${name}: must be sha256 or sha384`);
  const key = keyError(() => generateTlsKey(h, secretArg(o.secret)));
  const lines = [formatTlsKey(key), ...identityLines(key, hostnqn, subnqn)];
  process.stdout.write(`${lines.join('\n')}\n`);
  key.key.fill(0);
}

function identityLines(key: ReturnType<typeof parseTlsKey>, hostnqn: string, subnqn: string): string[] {
  const v1 = keyError(() => deriveTlsPsk(key, hostnqn, subnqn, 1));
  v1.psk.fill(0);
  const lines = [`# PSK identity: ${v1.identity}`];
  try {
    const v0 = deriveTlsPsk(key, hostnqn, subnqn, 0);
    v0.psk.fill(0);
    lines.push(`# PSK identity (version 0): ${v0.identity}`);
  } catch (err) {
    if (!(err instanceof AuthKeyError)) throw err;
  }
  return lines;
}

export function checkCommand(text: string, o: { hostnqn?: string; subnqn?: string }): void {
  const s = text.trim();
  if (s.startsWith('DHHC-1:')) {
    const k = keyError(() => parseDhchapKey(s));
    const how = k.transform === 0 ? 'used as is (no transformation)' : `transformed with ${hashName(k.transform).toUpperCase().replace('SHA', 'SHA-')}`;
    process.stdout.write(`DH-HMAC-CHAP secret (DHHC-1), ${k.key.length}-byte key, ${how}: valid\n`);
    k.key.fill(0);
    return;
  }
  if (s.startsWith('NVMeTLSkey-1:')) {
    const k = keyError(() => parseTlsKey(s));
    const h = hashName(pskHash(k)).toUpperCase().replace('SHA', 'SHA-');
    const how = k.transform === 0 ? 'configured PSK used as the retained PSK' : `retained PSK derived with ${h}`;
    const lines = [`NVMe/TCP PSK (NVMeTLSkey-1), ${k.key.length}-byte key, ${how}, cipher suite hash ${h}: valid`];
    if (o.hostnqn !== undefined || o.subnqn !== undefined) {
      lines.push(...identityLines(k, nqnArg('--hostnqn', o.hostnqn), nqnArg('--subnqn', o.subnqn)));
    }
    process.stdout.write(`${lines.join('\n')}\n`);
    k.key.fill(0);
    return;
  }
  throw new UsageError('key: not a DH-HMAC-CHAP secret (DHHC-1:...) nor an NVMe/TCP PSK (NVMeTLSkey-1:...)');
}
