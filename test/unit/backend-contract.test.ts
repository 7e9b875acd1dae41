// One Backend contract, run against every backend: RAM, a file on the io_uring engine (fallocate and,
// forced, zero writes), and a file on Node's fs thread pool. Each case states what any backend must do.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Backend, BackendRequest } from '../../src/backend/backend.js';
import { openBackend } from '../../src/backend/open.js';
import { UringBackend } from '../../src/backend/uring.js';
import { UringEngine } from '../../src/backend/uring-engine.js';
import type { NamespaceConfig } from '../../src/config/types.js';
import { createLogger } from '../../src/util/log.js';

const SIZE = 4 << 20;
const BS = 512;
const EINVAL = os.constants.errno.EINVAL;
const log = createLogger('silent');

class Req implements BackendRequest {
  result: number | undefined;
  calls = 0;
  #resolve: ((n: number) => void) | undefined;
  readonly done = new Promise<number>((r) => (this.#resolve = r));
  /** Set by the subject's sync counter when the request completes (syncs issued by then). */
  syncsAtDone = -1;
  constructor(readonly syncs: () => number) {}
  backendDone(result: number): void {
    this.calls++;
    assert.equal(this.result, undefined, 'backendDone called twice');
    this.result = result;
    this.syncsAtDone = this.syncs();
    this.#resolve!(result);
  }
}

interface Opened {
  b: Backend;
  /**
   * Data-sync operations the backend has issued to the kernel so far, or null for a backend whose data
   * has no durable medium (RAM: FUA and flush need no extra step).
   */
  syncs: (() => number) | null;
  /** After close: the backing file, to check what reached it. */
  file: string | null;
  cleanup(): void;
}

interface Subject {
  name: string;
  open(): Promise<Opened>;
}

const tmpDirs: string[] = [];
after(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

function tmpFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-contract-'));
  tmpDirs.push(dir);
  return path.join(dir, 'ns.img');
}

function nsConfig(backing: NamespaceConfig['backing']): NamespaceConfig {
  return { nsid: 1, blockSize: BS, uuid: '', nguid: '', eui64: '', readOnly: false, enabled: true, backing } as NamespaceConfig;
}

const ram: Subject = {
  name: 'RAM',
  async open() {
    const b = await openBackend(nsConfig({ type: 'ram', size: SIZE }), log);
    return { b, syncs: null, file: null, cleanup() {} };
  },
};

/** File on the fs engine: every fdatasync the process makes is counted while it is open. */
const fileFs: Subject = {
  name: 'file on Node fs',
  async open() {
    const p = tmpFile();
    const b = await openBackend(nsConfig({ type: 'file', path: p, size: SIZE }), log, { engine: 'fs' });
    assert.equal(b.engine, 'fs-threadpool');
    const real = fs.fdatasync;
    let n = 0;
    (fs as { fdatasync: typeof fs.fdatasync }).fdatasync = ((fd: number, cb: fs.NoParamCallback) => {
      n++;
      real(fd, cb);
    }) as typeof fs.fdatasync;
    return {
      b,
      syncs: () => n,
      file: p,
      cleanup() {
        (fs as { fdatasync: typeof fs.fdatasync }).fdatasync = real;
      },
    };
  },
};

/** File on its own io_uring engine: the fsync SQEs queued on the engine's ring are counted. */
function fileUring(name: string, simulate: string[]): Subject {
  return {
    name,
    async open() {
      const p = tmpFile();
      const e = await UringEngine.create({ mode: 'interrupt', simulate }, log);
      assert.ok(e, 'io_uring works on this machine');
      let n = 0;
      const ring = e.aux;
      const real = ring.fsync.bind(ring);
      // The addon's methods are read-only on the prototype: shadow fsync on this ring instance.
      Object.defineProperty(ring, 'fsync', {
        value: (slot: number, file: number) => {
          n++;
          real(slot, file);
        },
      });
      const b = await UringBackend.open({ path: p, kind: 'file', size: SIZE, blockSize: BS, readOnly: false, buffered: false }, e, log, true);
      assert.match(b.engine, /^io_uring\(/);
      return { b, syncs: () => n, file: p, cleanup() {} };
    },
  };
}

const SUBJECTS: Subject[] = [ram, fileUring('file on io_uring', []), fileUring('file on io_uring, zero writes (no fallocate)', ['no-fallocate']), fileFs];

async function run(o: Opened, submit: (r: Req) => void): Promise<Req> {
  const r = new Req(o.syncs ?? (() => 0));
  submit(r);
  o.b.kick();
  await r.done;
  return r;
}

function pattern(len: number, seed: number): Uint8Array {
  const a = new Uint8Array(len);
  for (let i = 0; i < len; i++) a[i] = (i * 29 + seed) & 0xff;
  return a;
}

/** Opens the subject, runs the case, closes the backend and restores what the subject patched. */
async function withBackend(s: Subject, body: (o: Opened) => Promise<void>): Promise<Opened> {
  const o = await s.open();
  try {
    await body(o);
  } finally {
    await o.b.close();
    o.cleanup();
  }
  return o;
}

for (const s of SUBJECTS) {
  test(`contract (${s.name}): write then read back, result = bytes moved`, async () => {
    await withBackend(s, async (o) => {
      const a = pattern(16384, 1);
      assert.equal((await run(o, (r) => o.b.submitWrite(r, 8192, a, false))).result, 16384);
      const back = new Uint8Array(16384);
      assert.equal((await run(o, (r) => o.b.submitRead(r, 8192, back))).result, 16384);
      assert.deepEqual(back, a);
      // Never written: zeroes.
      const empty = new Uint8Array(4096).fill(0x55);
      assert.equal((await run(o, (r) => o.b.submitRead(r, SIZE / 2, empty))).result, 4096);
      assert.ok(empty.every((x) => x === 0));
    });
  });

  test(`contract (${s.name}): the last block can be written and read; one past it cannot`, async () => {
    await withBackend(s, async (o) => {
      assert.equal(o.b.sizeBytes, SIZE);
      const last = pattern(BS, 9);
      assert.equal((await run(o, (r) => o.b.submitWrite(r, SIZE - BS, last, false))).result, BS);
      const back = new Uint8Array(BS);
      assert.equal((await run(o, (r) => o.b.submitRead(r, SIZE - BS, back))).result, BS);
      assert.deepEqual(back, last);
      assert.equal((await run(o, (r) => o.b.submitWrite(r, SIZE, last, false))).result, -EINVAL);
      assert.equal((await run(o, (r) => o.b.submitRead(r, SIZE - BS, new Uint8Array(2 * BS)))).result, -EINVAL);
    });
  });

  test(`contract (${s.name}): flush succeeds, and syncs a backend with a durable medium`, async () => {
    await withBackend(s, async (o) => {
      await run(o, (r) => o.b.submitWrite(r, 0, pattern(4096, 2), false));
      const before = o.syncs?.() ?? 0;
      const f = await run(o, (r) => o.b.submitFlush(r));
      assert.equal(f.result, 0);
      if (o.syncs) assert.equal(f.syncsAtDone - before, 1, 'one data sync before the flush completes');
    });
  });

  test(`contract (${s.name}): a FUA write completes with its length and is in the backing when it does`, async () => {
    await withBackend(s, async (o) => {
      const a = pattern(4096, 4);
      const fua = await run(o, (r) => o.b.submitWrite(r, 4096, a, true));
      assert.equal(fua.result, 4096);
      if (o.file) assert.deepEqual(new Uint8Array(fs.readFileSync(o.file).subarray(4096, 8192)), a);
      const back = new Uint8Array(4096);
      await run(o, (r) => o.b.submitRead(r, 4096, back));
      assert.deepEqual(back, a);
    });
  });

  for (const fua of [false, true]) {
    test(`contract (${s.name}): write zeroes ${fua ? 'with' : 'without'} FUA zeroes the range${fua ? ' and syncs before completing' : ', no sync'}`, async () => {
      const o = await withBackend(s, async (o) => {
        const a = pattern(3 << 20, 5);
        assert.equal((await run(o, (r) => o.b.submitWrite(r, 0, a, false))).result, 3 << 20);
        const before = o.syncs?.() ?? 0;
        // More than one 1 MiB zero chunk, not starting at 0.
        const z = await run(o, (r) => o.b.submitWriteZeroes(r, 4096, (2 << 20) + 4096, fua));
        assert.equal(z.result, 0);
        assert.equal(z.calls, 1);
        if (o.syncs) assert.equal(z.syncsAtDone - before, fua ? 1 : 0, fua ? 'a data sync before completion' : 'no sync without FUA');
        const back = new Uint8Array(3 << 20);
        assert.equal((await run(o, (r) => o.b.submitRead(r, 0, back))).result, 3 << 20);
        assert.deepEqual(back.subarray(0, 4096), a.subarray(0, 4096));
        assert.ok(back.subarray(4096, (2 << 20) + 8192).every((x) => x === 0), 'range reads back as zeroes');
        assert.deepEqual(back.subarray((2 << 20) + 8192), a.subarray((2 << 20) + 8192));
      });
      if (o.file) {
        const data = fs.readFileSync(o.file);
        assert.ok(data.subarray(4096, (2 << 20) + 8192).every((x) => x === 0), 'zeroes reached the file');
      }
    });
  }

  test(`contract (${s.name}): discard succeeds; a backend that says discardZeroes reads zeroes back`, async () => {
    await withBackend(s, async (o) => {
      assert.equal((await run(o, (r) => o.b.submitWrite(r, 0, pattern(65536, 6), false))).result, 65536);
      assert.equal((await run(o, (r) => o.b.submitDiscard(r, 8192, 16384))).result, 0);
      assert.equal((await run(o, (r) => o.b.submitDiscard(r, 0, 0))).result, 0);
      const back = new Uint8Array(16384);
      await run(o, (r) => o.b.submitRead(r, 8192, back));
      if (o.b.discardZeroes) assert.ok(back.every((x) => x === 0));
      assert.equal((await run(o, (r) => o.b.submitDiscard(r, SIZE - 4096, 8192))).result, -EINVAL);
    });
  });

  test(`contract (${s.name}): errors are negative errno values, delivered at kick, once`, async () => {
    await withBackend(s, async (o) => {
      const buf = new Uint8Array(4096);
      const cases: [string, (r: Req) => void][] = [
        ['read past the end', (r) => o.b.submitRead(r, SIZE, buf)],
        ['write past the end', (r) => o.b.submitWrite(r, SIZE - 2048, buf, false)],
        ['negative offset', (r) => o.b.submitRead(r, -4096, buf)],
        ['write zeroes past the end', (r) => o.b.submitWriteZeroes(r, SIZE - 4096, 8192, true)],
        ['discard past the end', (r) => o.b.submitDiscard(r, SIZE, 4096)],
      ];
      for (const [what, submit] of cases) {
        const r = new Req(() => 0);
        submit(r);
        assert.equal(r.result, undefined, `${what}: not completed inside submit`);
        o.b.kick();
        await r.done;
        assert.equal(r.result, -EINVAL, what);
        assert.equal(r.calls, 1, what);
      }
    });
  });

  test(`contract (${s.name}): a completion may submit more work and kick again; everything completes once`, async () => {
    await withBackend(s, async (o) => {
      const buf = new Uint8Array(4096);
      const second = new Req(() => 0);
      const third = new Req(() => 0);
      const first: BackendRequest & { calls: number; result?: number } = {
        calls: 0,
        backendDone(result: number): void {
          this.calls++;
          this.result = result;
          // From inside the completion (and so, for some backends, inside kick()): a refused read, a good one.
          o.b.submitRead(second, SIZE, buf);
          o.b.submitRead(third, 0, buf);
          o.b.kick();
        },
      };
      o.b.submitRead(first, SIZE + 4096, buf);
      o.b.kick();
      await Promise.all([second.done, third.done]);
      assert.equal(first.calls, 1);
      assert.equal(first.result, -EINVAL);
      assert.equal(second.result, -EINVAL);
      assert.equal(second.calls, 1);
      assert.equal(third.result, 4096);
      assert.equal(third.calls, 1);
    });
  });

  test(`contract (${s.name}): close completes what was submitted, then refuses new work`, async () => {
    const o = await s.open();
    try {
      const a = pattern(8192, 8);
      const w = new Req(() => 0);
      o.b.submitWrite(w, 0, a, false);
      o.b.kick();
      await o.b.close();
      assert.equal(w.result, 8192, 'the write submitted before close completed first');
      assert.equal(w.calls, 1);
      const late = new Req(() => 0);
      o.b.submitRead(late, 0, new Uint8Array(4096));
      o.b.kick();
      await late.done;
      assert.ok(late.result! < 0, `a read after close fails with a negative errno (got ${late.result})`);
      await o.b.close(); // twice: no error
    } finally {
      o.cleanup();
    }
    if (o.file) assert.deepEqual(new Uint8Array(fs.readFileSync(o.file).subarray(0, 8192)), pattern(8192, 8));
  });
}
