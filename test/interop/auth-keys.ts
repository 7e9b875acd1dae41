// DH-HMAC-CHAP secrets for one interop run: generated fresh (the formats nvme-cli prints), handed to
// nvmetd's config and to the guest's `nvme connect --dhchap-secret / --dhchap-ctrl-secret`.
import { formatDhchapKey, generateDhchapKey } from '../../src/keys/dhchap-key.js';
import { HashId } from '../../src/keys/hash.js';
import { deriveTlsPsk, formatTlsKey, generateTlsKey, parseTlsKey, type TlsKeyDerivation } from '../../src/keys/tls-key.js';

export interface InteropAuthKeys {
  /** The host's secret (SHA-256 transformed, as `nvme gen-dhchap-key --hmac=1` prints it). */
  host: string;
  /** The controller's secret, for bidirectional authentication. */
  ctrl: string;
  /** A well-formed secret the target does not know. */
  wrong: string;
}

export function interopAuthKeys(hostnqn: string, subnqn: string): InteropAuthKeys {
  return {
    host: formatDhchapKey(generateDhchapKey({ transform: 1, hostnqn })),
    ctrl: formatDhchapKey(generateDhchapKey({ transform: 0, hostnqn: subnqn, keyLen: 32 })),
    wrong: formatDhchapKey(generateDhchapKey({ transform: 1, hostnqn })),
  };
}

/**
 * Secrets of the hosts that pin one hash and one DH group (guest/auth.sh): host 8 unidirectional
 * (SHA-256, ffdhe2048), host 9 bidirectional (SHA-512, null group), host 10 re-keyed live (`reauth`
 * in the config, `reauthNew` given to the target by RPC and then to the Linux host through sysfs).
 */
export interface InteropAuthExtraKeys {
  uni: string;
  sha512: string;
  sha512Ctrl: string;
  reauth: string;
  reauthNew: string;
}

export function interopAuthExtraKeys(nqns: { uni: string; sha512: string; reauth: string }, subnqn: string): InteropAuthExtraKeys {
  return {
    uni: formatDhchapKey(generateDhchapKey({ transform: 1, hostnqn: nqns.uni })),
    sha512: formatDhchapKey(generateDhchapKey({ transform: 3, hostnqn: nqns.sha512 })),
    sha512Ctrl: formatDhchapKey(generateDhchapKey({ transform: 0, hostnqn: subnqn, keyLen: 64 })),
    reauth: formatDhchapKey(generateDhchapKey({ transform: 0, hostnqn: nqns.reauth, keyLen: 32 })),
    reauthNew: formatDhchapKey(generateDhchapKey({ transform: 2, hostnqn: nqns.reauth })),
  };
}

/**
 * Configured TLS PSKs (NVMeTLSkey-1:01:..., as `nvme gen-tls-key` prints them) of hosts 4, 5 and 6,
 * and host 11's SHA-384 PSK (NVMeTLSkey-1:02:..., as `nvmetd keys gen-tls --hmac sha384` prints it).
 */
export interface InteropTlsKeys {
  host4: string;
  host5: string;
  host6: string;
  host11: string;
}

export function interopTlsKeys(): InteropTlsKeys {
  const gen = () => formatTlsKey(generateTlsKey(HashId.SHA256));
  return { host4: gen(), host5: gen(), host6: gen(), host11: formatTlsKey(generateTlsKey(HashId.SHA384)) };
}

/**
 * A line for `nvme tls-key --import`: the version 0 identity and the TLS PSK derived here the TP 8018
 * (RFC 8446) way, in the interchange format; nvme-cli puts that key into the .nvme keyring as is, which
 * is what libnvme 1.16 and later insert themselves.
 */
export function tlsImportLine(configured: string, hostnqn: string, subnqn: string): string {
  const d = deriveTlsPsk(parseTlsKey(configured), hostnqn, subnqn, 0, 'rfc8446');
  return `${d.identity} ${formatTlsKey({ transform: 1, key: d.psk })}`;
}

/**
 * The PSK derivation of the guest's nvme-cli / libnvme: libnvme before 1.16 (nvme-cli before 2.16, e.g.
 * Debian 13's 2.13) builds the HKDF labels the pre-RFC 8446 way ("compat").
 */
export function tlsDerivationFor(nvmeCliVersion: string): TlsKeyDerivation {
  const m = /^(?:\d+:)?(\d+)\.(\d+)/.exec(nvmeCliVersion);
  if (!m) return 'rfc8446';
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major < 2 || (major === 2 && minor < 16) ? 'compat' : 'rfc8446';
}
