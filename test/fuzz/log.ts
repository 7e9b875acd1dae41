// A capturing logger for the fuzzer: the Logger shape the target uses (pino's), with child()
// returning itself and each call recording level + message. Cheap: no formatting, no objects kept
// except for error-level lines (their `err` carries the stack a report needs).
import type { Logger } from '../../src/util/log.js';

export const enum Level {
  TRACE = 10,
  DEBUG = 20,
  INFO = 30,
  WARN = 40,
  ERROR = 50,
  FATAL = 60,
}

export interface ErrorLine {
  level: number;
  msg: string;
  stack: string | null;
}

/**
 * FNV-1a over the words of a message that hold no digit (ids, lengths, offsets and 0x.. values
 * left out): one hash per message template, whatever the numbers in it.
 */
export function templateHash(msg: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  let w = 0x811c9dc5;
  let digit = false;
  for (let i = 0; i <= msg.length; i++) {
    const c = i < msg.length ? msg.charCodeAt(i) : 32;
    if (c === 32) {
      if (!digit) h = Math.imul(h ^ w, 0x01000193);
      w = 0x811c9dc5;
      digit = false;
    } else {
      if (c >= 48 && c <= 57) digit = true;
      w = Math.imul(w ^ c, 0x01000193);
    }
  }
  return h >>> 0;
}

export class CapturingLog {
  /** Per-input feature hashes of every line (level + message without digits). */
  readonly lineHashes: number[] = [];
  /** Error-level lines of the current input. */
  readonly errors: ErrorLine[] = [];
  readonly logger: Logger;

  constructor() {
    const rec = (level: number) => (a?: unknown, b?: unknown): void => this.#record(level, a, b);
    const stub: Record<string, unknown> = {
      level: 'trace',
      trace: rec(Level.TRACE),
      debug: rec(Level.DEBUG),
      info: rec(Level.INFO),
      warn: rec(Level.WARN),
      error: rec(Level.ERROR),
      fatal: rec(Level.FATAL),
      silent: () => undefined,
      flush: (cb?: () => void) => cb?.(),
      isLevelEnabled: () => true,
    };
    stub.child = () => stub;
    this.logger = stub as unknown as Logger;
  }

  reset(): void {
    this.lineHashes.length = 0;
    this.errors.length = 0;
    if (this.dbg) this.dbg.length = 0;
  }

  /** FUZZ_DEBUG=1: every line of the current input, for looking at one input by hand. */
  readonly dbg: string[] | null = process.env.FUZZ_DEBUG ? [] : null;

  #record(level: number, a: unknown, b: unknown): void {
    const msg = typeof a === 'string' ? a : typeof b === 'string' ? b : '';
    if (this.dbg) this.dbg.push(`${level} ${msg} ${a && typeof a === 'object' ? JSON.stringify(a, (_k, v) => (typeof v === 'bigint' ? String(v) : v instanceof Error ? v.stack : v)) : ''}`);
    this.lineHashes.push(templateHash(msg, level));
    if (level >= Level.ERROR) {
      let stack: string | null = null;
      if (a && typeof a === 'object') {
        const err = (a as { err?: unknown }).err;
        if (err instanceof Error) stack = err.stack ?? String(err);
        else if (err !== undefined) stack = String(err);
      }
      this.errors.push({ level, msg, stack });
    }
  }
}
