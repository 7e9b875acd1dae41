// Integration test helpers: a hand-built TargetConfig with RAM namespaces on an ephemeral loopback
// port, starting/stopping the real target, and connecting the project's initiator to it.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { NamespaceConfig, PortConfig, SubsystemConfig, TargetConfig } from '../../src/config/types.js';
import { startTarget, type Target } from '../../src/server/target.js';
import { createLogger } from '../../src/util/log.js';
import { Controller, type ConnectOptions } from '../../src/initiator/controller.js';
import { RawConnection, type RawEvent } from '../../src/initiator/raw.js';
import type { TermReq } from '../../src/initiator/pdu-build.js';
import { readWrite } from '../../src/initiator/sqe-build.js';
import { IoOpc } from '../../src/spec/opcodes.js';
import { DATA, PduType } from '../../src/spec/pdu.js';

export const SUBNQN = 'nqn.2026-11.io.nvmetd:test';
export const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:6f1c3c5e-9d0a-4b59-9d8e-2f5b0f6a7a01';
export const MiB = 1024 * 1024;

export interface TestConfigOptions {
  /** Namespaces: block sizes and sizes; default one 64 MiB namespace of 512-byte blocks. */
  namespaces?: { nsid?: number; blockSize?: 512 | 4096; size?: number; readOnly?: boolean }[];
  subnqn?: string;
  allowAnyHost?: boolean;
  allowedHosts?: string[];
  inlineDataSize?: number;
  maxH2CData?: number;
  maxQueueSize?: number;
  icreqTimeout?: number;
  mdts?: number;
  /** I/O worker threads (default 0: every queue on the main thread, unless NVMETD_TEST_WORKERS is set). */
  workers?: number;
}

function hex(n: number, nsid: number, salt: string): string {
  let s = '';
  for (let i = 0; s.length < n; i++) s += ((nsid * 131 + i * 17 + salt.length * 7) & 0xff).toString(16).padStart(2, '0');
  return s.slice(0, n);
}

/** A normalized config: one subsystem with RAM namespaces, one port on 127.0.0.1:0. */
export function testConfig(o: TestConfigOptions = {}): TargetConfig {
  const subnqn = o.subnqn ?? SUBNQN;
  const namespaces: NamespaceConfig[] = (o.namespaces ?? [{}]).map((n, i) => {
    const nsid = n.nsid ?? i + 1;
    return {
      nsid,
      backing: { type: 'ram', size: n.size ?? 64 * MiB },
      blockSize: n.blockSize ?? 512,
      uuid: randomUUID(),
      nguid: hex(32, nsid, subnqn),
      eui64: hex(16, nsid, subnqn),
      readOnly: n.readOnly ?? false,
      enabled: true,
    };
  });
  const subsystem: SubsystemConfig = {
    nqn: subnqn,
    serial: 'NVMETDTEST0001',
    model: 'nvmetd test',
    firmware: '0.1.0',
    allowAnyHost: o.allowAnyHost ?? true,
    allowedHosts: o.allowedHosts ?? [],
    maxNamespaces: 1024,
    cntlidMin: 1,
    cntlidMax: 0xffef,
    namespaces,
  };
  const port: PortConfig = {
    id: 1,
    address: '127.0.0.1',
    port: 0,
    family: 'ipv4',
    subsystems: [subnqn],
    referrals: [],
    inlineDataSize: o.inlineDataSize ?? 8192,
    maxQueueSize: o.maxQueueSize ?? 128,
    maxH2CData: o.maxH2CData ?? 131072,
    tls: 'none',
  };
  // NVMETD_TEST_WORKERS=n runs every target of these tests with its I/O queues on n worker threads.
  const workers = Number(process.env.NVMETD_TEST_WORKERS ?? 0);
  return {
    ...(o.workers ?? workers ? { shard: { workers: o.workers ?? workers, cores: [], mainCore: -1, policy: 'round-robin' as const, map: {}, mode: 'event' as const } } : {}),
    hosts: (o.allowedHosts ?? []).map((nqn) => ({ nqn })),
    ports: [port],
    subsystems: [subsystem],
    logLevel: 'error',
    icreqTimeout: o.icreqTimeout ?? 10,
    mdts: o.mdts ?? 1048576,
  };
}

export interface Running {
  target: Target;
  host: string;
  port: number;
  /** Connect options for the test subsystem on this target. */
  opts(extra?: Partial<ConnectOptions>): ConnectOptions;
  raw(): Promise<RawConnection>;
  close(): Promise<void>;
}

/** Starts the real target with `config` (silent logs unless NVMETD_TEST_LOG is set). */
export async function runTarget(config: TargetConfig = testConfig()): Promise<Running> {
  const target = await startTarget(config, createLogger(process.env.NVMETD_TEST_LOG ?? 'silent'));
  const a = target.addresses[0]!;
  const host = a.address;
  const port = a.port;
  return {
    target,
    host,
    port,
    opts: (extra = {}) => ({ host, port, subnqn: config.subsystems[0]!.nqn, hostnqn: HOSTNQN, commandTimeoutMs: 10000, ...extra }),
    raw: () => RawConnection.open(host, port),
    close: () => target.close(),
  };
}

/** Runs `fn` against a fresh target, closing it afterwards. */
export async function withTarget<T>(config: TargetConfig, fn: (t: Running) => Promise<T>): Promise<T> {
  const t = await runTarget(config);
  try {
    return await fn(t);
  } finally {
    await t.close();
  }
}

export function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/**
 * Asserts a C2HTermReq with `fes` arrived and then the connection closed. Returns the TermReq and
 * what else the controller sent before the close (`other`).
 */
export async function expectTermination(
  raw: RawConnection,
  fes: number,
  fei?: number,
  timeoutMs = 5000,
  /** When given: the PDU Error Data must be exactly the offending PDU's header. */
  offending?: { type: number; headerLength: number },
): Promise<{ termReq: TermReq; other: RawEvent[] }> {
  const t = await raw.termination(timeoutMs);
  assert.ok(t.termReq, `expected a C2HTermReq with FES 0x${fes.toString(16)}; got ${t.closed ? 'a close without TermReq' : 'nothing (connection still open)'}`);
  assert.equal(t.termReq.fes, fes, `C2HTermReq FES 0x${t.termReq.fes.toString(16)}, expected 0x${fes.toString(16)}`);
  if (fei !== undefined) assert.equal(t.termReq.fei, fei, `C2HTermReq FEI ${t.termReq.fei}, expected ${fei}`);
  assert.ok(t.termReq.errorData.length <= 128, 'PDU Error Data holds at most 128 bytes');
  if (offending) {
    assert.equal(t.termReq.errorData[0], offending.type, 'PDU Error Data starts with the offending header');
    assert.equal(t.termReq.errorData.length, offending.headerLength, 'PDU Error Data is the offending header, nothing more');
  }
  assert.ok(t.closed, 'the controller closes the connection after C2HTermReq');
  return { termReq: t.termReq, other: t.other };
}

/** A healthy session still does I/O: write then read back one block. */
export async function assertHealthy(c: Controller, nsid = 1, slba = 4000): Promise<void> {
  const info = await c.namespaceInfo(nsid);
  const data = pattern(info.blockSize, slba);
  const w = await c.write(nsid, slba, 1, data);
  assert.ok(w.ok, `write on the healthy connection: ${w.name}`);
  const back = Buffer.alloc(info.blockSize);
  const r = await c.read(nsid, slba, 1, back);
  assert.ok(r.ok, `read on the healthy connection: ${r.name}`);
  assert.ok(back.equals(data), 'healthy connection reads back what it wrote');
}

/** A raw connection joined to `c` as I/O queue `qid`. */
export async function rawIoQueue(t: Running, c: Controller, qid: number, dg: { hdgst?: boolean; ddgst?: boolean } = {}, queueSize = 32): Promise<RawConnection> {
  const raw = await t.raw();
  await raw.icreq(dg);
  const cqe = await raw.connect({ qid, queueSize, hostid: c.hostid, cntlid: c.cntlid, subnqn: SUBNQN, hostnqn: c.hostnqn });
  assert.equal(cqe.status, 0, `raw I/O queue Connect: status 0x${cqe.status.toString(16)}`);
  return raw;
}

/** Starts a 4 KiB write by R2T on a raw I/O queue and returns the R2T's fields. */
export async function startR2TWrite(raw: RawConnection, cid: number, bytes = 4096): Promise<{ ttag: number; r2to: number; r2tl: number }> {
  raw.capsule(readWrite(Buffer.alloc(64), IoOpc.Write, 1, 0, bytes / 512), cid, { transport: bytes });
  const { hdr } = await raw.expectPdu(PduType.R2T);
  assert.equal(hdr.readUInt16LE(DATA.cccid), cid);
  return { ttag: hdr.readUInt16LE(DATA.ttag), r2to: hdr.readUInt32LE(DATA.offset), r2tl: hdr.readUInt32LE(DATA.length) };
}
