// Drives TcpConnections over fake sockets: an admin queue connected and enabled, then I/O queues.
import { TcpConnection, type ConnectionOptions } from '../../../src/transport/tcp/connection.js';
import type { TargetContext } from '../../../src/core/context.js';
import { buildCapsuleCmd, buildICReq, parseCqe, type Cqe, type LinkParams } from '../../../src/initiator/pdu-build.js';
import * as S from '../../../src/initiator/sqe-build.js';
import { prepareSqe, type SglSpec } from '../../../src/initiator/raw.js';
import { Cc, Prop } from '../../../src/spec/properties.js';
import { PduType } from '../../../src/spec/pdu.js';
import { FakeSocket, settle, until } from './fake-socket.js';
import { HOSTNQN, SUBNQN, makeContext } from '../core/fakes.js';

export const LINK: LinkParams = { hdgst: false, ddgst: false, cpda: 0 };
export const HOSTID = Buffer.alloc(16, 7);

export interface Side {
  sock: FakeSocket;
  conn: TcpConnection;
}

export function open(ctx: TargetContext, o: Partial<ConnectionOptions> = {}): Side {
  const sock = new FakeSocket();
  const conn = new TcpConnection(sock.asSocket, ctx.config.ports[0]!, ctx, { onClose: () => undefined, ...o });
  return { sock, conn };
}

export function capsule(side: Side, sqe: Buffer, cid: number, sgl: SglSpec, data: Uint8Array | null = null): void {
  side.sock.send(buildCapsuleCmd(prepareSqe(sqe, cid, sgl), data, LINK));
}

export function cqes(side: Side): Cqe[] {
  return side.sock.ofType(PduType.CapsuleResp).map((p) => parseCqe(p.hdr));
}

export async function connectAdmin(ctx: TargetContext, o: Partial<ConnectionOptions> = {}): Promise<Side & { cntlid: number }> {
  const side = open(ctx, o);
  side.sock.send(buildICReq({ hdgst: false, ddgst: false }));
  const data = S.connectData({ hostid: HOSTID, cntlid: 0xffff, subnqn: SUBNQN, hostnqn: HOSTNQN });
  capsule(side, S.fabricsConnect(Buffer.alloc(64), { qid: 0, queueSize: 32 }), 1, { inCapsule: data.length }, data);
  await until(() => cqes(side).length >= 1, 'the admin Connect response');
  const cntlid = cqes(side)[0]!.dw0 & 0xffff;
  capsule(side, S.propertySet(Buffer.alloc(64), Prop.CC, Cc.EN | (6 << 16) | (4 << 20)), 2, null);
  await until(() => cqes(side).length >= 2, 'the Property Set response');
  return { ...side, cntlid };
}

export async function connectIo(ctx: TargetContext, cntlid: number, qid = 1, o: Partial<ConnectionOptions> = {}): Promise<Side> {
  const side = open(ctx, o);
  side.sock.send(buildICReq({ hdgst: false, ddgst: false }));
  const data = S.connectData({ hostid: HOSTID, cntlid, subnqn: SUBNQN, hostnqn: HOSTNQN });
  capsule(side, S.fabricsConnect(Buffer.alloc(64), { qid, queueSize: 32 }), 1, { inCapsule: data.length }, data);
  await until(() => cqes(side).length >= 1, 'the I/O Connect response');
  const c = cqes(side)[0];
  if (!c || c.status !== 0) throw new Error(`I/O Connect failed: ${JSON.stringify(c)}`);
  side.sock.pdus.length = 0;
  return side;
}

export { makeContext, settle, until };
