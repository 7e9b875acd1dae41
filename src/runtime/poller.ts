// Poll modes of an I/O thread.
//   event:    the event loop sleeps in epoll until a socket or a completion wakes it (idle ~0% CPU).
//   poll:     the loop never sleeps: an always-pending immediate makes every turn poll with a zero
//             timeout, so data is picked up without a wake-up (100% of the core, by design).
//   adaptive: poll while I/O arrived in the last ADAPTIVE_IDLE_MS, sleep otherwise.
import type { PollMode } from '../config/types.js';

const ADAPTIVE_IDLE_MS = 0.5;

let mode: PollMode = 'event';
let spinning = false;
let lastActivity = 0;
/** Turns of the loop spent spinning (for statistics and tests). */
export let spins = 0;

function spin(): void {
  spins++;
  if (mode === 'adaptive' && performance.now() - lastActivity > ADAPTIVE_IDLE_MS) {
    spinning = false;
    return;
  }
  setImmediate(spin);
}

export function startPoller(m: PollMode): void {
  mode = m;
  if (mode === 'poll' && !spinning) {
    spinning = true;
    setImmediate(spin);
  }
}

/** Called by the transport when data arrives: in adaptive mode, start (or keep) spinning. */
export function noteActivity(): void {
  if (mode !== 'adaptive') return;
  lastActivity = performance.now();
  if (!spinning) {
    spinning = true;
    setImmediate(spin);
  }
}

export function pollerMode(): PollMode {
  return mode;
}
