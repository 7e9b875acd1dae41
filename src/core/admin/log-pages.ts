// Get Log Page: error information, SMART / health, firmware slot, changed namespace list, commands
// supported and effects, supported log pages, Asymmetric Namespace Access, and the discovery log on
// discovery controllers.
import type { Command } from '../command.js';
import type { Controller } from '../controller.js';
import { ELPE } from '../controller.js';
import { buildDiscoveryLog } from '../discovery-log.js';
import { NsStat } from '../namespace.js';
import { AdminOpc, IoOpc } from '../../spec/opcodes.js';
import {
  ANA_LSP_RGO,
  AnaLog,
  CHANGED_NS_LOG_SIZE,
  EFFECTS_LOG_SIZE,
  ERROR_LOG_ENTRY_SIZE,
  Effects,
  FW_SLOT_LOG_SIZE,
  GetLogPage,
  LogId,
  SMART_LOG_SIZE,
  Smart,
} from '../../spec/log.js';
import { S_INVALID_FIELD, S_INVALID_LOG_PAGE } from '../../spec/status.js';
import { sqeCdw10, sqeCdw11, sqeCdw12, sqeCdw13, sqeNsid } from '../../spec/sqe.js';

const NSID_ALL = 0xffffffff;

/** Builds the whole log page, then returns the window the host asked for. */
export function getLogPage(cmd: Command, ctrl: Controller): void {
  const cdw10 = sqeCdw10(cmd.sqe);
  const cdw11 = sqeCdw11(cmd.sqe);
  const lid = cdw10 & 0xff;
  const retain = (cdw10 & GetLogPage.RAE) !== 0;
  // NUMDU:NUMDL is a 32-bit count: unsigned (a plain | would make NUMDU bit 15 a sign).
  const numd = (((cdw10 >>> 16) | ((cdw11 & 0xffff) << 16)) >>> 0) + 1;
  const len = numd * 4;
  // LPOL (cdw12) and LPOU (cdw13): the byte offset into the page.
  const offset = sqeCdw13(cmd.sqe) * 0x100000000 + sqeCdw12(cmd.sqe);
  const nsid = sqeNsid(cmd.sqe);
  if (len > cmd.dataLen) {
    cmd.status = S_INVALID_FIELD;
    return cmd.complete();
  }
  if (offset % 4 !== 0) {
    cmd.status = S_INVALID_FIELD;
    return cmd.complete();
  }
  let page: Buffer | null;
  if (ctrl.isDiscovery) {
    // A discovery controller has the discovery log plus the controller-level pages hosts read
    // while bringing any controller up (supported pages, errors, command effects).
    page = lid === LogId.Discovery ? buildDiscoveryLog(ctrl) : DISCOVERY_ALSO.has(lid) ? buildPage(lid, ctrl, nsid, cdw10) : null;
  } else {
    page = buildPage(lid, ctrl, nsid, cdw10);
  }
  if (!page) {
    cmd.status = S_INVALID_LOG_PAGE;
    ctrl.log.info({ lid: `0x${lid.toString(16)}` }, 'unsupported log page');
    return cmd.complete();
  }
  if (offset > page.length) {
    cmd.status = S_INVALID_FIELD;
    return cmd.complete();
  }
  const out = cmd.buffer(len);
  out.fill(0);
  out.set(page.subarray(offset, Math.min(page.length, offset + len)));
  cmd.outData = out;
  ctrl.logPageRead(lid, retain);
  cmd.complete();
}

function buildPage(lid: number, ctrl: Controller, nsid: number, cdw10: number): Buffer | null {
  switch (lid) {
    case LogId.SupportedLogPages:
      return supportedLogs();
    case LogId.ErrorInformation:
      return errorLog(ctrl);
    case LogId.SmartHealth:
      return smartLog(ctrl, nsid);
    case LogId.FirmwareSlot:
      return firmwareSlotLog(ctrl);
    case LogId.ChangedNsList:
      return changedNsLog(ctrl);
    case LogId.CommandsSupportedEffects:
      return effectsLog();
    case LogId.Ana:
      return anaLog(ctrl, (cdw10 & ANA_LSP_RGO) !== 0);
    case LogId.ReservationNotification:
      // Reading takes the oldest notice off the log.
      return ctrl.resvNotices.take();
    default:
      return null;
  }
}

const DISCOVERY_ALSO = new Set<number>([LogId.SupportedLogPages, LogId.ErrorInformation, LogId.CommandsSupportedEffects]);

const SUPPORTED = [
  LogId.SupportedLogPages,
  LogId.ErrorInformation,
  LogId.SmartHealth,
  LogId.FirmwareSlot,
  LogId.ChangedNsList,
  LogId.CommandsSupportedEffects,
  LogId.Ana,
  LogId.ReservationNotification,
];

function supportedLogs(): Buffer {
  const b = Buffer.alloc(1024);
  for (const lid of SUPPORTED) b.writeUInt32LE(1, lid * 4); // LSUPP
  return b;
}

function errorLog(ctrl: Controller): Buffer {
  const b = Buffer.alloc((ELPE + 1) * ERROR_LOG_ENTRY_SIZE);
  ctrl.errorLog.forEach((e, i) => {
    const at = i * ERROR_LOG_ENTRY_SIZE;
    b.writeBigUInt64LE(e.count, at);
    b.writeUInt16LE(e.sqid, at + 8);
    b.writeUInt16LE(e.cid, at + 10);
    b.writeUInt16LE((e.status << 1) & 0xffff, at + 12);
    b.writeUInt16LE(e.location, at + 14);
    b.writeBigUInt64LE(e.lba, at + 16);
    b.writeUInt32LE(e.nsid, at + 24);
  });
  return b;
}

function writeU128(b: Buffer, at: number, v: number): void {
  b.writeBigUInt64LE(BigInt(Math.floor(v)), at);
  b.writeBigUInt64LE(0n, at + 8);
}

function smartLog(ctrl: Controller, nsid: number): Buffer {
  const b = Buffer.alloc(SMART_LOG_SIZE);
  const all = nsid === 0 || nsid === NSID_ALL;
  let reads = 0;
  let writes = 0;
  let read512 = 0;
  let written512 = 0;
  let mediaErrors = 0;
  for (const ns of ctrl.namespaces.values()) {
    if (!all && ns.nsid !== nsid) continue;
    reads += ns.total(NsStat.READS);
    writes += ns.total(NsStat.WRITES);
    read512 += ns.total(NsStat.READ_512);
    written512 += ns.total(NsStat.WRITTEN_512);
    mediaErrors += ns.total(NsStat.MEDIA_ERRORS);
  }
  b[Smart.criticalWarning] = 0;
  b.writeUInt16LE(273 + 25, Smart.temperature); // 25 C in Kelvin
  b[Smart.availSpare] = 100;
  b[Smart.spareThresh] = 10;
  b[Smart.percentUsed] = 0;
  // Data units are thousands of 512-byte units, rounded up.
  writeU128(b, Smart.dataUnitsRead, Math.ceil(read512 / 1000));
  writeU128(b, Smart.dataUnitsWritten, Math.ceil(written512 / 1000));
  writeU128(b, Smart.hostReads, reads);
  writeU128(b, Smart.hostWrites, writes);
  writeU128(b, Smart.powerCycles, 1);
  writeU128(b, Smart.powerOnHours, (Date.now() - ctrl.ctx.startedAt) / 3_600_000);
  writeU128(b, Smart.unsafeShutdowns, 0);
  writeU128(b, Smart.mediaErrors, mediaErrors);
  writeU128(b, Smart.numErrLogEntries, Number(ctrl.errorCount));
  return b;
}

function firmwareSlotLog(ctrl: Controller): Buffer {
  const b = Buffer.alloc(FW_SLOT_LOG_SIZE);
  b[0] = 1; // AFI: slot 1 active
  b.write((ctrl.subsys?.config.firmware ?? '').padEnd(8, ' ').slice(0, 8), 8, 'ascii'); // FRS1
  return b;
}

function changedNsLog(ctrl: Controller): Buffer {
  const b = Buffer.alloc(CHANGED_NS_LOG_SIZE);
  ctrl.changedNamespaces().forEach((id, i) => b.writeUInt32LE(id >>> 0, i * 4));
  return b;
}

/**
 * The ANA log as seen through the controller's port: one descriptor per ANA group that holds
 * namespaces of the subsystem the host sees (masked ones are left out), in increasing group id, each with its state on that port and, unless
 * `groupsOnly` (RGO), the NSIDs in the group.
 */
export function anaLog(ctrl: Controller, groupsOnly: boolean): Buffer {
  const ana = ctrl.ctx.ana;
  const portId = ctrl.queues.get(0)?.port.id ?? -1;
  const groups = new Map<number, number[]>();
  for (const ns of [...ctrl.namespaces.values()].sort((a, b) => a.nsid - b.nsid)) {
    let list = groups.get(ns.anaGroup);
    if (!list) groups.set(ns.anaGroup, (list = []));
    list.push(ns.nsid);
  }
  const ids = [...groups.keys()].sort((a, b) => a - b);
  let size = AnaLog.headerSize + ids.length * AnaLog.descSize;
  if (!groupsOnly) for (const id of ids) size += groups.get(id)!.length * 4;
  const b = Buffer.alloc(size);
  b.writeBigUInt64LE(ana.chgcnt, AnaLog.chgcnt);
  b.writeUInt16LE(ids.length, AnaLog.ngrps);
  let at = AnaLog.headerSize;
  for (const id of ids) {
    const nsids = groupsOnly ? [] : groups.get(id)!;
    b.writeUInt32LE(id, at + AnaLog.descGrpid);
    b.writeUInt32LE(nsids.length, at + AnaLog.descNnsids);
    b.writeBigUInt64LE(ana.groupChgcnt(portId, id), at + AnaLog.descChgcnt);
    b[at + AnaLog.descState] = ana.state(portId, id);
    at += AnaLog.descSize;
    for (const n of nsids) {
      b.writeUInt32LE(n >>> 0, at);
      at += 4;
    }
  }
  return b;
}

const ADMIN_SUPPORTED = [
  AdminOpc.GetLogPage,
  AdminOpc.Identify,
  AdminOpc.Abort,
  AdminOpc.SetFeatures,
  AdminOpc.GetFeatures,
  AdminOpc.AsyncEventRequest,
  AdminOpc.KeepAlive,
  AdminOpc.Fabrics,
];

function effectsLog(): Buffer {
  const b = Buffer.alloc(EFFECTS_LOG_SIZE);
  for (const opc of ADMIN_SUPPORTED) b.writeUInt32LE(Effects.CSUPP, opc * 4);
  const lbcc = Effects.CSUPP | Effects.LBCC;
  b.writeUInt32LE(Effects.CSUPP, Effects.ioOffset + IoOpc.Flush * 4);
  b.writeUInt32LE(lbcc, Effects.ioOffset + IoOpc.Write * 4);
  b.writeUInt32LE(Effects.CSUPP, Effects.ioOffset + IoOpc.Read * 4);
  b.writeUInt32LE(Effects.CSUPP, Effects.ioOffset + IoOpc.Compare * 4);
  b.writeUInt32LE(lbcc, Effects.ioOffset + IoOpc.WriteZeroes * 4);
  b.writeUInt32LE(lbcc, Effects.ioOffset + IoOpc.DatasetManagement * 4);
  b.writeUInt32LE(Effects.CSUPP, Effects.ioOffset + IoOpc.Verify * 4);
  b.writeUInt32LE(lbcc, Effects.ioOffset + IoOpc.Copy * 4);
  for (const opc of [IoOpc.ReservationRegister, IoOpc.ReservationReport, IoOpc.ReservationAcquire, IoOpc.ReservationRelease]) {
    b.writeUInt32LE(Effects.CSUPP, Effects.ioOffset + opc * 4);
  }
  return b;
}
