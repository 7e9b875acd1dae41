// A command's hold on its namespace's write range lock (range-lock.ts): a plain write takes its
// range shared, a Compare and Write exclusive; the transport releases what a command holds when its
// slot is freed. A command that cannot take its range now is parked and retried on a later turn of
// this thread's event loop (never blocking the thread).
import type { Command } from './command.js';
import type { Namespace } from './namespace.js';
import { Held } from './range-lock.js';
import { S_INTERNAL_ERROR } from '../spec/status.js';

/** Takes a plain write's range for cmd (on cmd.ns); false: park it. */
export function holdShared(cmd: Command, ns: Namespace, slba: number, nlb: number): boolean {
  if (!ns.writeLock.enterShared(slba, nlb)) return false;
  cmd.held = Held.SHARED;
  cmd.heldSlba = slba;
  cmd.heldNlb = nlb;
  return true;
}

/** Releases what cmd holds (the transport calls it when the command's slot is freed). */
export function releaseRange(cmd: Command): void {
  const held = cmd.held;
  if (held === Held.NONE) return;
  cmd.held = Held.NONE;
  const lock = cmd.ns!.writeLock;
  if (held === Held.SHARED) lock.leaveShared(cmd.heldSlba, cmd.heldNlb);
  else lock.leaveExclusive(cmd.heldSlba, cmd.heldNlb);
}

// --- parked commands (this thread) ---------------------------------------------------------------

let parked: Command[] = [];
let parkedRetry: ((cmd: Command) => void)[] = [];
let scheduled = false;

/** Retries `retry(cmd)` on a later turn of this thread's event loop. */
export function park(cmd: Command, retry: (cmd: Command) => void): void {
  parked.push(cmd);
  parkedRetry.push(retry);
  if (!scheduled) {
    scheduled = true;
    setImmediate(retryParked);
  }
}

/** Commands parked on this thread (tests, statistics). */
export function parkedCount(): number {
  return parked.length;
}

function retryParked(): void {
  scheduled = false;
  const cmds = parked;
  const retries = parkedRetry;
  parked = [];
  parkedRetry = [];
  for (let i = 0; i < cmds.length; i++) {
    const cmd = cmds[i]!;
    try {
      retries[i]!(cmd);
    } catch (err) {
      cmd.queue.ioCtrl?.log.error({ err }, 'internal error resuming a command that waited for its LBA range');
      cmd.status = S_INTERNAL_ERROR;
      cmd.complete();
    }
    // Completions of what the retry submitted are delivered by the backend's kick.
    cmd.ns?.backend.kick();
  }
}
