// ICReq timeouts are logged once per period: the first at once, the rest of the period as one
// summary line with their count (a scan or a flood of silent sockets is not one line each).
// The summary period runs on fake timers.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { icreqTimedOut, pendingIcreqTimeouts } from '../../../src/transport/tcp/icreq-timeouts.js';
import type { Logger } from '../../../src/util/log.js';

const PERIOD_MS = 10_000;

interface Line {
  level: string;
  obj: Record<string, unknown>;
  msg: string;
}

/** A logger that keeps every line, at whichever level it was logged. */
function capture(): { log: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const at =
    (level: string) =>
    (obj: Record<string, unknown>, msg: string): void => {
      lines.push({ level, obj, msg });
    };
  const log = { trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), fatal: at('fatal') };
  return { log: log as unknown as Logger, lines };
}

function fakeTimers(t: TestContext): void {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  // Every test ends its period, so that no summary timer is left behind for the next one.
  assert.equal(pendingIcreqTimeouts(), 0, 'no timeouts left over from an earlier test');
}

test('icreq timeouts: many in one period give one line at once and one summary with the count', (t) => {
  fakeTimers(t);
  const { log, lines } = capture();
  for (let i = 0; i < 500; i++) {
    icreqTimedOut(log, 10);
    t.mock.timers.tick(10); // 500 timeouts over 5 s: all within one period
  }
  assert.equal(lines.length, 1, 'one line at once, not one per connection');
  assert.equal(lines[0]!.level, 'warn');
  assert.deepEqual(lines[0]!.obj, { timeout: 10 });
  assert.match(lines[0]!.msg, /no ICReq/);
  assert.equal(pendingIcreqTimeouts(), 499, 'the rest are counted');

  t.mock.timers.tick(PERIOD_MS - 5000 - 1);
  assert.equal(lines.length, 1, 'no summary before the period ends');
  t.mock.timers.tick(1);
  assert.equal(lines.length, 2, 'one summary line when the period ends');
  assert.equal(lines[1]!.level, 'warn');
  assert.deepEqual(lines[1]!.obj, { connections: 499, periodSeconds: 10 });
  assert.match(lines[1]!.msg, /\b499\b/, 'the summary line says how many');
  assert.equal(pendingIcreqTimeouts(), 0);

  t.mock.timers.tick(10 * PERIOD_MS);
  assert.equal(lines.length, 2, 'nothing more when nothing more happened');
});

test('icreq timeouts: a single timeout is one line, with no summary after it', (t) => {
  fakeTimers(t);
  const { log, lines } = capture();
  icreqTimedOut(log, 3);
  assert.equal(lines.length, 1);
  assert.deepEqual(lines[0]!.obj, { timeout: 3 });
  t.mock.timers.tick(PERIOD_MS);
  assert.equal(lines.length, 1, 'no "0 more" summary');
  assert.equal(pendingIcreqTimeouts(), 0);
});

test('icreq timeouts: the first timeout after a summary starts a new period and is logged at once', (t) => {
  fakeTimers(t);
  const { log, lines } = capture();
  icreqTimedOut(log, 10);
  icreqTimedOut(log, 10);
  icreqTimedOut(log, 10);
  t.mock.timers.tick(PERIOD_MS);
  assert.deepEqual(
    lines.map((l) => l.obj),
    [{ timeout: 10 }, { connections: 2, periodSeconds: 10 }],
  );
  // Period 2.
  icreqTimedOut(log, 10);
  assert.equal(lines.length, 3, 'logged at once');
  assert.deepEqual(lines[2]!.obj, { timeout: 10 });
  for (let i = 0; i < 7; i++) icreqTimedOut(log, 10);
  assert.equal(lines.length, 3);
  t.mock.timers.tick(PERIOD_MS);
  assert.equal(lines.length, 4);
  assert.deepEqual(lines[3]!.obj, { connections: 7, periodSeconds: 10 }, 'period 2 counts only its own');
});
