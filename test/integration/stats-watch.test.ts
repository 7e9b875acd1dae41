// The control socket's "namespaces" counters move by exactly the I/O done (main thread and worker), and
// the real `nvmetd stats --watch` prints blocks against a running target and ends with 0 on SIGINT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { request } from '../../src/cli/stats.js';
import type { NamespaceCounters } from '../../src/control/namespaces.js';
import { Controller } from '../../src/initiator/controller.js';
import { SUBNQN, pattern, testConfig, withTarget } from './helpers.js';

function tempSocket(): { dir: string; socket: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-watch-'));
  return { dir, socket: path.join(dir, 'control.sock') };
}

for (const workers of [0, 1]) {
  test(`control namespaces: counters move by exactly the I/O done (workers: ${workers})`, async () => {
    const { dir, socket } = tempSocket();
    try {
      await withTarget({ ...testConfig({ workers }), controlSocket: socket }, async (t) => {
        const c = await Controller.connect(t.opts());
        try {
          const one = async (): Promise<NamespaceCounters> => {
            const all = (await request(socket, 'namespaces')) as NamespaceCounters[];
            assert.equal(all.length, 1);
            assert.equal(all[0]!.subnqn, SUBNQN);
            return all[0]!;
          };
          const before = await one();
          for (let i = 0; i < 4; i++) assert.ok((await c.write(1, i * 8, 8, pattern(8 * 512, i))).ok);
          assert.ok((await c.read(1, 0, 8, Buffer.alloc(8 * 512))).ok);
          assert.ok((await c.flush(1)).ok);
          assert.ok((await c.verify(1, 0, 8)).ok);
          assert.ok(!(await c.read(1, 1 << 30, 1, Buffer.alloc(512))).ok);
          const after = await one();
          assert.equal(after.writes - before.writes, 4);
          assert.equal(after.reads - before.reads, 1);
          assert.equal(after.writtenBytes - before.writtenBytes, 4 * 8 * 512);
          assert.equal(after.readBytes - before.readBytes, 8 * 512);
          assert.equal(after.other.flush! - before.other.flush!, 1);
          assert.equal(after.other.verify! - before.other.verify!, 1);
          assert.equal(after.errors - before.errors, 1);
          // 8 I/O commands after Connect on the queue: exactly one sampled (one in 8), with a latency.
          const count = (n: NamespaceCounters): number => n.latency.read.count + n.latency.write.count + n.latency.other.count;
          const sumUs = (n: NamespaceCounters): number => n.latency.read.sumUs + n.latency.write.sumUs + n.latency.other.sumUs;
          assert.equal(count(after) - count(before), 1);
          assert.ok(sumUs(after) > sumUs(before));
        } finally {
          await c.disconnect();
        }
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('nvmetd stats --watch: blocks on a pipe while I/O runs, exit 0 on SIGINT', async () => {
  const { dir, socket } = tempSocket();
  try {
    await withTarget({ ...testConfig({ workers: 1 }), controlSocket: socket }, async (t) => {
      const c = await Controller.connect(t.opts());
      let io = true;
      const load = (async () => {
        for (let i = 0; io; i++) assert.ok((await c.write(1, (i % 64) * 8, 8, pattern(8 * 512, i))).ok);
      })();
      try {
        const child = spawn(process.execPath, ['bin/nvmetd.js', 'stats', '--control', socket, '--watch', '--interval', '0.2'], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        const code = await new Promise<number | null>((resolve) => {
          const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
          child.stdout.on('data', (d: Buffer) => {
            out += d.toString();
            if ((out.match(/^nvmetd stats /gm) ?? []).length >= 2) child.kill('SIGINT');
          });
          child.on('exit', (exitCode) => {
            clearTimeout(timer);
            resolve(exitCode);
          });
        });
        assert.equal(code, 0, `exit status; stderr: ${err}`);
        assert.ok(!out.includes('\x1b'), 'no terminal codes on a pipe');
        assert.match(out, /\n\nnvmetd stats /, 'blocks separated by a blank line');
        assert.match(out, /^THREAD\s+CORES\s+QUEUES\s+IOPS/m);
        assert.match(out, /^CONNECTIONS: 1 controller\(s\), 2 queue\(s\)$/m);
        // The worker serves the writes: a write rate on the namespace row.
        const rows = [...out.matchAll(new RegExp(`^${SUBNQN.replace(/\./g, '\\.')}/1\\s+(\\d+)\\s+(\\d+)`, 'gm'))];
        assert.ok(rows.length >= 2);
        assert.ok(rows.some((m) => Number(m[2]) > 0), `write IOPS shown: ${out}`);
      } finally {
        io = false;
        await load;
        await c.disconnect();
      }
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
