// Backend failures are logged once per burst: the first line, then only a count for a second, then a
// line saying how many were not logged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FAILURE_LOG_WINDOW_MS, FailureLog } from '../../../src/core/failure-log.js';
import type { Logger } from '../../../src/util/log.js';

function recorder(): { log: Logger; lines: { fields: Record<string, unknown>; msg: string }[] } {
  const lines: { fields: Record<string, unknown>; msg: string }[] = [];
  const log = { error: (fields: Record<string, unknown>, msg: string) => lines.push({ fields, msg }) } as unknown as Logger;
  return { log, lines };
}

test('failure log: a burst of 1000 failures in one second is one line; the next one after the window says how many were not logged', () => {
  const { log, lines } = recorder();
  const f = new FailureLog();
  for (let i = 0; i < 1000; i++) f.report(log, { nsid: 1, errno: 5 }, 'backend I/O failed', 10_000 + i % 900);
  assert.equal(lines.length, 1);
  assert.deepEqual(lines[0]!.fields, { nsid: 1, errno: 5 });
  f.report(log, { nsid: 1, errno: 5 }, 'backend I/O failed', 10_000 + FAILURE_LOG_WINDOW_MS);
  assert.equal(lines.length, 2);
  assert.deepEqual(lines[1]!.fields, { nsid: 1, errno: 5, notLogged: 999 });
  f.report(log, { nsid: 1, errno: 5 }, 'backend I/O failed', 20_000);
  assert.deepEqual(lines[2]!.fields, { nsid: 1, errno: 5 }, 'nothing was suppressed since the last line');
});
