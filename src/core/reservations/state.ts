// One namespace's reservation: its registrants (by Host Identifier), the reservation type and holder,
// the generation, and the Persist Through Power Loss state. The rules of Register, Acquire and
// Release live here, free of commands and controllers: each operation returns a status and the
// notices it caused, for the caller to deliver. Every change is published to the shared snapshot.
import {
  AcquireAction,
  NoticeType,
  RType,
  RegisterAction,
  ReleaseAction,
  allRegistrants,
  registrantTypes,
} from '../../spec/reservation.js';
import { S_INVALID_FIELD, S_RESERVATION_CONFLICT } from '../../spec/status.js';
import type { ReservationSnapshot } from './snapshot.js';

/** Registrants per namespace at most (a Register beyond is refused with Invalid Field). */
export const MAX_REGISTRANTS = 256;
const U64 = 0xffffffffffffffffn;

export interface Registrant {
  /** Host Identifier, hex (hosts.ts hostKey). */
  readonly host: string;
  key: bigint;
}

/** A notice for every controller of `host`: notification log page 80h (NoticeType). */
export interface Notice {
  host: string;
  type: number;
}

export interface Outcome {
  status: number;
  notices: Notice[];
  /** The state changed (persist it). */
  changed: boolean;
}

/** What state.ts needs to publish host indexes (hosts.ts HostTable). */
export interface HostIndexes {
  index(host: string): number;
}

/** The state as written to a PTPL file (ptpl.ts) and read back. */
export interface SavedState {
  ptpl: boolean;
  generation: number;
  rtype: number;
  /** Host of the holder (types 1 to 4); null otherwise. */
  holder: string | null;
  registrants: { host: string; key: bigint }[];
}

function ok(changed: boolean, notices: Notice[] = []): Outcome {
  return { status: 0, notices, changed };
}

function refuse(status: number): Outcome {
  return { status, notices: [], changed: false };
}

export class NamespaceReservation {
  /** Insertion order is registration order. */
  readonly registrants = new Map<string, Registrant>();
  rtype: number = RType.NONE;
  /** The holder's host (types 1 to 4); all-registrants types have every registrant hold it. */
  holder: string | null = null;
  generation = 0;
  ptpl = false;
  readonly #snapshot: ReservationSnapshot;
  readonly #hosts: HostIndexes;

  constructor(snapshot: ReservationSnapshot, hosts: HostIndexes) {
    this.#snapshot = snapshot;
    this.#hosts = hosts;
  }

  /** Whether `host` holds the reservation. */
  holds(host: string): boolean {
    if (this.rtype === RType.NONE) return false;
    return allRegistrants(this.rtype) ? this.registrants.has(host) : this.holder === host;
  }

  #bump(): void {
    this.generation = (this.generation + 1) >>> 0;
  }

  /** Rewrites the shared snapshot (after every change). */
  publish(): void {
    const holder = this.holder !== null && !allRegistrants(this.rtype) ? this.#hosts.index(this.holder) : 0;
    const indexes: number[] = [];
    for (const r of this.registrants.values()) indexes.push(this.#hosts.index(r.host));
    this.#snapshot.publish(this.rtype, holder, indexes);
  }

  // --- Reservation Register -------------------------------------------------------------------

  register(host: string, action: number, iekey: boolean, crkey: bigint, nrkey: bigint): Outcome {
    const reg = this.registrants.get(host);
    switch (action) {
      case RegisterAction.REGISTER:
        if (reg) return reg.key === nrkey ? ok(false) : refuse(S_RESERVATION_CONFLICT);
        if (this.registrants.size >= MAX_REGISTRANTS) return refuse(S_INVALID_FIELD);
        this.registrants.set(host, { host, key: nrkey });
        return this.#changed([]);
      case RegisterAction.UNREGISTER: {
        if (!reg || (!iekey && reg.key !== crkey)) return refuse(S_RESERVATION_CONFLICT);
        const notices: Notice[] = [];
        this.#unregister(host, notices);
        return this.#changed(notices);
      }
      case RegisterAction.REPLACE:
        if (!reg || (!iekey && reg.key !== crkey)) return refuse(S_RESERVATION_CONFLICT);
        reg.key = nrkey;
        return this.#changed([]);
      default:
        return refuse(S_INVALID_FIELD);
    }
  }

  #changed(notices: Notice[]): Outcome {
    this.#bump();
    this.publish();
    return ok(true, notices);
  }

  /** Removes one registration; its reservation goes with it (registrants-only: released notices). */
  #unregister(host: string, notices: Notice[]): void {
    this.registrants.delete(host);
    if (this.rtype === RType.NONE) return;
    if (allRegistrants(this.rtype)) {
      if (this.registrants.size === 0) this.#clearReservation();
      return;
    }
    if (this.holder !== host) return;
    const rtype = this.rtype;
    this.#clearReservation();
    if (registrantTypes(rtype)) this.#releasedTo(host, notices);
  }

  #clearReservation(): void {
    this.rtype = RType.NONE;
    this.holder = null;
  }

  /** Reservation Released notices to every registrant but `except`. */
  #releasedTo(except: string, notices: Notice[]): void {
    for (const r of this.registrants.values()) if (r.host !== except) notices.push({ host: r.host, type: NoticeType.RESERVATION_RELEASED });
  }

  #setReservation(rtype: number, holder: string): void {
    this.rtype = rtype;
    this.holder = allRegistrants(rtype) ? null : holder;
  }

  // --- Reservation Acquire --------------------------------------------------------------------

  /** `rtype` was checked (1 to 6) by the caller; the host's key is checked here. */
  acquire(host: string, action: number, crkey: bigint, prkey: bigint, rtype: number): Outcome {
    const reg = this.registrants.get(host);
    if (!reg || reg.key !== crkey) return refuse(S_RESERVATION_CONFLICT);
    if (action === AcquireAction.ACQUIRE) {
      if (this.rtype === RType.NONE) {
        this.#setReservation(rtype, host);
        this.publish();
        return ok(true);
      }
      return this.holds(host) && this.rtype === rtype ? ok(false) : refuse(S_RESERVATION_CONFLICT);
    }
    if (action !== AcquireAction.PREEMPT && action !== AcquireAction.PREEMPT_AND_ABORT) return refuse(S_INVALID_FIELD);
    const notices: Notice[] = [];
    const done = (): Outcome => this.#changed(notices);
    if (this.rtype === RType.NONE) return this.#preemptByKey(host, prkey, notices, true) ? done() : refuse(S_RESERVATION_CONFLICT);
    const before = this.rtype;
    if (allRegistrants(before)) {
      if (prkey !== 0n) return this.#preemptByKey(host, prkey, notices, true) ? done() : refuse(S_RESERVATION_CONFLICT);
      // Every other registrant goes; the preempting host holds the new reservation.
      for (const r of [...this.registrants.values()]) if (r.host !== host) this.#preempted(r.host, notices);
      this.#setReservation(rtype, host);
      return done();
    }
    const holderKey = this.registrants.get(this.holder!)?.key;
    if (this.holder === host) {
      // The holder preempting itself: a change of type.
      this.#setReservation(rtype, host);
      if (before !== rtype) this.#releasedTo(host, notices);
      return done();
    }
    if (holderKey === prkey) {
      this.#setReservation(rtype, host);
      this.#preemptByKey(host, prkey, notices, false);
      if (before !== rtype) this.#releasedTo(host, notices);
      return done();
    }
    if (prkey === 0n) return refuse(S_INVALID_FIELD);
    return this.#preemptByKey(host, prkey, notices, true) ? done() : refuse(S_RESERVATION_CONFLICT);
  }

  /**
   * Unregisters every registrant whose key is `prkey` (the preempting host too when `self`); returns
   * whether one was. Each gets a Registration Preempted notice (not the preempting host).
   */
  #preemptByKey(host: string, prkey: bigint, notices: Notice[], self: boolean): boolean {
    let any = false;
    for (const r of [...this.registrants.values()]) {
      if (r.key !== prkey || (!self && r.host === host)) continue;
      any = true;
      if (r.host === host) this.#unregister(host, notices);
      else this.#preempted(r.host, notices);
    }
    return any;
  }

  #preempted(host: string, notices: Notice[]): void {
    this.#unregister(host, notices);
    notices.push({ host, type: NoticeType.REGISTRATION_PREEMPTED });
  }

  // --- Reservation Release --------------------------------------------------------------------

  release(host: string, action: number, crkey: bigint, rtype: number): Outcome {
    const reg = this.registrants.get(host);
    if (!reg || reg.key !== crkey) return refuse(S_RESERVATION_CONFLICT);
    if (action === ReleaseAction.RELEASE) {
      if (!this.holds(host)) return ok(false);
      if (rtype !== this.rtype) return refuse(S_INVALID_FIELD);
      const before = this.rtype;
      this.#clearReservation();
      this.publish();
      const notices: Notice[] = [];
      if (registrantTypes(before)) this.#releasedTo(host, notices);
      return ok(true, notices);
    }
    if (action !== ReleaseAction.CLEAR) return refuse(S_INVALID_FIELD);
    const notices: Notice[] = [];
    for (const r of this.registrants.values()) if (r.host !== host) notices.push({ host: r.host, type: NoticeType.RESERVATION_PREEMPTED });
    this.registrants.clear();
    this.#clearReservation();
    return this.#changed(notices);
  }

  // --- Persistence ----------------------------------------------------------------------------

  save(): SavedState {
    return {
      ptpl: this.ptpl,
      generation: this.generation,
      rtype: this.rtype,
      holder: this.holder,
      registrants: [...this.registrants.values()].map((r) => ({ host: r.host, key: r.key })),
    };
  }

  /** Restores a state read from a PTPL file (ptpl.ts checked it). */
  restore(s: SavedState): void {
    this.registrants.clear();
    for (const r of s.registrants) this.registrants.set(r.host, { host: r.host, key: r.key & U64 });
    this.generation = s.generation >>> 0;
    this.rtype = s.rtype;
    this.holder = allRegistrants(s.rtype) ? null : s.holder;
    this.ptpl = s.ptpl;
    this.publish();
  }
}
