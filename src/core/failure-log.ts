// One log line per burst of backend failures: a failing disk (or a fenced RBD gateway) fails every
// command, and a line per command would bury everything else. The first failure of a namespace on
// this thread is logged; those in the following second are only counted, and the next line says how
// many were not logged. Every failure still counts in the namespace's statistics.
import type { Logger } from '../util/log.js';

/** Milliseconds after a logged failure during which further failures are only counted. */
export const FAILURE_LOG_WINDOW_MS = 1000;

export class FailureLog {
  #until = 0;
  #suppressed = 0;

  /** Logs `msg` at error level unless a line was logged less than a window ago. */
  report(log: Logger | undefined, fields: Record<string, unknown>, msg: string, now = Date.now()): void {
    if (now < this.#until) {
      this.#suppressed++;
      return;
    }
    log?.error(this.#suppressed > 0 ? { ...fields, notLogged: this.#suppressed } : fields, msg);
    this.#suppressed = 0;
    this.#until = now + FAILURE_LOG_WINDOW_MS;
  }
}
