// Finding 9 (logs): a queue that closes on an I/O worker is logged there, with its controller, its
// queue id, why it closed and how many commands were dropped. Runs the real command so that the
// worker threads' own log lines are on stdout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Controller } from '../../src/initiator/controller.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = path.join(ROOT, 'bin/nvmetd.js');

test('worker logs: an I/O queue closing on a worker thread is logged (cntlid, qid, reason, dropped)', { timeout: 30000 }, async () => {
  const child = spawn(process.execPath, [BIN, 'serve', '--ram', '16MiB', '--listen', '127.0.0.1:0', '--workers', '1', '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        const m = /^nvme connect -t tcp -a 127\.0\.0\.1 -s ([0-9]+) -n /m.exec(stdout);
        if (m) resolve(Number(m[1]));
      });
      void exit.then((code) => reject(new Error(`exited ${code} before listening: ${stderr}`)));
    });
    const c = await Controller.connect({ host: '127.0.0.1', port, subnqn: 'nqn.2026-11.io.nvmetd:default', hostnqn: 'nqn.2014-08.org.nvmexpress:uuid:22222222-2222-3333-4444-555555555555', ioQueues: 1, commandTimeoutMs: 10000 });
    await c.disconnect();
    // The worker's line: JSON with worker 0, the queue's qid 1, and the reason.
    const deadline = Date.now() + 5000;
    let line: Record<string, unknown> | undefined;
    while (!line && Date.now() < deadline) {
      line = stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((j) => j.msg === 'queue closed' && j.worker === 0);
      if (!line) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(line, `no "queue closed" line from the worker in:\n${stdout}`);
    assert.equal(line.qid, 1);
    assert.equal(typeof line.cntlid, 'number');
    assert.equal(typeof line.reason, 'string');
    assert.equal(line.dropped, 0);
  } finally {
    child.kill('SIGTERM');
    await exit;
  }
});
