// Open findings of the fuzzer on the current target code: each with its minimized reproducer in
// findings/, and the trigger that causes it. A violation counts as this finding's when the same
// input with every trigger PDU taken out no longer breaks the invariant (attribution by cause, not
// by message). The CI slice tolerates these and fails on anything else; it also fails when a
// reproducer no longer shows its finding: then the finding is fixed, so take its entry out of this
// list (and keep the reproducer as a regression input in corpus/).
import { CAPSULE_SQE_OFFSET, CH, DIGEST_LEN, PduFlags, PduType } from '../../src/spec/pdu.js';
import { SGL, SQE } from '../../src/spec/sqe.js';
import { AdminOpc, IoOpc } from '../../src/spec/opcodes.js';
import { removePdus, type FuzzInput } from './input.js';
import type { FuzzTargetRunner, Violation } from './targets.js';

export interface KnownFinding {
  id: string;
  summary: string;
  /** Invariants this finding shows as (others are not attributed to it). */
  invariants: readonly string[];
  /** The PDUs that cause it: an input without them must not show it. */
  trigger: (pdu: Buffer) => boolean;
  /** Reproducers in findings/ (file name, invariant it shows). */
  reproducers: readonly { file: string; invariant: string }[];
}

/** An H2CData PDU that carries no data (PLEN is the header, with its digest when flagged). */
function h2cWithoutData(b: Buffer): boolean {
  if (b.length < CH.size || b[CH.pduType] !== PduType.H2CData) return false;
  const hd = (b[CH.flags]! & PduFlags.HDGSTF) !== 0 ? DIGEST_LEN : 0;
  return b.readUInt32LE(CH.plen) <= b[CH.hlen]! + hd;
}

function capsuleOpcode(b: Buffer): number {
  return b.length >= CAPSULE_SQE_OFFSET + 64 && b[CH.pduType] === PduType.CapsuleCmd ? b[CAPSULE_SQE_OFFSET + SQE.opcode]! : -1;
}

/**
 * Open findings: none at present. When the fuzzer finds one that cannot be fixed at once, list it
 * here (the slice then tolerates it and checks that its reproducer still shows it).
 */
export const KNOWN_OPEN: readonly KnownFinding[] = [];

/**
 * Fixed findings: their reproducers (in regressions/) must replay without any violation. Kept with
 * their triggers and summaries as the record of what was found and what the fix guards against.
 */
export const FIXED: readonly KnownFinding[] = [
  {
    id: 'h2c-no-data',
    summary:
      'An H2CData PDU without data (PLEN == HLEN [+ header digest]) never reaches onHeader, so the TTAG/CCCID/state/DATAO/DATAL checks of ' +
      '#h2cDestination are skipped and #onH2CData trusts its header: a TTAG beyond the slot table throws a TypeError (internal error); one ' +
      'naming a free slot re-executes that slot\'s last command (a second completion, a second C2HData, a slot put on the free list twice); ' +
      'one naming the slot that awaits the data, with DATAL = the transfer length, executes the write with the pool buffer\'s stale contents ' +
      '(unreceived bytes written to the namespace and read back by the host).',
    invariants: [
      'internal-error-logged',
      'exception',
      'duplicate-completion',
      'completion-without-command',
      'data-without-command',
      'r2t-without-command',
      'slot-shared',
      'stale-buffer-in-output',
      'buffer-double-release',
      'buffer-leak',
      'inflight-leak',
      'bad-output-digest',
    ],
    trigger: h2cWithoutData,
    reproducers: [
      { file: 'h2c-no-data-ttag-beyond-slots.bin', invariant: 'internal-error-logged' },
      { file: 'h2c-no-data-free-slot-reexecutes.bin', invariant: 'duplicate-completion' },
      { file: 'h2c-no-data-free-slot-resends-data.bin', invariant: 'data-without-command' },
      { file: 'h2c-no-data-writes-unreceived-data.bin', invariant: 'stale-buffer-in-output' },
    ],
  },
  {
    id: 'ram-read-view-digest',
    summary:
      'A read served zero-copy from a RAM namespace queues a view of the namespace memory and computes its data digest at once; the bytes ' +
      'go out at the end of the batch. A write to the same blocks later in the same batch changes them in between: the C2HData carries the ' +
      'new bytes with the old digest (the host sees a data digest error and drops the connection).',
    invariants: ['bad-output-digest'],
    trigger: (b) => capsuleOpcode(b) === IoOpc.Write || capsuleOpcode(b) === IoOpc.WriteZeroes || capsuleOpcode(b) === IoOpc.DatasetManagement,
    reproducers: [{ file: 'ram-read-view-digest.bin', invariant: 'bad-output-digest' }],
  },
  {
    id: 'c2h-data-zero-length',
    summary:
      'A command that returns data (Identify, Get Log Page, a read...) sent with a data SGL of length 0 completes with a C2HData of ' +
      'DATAL 0 before its CapsuleResp: completeRequest sends min(outData.length, dataLen) = 0 bytes. With HPDA > 0 the PDU has ' +
      'PLEN == PDO, which the project\'s own PDU reader rejects as a fatal error ("PLEN leaves no room for data after PDO"); with HPDA 0 ' +
      'it is a data PDU with no data.',
    invariants: ['malformed-output'],
    trigger: (b) => capsuleOpcode(b) >= 0 && b.readUInt32LE(CAPSULE_SQE_OFFSET + SQE.dptr + SGL.length) === 0,
    reproducers: [{ file: 'c2h-data-zero-length.bin', invariant: 'malformed-output' }],
  },
  {
    id: 'get-log-page-numd-negative',
    summary:
      'Get Log Page computes NUMD as (cdw10 >>> 16) | ((cdw11 & 0xffff) << 16) in 32-bit signed arithmetic: a NUMDU with bit 15 set ' +
      'makes the length negative, which passes the "len > dataLen" check; the command succeeds with cmd.buffer(negative) and sends a ' +
      'C2HData of DATAL 0 (src/core/admin/log-pages.ts).',
    invariants: ['malformed-output'],
    trigger: (b) => capsuleOpcode(b) === AdminOpc.GetLogPage && (b.readUInt32LE(CAPSULE_SQE_OFFSET + SQE.cdw11) & 0x8000) !== 0,
    reproducers: [{ file: 'get-log-page-numd-negative.bin', invariant: 'malformed-output' }],
  },
  {
    id: 'aer-teardown-inflight',
    summary:
      'Controller teardown forgets its outstanding Asynchronous Event Requests (#aerCmds.length = 0) without completing or dropping their ' +
      'slots: the thread\'s in-flight counter stays one higher for every AER outstanding at teardown (every Linux host keeps one), and the ' +
      'slot never returns to its queue.',
    invariants: ['inflight-leak'],
    trigger: (b) => capsuleOpcode(b) === AdminOpc.AsyncEventRequest,
    reproducers: [{ file: 'aer-teardown-inflight.bin', invariant: 'inflight-leak' }],
  },
];

/** The known finding a violation belongs to, or null (a new finding). Runs the input again. */
export async function attribute(target: FuzzTargetRunner, v: Violation, input: FuzzInput): Promise<KnownFinding | null> {
  for (const k of KNOWN_OPEN) {
    if (!k.invariants.includes(v.invariant)) continue;
    const without = removePdus(input, k.trigger);
    if (without.length === input.length && without.every((c, i) => c.bytes.length === input[i]!.bytes.length)) continue;
    const r = await target.run(without);
    if (r.violation?.invariant !== v.invariant) return k;
  }
  return null;
}
