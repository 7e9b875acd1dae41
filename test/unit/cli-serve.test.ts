// runServe with a fake target: the nvme-cli lines after start, SIGINT/SIGTERM -> close -> exit 0,
// a second signal -> exit 1, a signal during start-up, a failing close, SIGHUP -> reload.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { runServe, type ServeDeps } from '../../src/cli/serve.js';
import { zeroConfig } from '../../src/cli/zero-config.js';
import type { StartTarget } from '../../src/cli/serve.js';
type Target = Awaited<ReturnType<StartTarget>>;
import type { TargetConfig } from '../../src/config/types.js';
import { createLogger } from '../../src/util/log.js';

function harness(opts: { closeFails?: boolean; startDelay?: Promise<void> } = {}) {
  const signals = new EventEmitter();
  const printed: string[] = [];
  let closed = 0;
  let release: () => void = () => {};
  const closing = new Promise<void>((r) => (release = r));
  let exitCode: number | undefined;
  let onExit: (code: number) => void = () => {};
  const exited = new Promise<number>((resolve) => (onExit = resolve));
  const started: TargetConfig[] = [];
  const target: Target = {
    addresses: [{ address: '127.0.0.1', port: 45678 }],
    async close() {
      closed++;
      await closing;
      if (opts.closeFails) throw new Error('flush failed');
    },
  };
  const deps: ServeDeps = {
    async startTarget(config) {
      started.push(config);
      await opts.startDelay;
      return target;
    },
    log: createLogger('silent'),
    print: (line) => printed.push(line),
    signals,
    exit: (code) => {
      exitCode ??= code;
      onExit(code);
    },
  };
  return {
    deps, signals, printed, exited, started, release,
    get closed() { return closed; },
    get exitCode() { return exitCode; },
  };
}

const config = () => zeroConfig({ ram: '1M', file: [], listen: ['127.0.0.1:0'], allowHost: [] });

test('prints the nvme-cli lines once listening', async () => {
  const h = harness();
  await runServe(config(), h.deps);
  assert.equal(h.started.length, 1);
  assert.deepEqual(h.printed, [
    'nvmetd: port 1 listening on 127.0.0.1:45678',
    'nvme discover -t tcp -a 127.0.0.1 -s 45678',
    'nvme connect -t tcp -a 127.0.0.1 -s 45678 -n nqn.2026-11.io.nvmetd:default',
  ]);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  test(`${signal}: awaits close(), then exits 0`, async () => {
    const h = harness();
    await runServe(config(), h.deps);
    h.signals.emit(signal);
    await new Promise((r) => setImmediate(r));
    assert.equal(h.closed, 1);
    assert.equal(h.exitCode, undefined, 'no exit before close() resolves');
    h.release();
    assert.equal(await h.exited, 0);
  });
}

test('a second signal forces exit 1', async () => {
  const h = harness();
  await runServe(config(), h.deps);
  h.signals.emit('SIGTERM');
  h.signals.emit('SIGINT');
  assert.equal(await h.exited, 1);
  assert.equal(h.closed, 1);
});

test('a failing close() exits 1', async () => {
  const h = harness({ closeFails: true });
  await runServe(config(), h.deps);
  h.signals.emit('SIGTERM');
  h.release();
  assert.equal(await h.exited, 1);
});

test('a signal during start-up closes the target as soon as it is up', async () => {
  let up: () => void = () => {};
  const h = harness({ startDelay: new Promise<void>((r) => (up = r)) });
  const running = runServe(config(), h.deps);
  h.signals.emit('SIGINT');
  up();
  await running;
  assert.equal(h.closed, 1);
  assert.deepEqual(h.printed, []);
  h.release();
  assert.equal(await h.exited, 0);
});

test('a start failure rejects (main turns it into exit 1)', async () => {
  const h = harness();
  h.deps.startTarget = async () => {
    throw new Error('listen EADDRINUSE: address already in use 127.0.0.1:4420');
  };
  await assert.rejects(runServe(config(), h.deps), /EADDRINUSE/);
});

test('SIGHUP reloads a running target and keeps it running; during start-up it is ignored', async () => {
  let gate: () => void = () => {};
  const h = harness({ startDelay: new Promise<void>((r) => (gate = r)) });
  let reloads = 0;
  const start = h.deps.startTarget;
  h.deps.startTarget = async (c, l) => ({ ...(await start(c, l)), reload: async () => (reloads++, { path: 'x', applied: [], warnings: [], failed: [] }) });
  const running = runServe(config(), h.deps);
  h.signals.emit('SIGHUP');
  gate();
  await running;
  assert.equal(reloads, 0, 'not yet running: nothing reloaded');
  h.signals.emit('SIGHUP');
  h.signals.emit('SIGHUP');
  assert.equal(reloads, 2);
  assert.equal(h.closed, 0, 'SIGHUP does not stop the target');
  assert.equal(h.exitCode, undefined);
});
