// DH-HMAC-CHAP secrets for one interop run: generated fresh (the formats nvme-cli prints), handed to
// nvmetd's config and to the guest's `nvme connect --dhchap-secret / --dhchap-ctrl-secret`.
import { formatDhchapKey, generateDhchapKey } from '../../src/keys/dhchap-key.js';

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
