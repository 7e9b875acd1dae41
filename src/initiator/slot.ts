// Command slots: one per outstanding command, preallocated per queue. The CID is the slot index,
// so a CapsuleResp, C2HData or R2T finds its command in O(1).
import { CAPSULE_SQE_OFFSET } from '../spec/pdu.js';
import { SQE_SIZE } from '../spec/sqe.js';
import { DIGEST_LEN } from '../spec/pdu.js';
import { MAX_CAPSULE_HEADER } from './pdu-build.js';
import type { TransportError } from './result.js';

/** Lifecycle of a slot. */
export const enum SlotState {
  /** On the free stack. */
  FREE,
  /** Capsule sent; waiting for data (C2HData / R2T) and the completion. */
  ACTIVE,
  /** The submitter gave up (timeout); the CID stays reserved until a completion or close. */
  ABANDONED,
}

export type SlotCallback = (slot: CommandSlot) => void;

export class CommandSlot {
  state: SlotState = SlotState.FREE;
  /** CapsuleCmd header area: CH at 0, the SQE at 8, then header digest and padding. */
  readonly hdr = Buffer.alloc(MAX_CAPSULE_HEADER);
  /** The SQE, a view into hdr: encoders fill it in place. */
  readonly sqe = this.hdr.subarray(CAPSULE_SQE_OFFSET, CAPSULE_SQE_OFFSET + SQE_SIZE);
  /** Reused data digest of in-capsule data. */
  readonly ddgstBuf = Buffer.alloc(DIGEST_LEN);

  /** Host-to-controller data (write, compare, DSM ranges, Connect data). */
  dataOut: Uint8Array | null = null;
  /** Controller-to-host destination (read, identify, log page). */
  dataIn: Uint8Array | null = null;
  /** Force the data path: true = in-capsule, false = R2T, null = by size. */
  inCapsule: boolean | null = null;
  /** Bytes of dataIn received so far (C2HData arrive in order). */
  received = 0;
  /** Bytes of dataOut requested by R2Ts so far. */
  r2tRequested = 0;
  /** A C2HData for this command failed its data digest. */
  ddgstError = false;
  /** ms since epoch after which the command is abandoned; 0 = never. */
  deadline = 0;

  // Completion: valid inside the callback.
  status = 0;
  dw0 = 0;
  dw1 = 0;
  sqhd = 0;
  viaDataSuccess = false;
  /** Set when the command failed without a completion. */
  error: TransportError | null = null;

  callback: SlotCallback | null = null;

  constructor(readonly cid: number) {}

  reset(): void {
    this.dataOut = null;
    this.dataIn = null;
    this.inCapsule = null;
    this.received = 0;
    this.r2tRequested = 0;
    this.ddgstError = false;
    this.deadline = 0;
    this.status = 0;
    this.dw0 = 0;
    this.dw1 = 0;
    this.sqhd = 0;
    this.viaDataSuccess = false;
    this.error = null;
    this.callback = null;
  }
}

/** Fixed pool of slots with a LIFO free stack (no allocation after construction). */
export class SlotPool {
  readonly slots: CommandSlot[];
  readonly #free: Uint16Array;
  #top: number;

  constructor(size: number) {
    if (size < 1 || size > 0xffff) throw new RangeError(`slot pool size ${size}`);
    this.slots = Array.from({ length: size }, (_, i) => new CommandSlot(i));
    this.#free = new Uint16Array(size);
    // Lowest CIDs on top.
    for (let i = 0; i < size; i++) this.#free[i] = size - 1 - i;
    this.#top = size;
  }

  get available(): number {
    return this.#top;
  }

  get inUse(): number {
    return this.slots.length - this.#top;
  }

  acquire(): CommandSlot | null {
    if (this.#top === 0) return null;
    const s = this.slots[this.#free[--this.#top]!]!;
    s.reset();
    s.state = SlotState.ACTIVE;
    return s;
  }

  release(s: CommandSlot): void {
    if (s.state === SlotState.FREE) return;
    s.state = SlotState.FREE;
    s.callback = null;
    s.dataIn = null;
    s.dataOut = null;
    this.#free[this.#top++] = s.cid;
  }

  /** The slot that owns `cid` if a command is outstanding on it. */
  lookup(cid: number): CommandSlot | null {
    const s = this.slots[cid];
    return s !== undefined && s.state !== SlotState.FREE ? s : null;
  }
}
