// A fresh DH-HMAC-CHAP transaction for one queue, from a host's checked settings (src/keys/policy.ts).
import type { HostAuthPolicy } from '../../keys/policy.js';
import { AuthTransaction, type AuthLog } from './transaction.js';

/**
 * A fresh transaction for one queue of this host (call at each Connect that answers ATR; with
 * `authenticated`, for a queue that authenticated on another thread).
 */
export function newAuthTransaction(
  p: HostAuthPolicy,
  hostnqn: string,
  subnqn: string,
  log?: AuthLog,
  authenticated = false,
  current?: () => HostAuthPolicy | string,
): AuthTransaction {
  return new AuthTransaction({ hostnqn, subnqn, hostKey: p.hostKey, ctrlKey: p.ctrlKey, hashes: p.hashes, dhgroups: p.dhgroups, log, authenticated, ...(current ? { current } : {}) });
}
