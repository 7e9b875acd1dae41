// A controller's Reservation Notification log (LID 80h): the notices waiting for the host, oldest
// first, with the 64-bit log page count that goes up by one per notice (0 skipped), and the
// Reservation Notification Mask feature (82h) per namespace.
import { NOTICE_MASK_ALL, NoticeLog, NoticeType } from '../../spec/reservation.js';

/** Notices kept per controller; further ones are counted as lost (the count still goes up). */
export const NOTICES_MAX = 255;
const U64 = 0xffffffffffffffffn;

interface Entry {
  count: bigint;
  type: number;
  nsid: number;
}

export class ReservationNotices {
  readonly #queue: Entry[] = [];
  #count = 0n;
  /** Per-namespace masks (bit = notice type): a masked notice is not logged. */
  readonly #masks = new Map<number, number>();

  #next(): bigint {
    this.#count = this.#count >= U64 ? 1n : this.#count + 1n;
    return this.#count;
  }

  /** Logs a notice; false when masked (nothing to announce). */
  add(type: number, nsid: number): boolean {
    if ((this.mask(nsid) & (1 << type)) !== 0) return false;
    const count = this.#next();
    if (this.#queue.length >= NOTICES_MAX) return true;
    this.#queue.push({ count, type, nsid });
    return true;
  }

  get pending(): number {
    return this.#queue.length;
  }

  /**
   * The log page: the oldest notice, taken off the log (an empty page when there is none). Its
   * count is the notice's own: a gap between two pages read is the notices lost while the log was full.
   */
  take(): Buffer {
    const b = Buffer.alloc(NoticeLog.size);
    const e = this.#queue.shift();
    if (!e) {
      b[NoticeLog.type] = NoticeType.EMPTY;
      return b;
    }
    b.writeBigUInt64LE(e.count, NoticeLog.count);
    b[NoticeLog.type] = e.type;
    b[NoticeLog.available] = Math.min(this.#queue.length, 255);
    b.writeUInt32LE(e.nsid >>> 0, NoticeLog.nsid);
    return b;
  }

  mask(nsid: number): number {
    return this.#masks.get(nsid) ?? 0;
  }

  /** Sets the mask of the namespaces listed; returns false for bits outside the three notices. */
  setMask(nsids: Iterable<number>, mask: number): boolean {
    if ((mask & ~NOTICE_MASK_ALL) !== 0) return false;
    for (const n of nsids) this.#masks.set(n, mask);
    return true;
  }
}
