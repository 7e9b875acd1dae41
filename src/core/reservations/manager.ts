// Reservations (Register, Report, Acquire, Release) and their one truth across threads.
//
// Design. The main thread owns every namespace's reservation state (state.ts): registrants by Host
// Identifier, type, holder, generation, PTPL. Reservation commands are rare, so they all run here:
// on the main thread's own I/O queues directly, and from an I/O worker's queue as one message
// round trip (src/shard/remote-reservations.ts sends it, the worker pool runs it here and answers).
// Reads and writes are not rare: their conflict check must not cross threads. So each change is
// published at once into a compact snapshot in shared memory (snapshot.ts: type, holder's host
// index, a bitset of registrants' host indexes, under a sequence word) that lives at the tail of
// the namespace's shared counters (namespace.ts), which every thread already maps. A command reads
// one word while the namespace has no reservation, a few more otherwise; a host's index (hosts.ts)
// reaches workers inside its controller's state word, as readiness does. Because the snapshot is
// written before the reservation command completes, no command the host sends after seeing that
// completion can miss the change, on any thread.
//
// Preempt and Abort is done as Preempt: the preempted hosts' commands not yet started are refused
// from the moment the snapshot changes (before the Acquire completes); commands already handed to
// the backend finish. No command of a preempted host starts after the Acquire completes.
//
// Persist Through Power Loss: with namespaces[].ptplFile, once a host turns PTPL on (Register CPTPL
// or Set Features 83h) every change is written atomically (ptpl.ts) before the command completes;
// the target reads the file back at start (restore()). Without a ptplFile, PTPL cannot be turned on.
import type { Controller } from '../controller.js';
import type { Command } from '../command.js';
import type { Namespace } from '../namespace.js';
import type { Subsystem } from '../subsystem.js';
import type { Logger } from '../../util/log.js';
import { IoOpc } from '../../spec/opcodes.js';
import {
  AcquireAction,
  Cptpl,
  RESV_ACQUIRE_DATA,
  RESV_REGISTER_DATA,
  RESV_RELEASE_DATA,
  Report,
  ResvCdw10,
  RType,
} from '../../spec/reservation.js';
import {
  S_HOST_ID_INCONSISTENT,
  S_INTERNAL_ERROR,
  S_INVALID_FIELD,
  S_INVALID_OPCODE,
  S_SEQUENCE_ERROR,
  S_SGL_LENGTH_INVALID,
} from '../../spec/status.js';
import { HostTable, hostKey } from './hosts.js';
import { NamespaceReservation, type Notice, type Outcome } from './state.js';
import { PtplWriter, loadState } from './ptpl.js';
import { buildReport } from './report.js';

/** How an I/O path runs a reservation command (main thread: the manager; a worker: a forwarder). */
export interface ReservationService {
  execute(cmd: Command, ns: Namespace): void;
}

/** A reservation command's result: status, and the data to return (Report). */
export interface ReservationResult {
  status: number;
  out: Buffer | null;
}

interface Entry {
  state: NamespaceReservation;
  writer: PtplWriter | null;
}

export class ReservationManager implements ReservationService {
  readonly hosts = new HostTable();
  readonly #subsystems: ReadonlyMap<string, Subsystem<Controller>>;
  readonly #log: Logger;
  readonly #entries = new Map<Namespace, Entry>();

  constructor(subsystems: ReadonlyMap<string, Subsystem<Controller>>, log: Logger) {
    this.#subsystems = subsystems;
    this.#log = log;
  }

  /** The host index of a controller's host (Connect): 0 when every index is taken. */
  hostIndex(hostid: Uint8Array): number {
    const i = this.hosts.index(hostKey(hostid));
    if (i === 0) this.#log.warn({ hosts: this.hosts.size }, 'no host index left: this host cannot register for reservations');
    return i;
  }

  /** A controller went away: its host's index is given back if nothing else uses it. */
  controllerGone(ctrl: Controller): void {
    this.#maybeRelease(hostKey(ctrl.hostid));
  }

  #maybeRelease(host: string): void {
    for (const s of this.#subsystems.values()) for (const c of s.controllers.values()) if (!c.dead && hostKey(c.hostid) === host) return;
    for (const e of this.#entries.values()) if (e.state.registrants.has(host)) return;
    this.hosts.release(host);
  }

  /** The state of a namespace (created empty on first use). */
  state(ns: Namespace): NamespaceReservation {
    return this.#entry(ns).state;
  }

  #entry(ns: Namespace): Entry {
    let e = this.#entries.get(ns);
    if (!e) {
      const file = ns.config.ptplFile;
      e = { state: new NamespaceReservation(ns.resv, { index: (h) => this.hosts.index(h) }), writer: file ? new PtplWriter(file) : null };
      this.#entries.set(ns, e);
    }
    return e;
  }

  /** Forgets a namespace that was removed. */
  forget(ns: Namespace): void {
    this.#entries.delete(ns);
  }

  /**
   * At start (main thread): every namespace with a ptplFile gets the state saved there when it was
   * saved with PTPL on. Throws PtplFileError (one clear message) for a file that cannot be used.
   */
  async restore(namespaces: Iterable<{ nqn: string; ns: Namespace }>): Promise<void> {
    for (const { nqn, ns } of namespaces) {
      const file = ns.config.ptplFile;
      if (!file) continue;
      const saved = await loadState(file);
      const e = this.#entry(ns);
      if (!saved || !saved.ptpl) continue;
      e.state.restore(saved);
      this.#log.info({ subnqn: nqn, nsid: ns.nsid, file, registrants: saved.registrants.length, rtype: saved.rtype }, 'reservation state restored (PTPL)');
    }
  }

  // --- commands -------------------------------------------------------------------------------

  /** ReservationService on the main thread: runs the command of a queue this thread owns. */
  execute(cmd: Command, ns: Namespace): void {
    const ctrl = cmd.queue.ctrl;
    if (!ctrl) {
      cmd.status = S_SEQUENCE_ERROR;
      return cmd.complete();
    }
    void this.run(ctrl, ns, cmd.sqe, cmd.inData, cmd.dataLen).then((r) => {
      cmd.status = r.status;
      if (r.out && r.out.length > 0) {
        const buf = cmd.buffer(r.out.length);
        buf.set(r.out);
        cmd.outData = buf;
      }
      cmd.complete();
    });
  }

  /** Runs a reservation command of `ctrl` on `ns`; never rejects. */
  async run(ctrl: Controller, ns: Namespace, sqe: Uint8Array, inData: Uint8Array | null, dataLen: number): Promise<ReservationResult> {
    const e = this.#entry(ns);
    const view = Buffer.from(sqe.buffer, sqe.byteOffset, 64);
    const opcode = view[0]!;
    const cdw10 = view.readUInt32LE(40);
    const host = hostKey(ctrl.hostid);
    if (opcode === IoOpc.ReservationReport) return this.#report(e, view.readUInt32LE(44), cdw10, dataLen, ctrl);
    const wasPtpl = e.state.ptpl;
    const before = new Set(e.state.registrants.keys());
    const data = inData ? Buffer.from(inData.buffer, inData.byteOffset, inData.byteLength) : null;
    const out = this.#change(e, opcode, cdw10, data, host, ctrl);
    if (out.status !== 0) {
      ctrl.log.info({ nsid: ns.nsid, opcode: `0x${opcode.toString(16)}`, cdw10: `0x${cdw10.toString(16)}`, status: `0x${out.status.toString(16)}` }, 'reservation command refused');
      return { status: out.status, out: null };
    }
    this.#deliver(ctrl, ns.nsid, out.notices);
    for (const h of before) if (!e.state.registrants.has(h)) this.#maybeRelease(h);
    if ((out.changed || wasPtpl !== e.state.ptpl) && e.writer && (e.state.ptpl || wasPtpl)) {
      try {
        await e.writer.save(() => e.state.save());
      } catch (err) {
        ctrl.log.error({ nsid: ns.nsid, file: e.writer.file, err }, 'could not persist the reservation state (PTPL)');
        return { status: S_INTERNAL_ERROR, out: null };
      }
    }
    return { status: 0, out: null };
  }

  #change(e: Entry, opcode: number, cdw10: number, data: Buffer | null, host: string, ctrl: Controller): Outcome {
    const refuse = (status: number): Outcome => ({ status, notices: [], changed: false });
    const action = cdw10 & ResvCdw10.ACTION_MASK;
    const iekey = (cdw10 & ResvCdw10.IEKEY) !== 0;
    const rtype = (cdw10 >>> ResvCdw10.RTYPE_SHIFT) & 0xff;
    const need = opcode === IoOpc.ReservationRelease ? RESV_RELEASE_DATA : opcode === IoOpc.ReservationAcquire ? RESV_ACQUIRE_DATA : RESV_REGISTER_DATA;
    if (!data || data.length < need) return refuse(S_SGL_LENGTH_INVALID);
    const crkey = data.readBigUInt64LE(0);
    switch (opcode) {
      case IoOpc.ReservationRegister: {
        const cptpl = cdw10 >>> ResvCdw10.CPTPL_SHIFT;
        if (cptpl === Cptpl.RESERVED) return refuse(S_INVALID_FIELD);
        if (cptpl === Cptpl.SET && !e.writer) {
          ctrl.log.info('Reservation Register asks for Persist Through Power Loss: this namespace has no ptplFile');
          return refuse(S_INVALID_FIELD);
        }
        if (this.hosts.peek(host) === 0 && this.hosts.index(host) === 0) return refuse(S_INVALID_FIELD);
        const out = e.state.register(host, action, iekey, crkey, data.readBigUInt64LE(8));
        if (out.status === 0 && cptpl !== Cptpl.NO_CHANGE) e.state.ptpl = cptpl === Cptpl.SET;
        return out;
      }
      case IoOpc.ReservationAcquire:
        // IEKEY is not for Acquire and Release (the key is always checked).
        if (iekey || rtype < RType.WRITE_EXCLUSIVE || rtype > RType.EXCLUSIVE_ACCESS_ALL_REGS || action > AcquireAction.PREEMPT_AND_ABORT) return refuse(S_INVALID_FIELD);
        return e.state.acquire(host, action, crkey, data.readBigUInt64LE(8), rtype);
      case IoOpc.ReservationRelease:
        if (iekey) return refuse(S_INVALID_FIELD);
        return e.state.release(host, action, crkey, rtype);
      default:
        return refuse(S_INVALID_OPCODE);
    }
  }

  #report(e: Entry, cdw11: number, cdw10: number, dataLen: number, ctrl: Controller): ReservationResult {
    if ((cdw11 & Report.EDS) === 0) {
      ctrl.log.info('Reservation Report without the extended data structure: Host Identifiers here are 128-bit');
      return { status: S_HOST_ID_INCONSISTENT, out: null };
    }
    const len = (cdw10 + 1) * 4;
    if (len > dataLen) return { status: S_SGL_LENGTH_INVALID, out: null };
    const page = buildReport(e.state);
    const out = Buffer.alloc(len);
    page.copy(out, 0, 0, Math.min(len, page.length));
    return { status: 0, out };
  }

  /** Notices go to every controller of the host named, in the namespace's subsystem. */
  #deliver(ctrl: Controller, nsid: number, notices: Notice[]): void {
    if (notices.length === 0 || !ctrl.subsys) return;
    for (const n of notices) {
      for (const c of ctrl.subsys.controllers.values()) if (hostKey(c.hostid) === n.host) c.reservationNotice(n.type, nsid);
    }
  }

  // --- features -------------------------------------------------------------------------------

  /** Reservation Persistence feature (83h): PTPL of a namespace. */
  ptpl(ns: Namespace): boolean {
    return this.#entries.get(ns)?.state.ptpl ?? false;
  }

  /** Sets PTPL (Set Features 83h): Invalid Field without a ptplFile; the file is written first. */
  async setPtpl(ns: Namespace, on: boolean, log: Logger): Promise<number> {
    const e = this.#entry(ns);
    if (!e.writer) {
      if (!on) return 0;
      log.info({ nsid: ns.nsid }, 'Set Features Reservation Persistence: this namespace has no ptplFile');
      return S_INVALID_FIELD;
    }
    if (e.state.ptpl === on) return 0;
    e.state.ptpl = on;
    try {
      await e.writer.save(() => e.state.save());
      return 0;
    } catch (err) {
      log.error({ nsid: ns.nsid, file: e.writer.file, err }, 'could not persist the reservation state (PTPL)');
      return S_INTERNAL_ERROR;
    }
  }
}
