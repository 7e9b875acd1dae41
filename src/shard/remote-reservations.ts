// On an I/O worker: reservation commands go to the main thread, which owns the reservation state
// (src/core/reservations/manager.ts), as one message each; the answer completes the command here.
// Reads and writes never come here: they check the shared snapshot on this thread.
import type { Command } from '../core/command.js';
import type { Namespace } from '../core/namespace.js';
import type { ReservationService } from '../core/reservations/manager.js';
import { S_SEQUENCE_ERROR } from '../spec/status.js';
import type { WorkerToMain } from './messages.js';
import type { RemoteController } from './remote.js';

export class RemoteReservations implements ReservationService {
  readonly #post: (m: WorkerToMain) => void;
  readonly #pending = new Map<number, Command>();
  #next = 1;

  constructor(post: (m: WorkerToMain) => void) {
    this.#post = post;
  }

  execute(cmd: Command, ns: Namespace): void {
    const ctrl = cmd.queue.ioCtrl as RemoteController | null;
    if (!ctrl || typeof ctrl.subnqn !== 'string') {
      cmd.status = S_SEQUENCE_ERROR;
      return cmd.complete();
    }
    const reqId = this.#next++;
    this.#pending.set(reqId, cmd);
    const data = cmd.inData ? Uint8Array.from(cmd.inData) : null;
    this.#post({ type: 'resv', reqId, subnqn: ctrl.subnqn, cntlid: ctrl.cntlid, nsid: ns.nsid, sqe: Uint8Array.from(cmd.sqe), data, dataLen: cmd.dataLen });
  }

  /** The main thread's answer. */
  done(reqId: number, status: number, out: Uint8Array | null): void {
    const cmd = this.#pending.get(reqId);
    if (!cmd) return;
    this.#pending.delete(reqId);
    cmd.status = status;
    if (out && out.length > 0) {
      const buf = cmd.buffer(out.length);
      buf.set(out);
      cmd.outData = buf;
    }
    cmd.complete();
  }
}
