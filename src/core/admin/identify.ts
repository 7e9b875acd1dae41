// Identify (CNS 00h controller-level structures and namespace structures).
import type { Command } from '../command.js';
import type { Controller } from '../controller.js';
import { AERL, ELPE, KAS, NVME_VERSION } from '../controller.js';
import type { Namespace } from '../namespace.js';
import { COPY_MAX_RANGES, copyMaxBlocks } from '../io.js';
import { AnaCap, Cmic, Cns, Csi, CtrAtt, IDENTIFY_SIZE, IdCtrl, IdNs, Lpa, Nidt, Oaes, Oncs } from '../../spec/identify.js';
import { ANA_GROUP_MAX } from '../../spec/log.js';
import { Rescap } from '../../spec/reservation.js';
import { S_INVALID_FIELD, S_INVALID_NS } from '../../spec/status.js';
import { sqeCdw10, sqeCdw11, sqeNsid } from '../../spec/sqe.js';

const NSID_ALL = 0xffffffff;
/** CTRATT bit 6: traffic based keep alive. */
const CTRATT_TBKAS = 1 << 6;
/** ANATT: seconds a host waits for a group in the change state to leave it. */
export const ANATT = 10;

function putAscii(buf: Buffer, offset: number, size: number, text: string): void {
  buf.fill(0x20, offset, offset + size);
  buf.write(text.slice(0, size), offset, 'ascii');
}

export function identify(cmd: Command, ctrl: Controller): void {
  const cns = sqeCdw10(cmd.sqe) & 0xff;
  const csi = sqeCdw11(cmd.sqe) >>> 24;
  const nsid = sqeNsid(cmd.sqe);
  const buf = toBuffer(cmd.buffer(IDENTIFY_SIZE));
  buf.fill(0);
  switch (cns) {
    case Cns.Controller:
      identifyController(buf, ctrl);
      break;
    case Cns.Namespace: {
      if (ctrl.isDiscovery) return fail(cmd, S_INVALID_FIELD);
      // A namespace masked from this host is an inactive NSID for it.
      const ns = ctrl.namespaces.get(nsid);
      if (!ns) {
        // An inactive but valid NSID returns zeroes; NSID 0 or beyond the maximum is an error.
        if (nsid === 0 || (nsid > ctrl.subsys!.config.maxNamespaces && nsid !== NSID_ALL)) return fail(cmd, S_INVALID_NS);
        break;
      }
      identifyNamespace(buf, ns, ctrl.ctx.config.mdts);
      break;
    }
    case Cns.ActiveNsList:
    case Cns.CsActiveNsList: {
      if (ctrl.isDiscovery) return fail(cmd, S_INVALID_FIELD);
      if (cns === Cns.CsActiveNsList && csi !== Csi.NVM) break;
      if (nsid >= 0xfffffffe) return fail(cmd, S_INVALID_NS);
      let i = 0;
      for (const id of ctrl.namespaces.activeNsids()) {
        if (id <= nsid) continue;
        if (i === 1024) break;
        buf.writeUInt32LE(id, i * 4);
        i++;
      }
      break;
    }
    case Cns.NsDescriptorList: {
      if (ctrl.isDiscovery) return fail(cmd, S_INVALID_FIELD);
      const ns = ctrl.namespaces.get(nsid);
      if (!ns) return fail(cmd, S_INVALID_NS);
      nsDescriptors(buf, ns);
      break;
    }
    case Cns.CsNamespace: {
      // I/O command set specific namespace data: all zero for NVM in this version.
      if (ctrl.isDiscovery) return fail(cmd, S_INVALID_FIELD);
      if (!ctrl.namespaces.has(nsid)) return fail(cmd, S_INVALID_NS);
      if (csi !== Csi.NVM) return fail(cmd, S_INVALID_FIELD);
      break;
    }
    case Cns.CsController: {
      if (csi !== Csi.NVM) return fail(cmd, S_INVALID_FIELD);
      // NVM command set specific controller data: VSL, WZSL, WUSL, DMRL, DMRSL (u32), DMSL (u64).
      buf[0] = 0; // VSL: no limit
      buf[1] = mdtsField(ctrl); // WZSL: same limit as MDTS
      buf[2] = 0;
      buf[3] = 0; // DMRL: no limit beyond 256 ranges
      buf.writeUInt32LE(0, 4);
      break;
    }
    case Cns.CsIndependentNamespace: {
      if (ctrl.isDiscovery) return fail(cmd, S_INVALID_FIELD);
      const ns = ctrl.namespaces.get(nsid);
      if (!ns) return fail(cmd, S_INVALID_NS);
      // nsfeat @0, nmic @1, rescap @2, fpi @3, anagrpid @4, nsattr @8, nvmsetid @9, endgid @11, nstat @13
      buf[1] = 1; // NMIC: may be attached to several controllers
      buf[2] = rescap(ns);
      buf.writeUInt32LE(ns.anaGroup, 4);
      buf[8] = ns.readOnly ? 1 : 0;
      buf[13] = 1; // NSTAT: namespace ready
      break;
    }
    case Cns.CommandSetList: {
      // One I/O command set combination: NVM only (bit 0).
      buf.writeBigUInt64LE(1n, 0);
      break;
    }
    default:
      ctrl.log.info({ cns: `0x${cns.toString(16)}` }, 'unsupported Identify CNS');
      return fail(cmd, S_INVALID_FIELD);
  }
  cmd.outData = buf.subarray(0, Math.min(IDENTIFY_SIZE, cmd.dataLen || IDENTIFY_SIZE));
  cmd.complete();
}

function toBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.length);
}

function fail(cmd: Command, status: number): void {
  cmd.status = status;
  cmd.complete();
}

/** MDTS in units of the minimum page size (4 KiB), as a power of two. */
function mdtsField(ctrl: Controller): number {
  return Math.log2(ctrl.ctx.config.mdts / 4096);
}

export function identifyController(buf: Buffer, ctrl: Controller): void {
  const subsys = ctrl.subsys;
  const cfg = subsys?.config;
  buf.writeUInt16LE(0, IdCtrl.vid);
  buf.writeUInt16LE(0, IdCtrl.ssvid);
  putAscii(buf, IdCtrl.sn, 20, cfg?.serial ?? '');
  putAscii(buf, IdCtrl.mn, 40, cfg?.model ?? 'nvmetd discovery');
  putAscii(buf, IdCtrl.fr, 8, cfg?.firmware ?? '0.1.0');
  buf[IdCtrl.rab] = 6;
  // Multi-port, multi-controller (shared namespaces), ANA reporting.
  buf[IdCtrl.cmic] = subsys ? Cmic.MULTI_PORT | Cmic.MULTI_CTRL | Cmic.ANA_REPORTING : 0;
  buf[IdCtrl.mdts] = mdtsField(ctrl);
  buf.writeUInt16LE(ctrl.cntlid, IdCtrl.cntlid);
  buf.writeUInt32LE(NVME_VERSION, IdCtrl.ver);
  buf.writeUInt32LE(subsys ? Oaes.NS_ATTR_CHANGED | Oaes.ANA_CHANGE : Oaes.DISC_LOG_CHANGE >>> 0, IdCtrl.oaes);
  buf.writeUInt32LE(CtrAtt.HOST_ID_128 | CTRATT_TBKAS, IdCtrl.ctratt);
  buf[IdCtrl.cntrltype] = subsys ? 1 : 2;
  buf[IdCtrl.acl] = 3;
  buf[IdCtrl.aerl] = AERL;
  buf[IdCtrl.frmw] = 0x3; // one slot, slot 1 read-only
  buf[IdCtrl.lpa] = Lpa.SMART_PER_NS | Lpa.CMD_EFFECTS | Lpa.EXTENDED_DATA;
  buf[IdCtrl.elpe] = ELPE;
  buf[IdCtrl.npss] = 0;
  buf.writeUInt16LE(KAS, IdCtrl.kas);
  buf[IdCtrl.sqes] = 0x66;
  buf[IdCtrl.cqes] = 0x44;
  buf.writeUInt16LE(ctrl.maxQueueEntries, IdCtrl.maxcmd);
  if (subsys) {
    buf.writeUInt32LE(cfg!.maxNamespaces, IdCtrl.nn);
    buf.writeUInt16LE(Oncs.COMPARE | Oncs.DSM | Oncs.WRITE_ZEROES | Oncs.VERIFY | Oncs.COPY | Oncs.RESERVATIONS, IdCtrl.oncs);
    buf.writeUInt16LE(1, IdCtrl.ocfs); // Copy: source range descriptor format 0
    buf[IdCtrl.vwc] = 0x1;
    buf[IdCtrl.nwpc] = 0;
    buf.writeUInt32LE(cfg!.maxNamespaces, IdCtrl.mnan);
    buf[IdCtrl.anatt] = ANATT;
    // Every state is reported; nothing is claimed about ANAGRPID changes (bits 6, 7), as the kernel target.
    buf[IdCtrl.anacap] = AnaCap.OPTIMIZED | AnaCap.NON_OPTIMIZED | AnaCap.INACCESSIBLE | AnaCap.PERSISTENT_LOSS | AnaCap.CHANGE;
    buf.writeUInt32LE(ANA_GROUP_MAX, IdCtrl.anagrpmax);
    buf.writeUInt32LE(ANA_GROUP_MAX, IdCtrl.nanagrpid);
  }
  // SGLs supported (no alignment requirement) and SGL offsets; keyed data blocks are an RDMA matter.
  buf.writeUInt32LE((1 << 0) | (1 << 20), IdCtrl.sgls);
  buf.write(ctrl.subsysNqn, IdCtrl.subnqn, 255, 'utf8');
  // Capsule sizes in 16-byte units: SQE + in-capsule data on I/O queues.
  const port = ctrl.queues.get(0)?.port;
  const icd = port ? port.inlineDataSize : 0;
  buf.writeUInt32LE((64 + icd) / 16, IdCtrl.ioccsz);
  buf.writeUInt32LE(1, IdCtrl.iorcsz);
  buf.writeUInt16LE(0, IdCtrl.icdoff);
  buf[IdCtrl.msdbd] = 1;
  // Power state 0: 25 W max power (centiwatts), entry/exit latencies as a typical device reports.
  buf.writeUInt16LE(2500, IdCtrl.psd0);
  buf.writeUInt32LE(16, IdCtrl.psd0 + 4);
  buf.writeUInt32LE(4, IdCtrl.psd0 + 8);
}

/** RESCAP: every type, IEKEY on Register, and PTPL where the namespace has a ptplFile. */
function rescap(ns: Namespace): number {
  return Rescap.TYPES | Rescap.IEKEY | (ns.config.ptplFile ? Rescap.PTPL : 0);
}

export function identifyNamespace(buf: Buffer, ns: Namespace, mdts: number): void {
  const nlb = BigInt(ns.nlb);
  buf.writeBigUInt64LE(nlb, IdNs.nsze);
  buf.writeBigUInt64LE(nlb, IdNs.ncap);
  buf.writeBigUInt64LE(nlb, IdNs.nuse);
  // NSFEAT: NSABP (bit 1) + OPTPERF (bit 4): the NPWG/NPWA/NPDG/NPDA/NOWS fields are valid.
  buf[IdNs.nsfeat] = 0x12;
  buf[IdNs.nlbaf] = 0;
  buf[IdNs.flbas] = 0;
  buf[IdNs.nmic] = 1;
  buf[IdNs.rescap] = rescap(ns);
  buf.writeUInt32LE(ns.anaGroup, IdNs.anagrpid);
  // DLFEAT: deallocated blocks read as zeroes when the backend guarantees it; Write Zeroes may deallocate.
  buf[IdNs.dlfeat] = ns.backend.discardZeroes ? 0x09 : 0;
  const perBlock = 4096 / ns.blockSize - 1;
  buf.writeUInt16LE(perBlock, IdNs.npwg);
  buf.writeUInt16LE(perBlock, IdNs.npwa);
  buf.writeUInt16LE(perBlock, IdNs.npdg);
  buf.writeUInt16LE(perBlock, IdNs.npda);
  buf.writeUInt16LE(perBlock, IdNs.nows);
  // Copy limits: one source range and the whole copy within MDTS; MSRC is 0's based.
  const copyBlocks = copyMaxBlocks(ns, mdts);
  buf.writeUInt16LE(copyBlocks, IdNs.mssrl);
  buf.writeUInt32LE(copyBlocks, IdNs.mcl);
  buf[IdNs.msrc] = COPY_MAX_RANGES - 1;
  buf[IdNs.nsattr] = ns.readOnly ? 1 : 0;
  buf.set(ns.nguid, IdNs.nguid);
  buf.set(ns.eui64, IdNs.eui64);
  // LBA format 0: no metadata, LBADS = log2(block size), relative performance best.
  buf.writeUInt16LE(0, IdNs.lbaf0);
  buf[IdNs.lbaf0 + 2] = ns.lbaShift;
  buf[IdNs.lbaf0 + 3] = 0;
}

export function nsDescriptors(buf: Buffer, ns: Namespace): void {
  let at = 0;
  const put = (type: number, value: Uint8Array): void => {
    buf[at] = type;
    buf[at + 1] = value.length;
    buf.set(value, at + 4);
    at += 4 + value.length;
  };
  if (ns.eui64.some((b) => b !== 0)) put(Nidt.EUI64, ns.eui64);
  put(Nidt.NGUID, ns.nguid);
  put(Nidt.UUID, ns.uuid);
  put(Nidt.CSI, Uint8Array.of(Csi.NVM));
}
