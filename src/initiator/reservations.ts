// Reservation commands from the host side (Register, Report, Acquire, Release) and the parsing of
// the extended Reservation Report, for the integration tests and tools.
import { IoOpc } from '../spec/opcodes.js';
import { SQE, SQE_SIZE } from '../spec/sqe.js';
import { Report, ResvCdw10 } from '../spec/reservation.js';
import type { Controller } from './controller.js';
import type { CommandResult } from './result.js';

export interface ResvOptions {
  /** I/O queue index (default: round robin). */
  queue?: number;
  iekey?: boolean;
}

function sqe(buf: Buffer, opcode: number, nsid: number, cdw10: number, cdw11 = 0): void {
  buf.fill(0, 0, SQE_SIZE);
  buf[SQE.opcode] = opcode;
  buf.writeUInt32LE(nsid >>> 0, SQE.nsid);
  buf.writeUInt32LE(cdw10 >>> 0, SQE.cdw10);
  buf.writeUInt32LE(cdw11 >>> 0, SQE.cdw11);
}

function keys(...k: bigint[]): Buffer {
  const b = Buffer.alloc(k.length * 8);
  k.forEach((v, i) => b.writeBigUInt64LE(BigInt.asUintN(64, v), i * 8));
  return b;
}

function cdw10(action: number, o: ResvOptions, rtype = 0, cptpl = 0): number {
  return (action & 7) | (o.iekey ? ResvCdw10.IEKEY : 0) | ((rtype & 0xff) << ResvCdw10.RTYPE_SHIFT) | ((cptpl & 3) << ResvCdw10.CPTPL_SHIFT);
}

/** Register action 0 register, 1 unregister, 2 replace; `cptpl` 0 no change, 2 off, 3 on. */
export function resvRegister(c: Controller, nsid: number, action: number, crkey: bigint, nrkey: bigint, o: ResvOptions & { cptpl?: number } = {}): Promise<CommandResult> {
  return c.submitIo((b) => sqe(b, IoOpc.ReservationRegister, nsid, cdw10(action, o, 0, o.cptpl ?? 0)), { dataOut: keys(crkey, nrkey), ...(o.queue !== undefined ? { queue: o.queue } : {}) });
}

/** Acquire action 0 acquire, 1 preempt, 2 preempt and abort. */
export function resvAcquire(c: Controller, nsid: number, action: number, rtype: number, crkey: bigint, prkey = 0n, o: ResvOptions = {}): Promise<CommandResult> {
  return c.submitIo((b) => sqe(b, IoOpc.ReservationAcquire, nsid, cdw10(action, o, rtype)), { dataOut: keys(crkey, prkey), ...(o.queue !== undefined ? { queue: o.queue } : {}) });
}

/** Release action 0 release, 1 clear. */
export function resvRelease(c: Controller, nsid: number, action: number, rtype: number, crkey: bigint, o: ResvOptions = {}): Promise<CommandResult> {
  return c.submitIo((b) => sqe(b, IoOpc.ReservationRelease, nsid, cdw10(action, o, rtype)), { dataOut: keys(crkey), ...(o.queue !== undefined ? { queue: o.queue } : {}) });
}

/** Report of `bytes` (a multiple of 4); `eds` asks for the extended data structure. */
export function resvReport(c: Controller, nsid: number, bytes = 4096, eds = true, o: { queue?: number } = {}): Promise<CommandResult> {
  return c.submitIo((b) => sqe(b, IoOpc.ReservationReport, nsid, bytes / 4 - 1, eds ? Report.EDS : 0), { dataIn: Buffer.alloc(bytes), ...o });
}

export interface ParsedReport {
  generation: number;
  rtype: number;
  ptpls: number;
  registrants: { cntlid: number; holds: boolean; key: bigint; hostid: string }[];
}

/** Parses an extended Reservation Report (as many entries as the data holds). */
export function parseReport(b: Buffer): ParsedReport {
  const n = b.readUInt16LE(Report.regctl);
  const registrants: ParsedReport['registrants'] = [];
  for (let i = 0; i < n; i++) {
    const at = Report.extHeaderSize + i * Report.extEntrySize;
    if (at + Report.extEntrySize > b.length) break;
    registrants.push({
      cntlid: b.readUInt16LE(at + Report.eCntlid),
      holds: (b[at + Report.eRcsts]! & 1) === 1,
      key: b.readBigUInt64LE(at + Report.eRkey),
      hostid: b.subarray(at + Report.eHostid, at + Report.eHostid + 16).toString('hex'),
    });
  }
  return { generation: b.readUInt32LE(Report.gen), rtype: b[Report.rtype]!, ptpls: b[Report.ptpls]!, registrants };
}
