// In-band authentication (DH-HMAC-CHAP) and NVMe/TCP PSK derivations: the public surface.
export { AuthKeyError } from '../../keys/errors.js';
export { HashId, hashIdByName, hashLen, hashName } from '../../keys/hash.js';
export { DhGroupId, dhGroupIdByName, dhGroupName } from '../../keys/ffdhe.js';
export { type DhchapKey, type DhchapTransform, formatDhchapKey, generateDhchapKey, parseDhchapKey, transformDhchapKey } from '../../keys/dhchap-key.js';
export {
  type DerivedTlsPsk,
  type TlsPsk,
  type TlsTransform,
  deriveTlsPsk,
  formatTlsKey,
  generateTlsKey,
  generatedPsk,
  parseTlsKey,
  pskDigest,
  pskHash,
  retainedPsk,
  tlsIdentity,
  tlsPskFromInput,
} from '../../keys/tls-key.js';
export { AuthFailure, AuthId, AuthType } from './messages.js';
export { type AuthLog, type AuthReceiveResult, type AuthSendResult, type AuthState, AuthTransaction, type AuthTransactionOptions } from './transaction.js';
export {
  AuthSqe,
  CONNECT_AUTHREQ_ASCR,
  CONNECT_AUTHREQ_ATR,
  SECP_NVME_AUTH,
  SPSP0_AUTH,
  SPSP1_AUTH,
  S_AUTH_INVALID_FIELD,
  S_AUTH_REQUIRED,
  checkAuthSqe,
} from './command.js';
export { DEFAULT_DHGROUPS, DEFAULT_HASHES, type HostAuthConfig, type HostAuthPolicy, hostAuthPolicy } from '../../keys/policy.js';
export { newAuthTransaction } from './policy.js';
export { allowedBeforeAuthentication, executeAuthReceive, executeAuthSend } from './execute.js';
