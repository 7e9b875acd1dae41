// Both directions of one fuzzed connection, as a host would see them.
//
// InputMirror parses what the fuzzer sends (a target-role PduReader, digests switched on by the
// first ICReq as the target does) and counts the commands sent per CID. It never stops earlier than
// the target's own reader, so its counts are an upper bound of what the target accepted.
// OutputChecker parses what the target writes (an initiator-role PduReader) and checks each
// response against those counts: every completion, C2HData and R2T must name an outstanding CID,
// no command completes twice, no two outstanding commands hold one transfer tag, nothing follows a
// C2HTermReq, and the stream itself is well formed.
import { PduReader, type PduSink } from '../../src/transport/tcp/pdu-reader.js';
import { CAPSULE_CQE_OFFSET, CAPSULE_SQE_OFFSET, CH, DATA, IC, PduFlags, PduType, TERM } from '../../src/spec/pdu.js';
import { CQE, SQE } from '../../src/spec/sqe.js';
import { POISON } from './pool-guard.js';

const TARGET_ACCEPT = [PduType.ICReq, PduType.H2CTermReq, PduType.CapsuleCmd, PduType.H2CData];
const HOST_ACCEPT = [PduType.ICResp, PduType.C2HTermReq, PduType.CapsuleResp, PduType.C2HData, PduType.R2T];
/** Well above the target's own limit: the mirror must never stop before the target does. */
const MIRROR_MAX_PLEN = 4 << 20;
const OUTPUT_MAX_PLEN = 4 << 20;

/** This many POISON bytes in a row in C2HData: the target sent pool memory it did not fill. */
const POISON_RUN = 32;

const POISON_NEEDLE = Buffer.alloc(POISON_RUN, POISON);

/** Offset of the first run of POISON_RUN poison bytes in `d`, or -1 (a native search). */
function poisonRun(d: Uint8Array): number {
  const b = Buffer.isBuffer(d) ? d : Buffer.from(d.buffer, d.byteOffset, d.length);
  return b.indexOf(POISON_NEEDLE);
}

/** One shared scratch for PDU data nobody keeps (the readers copy into it). */
const SCRATCH = Buffer.allocUnsafe(MIRROR_MAX_PLEN);

export interface Violation {
  invariant: string;
  detail: string;
  stack?: string;
}

/** Per-CID counters of one connection, reset by touching only what was used. */
class CidCounts {
  readonly sent = new Uint32Array(65536);
  readonly done = new Uint32Array(65536);
  /**
   * 1: a command with this CID arrived while another with it may have been outstanding (the input
   * reused it within one batch, before the completion went out). Transfer tags of such CIDs cannot
   * be told apart, so the slot check leaves them out.
   */
  readonly reused = new Uint8Array(65536);
  readonly #touched: number[] = [];
  touch(cid: number): void {
    if (this.sent[cid] === 0 && this.done[cid] === 0) this.#touched.push(cid);
  }
  reset(): void {
    for (const c of this.#touched) {
      this.sent[c] = 0;
      this.done[c] = 0;
      this.reused[c] = 0;
    }
    this.#touched.length = 0;
  }
}

export class InputMirror implements PduSink {
  readonly reader: PduReader;
  #sawIcreq = false;
  commands = 0;
  constructor(readonly counts: CidCounts) {
    this.reader = new PduReader(this, { accept: TARGET_ACCEPT, maxPlen: MIRROR_MAX_PLEN });
  }
  onHeader(_hdr: Buffer, dataLen: number): Uint8Array | null {
    return SCRATCH.subarray(0, dataLen);
  }
  onPdu(hdr: Buffer): void {
    const type = hdr[CH.pduType]!;
    if (type === PduType.ICReq && !this.#sawIcreq) {
      this.#sawIcreq = true;
      const d = hdr[IC.digest]!;
      this.reader.hdgst = (d & 1) !== 0;
      this.reader.ddgst = (d & 2) !== 0;
    } else if (type === PduType.CapsuleCmd) {
      const cid = hdr.readUInt16LE(CAPSULE_SQE_OFFSET + SQE.cid);
      const c = this.counts;
      c.touch(cid);
      if (c.sent[cid]! > c.done[cid]!) c.reused[cid] = 1;
      c.sent[cid]!++;
      this.commands++;
    }
  }
  onFatal(): void {}
}

export class OutputChecker implements PduSink {
  readonly reader: PduReader;
  violation: Violation | null = null;
  /** Feature hashes of what came out (PDU types, statuses, TermReq FES/FEI). */
  readonly features: number[] = [];
  #termReq = false;
  #afterTerm = 0;
  /** TTAG -> CID + 1 of the R2T holding it (0: free). */
  readonly #ttagOwner = new Map<number, number>();
  pdus = 0;
  /** What came out, for the corpus self-check. */
  readonly summary = { completions: 0, failed: 0, termReqs: 0, r2t: 0, c2hData: 0 };
  constructor(readonly conn: number, readonly counts: CidCounts) {
    this.reader = new PduReader(this, { accept: HOST_ACCEPT, maxPlen: OUTPUT_MAX_PLEN });
  }

  #fail(invariant: string, detail: string): void {
    if (!this.violation) this.violation = { invariant, detail: `connection ${this.conn}: ${detail}` };
  }

  #outstanding(cid: number): boolean {
    return this.counts.sent[cid]! > this.counts.done[cid]!;
  }

  #completed(cid: number, what: string): void {
    const c = this.counts;
    if (!this.#outstanding(cid)) {
      if (c.sent[cid]! > 0) this.#fail('duplicate-completion', `${what} for CID ${cid}: ${c.sent[cid]} command(s) sent with it, ${c.done[cid]} already completed`);
      else this.#fail('completion-without-command', `${what} for CID ${cid}, which no command used`);
    }
    c.touch(cid);
    c.done[cid]!++;
    if (this.#ttagOwner.size > 0 && !this.#outstanding(cid)) {
      for (const [ttag, owner] of this.#ttagOwner) if (owner === cid + 1) this.#ttagOwner.delete(ttag);
    }
  }

  onHeader(_hdr: Buffer, dataLen: number): Uint8Array | null {
    return SCRATCH.subarray(0, dataLen);
  }

  onPdu(hdr: Buffer, data: Uint8Array | null, ddgstOk: boolean): void {
    const type = hdr[CH.pduType]!;
    this.pdus++;
    if (this.#termReq) {
      this.#afterTerm++;
      this.#fail('output-after-termreq', `PDU type 0x${type.toString(16)} sent after a C2HTermReq`);
    }
    if (!ddgstOk) this.#fail('bad-output-digest', `PDU type 0x${type.toString(16)} with a wrong data digest`);
    switch (type) {
      case PduType.ICResp: {
        const d = hdr[IC.digest]!;
        this.reader.hdgst = (d & 1) !== 0;
        this.reader.ddgst = (d & 2) !== 0;
        this.features.push(0x100 | d);
        return;
      }
      case PduType.CapsuleResp: {
        const cid = hdr.readUInt16LE(CAPSULE_CQE_OFFSET + CQE.cid);
        const st = hdr.readUInt16LE(CAPSULE_CQE_OFFSET + CQE.status) >>> 1;
        this.features.push(0x50000 | st);
        this.summary.completions++;
        if (st !== 0) this.summary.failed++;
        return this.#completed(cid, `CapsuleResp (status 0x${st.toString(16)})`);
      }
      case PduType.C2HData: {
        const cid = hdr.readUInt16LE(DATA.cccid);
        const flags = hdr[CH.flags]!;
        this.features.push(0x700 | (flags & 0x0c));
        this.summary.c2hData++;
        if (flags & PduFlags.DATA_SUCCESS) this.summary.completions++;
        const datal = hdr.readUInt32LE(DATA.length);
        if (data && datal !== data.length) this.#fail('malformed-output', `C2HData DATAL ${datal} but ${data.length} bytes of data`);
        if (!data || datal === 0) this.#fail('malformed-output', `C2HData for CID ${cid} without data (DATAL ${datal})`);
        if (data) {
          const at = poisonRun(data);
          if (at >= 0) this.#fail('stale-buffer-in-output', `C2HData for CID ${cid} carries ${POISON_RUN}+ bytes of 0x${POISON.toString(16)} (a pool buffer nobody wrote, or one already released) at data offset ${at}`);
        }
        if (flags & PduFlags.DATA_SUCCESS) return this.#completed(cid, 'C2HData with SUCCESS');
        if (!this.#outstanding(cid)) this.#fail('data-without-command', `C2HData for CID ${cid}, which has no outstanding command`);
        return;
      }
      case PduType.R2T: {
        const cid = hdr.readUInt16LE(DATA.cccid);
        const ttag = hdr.readUInt16LE(DATA.ttag);
        this.features.push(0x900);
        this.summary.r2t++;
        if (!this.#outstanding(cid)) this.#fail('r2t-without-command', `R2T (TTAG ${ttag}) for CID ${cid}, which has no outstanding command`);
        const owner = this.#ttagOwner.get(ttag);
        const c = this.counts;
        if (owner !== undefined && owner - 1 !== cid && !c.reused[cid] && !c.reused[owner - 1] && this.#outstanding(owner - 1)) {
          this.#fail('slot-shared', `R2T TTAG ${ttag} for CID ${cid} while CID ${owner - 1} still holds it`);
        }
        this.#ttagOwner.set(ttag, cid + 1);
        return;
      }
      case PduType.C2HTermReq: {
        this.#termReq = true;
        this.summary.termReqs++;
        const fes = hdr.readUInt16LE(TERM.fes);
        const fei = hdr.readUInt32LE(TERM.fei);
        this.features.push(0x30000000 ^ (fes << 16) ^ fei);
        return;
      }
    }
  }

  onFatal(fes: number, fei: number, _hdr: Buffer, reason: string): void {
    this.#fail('malformed-output', `the target sent a PDU its peer must reject: ${reason} (FES ${fes}, FEI ${fei})`);
  }
}

export function newCounts(): CidCounts {
  return new CidCounts();
}
export type { CidCounts };
