// A target with its JSON-RPC socket, and a call helper returning the result or the error object.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TargetConfig } from '../../src/config/types.js';
import { call } from '../../src/cli/rpc.js';
import type { Json } from '../../src/rpc/json-value.js';
import { runTarget, testConfig, type Running } from './helpers.js';

export interface RpcRunning extends Running {
  sock: string;
  /** The result; fails the test on an error answer. */
  rpc(method: string, params?: Json): Promise<Json>;
  /** The error object; fails the test on a result. */
  rpcError(method: string, params?: Json): Promise<{ code: number; message: string; data?: string }>;
}

export async function withRpcTarget(config: TargetConfig | undefined, fn: (t: RpcRunning) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-rpc-it-'));
  const sock = path.join(dir, 'rpc.sock');
  const t = await runTarget({ ...(config ?? testConfig()), rpcSocket: sock });
  const rt: RpcRunning = {
    ...t,
    sock,
    rpc: async (method, params) => {
      const a = await call(sock, method, params, 10_000);
      assert.equal(a.error, undefined, `${method}: ${JSON.stringify(a.error)}`);
      return a.result ?? null;
    },
    rpcError: async (method, params) => {
      const a = await call(sock, method, params, 10_000);
      assert.ok(a.error, `${method} should fail; got ${JSON.stringify(a.result)}`);
      return a.error;
    },
  };
  try {
    await fn(rt);
  } finally {
    await t.close();
    assert.equal(fs.existsSync(sock), false, 'the socket file is removed when the target closes');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
