// Validation of what a host sends about a command's data: the capsule's SGL against its in-capsule
// data, and every H2CData PDU against the R2T it answers. Two error planes, kept apart:
//   - an NVMe status: the command fails, the connection lives (bad SGL, length mismatch, > MDTS);
//   - a fatal transport error: the connection is terminated with a C2HTermReq (a PDU that breaks the
//     protocol: unknown TTAG, data outside the R2T, DATAL that disagrees with the PDU).
// Every H2CData PDU passes checkH2CData(), whatever its length: the PDU reader hands every header to
// the connection before any data, so there is no path around it.
import { AdminOpc } from '../../spec/opcodes.js';
import { DATA, FES } from '../../spec/pdu.js';
import { SGL, SglId, SQE, sqeU32 } from '../../spec/sqe.js';
import { Generic, S_SGL_LENGTH_INVALID, S_SGL_OFFSET_INVALID, S_SGL_TYPE_INVALID, SCT, status } from '../../spec/status.js';
import { ReqState, XferDir, type Request, type RequestTable } from './request.js';

/** What to do with a command whose capsule has fully arrived. */
export const enum CapsulePlan {
  /** Fail with req.status (set by the check); the connection lives. */
  FAIL,
  /** No data, or all of it arrived in the capsule: execute. */
  EXECUTE,
  /** Host-to-controller data to fetch with an R2T (req.dataLen bytes). */
  FETCH_H2C,
  /** Controller-to-host data: execute with a granted buffer of req.dataLen bytes. */
  SEND_C2H,
}

export interface CapsuleLimits {
  /** Largest transfer of one command (MDTS in bytes). */
  readonly mdts: number;
}

const S_MDTS = status(SCT.GENERIC, Generic.INVALID_FIELD, true);

/** The in-capsule data limit was exceeded at the header (the data is received and discarded). */
export function inCapsuleTooLarge(dataLen: number, limit: number): boolean {
  return dataLen > limit;
}

/**
 * Checks a complete capsule's SGL against its data and the limits; sets req.dir, req.dataLen, and
 * req.inData (in-capsule data) or req.status (on FAIL). `data` is the in-capsule data (null: none).
 */
export function planCapsule(req: Request, data: Uint8Array | null, limits: CapsuleLimits): CapsulePlan {
  const sqe = req.sqe;
  const opcode = sqe[SQE.opcode]!;
  const dirBits = opcode === AdminOpc.Fabrics ? sqe[SQE.fctype]! : opcode;
  req.dir = (dirBits & 3) as XferDir;
  const sglId = sqe[SQE.dptr + SGL.identifier]!;
  const sglLen = sqeU32(sqe, SQE.dptr + SGL.length);
  req.dataLen = sglLen;
  if (req.status !== 0) return CapsulePlan.FAIL;
  if (sglLen === 0) {
    if (data !== null) return fail(req, S_SGL_LENGTH_INVALID);
    return CapsulePlan.EXECUTE;
  }
  if (sglId === SglId.IN_CAPSULE) {
    // The offset of in-capsule data is 0: the data starts at PDO.
    if (sqeU32(sqe, SQE.dptr + SGL.address) !== 0 || sqeU32(sqe, SQE.dptr + SGL.address + 4) !== 0) {
      return fail(req, S_SGL_OFFSET_INVALID);
    }
    if (data === null || data.length !== sglLen || req.dir !== XferDir.H2C) return fail(req, S_SGL_LENGTH_INVALID);
    req.inData = data;
    return CapsulePlan.EXECUTE;
  }
  if ((sglId & 0xf0) !== (SglId.TRANSPORT & 0xf0)) return fail(req, S_SGL_TYPE_INVALID);
  if (data !== null) return fail(req, S_SGL_LENGTH_INVALID);
  // MDTS bounds every transfer, admin queue included: nothing a host sends makes the target
  // allocate more than that for one command.
  if (sglLen > limits.mdts) return fail(req, S_MDTS);
  if (req.dir === XferDir.H2C) return CapsulePlan.FETCH_H2C;
  if (req.dir === XferDir.C2H) return CapsulePlan.SEND_C2H;
  // No direction (or both) with a transport SGL: nothing to fetch; the command decides.
  return CapsulePlan.EXECUTE;
}

function fail(req: Request, s: number): CapsulePlan {
  req.status = s;
  return CapsulePlan.FAIL;
}

/** A fatal transport error: what goes into the C2HTermReq, and the one log line. */
export interface Fatal {
  readonly fes: number;
  readonly fei: number;
  readonly reason: string;
}

export interface H2CLimits {
  /** MAXH2CDATA offered in the ICResp. */
  readonly maxH2CData: number;
}

/**
 * Validates an H2CData header before any of its data is accepted. `dataLen` is what the PDU
 * carries (0 for a header-only PDU). Returns the request the data belongs to, or a Fatal.
 */
export function checkH2CData(hdr: Buffer, dataLen: number, table: RequestTable, limits: H2CLimits): Request | Fatal {
  const cccid = hdr.readUInt16LE(DATA.cccid);
  const ttag = hdr.readUInt16LE(DATA.ttag);
  const datao = hdr.readUInt32LE(DATA.offset);
  const datal = hdr.readUInt32LE(DATA.length);
  const req = table.byTtag(ttag);
  if (req === undefined || req.state !== ReqState.AWAITING_H2C || req.cid !== cccid) {
    const why = req === undefined ? 'no such slot' : req.state !== ReqState.AWAITING_H2C ? 'no R2T outstanding' : `R2T was for cid ${req.cid}`;
    return { fes: FES.INVALID_PDU_HEADER_FIELD, fei: DATA.ttag, reason: `H2CData for TTAG ${ttag} (cccid ${cccid}): ${why}` };
  }
  if (datal !== dataLen || datal === 0) {
    return { fes: FES.INVALID_PDU_HEADER_FIELD, fei: DATA.length, reason: `H2CData DATAL ${datal} but the PDU carries ${dataLen} data bytes` };
  }
  if (datal > limits.maxH2CData) {
    return { fes: FES.DATA_TRANSFER_LIMIT_EXCEEDED, fei: DATA.length, reason: `H2CData DATAL ${datal} beyond MAXH2CDATA ${limits.maxH2CData}` };
  }
  if (datao !== req.h2cReceived || datao + datal > req.dataLen) {
    return {
      fes: FES.DATA_TRANSFER_OUT_OF_RANGE,
      fei: DATA.offset,
      reason: `H2CData offset ${datao}+${datal} outside the R2T (expected offset ${req.h2cReceived}, length ${req.dataLen})`,
    };
  }
  return req;
}

export function isFatal(r: Request | Fatal): r is Fatal {
  return (r as Fatal).fes !== undefined;
}
