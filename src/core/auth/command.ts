// What the fabrics layer needs around the authentication transaction: the Authentication Send (FCTYPE
// 05h) / Receive (06h) SQE fields, their checks, the Connect response AUTHREQ bits, and the status of
// commands refused on a queue that has not authenticated.
import { Generic, SCT, status } from '../../spec/status.js';

/** Authentication Send/Receive SQE fields (byte offsets): CDW10 = SECP | SPSP1 | SPSP0 | NSSF, CDW11 = TL or AL. */
export const AuthSqe = {
  nssf: 40,
  spsp0: 41,
  spsp1: 42,
  secp: 43,
  /** TL (Send) / AL (Receive), u32 LE */
  length: 44,
} as const;

/** SECP of the NVMe in-band authentication protocols. */
export const SECP_NVME_AUTH = 0xe9;
/** SPSP0 / SPSP1 of the in-band authentication protocol. */
export const SPSP0_AUTH = 0x01;
export const SPSP1_AUTH = 0x01;

/** Connect response DW0: bit 17 ATR (authentication transaction required), bit 18 ASCR (with secure channel). */
export const CONNECT_AUTHREQ_ATR = 1 << 17;
export const CONNECT_AUTHREQ_ASCR = 1 << 18;

/** Command specific status 91h Authentication Required (SCT 1), for commands before authentication. */
export const SC_AUTH_REQUIRED = 0x91;
export const S_AUTH_REQUIRED = status(SCT.COMMAND_SPECIFIC, SC_AUTH_REQUIRED, true);
export const S_AUTH_INVALID_FIELD = status(SCT.GENERIC, Generic.INVALID_FIELD, true);

export interface AuthSqeCheck {
  /** 0 when the command may go to the transaction; Invalid Field in Command otherwise. */
  readonly status: number;
  /** Byte offset of the offending SQE field (for the error log / parameter error location). */
  readonly field: number;
  /** TL / AL */
  readonly length: number;
}

/**
 * Checks an Authentication Send/Receive SQE: SECP E9h, SPSP0 01h, SPSP1 01h, TL/AL not 0 and equal to
 * the data length of the command's SGL.
 */
export function checkAuthSqe(sqe: Uint8Array, sglLength: number): AuthSqeCheck {
  const length = new DataView(sqe.buffer, sqe.byteOffset, sqe.byteLength).getUint32(AuthSqe.length, true);
  const bad = (field: number): AuthSqeCheck => ({ status: S_AUTH_INVALID_FIELD, field, length });
  if (sqe[AuthSqe.secp] !== SECP_NVME_AUTH) return bad(AuthSqe.secp);
  if (sqe[AuthSqe.spsp0] !== SPSP0_AUTH) return bad(AuthSqe.spsp0);
  if (sqe[AuthSqe.spsp1] !== SPSP1_AUTH) return bad(AuthSqe.spsp1);
  if (length === 0 || length !== sglLength) return bad(AuthSqe.length);
  return { status: 0, field: -1, length };
}
