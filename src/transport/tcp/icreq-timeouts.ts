// Connections that never send an ICReq are closed after icreqTimeout; a scan or a flood of silent
// sockets must not turn into one log line each. The first timeout of a quiet period is logged at
// once; the ones that follow within SUMMARY_MS are counted and reported in one line at its end.
import type { Logger } from '../../util/log.js';

const SUMMARY_MS = 10_000;

let pending = 0;
let timer: NodeJS.Timeout | null = null;
let summaryLog: Logger | null = null;

/** Records one ICReq timeout (per thread). */
export function icreqTimedOut(log: Logger, timeoutSeconds: number): void {
  if (timer === null) {
    log.warn({ timeout: timeoutSeconds }, 'no ICReq received in time: closing the connection');
    summaryLog = log;
    timer = setTimeout(flushSummary, SUMMARY_MS);
    timer.unref();
    return;
  }
  pending++;
}

function flushSummary(): void {
  timer = null;
  if (pending === 0) return;
  summaryLog?.warn({ connections: pending, periodSeconds: SUMMARY_MS / 1000 }, `${pending} more connections sent no ICReq in time and were closed`);
  pending = 0;
  // The next timeout after a summary starts a new period (and is logged at once).
}

/** For tests: timeouts counted but not yet reported. */
export function pendingIcreqTimeouts(): number {
  return pending;
}
