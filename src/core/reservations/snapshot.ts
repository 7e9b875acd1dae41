// What every thread's I/O path sees of a namespace's reservation: a compact copy in shared memory,
// written by the main thread (which owns the reservation state, state.ts) on every change and read
// by the conflict check of each I/O command, on whichever thread the queue lives.
//
// Layout (Int32 words): [0] sequence (odd while the main thread rewrites the rest), [1] reservation
// type (0: none), [2] holder's host index (0: none or all-registrants), then a bitset of the
// registrants' host indexes. Host indexes are small numbers the main thread gives each Host
// Identifier (hosts.ts); a controller's index reaches workers in its state word.
import { IoOpc } from '../../spec/opcodes.js';
import { RType } from '../../spec/reservation.js';

/** Host indexes 1..HOST_INDEX_MAX (0: none). */
export const HOST_INDEX_MAX = 4095;
const SEQ = 0;
const TYPE = 1;
const HOLDER = 2;
const BITS = 3;
const WORDS = BITS + (HOST_INDEX_MAX + 1) / 32;
/** Bytes of one namespace's snapshot. */
export const RESV_SNAPSHOT_BYTES = WORDS * 4;

/** Command groups of the reservation command-behaviour table (NVM command set). */
const READ_GROUP = 1;
const WRITE_GROUP = 2;
const GROUP = new Uint8Array(256);
GROUP[IoOpc.Read] = READ_GROUP;
GROUP[IoOpc.Compare] = READ_GROUP;
GROUP[IoOpc.Verify] = READ_GROUP;
GROUP[IoOpc.Write] = WRITE_GROUP;
GROUP[IoOpc.Flush] = WRITE_GROUP;
GROUP[IoOpc.WriteZeroes] = WRITE_GROUP;
GROUP[IoOpc.WriteUncorrectable] = WRITE_GROUP;
GROUP[IoOpc.DatasetManagement] = WRITE_GROUP;
GROUP[IoOpc.Copy] = WRITE_GROUP;

/**
 * Whether a command of `group` from a host that does not hold the reservation is refused, given
 * whether the host is a registrant. All-registrants types count every registrant as a holder.
 */
export function refused(rtype: number, group: number, registrant: boolean): boolean {
  switch (rtype) {
    case RType.WRITE_EXCLUSIVE:
      return group === WRITE_GROUP;
    case RType.EXCLUSIVE_ACCESS:
      return true;
    case RType.WRITE_EXCLUSIVE_REG_ONLY:
    case RType.WRITE_EXCLUSIVE_ALL_REGS:
      return group === WRITE_GROUP && !registrant;
    case RType.EXCLUSIVE_ACCESS_REG_ONLY:
    case RType.EXCLUSIVE_ACCESS_ALL_REGS:
      return !registrant;
    default:
      return false;
  }
}

/** The command group of an I/O opcode: 0 (not restricted by a reservation), read or write. */
export function commandGroup(opcode: number): number {
  return GROUP[opcode & 0xff]!;
}

export class ReservationSnapshot {
  readonly #w: Int32Array;

  /** `buffer`/`offset`: where the words live (shared with the other threads, or private). */
  constructor(buffer: ArrayBufferLike = new ArrayBuffer(RESV_SNAPSHOT_BYTES), offset = 0) {
    this.#w = new Int32Array(buffer, offset, WORDS);
  }

  /**
   * I/O path: whether the command with `opcode` from the host with index `hostIndex()` conflicts
   * with the reservation. One word read while the namespace has no reservation.
   */
  conflicts(opcode: number, host: { readonly hostIndex: number }): boolean {
    // A plain load for the usual "no reservation" answer (Atomics.load is a call into a builtin from
    // optimized code, once per command); a reservation being published is read under the sequence below.
    if (this.#w[TYPE] === 0) return false;
    const group = GROUP[opcode & 0xff]!;
    if (group === 0) return false;
    const index = host.hostIndex;
    for (;;) {
      const seq = Atomics.load(this.#w, SEQ);
      if ((seq & 1) === 0) {
        const rtype = Atomics.load(this.#w, TYPE);
        const holder = Atomics.load(this.#w, HOLDER);
        const registrant = index > 0 && (Atomics.load(this.#w, BITS + (index >>> 5)) & (1 << (index & 31))) !== 0;
        if (Atomics.load(this.#w, SEQ) === seq) return !(index > 0 && index === holder) && refused(rtype, group, registrant);
      }
    }
  }

  /** Main thread: publishes the state (type, holder's index, registrants' indexes). */
  publish(rtype: number, holder: number, registrants: Iterable<number>): void {
    const w = this.#w;
    Atomics.add(w, SEQ, 1);
    w.fill(0, BITS);
    for (const i of registrants) if (i > 0 && i <= HOST_INDEX_MAX) w[BITS + (i >>> 5)]! |= 1 << (i & 31);
    Atomics.store(w, HOLDER, holder);
    Atomics.store(w, TYPE, rtype);
    Atomics.add(w, SEQ, 1);
  }

  /** The published type (0: none), for tests and the report. */
  get rtype(): number {
    return Atomics.load(this.#w, TYPE);
  }
}
