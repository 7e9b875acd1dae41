// NVMe/TCP over TLS 1.3 with an external PSK: real sockets on the loopback, a Node TLS client with
// the host's PSK on one side (Node's own TLS client: the server must stay compatible with it),
// acceptTls + TcpConnection on the other. What is checked: ICReq/ICResp and Connect through the TLS
// channel; refusals (unknown identity, wrong key, a suite that does not fit the PSK, plain on a
// required port) give one log line and no connection; an optional port still serves plain hosts;
// a ClientHello on a plain port gets one clear line and no C2HTermReq; TLS queues never move.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { TcpConnection, type ConnectionOptions } from '../../../src/transport/tcp/connection.js';
import { acceptTls, type Accepted, type TlsPeer } from '../../../src/transport/tcp/tls.js';
import { TlsSocket } from '../../../src/native/tls-socket.js';
import { adoptTlsEngine } from '../../../src/native/tls-engine.js';
import { hostPskLookup, type TlsHostKey } from '../../../src/transport/tcp/tls-psk.js';
import { deriveTlsPsk, generateTlsKey, type TlsPsk } from '../../../src/keys/tls-key.js';
import { HashId } from '../../../src/keys/hash.js';
import { buildCapsuleCmd, buildH2CData, buildICReq, parseCqe } from '../../../src/initiator/pdu-build.js';
import { IoOpc } from '../../../src/spec/opcodes.js';
import * as S from '../../../src/initiator/sqe-build.js';
import { prepareSqe } from '../../../src/initiator/raw.js';
import { CH, DATA, PduType } from '../../../src/spec/pdu.js';
import { Cc, Prop } from '../../../src/spec/properties.js';
import type { QueueHandoff, QueueMover } from '../../../src/transport/tcp/handoff.js';
import type { TargetContext } from '../../../src/core/context.js';
import type { Logger } from '../../../src/util/log.js';
import { HOSTNQN, SUBNQN, makeContext } from '../core/fakes.js';
import { LINK, HOSTID } from './session.js';

interface Line {
  level: string;
  msg: string;
  obj: Record<string, unknown>;
}

/** A logger keeping every line at warn and above (children write into the same list). */
function capture(): { log: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const make = (): Logger => {
    const at =
      (level: string) =>
      (a: unknown, b?: string): void => {
        if (level === 'trace' || level === 'debug' || level === 'info') return;
        if (typeof a === 'string') lines.push({ level, msg: a, obj: {} });
        else lines.push({ level, msg: b ?? '', obj: (a ?? {}) as Record<string, unknown> });
      };
    return { trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), fatal: at('fatal'), child: () => make() } as unknown as Logger;
  };
  return { log: make(), lines };
}

const KEY: TlsPsk = generateTlsKey(HashId.SHA256, Buffer.alloc(32, 0x5a));
const HOSTS: TlsHostKey[] = [{ hostnqn: HOSTNQN, key: KEY }];
const lookup = hostPskLookup(HOSTS, (nqn) => nqn === SUBNQN);

interface Served {
  /** TCP connections the server still holds. */
  open(): number;
  accepted: Accepted[];
  conns: TcpConnection[];
  lines: Line[];
  port: number;
  ctx: TargetContext;
}

const servers: net.Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

/** A listening port: `tls` runs every accepted socket through acceptTls, `none` straight to TcpConnection. */
async function serve(mode: 'none' | 'optional' | 'required', o: Partial<ConnectionOptions> = {}, ctx = makeContext()): Promise<Served> {
  const { log, lines } = capture();
  (ctx as { log: Logger }).log = log;
  let open = 0;
  const res: Served = { open: () => open, accepted: [], conns: [], lines, port: 0, ctx };
  const start = (socket: net.Socket, extra: Partial<ConnectionOptions> = {}): void => {
    res.conns.push(new TcpConnection(socket, ctx.config.ports[0]!, ctx, { onClose: () => undefined, ...o, ...extra }));
  };
  const srv = net.createServer((socket) => {
    open++;
    socket.once('close', () => open--);
    if (mode === 'none') return start(socket);
    acceptTls(socket, { mode, lookup, log, timeoutMs: 5000 }, (a) => {
      res.accepted.push(a);
      start(a.socket, a.kind === 'plain' ? { initial: a.initial } : { tlsPeer: a.peer });
    });
  });
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  res.port = (srv.address() as net.AddressInfo).port;
  return res;
}

/** Collects the PDUs a host receives on `s` (plain or TLS). */
function pdus(s: net.Socket): { list: Buffer[]; closed: Promise<void> } {
  const list: Buffer[] = [];
  let buf = Buffer.alloc(0);
  s.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 8 && buf.length >= buf.readUInt32LE(CH.plen)) {
      const n = buf.readUInt32LE(CH.plen);
      list.push(buf.subarray(0, n));
      buf = buf.subarray(n);
    }
  });
  const closed = new Promise<void>((r) => s.once('close', () => r()));
  return { list, closed };
}

async function until(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Host {
  socket: tls.TLSSocket;
  error: Error | null;
  secure: Promise<boolean>;
}

function tlsHost(port: number, identity: string, psk: Buffer, ciphers = 'TLS_AES_128_GCM_SHA256'): Host {
  const socket = tls.connect({
    host: '127.0.0.1',
    port,
    minVersion: 'TLSv1.3',
    ciphers,
    checkServerIdentity: () => undefined,
    pskCallback: () => ({ identity, psk }),
  });
  const h: Host = { socket, error: null, secure: Promise.resolve(false) };
  h.secure = new Promise((resolve) => {
    socket.once('secureConnect', () => resolve(true));
    socket.once('error', (e) => {
      h.error = e;
      resolve(false);
    });
    socket.once('close', () => resolve(false));
  });
  return h;
}

function connectCapsule(qid: number, cntlid: number, hostnqn = HOSTNQN, subnqn = SUBNQN): Buffer {
  const data = S.connectData({ hostid: HOSTID, cntlid, subnqn, hostnqn });
  return buildCapsuleCmd(prepareSqe(S.fabricsConnect(Buffer.alloc(64), { qid, queueSize: 32 }), 1, { inCapsule: data.length }), data, LINK);
}

function warnings(s: Served): Line[] {
  return s.lines.filter((l) => l.level === 'warn' || l.level === 'error');
}

test('tls: a host with the PSK of its identity gets ICResp and a Connect response through the TLS session', async () => {
  const s = await serve('required');
  const d = deriveTlsPsk(KEY, HOSTNQN, SUBNQN, 0);
  assert.match(d.identity, /^NVMe0R01 /);
  const h = tlsHost(s.port, d.identity, d.psk);
  assert.equal(await h.secure, true, `handshake: ${h.error?.message}`);
  assert.equal(h.socket.getCipher().name, 'TLS_AES_128_GCM_SHA256');
  assert.equal(h.socket.getProtocol(), 'TLSv1.3');
  const got = pdus(h.socket);
  h.socket.write(buildICReq({ hdgst: false, ddgst: false }));
  await until('ICResp', () => got.list.length >= 1);
  assert.equal(got.list[0]![CH.pduType], PduType.ICResp);
  h.socket.write(connectCapsule(0, 0xffff));
  await until('Connect response', () => got.list.length >= 2);
  assert.equal(got.list[1]![CH.pduType], PduType.CapsuleResp);
  assert.equal(parseCqe(got.list[1]!).status, 0, 'admin Connect succeeded over TLS');
  assert.equal(s.accepted.length, 1);
  const a = s.accepted[0]!;
  assert.equal(a.kind, 'tls');
  const peer = (a as { peer: TlsPeer }).peer;
  assert.deepEqual([peer.hostnqn, peer.subnqn, peer.version], [HOSTNQN, SUBNQN, 0]);
  assert.ok(s.conns[0]!.socket instanceof TlsSocket, 'the queue runs over the engine\'s TLS socket');
  assert.equal((s.conns[0]!.socket as TlsSocket).cipher, 'TLS_AES_128_GCM_SHA256');
  assert.deepEqual(warnings(s), []);
  // Closing the queue closes the TCP connection under the session (no descriptor left behind).
  s.conns[0]!.close('test');
  await got.closed;
  await until('no connection left on the server', () => s.open() === 0);
});

test('tls: a version 1 identity (with the PSK digest, over 128 bytes) is accepted too', async () => {
  const s = await serve('required');
  const d = deriveTlsPsk(KEY, HOSTNQN, SUBNQN, 1);
  assert.ok(d.identity.length > 128, `identity of ${d.identity.length} bytes`);
  const h = tlsHost(s.port, d.identity, d.psk);
  assert.equal(await h.secure, true, `handshake: ${h.error?.message}`);
  const got = pdus(h.socket);
  h.socket.write(buildICReq({ hdgst: false, ddgst: false }));
  await until('ICResp', () => got.list.length >= 1);
  assert.equal(got.list[0]![CH.pduType], PduType.ICResp);
  h.socket.destroy();
});

async function refused(identity: string, psk: Buffer, ciphers?: string): Promise<{ s: Served; h: Host }> {
  const s = await serve('required');
  const h = tlsHost(s.port, identity, psk, ciphers);
  assert.equal(await h.secure, false, 'the handshake must fail');
  await until('the refusal to be logged', () => warnings(s).length > 0);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(warnings(s).length, 1, `one line: ${JSON.stringify(warnings(s))}`);
  assert.equal(s.accepted.length, 0, 'no connection handed on');
  assert.equal(s.conns.length, 0);
  h.socket.destroy();
  return { s, h };
}

test('tls: the right identity with a different key is refused with one line (binder does not verify)', async () => {
  const d = deriveTlsPsk(KEY, HOSTNQN, SUBNQN, 0);
  const { s } = await refused(d.identity, Buffer.alloc(32, 1));
  assert.match(warnings(s)[0]!.msg, /different PSK/);
  assert.equal(warnings(s)[0]!.obj.identity, d.identity);
});

test('tls: an identity of a host without a key is refused with one line naming why', async () => {
  const other = generateTlsKey(HashId.SHA256, Buffer.alloc(32, 3));
  const d = deriveTlsPsk(other, 'nqn.2014-08.org.nvmexpress:uuid:99999999-0000-0000-0000-000000000000', SUBNQN, 0);
  const { s } = await refused(d.identity, d.psk);
  assert.match(warnings(s)[0]!.msg, /identity refused: no TLS key is configured/);
});

test('tls: an identity naming a subsystem not on the port is refused', async () => {
  const d = deriveTlsPsk(KEY, HOSTNQN, 'nqn.2026-11.io.nvmetd:elsewhere', 0);
  const { s } = await refused(d.identity, d.psk);
  assert.match(warnings(s)[0]!.msg, /subsystem nqn.2026-11.io.nvmetd:elsewhere is not offered/);
});

test('tls: a SHA-256 PSK offered with TLS_AES_256_GCM_SHA384 only is refused with one line naming the suite it needs', async () => {
  const d = deriveTlsPsk(KEY, HOSTNQN, SUBNQN, 0);
  const { s } = await refused(d.identity, d.psk, 'TLS_AES_256_GCM_SHA384');
  assert.match(warnings(s)[0]!.msg, /does not offer TLS_AES_128_GCM_SHA256, the suite of its PSK's hash/);
});

test('tls: a plain ICReq on a port that requires TLS is closed with one line', async () => {
  const s = await serve('required');
  const c = net.connect(s.port, '127.0.0.1');
  const got = pdus(c);
  c.write(buildICReq({ hdgst: false, ddgst: false }));
  await got.closed;
  assert.equal(got.list.length, 0, 'no ICResp');
  assert.equal(warnings(s).length, 1);
  assert.match(warnings(s)[0]!.msg, /plain NVMe\/TCP on a port that requires TLS/);
  assert.equal(s.conns.length, 0);
});

test('tls: an optional port serves a plain host (the peeked ICReq is not lost) and a TLS host', async () => {
  const s = await serve('optional');
  const c = net.connect(s.port, '127.0.0.1');
  const got = pdus(c);
  c.write(buildICReq({ hdgst: false, ddgst: false }));
  await until('plain ICResp', () => got.list.length >= 1);
  assert.equal(got.list[0]![CH.pduType], PduType.ICResp);
  c.write(connectCapsule(0, 0xffff));
  await until('plain Connect response', () => got.list.length >= 2);
  assert.equal(parseCqe(got.list[1]!).status, 0);
  assert.equal(s.accepted[0]?.kind, 'plain');
  c.destroy();
  const d = deriveTlsPsk(KEY, HOSTNQN, SUBNQN, 0);
  const h = tlsHost(s.port, d.identity, d.psk);
  assert.equal(await h.secure, true, `handshake: ${h.error?.message}`);
  const tgot = pdus(h.socket);
  h.socket.write(buildICReq({ hdgst: false, ddgst: false }));
  await until('TLS ICResp', () => tgot.list.length >= 1);
  assert.equal(s.accepted[1]?.kind, 'tls');
  assert.deepEqual(warnings(s), []);
  h.socket.destroy();
});

test('tls: a ClientHello on a port without TLS gets one clear line and no C2HTermReq', async () => {
  const s = await serve('none');
  const d = deriveTlsPsk(KEY, HOSTNQN, SUBNQN, 0);
  const raw = net.connect(s.port, '127.0.0.1');
  const bytes: Buffer[] = [];
  raw.on('data', (b: Buffer) => bytes.push(b));
  const closed = new Promise((r) => raw.once('close', r));
  // The host's TLS runs over `raw`, so the test sees every byte the target sends back.
  const h = tls.connect({ socket: raw, minVersion: 'TLSv1.3', ciphers: 'TLS_AES_128_GCM_SHA256', checkServerIdentity: () => undefined, pskCallback: () => ({ identity: d.identity, psk: d.psk }) });
  h.on('error', () => undefined);
  await closed;
  assert.equal(Buffer.concat(bytes).length, 0, 'nothing sent back (no C2HTermReq)');
  assert.equal(warnings(s).length, 1);
  assert.match(warnings(s)[0]!.msg, /TLS ClientHello on a port without TLS/);
});

test('tls: a connected I/O queue over TLS moves with its session: the mover gets the descriptor, the detached engine, the TLS peer and the command pipelined behind Connect; the session goes on over the descriptor', async () => {
  let asked = 0;
  let moved: { fd: number; state: QueueHandoff } | null = null;
  const mover: QueueMover = {
    shouldMove: () => {
      asked++;
      return true;
    },
    move: (_from: object, fd: number, state: QueueHandoff) => {
      moved = { fd, state };
    },
  };
  const s = await serve('required', { mover });
  const d = deriveTlsPsk(KEY, HOSTNQN, SUBNQN, 0);
  const admin = tlsHost(s.port, d.identity, d.psk);
  assert.equal(await admin.secure, true);
  const ag = pdus(admin.socket);
  admin.socket.write(buildICReq({ hdgst: false, ddgst: false }));
  admin.socket.write(connectCapsule(0, 0xffff));
  await until('admin Connect response', () => ag.list.length >= 2);
  const cntlid = parseCqe(ag.list[1]!).dw0 & 0xffff;
  admin.socket.write(buildCapsuleCmd(prepareSqe(S.propertySet(Buffer.alloc(64), Prop.CC, Cc.EN | (6 << 16) | (4 << 20)), 2, null), null, LINK));
  await until('Property Set response', () => ag.list.length >= 3);
  const io = tlsHost(s.port, d.identity, d.psk);
  assert.equal(await io.secure, true);
  const ig = pdus(io.socket);
  io.socket.write(buildICReq({ hdgst: false, ddgst: false }));
  await until('ICResp', () => ig.list.length >= 1);
  // The Connect and a Flush in one record: the Flush is decrypted here, before the move.
  const flush = buildCapsuleCmd(prepareSqe(S.flush(Buffer.alloc(64), 1), 9, null), null, LINK);
  io.socket.write(Buffer.concat([connectCapsule(1, cntlid), flush]));
  await until('I/O Connect response', () => ig.list.length >= 2);
  assert.equal(parseCqe(ig.list[1]!).status, 0);
  await until('the queue moved', () => moved !== null);
  const m = moved as unknown as { fd: number; state: QueueHandoff };
  assert.equal(asked, 1);
  assert.equal(s.conns[1]!.isMovedAway, true);
  assert.equal(typeof m.state.tls?.engine, 'bigint', 'the session travels');
  assert.deepEqual(m.state.tls?.peer, { hostnqn: HOSTNQN, subnqn: SUBNQN });
  assert.ok(m.state.leftover !== null && Buffer.from(m.state.leftover).equals(flush), 'the Flush decrypted before the move is handed over');
  // Resumed as a worker does: the adopted session over the duplicated descriptor.
  const engine = adoptTlsEngine(m.state.tls!.engine);
  assert.ok(engine !== null);
  assert.equal(adoptTlsEngine(m.state.tls!.engine), null, 'adopted once');
  const resumed = new TlsSocket(new net.Socket({ fd: m.fd, readable: true, writable: true }), engine, true, undefined, { adopted: null });
  const got: Buffer[] = [];
  resumed.on('data', (b: Buffer) => got.push(b));
  const cqe = Buffer.alloc(24);
  cqe[0] = PduType.CapsuleResp;
  cqe[2] = 8;
  cqe.writeUInt32LE(24, 4);
  cqe.writeUInt16LE(9, 8 + 12);
  resumed.write(cqe);
  await until('the answer through the moved session', () => ig.list.length >= 3);
  assert.equal(parseCqe(ig.list[2]!).cid, 9);
  io.socket.write(flush);
  await until('a capsule through the moved session', () => Buffer.concat(got).equals(flush));
  resumed.destroy();
  admin.socket.destroy();
  io.socket.destroy();
});

test('tls: Connect must name the host and subsystem of the PSK identity (other host: invalid host; other subsystem: invalid parameter)', async () => {
  const s = await serve('required');
  const d = deriveTlsPsk(KEY, HOSTNQN, SUBNQN, 0);
  const cases: [string, string, number][] = [
    ['nqn.2014-08.org.nvmexpress:uuid:99999999-8888-7777-6666-555555555555', SUBNQN, 0x184],
    [HOSTNQN, 'nqn.2014-08.org.nvmexpress.discovery', 0x182],
  ];
  for (const [hostnqn, subnqn, sc] of cases) {
    s.lines.length = 0;
    const h = tlsHost(s.port, d.identity, d.psk);
    assert.equal(await h.secure, true);
    const got = pdus(h.socket);
    h.socket.write(buildICReq({ hdgst: false, ddgst: false }));
    h.socket.write(connectCapsule(0, 0xffff, hostnqn, subnqn));
    await until('Connect response', () => got.list.length >= 2);
    const cqe = parseCqe(got.list[1]!);
    assert.equal(cqe.status & 0x7ff, sc, `Connect as ${hostnqn} to ${subnqn}: status 0x${cqe.status.toString(16)}`);
    assert.equal(warnings(s).length, 1, JSON.stringify(s.lines));
    assert.match(warnings(s)[0]!.msg, /differs from the one of the TLS PSK identity/);
    h.socket.destroy();
  }
});

test('tls: a handshake that stalls is closed at the timeout with one line; silent connections count as ICReq timeouts', async () => {
  const { log, lines } = capture();
  const srv = net.createServer((socket) => acceptTls(socket, { mode: 'required', lookup, log, timeoutMs: 100 }, () => assert.fail('no connection')));
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  // Half a ClientHello record header, then nothing.
  const c = net.connect(port, '127.0.0.1', () => c.write(Buffer.from([0x16, 0x03, 0x01])));
  c.on('error', () => undefined);
  await new Promise((r) => c.once('close', r));
  assert.deepEqual(lines.map((l) => l.msg), ['TLS handshake timeout: closing']);
  lines.length = 0;
  const silent = net.connect(port, '127.0.0.1');
  silent.on('error', () => undefined);
  await new Promise((r) => silent.once('close', r));
  assert.equal(lines.length <= 1, true, JSON.stringify(lines));
  assert.ok(lines.every((l) => /no ICReq received in time/.test(l.msg)), JSON.stringify(lines));
});

test('tls: a 256 KiB write (R2T, H2CData) and its read back (C2HData) go through the TLS session intact', async () => {
  const s = await serve('required');
  const d = deriveTlsPsk(KEY, HOSTNQN, SUBNQN, 0);
  const admin = tlsHost(s.port, d.identity, d.psk);
  assert.equal(await admin.secure, true);
  const ag = pdus(admin.socket);
  admin.socket.write(buildICReq({ hdgst: false, ddgst: false }));
  admin.socket.write(connectCapsule(0, 0xffff));
  await until('admin Connect response', () => ag.list.length >= 2);
  const cntlid = parseCqe(ag.list[1]!).dw0 & 0xffff;
  admin.socket.write(buildCapsuleCmd(prepareSqe(S.propertySet(Buffer.alloc(64), Prop.CC, Cc.EN | (6 << 16) | (4 << 20)), 2, null), null, LINK));
  await until('Property Set response', () => ag.list.length >= 3);
  const io = tlsHost(s.port, d.identity, d.psk);
  assert.equal(await io.secure, true);
  const ig = pdus(io.socket);
  io.socket.write(buildICReq({ hdgst: false, ddgst: false }));
  io.socket.write(connectCapsule(1, cntlid));
  await until('I/O Connect response', () => ig.list.length >= 2);
  ig.list.length = 0;
  const len = 256 * 1024;
  const payload = Buffer.alloc(len);
  for (let i = 0; i < len; i += 4) payload.writeUInt32LE((i * 2654435761) >>> 0, i);
  io.socket.write(buildCapsuleCmd(prepareSqe(S.readWrite(Buffer.alloc(64), IoOpc.Write, 1, 0, len / 512), 7, { transport: len }), null, LINK));
  let sent = 0;
  while (sent < len) {
    await until('an R2T', () => ig.list.some((p) => p[CH.pduType] === PduType.R2T));
    const r2t = ig.list.splice(ig.list.findIndex((p) => p[CH.pduType] === PduType.R2T), 1)[0]!;
    const at = r2t.readUInt32LE(DATA.offset);
    const n = r2t.readUInt32LE(DATA.length);
    const ttag = r2t.readUInt16LE(DATA.ttag);
    for (let o = 0; o < n; o += 65536) {
      const piece = Math.min(65536, n - o);
      io.socket.write(buildH2CData(7, ttag, at + o, payload.subarray(at + o, at + o + piece), o + piece === n, LINK));
    }
    sent += n;
  }
  await until('the write completion', () => ig.list.some((p) => p[CH.pduType] === PduType.CapsuleResp));
  assert.equal(parseCqe(ig.list.find((p) => p[CH.pduType] === PduType.CapsuleResp)!).status, 0);
  ig.list.length = 0;
  io.socket.write(buildCapsuleCmd(prepareSqe(S.readWrite(Buffer.alloc(64), IoOpc.Read, 1, 0, len / 512), 8, { transport: len }), null, LINK));
  await until('the read completion', () => ig.list.some((p) => p[CH.pduType] === PduType.CapsuleResp || (p[CH.pduType] === PduType.C2HData && (p[CH.flags]! & 0x08) !== 0)));
  const back = Buffer.concat(ig.list.filter((p) => p[CH.pduType] === PduType.C2HData).map((p) => p.subarray(p[CH.pdo]!)));
  assert.equal(back.length, len);
  assert.ok(back.equals(payload), 'the data read back is the data written');
  admin.socket.destroy();
  io.socket.destroy();
});
