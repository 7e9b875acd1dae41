// Fabrics commands: Connect (admin and I/O queues, dynamic controller model), Property Get/Set,
// Authentication Send/Receive (authentication.ts), Disconnect.
import type { Command } from './command.js';
import type { TargetContext } from './context.js';
import { Controller } from './controller.js';
import { executeAuthentication, startAuthentication } from './authentication.js';
import { StatField, threadStats } from '../runtime/stats.js';
import { ConnectAttr, ConnectData, FabricsSqe, FabricsType } from '../spec/opcodes.js';
import { connectCattr, connectKato, connectQid, connectRecfmt, connectSqsize, propertyOffset, propertySize8, propertyValue, sqeFctype } from '../spec/sqe.js';
import {
  S_CONNECT_BUSY,
  S_CONNECT_INVALID_HOST,
  S_CONNECT_INVALID_PARAM,
  S_INVALID_FIELD,
  S_INVALID_OPCODE,
  S_SEQUENCE_ERROR,
  S_SGL_LENGTH_INVALID,
  SCT,
  CmdSpecific,
  status,
} from '../spec/status.js';

const DYNAMIC_CNTLID = 0xffff;
/** The admin queue of a fabrics controller has at least 32 entries. */
const MIN_ADMIN_QUEUE = 32;

/** IATTR/IPO for Connect Invalid Parameters: in the SQE (iattr 0) or in the data (iattr 1). */
function badSqeField(cmd: Command, offset: number): void {
  cmd.status = S_CONNECT_INVALID_PARAM;
  cmd.dw0 = offset;
}
function badDataField(cmd: Command, offset: number): void {
  cmd.status = S_CONNECT_INVALID_PARAM;
  cmd.dw0 = (1 << 16) | offset;
}

function readNqn(data: Uint8Array, offset: number): string {
  let end = offset;
  const limit = offset + 256;
  while (end < limit && data[end] !== 0) end++;
  return Buffer.from(data.buffer, data.byteOffset + offset, end - offset).toString('utf8');
}

export function executeFabrics(cmd: Command, ctx: TargetContext): void {
  const fctype = sqeFctype(cmd.sqe);
  const q = cmd.queue;
  if (fctype === FabricsType.Connect) return connect(cmd, ctx);
  // An I/O queue adopted by a worker thread has only the I/O view of its controller (and its own
  // transaction, for re-authentication).
  if (fctype === FabricsType.Disconnect && q.ioCtrl) return cmd.complete();
  if (fctype === FabricsType.AuthenticationSend || fctype === FabricsType.AuthenticationReceive) return executeAuthentication(cmd, fctype);
  if (!q.ctrl) {
    cmd.status = S_SEQUENCE_ERROR;
    return cmd.complete();
  }
  switch (fctype) {
    case FabricsType.PropertyGet: {
      if (q.qid !== 0) break;
      const v = q.ctrl.propertyGet(propertyOffset(cmd.sqe), propertySize8(cmd.sqe));
      if (!v) cmd.status = S_INVALID_FIELD;
      else {
        cmd.dw0 = v[0];
        cmd.dw1 = v[1];
      }
      return cmd.complete();
    }
    case FabricsType.PropertySet: {
      if (q.qid !== 0) break;
      const ok = q.ctrl.propertySet(propertyOffset(cmd.sqe), propertyValue(cmd.sqe));
      if (!ok) cmd.status = S_INVALID_FIELD;
      return cmd.complete();
    }
    case FabricsType.Disconnect: {
      // Completes, then the host closes the connection; the queue's close tears down what it owned.
      return cmd.complete();
    }
    default:
      break;
  }
  cmd.status = S_INVALID_OPCODE;
  cmd.complete();
}

function connect(cmd: Command, ctx: TargetContext): void {
  const q = cmd.queue;
  const sqe = cmd.sqe;
  const data = cmd.inData;
  if (q.ctrl) {
    // A queue connects once.
    cmd.status = S_SEQUENCE_ERROR;
    ctx.log.warn({ peer: q.peer }, 'Connect on an already connected queue');
    return cmd.complete();
  }
  if (!data || data.length < ConnectData.size) {
    cmd.status = S_SGL_LENGTH_INVALID;
    ctx.log.warn({ peer: q.peer, len: data?.length ?? 0 }, 'Connect without its 1024 bytes of data');
    return cmd.complete();
  }
  const recfmt = connectRecfmt(sqe);
  const qid = connectQid(sqe);
  const sqsize = connectSqsize(sqe);
  const cattr = connectCattr(sqe);
  const kato = connectKato(sqe);
  const subnqn = readNqn(data, ConnectData.subnqn);
  const hostnqn = readNqn(data, ConnectData.hostnqn);
  const cntlid = Buffer.from(data.buffer, data.byteOffset, data.length).readUInt16LE(ConnectData.cntlid);
  const hostid = Uint8Array.from(data.subarray(ConnectData.hostid, ConnectData.hostid + 16));
  const log = ctx.log.child({ peer: q.peer, subnqn, hostnqn, qid });

  if (recfmt !== 0) {
    cmd.status = status(SCT.COMMAND_SPECIFIC, CmdSpecific.CONNECT_INCOMPATIBLE_FORMAT, true);
    log.warn({ recfmt }, 'Connect refused: unsupported record format');
    return cmd.complete();
  }

  const tlsPeer = q.tlsPeer;
  if (tlsPeer && tlsPeer.hostnqn !== hostnqn) {
    cmd.status = S_CONNECT_INVALID_HOST;
    log.warn({ tlsHostnqn: tlsPeer.hostnqn }, 'Connect refused: the host NQN differs from the one of the TLS PSK identity');
    return cmd.complete();
  }
  if (tlsPeer && tlsPeer.subnqn !== subnqn) {
    badDataField(cmd, ConnectData.subnqn);
    log.warn({ tlsSubnqn: tlsPeer.subnqn }, 'Connect refused: the subsystem NQN differs from the one of the TLS PSK identity');
    return cmd.complete();
  }

  const isDiscovery = subnqn === ctx.discoveryNqn;
  const subsys = isDiscovery ? null : ctx.subsystems.get(subnqn);
  if (!isDiscovery && (!subsys || !q.port.subsystems.includes(subnqn))) {
    badDataField(cmd, ConnectData.subnqn);
    log.warn('Connect refused: unknown subsystem on this port');
    return cmd.complete();
  }
  if (subsys && !subsys.hostAllowed(hostnqn)) {
    cmd.status = S_CONNECT_INVALID_HOST;
    threadStats().f[StatField.HOSTS_REFUSED]++;
    log.warn(hostnqn.length === 0 ? 'Connect refused: empty host NQN, and this subsystem has an allow list' : 'Connect refused: host not allowed');
    return cmd.complete();
  }
  // An empty host NQN (sent by some initiators by default) is admitted where any host is: the
  // subsystem allows any host, or this is the discovery subsystem. An allow list never holds ''.
  if (hostnqn.length === 0 && qid === 0) noteEmptyHostNqn(ctx, subnqn, log);

  if (qid === 0) {
    if (cntlid !== DYNAMIC_CNTLID) {
      badDataField(cmd, ConnectData.cntlid);
      log.warn({ cntlid }, 'Connect refused: admin queue must ask for the dynamic controller (0xFFFF)');
      return cmd.complete();
    }
    if (sqsize + 1 < MIN_ADMIN_QUEUE || sqsize + 1 > q.port.maxQueueSize) {
      badSqeField(cmd, FabricsSqe.sqsize);
      log.warn({ sqsize }, 'Connect refused: admin queue size out of range');
      return cmd.complete();
    }
    let id = 1;
    if (subsys) {
      id = subsys.allocateCntlid();
      if (id < 0) {
        cmd.status = S_CONNECT_BUSY;
        log.warn('Connect refused: no free controller id');
        return cmd.complete();
      }
    } else {
      id = nextDiscoveryCntlid(ctx);
    }
    const ctrl = new Controller({
      cntlid: id,
      subsys: subsys ?? null,
      ctx,
      hostnqn,
      hostid,
      kato,
      maxQueueEntries: q.port.maxQueueSize,
    });
    ctx.addController(ctrl);
    q.qid = 0;
    q.ctrl = ctrl;
    q.ioCtrl = ctrl;
    q.sqEntries = sqsize + 1;
    q.sqflowDisabled = (cattr & ConnectAttr.DISABLE_SQFLOW) !== 0;
    ctrl.attachQueue(q);
    cmd.dw0 = id | startAuthentication(q, ctx, ctrl, hostnqn, subsys ? subnqn : ctx.discoveryNqn, log);
    log.info({ cntlid: id, kato, sqsize: sqsize + 1 }, isDiscovery ? 'discovery controller created' : 'controller created');
    return cmd.complete();
  }

  // I/O queue: joins the controller the admin queue created.
  if (isDiscovery || !subsys) {
    badSqeField(cmd, FabricsSqe.qid);
    log.warn('Connect refused: the discovery controller has no I/O queues');
    return cmd.complete();
  }
  const ctrl = subsys.controllers.get(cntlid);
  if (!ctrl || ctrl.dead || ctrl.hostnqn !== hostnqn || !Buffer.from(ctrl.hostid).equals(Buffer.from(hostid))) {
    badDataField(cmd, ConnectData.cntlid);
    log.warn({ cntlid }, 'Connect refused: no such controller for this host');
    return cmd.complete();
  }
  if (!ctrl.ready) {
    cmd.status = S_SEQUENCE_ERROR;
    log.warn({ cntlid }, 'Connect refused: controller not enabled (CC.EN=0)');
    return cmd.complete();
  }
  if (qid > ctrl.ioQueues || ctrl.queues.has(qid)) {
    badSqeField(cmd, FabricsSqe.qid);
    log.warn({ cntlid, ioQueues: ctrl.ioQueues }, 'Connect refused: queue id out of range or in use');
    return cmd.complete();
  }
  if (sqsize === 0 || sqsize + 1 > q.port.maxQueueSize) {
    badSqeField(cmd, FabricsSqe.sqsize);
    log.warn({ sqsize }, 'Connect refused: I/O queue size out of range');
    return cmd.complete();
  }
  q.qid = qid;
  q.ctrl = ctrl;
  q.ioCtrl = ctrl;
  q.sqEntries = sqsize + 1;
  q.sqflowDisabled = (cattr & ConnectAttr.DISABLE_SQFLOW) !== 0;
  ctrl.attachQueue(q);
  cmd.dw0 = ctrl.cntlid | startAuthentication(q, ctx, ctrl, hostnqn, subnqn, log);
  log.debug({ cntlid: ctrl.cntlid, sqsize: sqsize + 1 }, 'I/O queue connected');
  cmd.complete();
}

/** Subsystems (by NQN, per target) that have admitted an empty host NQN: logged once each. */
const emptyHostNqnSeen = new WeakMap<TargetContext, Set<string>>();
function noteEmptyHostNqn(ctx: TargetContext, subnqn: string, log: TargetContext['log']): void {
  let seen = emptyHostNqnSeen.get(ctx);
  if (!seen) emptyHostNqnSeen.set(ctx, (seen = new Set()));
  if (seen.has(subnqn)) return;
  seen.add(subnqn);
  log.warn('Connect with an empty host NQN admitted: the subsystem allows any host (logged once per subsystem)');
}

let discoveryCntlid = 0;
function nextDiscoveryCntlid(ctx: TargetContext): number {
  const used = new Set<number>();
  for (const c of ctx.discoveryControllers()) used.add(c.cntlid);
  for (let i = 0; i < 0xffef; i++) {
    discoveryCntlid = (discoveryCntlid % 0xffef) + 1;
    if (!used.has(discoveryCntlid)) return discoveryCntlid;
  }
  return 1;
}
