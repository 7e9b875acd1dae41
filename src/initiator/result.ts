// What a command returns to its submitter: the completion (status, dw0/dw1), or a transport failure.
import { DNR, statusName } from '../spec/status.js';
import type { TermReq } from './pdu-build.js';

/** The completion of one command as the initiator saw it. */
export class CommandResult {
  constructor(
    /** The 15-bit status field: SC 7:0, SCT 10:8, CRD 12:11, M 13, DNR 14. */
    readonly status: number,
    readonly dw0: number,
    readonly dw1: number,
    readonly sqhd: number,
    readonly cid: number,
    /** Data received for a controller-to-host command (a view of the caller's buffer), else null. */
    readonly data: Buffer | null,
    /** True when the command was completed by a C2HData PDU with the SUCCESS flag (no CapsuleResp). */
    readonly viaDataSuccess = false,
  ) {}

  get sct(): number {
    return (this.status >> 8) & 7;
  }
  get sc(): number {
    return this.status & 0xff;
  }
  get dnr(): boolean {
    return (this.status & DNR) !== 0;
  }
  get ok(): boolean {
    return (this.status & 0x7ff) === 0;
  }
  /** Status without CRD/M/DNR, comparable with status(sct, sc). */
  get code(): number {
    return this.status & 0x7ff;
  }
  get name(): string {
    return statusName(this.status);
  }
  toString(): string {
    return `cid ${this.cid}: ${this.name}${this.dnr ? ' DNR' : ''} dw0=0x${this.dw0.toString(16)}`;
  }
}

/** A command completed with a non-success status where the caller asked for success. */
export class NvmeError extends Error {
  constructor(
    readonly what: string,
    readonly result: CommandResult,
  ) {
    super(`${what}: ${result.name}${result.dnr ? ' (DNR)' : ''}, dw0=0x${result.dw0.toString(16)}`);
    this.name = 'NvmeError';
  }
  get status(): number {
    return this.result.status;
  }
}

/** The command never completed: the connection failed, closed, or the command timed out. */
export class TransportError extends Error {
  constructor(
    message: string,
    /** The TermReq the peer sent before closing, if any. */
    readonly termReq: TermReq | null = null,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}

/** Throws NvmeError unless the result is a success. */
export function expectOk(what: string, r: CommandResult): CommandResult {
  if (!r.ok) throw new NvmeError(what, r);
  return r;
}
