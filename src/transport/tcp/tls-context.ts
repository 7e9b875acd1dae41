// The one TLS server context of every TLS port: TLS 1.3 only, the one cipher suite, and no session
// tickets.
//
// A TLS 1.3 server normally sends NewSessionTicket messages right after the handshake. The Linux host
// hands its socket to kernel TLS as soon as its handshake agent (tlshd) is done, and the kernel's
// nvme-tcp reads the ICResp as the first record: a ticket there is a handshake record, "unhandled TLS
// record 22", and the connection fails. NVMe/TCP has no use for resumption anyway (TP 8011 keys every
// session from the PSK), so none is ever issued.
//
// Node has no option for the number of tickets. It does let a context take over the ticket key
// callback; OpenSSL asks that callback to encrypt each TLS 1.3 ticket, and an answer of 0 ("no key")
// makes it send none. (SSL_OP_NO_TICKET would not do: TLS 1.3 then sends stateful tickets instead.)
import tls from 'node:tls';

/** The one cipher suite offered (the one TP 8011 requires; SHA-256 PSKs only, see tls.ts). */
export const TLS_CIPHER_SUITES = 'TLS_AES_128_GCM_SHA256';

interface NativeSecureContext {
  enableTicketKeyCallback?: () => void;
  onticketkeycallback?: (name: Buffer, iv: Buffer, encrypt: boolean) => unknown[];
}

/** Makes the context refuse every session ticket; false when this Node cannot (then tickets go out). */
export function disableSessionTickets(sc: tls.SecureContext): boolean {
  const native = (sc as unknown as { context?: NativeSecureContext }).context;
  if (!native || typeof native.enableTicketKeyCallback !== 'function') return false;
  // [result, hmac key, aes key, key name, iv]: result 0 = no ticket; the buffers only satisfy the
  // shape Node checks before it hands the result to OpenSSL.
  const unused = Buffer.alloc(16);
  native.onticketkeycallback = () => [0, unused, unused, unused, unused];
  native.enableTicketKeyCallback();
  return true;
}

let shared: { sc: tls.SecureContext; ticketsOff: boolean } | null = null;

/** The shared server context (built on first use). `ticketsOff` false: this Node sends tickets. */
export function tlsServerContext(): { readonly sc: tls.SecureContext; readonly ticketsOff: boolean } {
  if (shared) return shared;
  const sc = tls.createSecureContext({ minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', ciphers: TLS_CIPHER_SUITES });
  shared = { sc, ticketsOff: disableSessionTickets(sc) };
  return shared;
}
