// Asymmetric Namespace Access: the state of each ANA group on each port, in one place.
//
// The states live in shared memory so that I/O worker threads read the same bytes the main thread
// writes (the main thread alone changes them: config at start, setAnaState afterwards). The I/O path
// asks ioStatus() for every command: while every group on every port allows I/O (the usual case)
// that is a single read of one word; only then does it look the port's row up.
import type { AnaStateName, PortConfig } from '../config/types.js';
import { ANA_GROUP_MAX, AnaStateCode } from '../spec/log.js';
import { S_ANA_INACCESSIBLE, S_ANA_PERSISTENT_LOSS, S_ANA_TRANSITION } from '../spec/status.js';

/** Ports whose states can be changed (rows in the shared memory); further ports stay optimized. */
export const ANA_PORT_ROWS = 256;
/** One byte per group id 0..ANA_GROUP_MAX (0 unused) per row. */
const ROW = ANA_GROUP_MAX + 1;
/**
 * Header words: 0, how many (port, group) pairs are in a state that refuses I/O; 1, how many rows
 * are in use. Then one word per row: the id of the port owning it. Then the rows of states. The
 * owners are shared so that a worker finds the row of a port it learnt of later (a listener added
 * by RPC gets its row on the main thread, when its first state is set).
 */
const HEADER_WORDS = 2;
const OWNERS = HEADER_WORDS * 4;
const STATES = OWNERS + ANA_PORT_ROWS * 4;

const CODE: Record<AnaStateName, number> = {
  optimized: AnaStateCode.OPTIMIZED,
  'non-optimized': AnaStateCode.NON_OPTIMIZED,
  inaccessible: AnaStateCode.INACCESSIBLE,
  'persistent-loss': AnaStateCode.PERSISTENT_LOSS,
  change: AnaStateCode.CHANGE,
};

export function anaStateCode(name: AnaStateName): number {
  return CODE[name];
}

export function anaStateName(code: number): AnaStateName {
  for (const [name, c] of Object.entries(CODE)) if (c === code) return name as AnaStateName;
  return 'optimized';
}

/** The path-related status an I/O command gets in a state, 0 where I/O is allowed. */
function refusal(code: number): number {
  switch (code) {
    case AnaStateCode.INACCESSIBLE:
      return S_ANA_INACCESSIBLE;
    case AnaStateCode.PERSISTENT_LOSS:
      return S_ANA_PERSISTENT_LOSS;
    case AnaStateCode.CHANGE:
      return S_ANA_TRANSITION;
    default:
      return 0;
  }
}

export class AnaTable {
  /** Shared with the I/O workers (WorkerInit.anaState). */
  readonly sab: SharedArrayBuffer;
  readonly #blocked: Int32Array;
  /** Header word 1: rows in use (main thread writes, workers read). */
  readonly #used: Int32Array;
  /** Per row: the port id owning it. */
  readonly #owners: Int32Array;
  readonly #states: Uint8Array;
  /** Port id -> byte offset of its row in #states. */
  readonly #rows = new Map<number, number>();
  #nextRow = 0;
  /** ANA change count (log page 0Ch header): bumped on every change; main thread only. */
  chgcnt = 0n;
  /** Per row and group: the change count when the group's state last changed on that port. */
  readonly #groupChgcnt = new Map<number, bigint>();

  /**
   * `ports`: the configured ports, in config order (the same order on every thread, so rows agree).
   * `sab`: the main thread's table on a worker; absent: a new table filled from the ports' config.
   */
  constructor(ports: readonly PortConfig[], sab?: SharedArrayBuffer) {
    this.sab = sab ?? new SharedArrayBuffer(STATES + ANA_PORT_ROWS * ROW);
    this.#blocked = new Int32Array(this.sab, 0, 1);
    this.#used = new Int32Array(this.sab, 4, 1);
    this.#owners = new Int32Array(this.sab, OWNERS, ANA_PORT_ROWS);
    this.#states = new Uint8Array(this.sab, STATES);
    // A worker (sab given) finds rows in the shared owners as it meets ports: see #lookup.
    if (sab !== undefined) return;
    for (const p of ports) {
      const row = this.#row(p.id);
      if (row < 0) continue;
      for (const [grpid, name] of Object.entries(p.ana ?? {})) this.#write(row, Number(grpid), CODE[name]);
    }
  }

  /** The row of a port (allocated, all optimized, on first use; main thread); -1: none left. */
  #row(portId: number): number {
    const r = this.#lookup(portId);
    if (r !== undefined) return r;
    if (this.#nextRow >= ANA_PORT_ROWS) return -1;
    const index = this.#nextRow++;
    const row = index * ROW;
    this.#states.fill(AnaStateCode.OPTIMIZED, row, row + ROW);
    // Owner first, then the count: a worker that sees the count sees the owner.
    Atomics.store(this.#owners, index, portId);
    Atomics.store(this.#used, 0, index + 1);
    this.#rows.set(portId, row);
    return row;
  }

  /** The row of a port, from this thread's map or else the shared owners; undefined: it has none. */
  #lookup(portId: number): number | undefined {
    const r = this.#rows.get(portId);
    if (r !== undefined) return r;
    const used = Atomics.load(this.#used, 0);
    for (let i = 0; i < used; i++) {
      if (Atomics.load(this.#owners, i) !== portId) continue;
      this.#rows.set(portId, i * ROW);
      return i * ROW;
    }
    return undefined;
  }

  #write(row: number, grpid: number, code: number): void {
    const before = refusal(this.#states[row + grpid]!) !== 0;
    const after = refusal(code) !== 0;
    Atomics.store(this.#states, row + grpid, code);
    if (before !== after) Atomics.add(this.#blocked, 0, after ? 1 : -1);
  }

  /** How many (port, group) pairs are in a state that refuses I/O. */
  get refusing(): number {
    return Atomics.load(this.#blocked, 0);
  }

  /** The state code of a group on a port (AnaStateCode). */
  state(portId: number, grpid: number): number {
    const row = this.#lookup(portId);
    if (row === undefined || grpid < 1 || grpid > ANA_GROUP_MAX) return AnaStateCode.OPTIMIZED;
    return Atomics.load(this.#states, row + grpid);
  }

  /** The change count of a group's state on a port (0: never changed since start). */
  groupChgcnt(portId: number, grpid: number): bigint {
    const row = this.#lookup(portId);
    return row === undefined ? 0n : (this.#groupChgcnt.get(row + grpid) ?? 0n);
  }

  /**
   * I/O path: the status an I/O command that came through `port` to a namespace of group `grpid`
   * must complete with; 0: the path allows I/O.
   */
  ioStatus(port: PortConfig, grpid: number): number {
    if (this.#blocked[0] === 0) return 0;
    const row = this.#lookup(port.id);
    if (row === undefined) return 0;
    return refusal(this.#states[row + grpid]!);
  }

  /**
   * A port stopped listening (main thread): its groups go back to optimized, so that a port later
   * given the same id does not inherit them. Not counted as a change (no controller is left on it).
   */
  resetPort(portId: number): void {
    const row = this.#lookup(portId);
    if (row === undefined) return;
    for (let g = 1; g <= ANA_GROUP_MAX; g++) {
      this.#write(row, g, AnaStateCode.OPTIMIZED);
      this.#groupChgcnt.delete(row + g);
    }
  }

  /**
   * Sets the state of a group on a port (main thread). Returns false when nothing changed; throws
   * for a group id out of range or a port beyond the table.
   */
  set(portId: number, grpid: number, state: AnaStateName): boolean {
    if (!Number.isInteger(grpid) || grpid < 1 || grpid > ANA_GROUP_MAX) {
      throw new RangeError(`ANA group id ${grpid} is out of range (1 to ${ANA_GROUP_MAX})`);
    }
    const row = this.#row(portId);
    if (row < 0) throw new RangeError(`no room for the ANA states of port ${portId} (${ANA_PORT_ROWS} ports at most)`);
    const code = CODE[state];
    if (this.#states[row + grpid] === code) return false;
    this.#write(row, grpid, code);
    this.chgcnt = this.chgcnt >= 0xffffffffffffffffn ? 1n : this.chgcnt + 1n;
    this.#groupChgcnt.set(row + grpid, this.chgcnt);
    return true;
  }
}
