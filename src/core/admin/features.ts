// Get Features / Set Features.
import type { Command } from '../command.js';
import type { Controller } from '../controller.js';
import { MAX_IO_QUEUES } from '../controller.js';
import { AecBits, FeatureId, FeatureSel } from '../../spec/log.js';
import { sqeCdw10, sqeCdw11, sqeNsid } from '../../spec/sqe.js';
import {
  S_FEATURE_NOT_CHANGEABLE,
  S_FEATURE_NOT_SAVEABLE,
  S_INVALID_FIELD,
  S_INVALID_NS,
  S_SEQUENCE_ERROR,
} from '../../spec/status.js';
import { getReservationFeature, isReservationFeature, setReservationFeature } from '../reservations/features.js';

/** Features kept as a plain dword: FID -> default value. */
const PLAIN: ReadonlyMap<number, number> = new Map([
  [FeatureId.Arbitration, 0],
  [FeatureId.PowerManagement, 0],
  // Over temperature threshold 0x157 K (70 C) for the composite sensor.
  [FeatureId.TemperatureThreshold, 0x157],
  [FeatureId.ErrorRecovery, 0],
  [FeatureId.InterruptCoalescing, 0],
  [FeatureId.InterruptVectorConfig, 0],
  [FeatureId.WriteAtomicity, 0],
]);

const SUPPORTED_AEC = AecBits.NS_ATTR | AecBits.ANA_CHANGE | AecBits.DISC_LOG_CHANGE;
const DISCOVERY_FEATURES = new Set<number>([FeatureId.KeepAliveTimer, FeatureId.AsyncEventConfig]);
/** Capabilities for SEL=3: bit 1 namespace specific, bit 2 changeable. */
const CAP_NS_SPECIFIC = 1 << 1;
const CAP_CHANGEABLE = 1 << 2;

function fid(cmd: Command): number {
  return sqeCdw10(cmd.sqe) & 0xff;
}

/** A feature this controller does not implement: Invalid Field, and one line saying which. */
function unsupported(cmd: Command, ctrl: Controller, id: number, op: 'get' | 'set'): void {
  ctrl.log.info({ fid: `0x${id.toString(16)}`, op }, 'unsupported feature');
  done(cmd, S_INVALID_FIELD);
}

function done(cmd: Command, status = 0): void {
  cmd.status = status;
  cmd.complete();
}

export function getFeatures(cmd: Command, ctrl: Controller): void {
  const id = fid(cmd);
  const sel = (sqeCdw10(cmd.sqe) >>> 8) & 7;
  const nsid = sqeNsid(cmd.sqe);
  if (ctrl.isDiscovery && !DISCOVERY_FEATURES.has(id)) return unsupported(cmd, ctrl, id, 'get');
  if (sel === FeatureSel.SUPPORTED) {
    if (!known(id)) return unsupported(cmd, ctrl, id, 'get');
    cmd.dw0 =
      id === FeatureId.HostIdentifier ? 0 : id === FeatureId.NsWriteProtect ? CAP_NS_SPECIFIC : isReservationFeature(id) ? CAP_NS_SPECIFIC | CAP_CHANGEABLE : CAP_CHANGEABLE;
    return done(cmd);
  }
  const useDefault = sel === FeatureSel.DEFAULT;
  if (isReservationFeature(id)) return getReservationFeature(cmd, ctrl, id, useDefault);
  switch (id) {
    case FeatureId.VolatileWriteCache:
      cmd.dw0 = useDefault || ctrl.volatileWriteCache ? 1 : 0;
      return done(cmd);
    case FeatureId.NumberOfQueues: {
      const n = (useDefault ? MAX_IO_QUEUES : ctrl.ioQueues) - 1;
      cmd.dw0 = ((n << 16) | n) >>> 0;
      return done(cmd);
    }
    case FeatureId.AsyncEventConfig:
      cmd.dw0 = useDefault ? 0 : ctrl.aec >>> 0;
      return done(cmd);
    case FeatureId.KeepAliveTimer:
      cmd.dw0 = ctrl.kato >>> 0;
      return done(cmd);
    case FeatureId.Timestamp: {
      const buf = cmd.buffer(8);
      const now = ctrl.timestampSetAt ? ctrl.timestampBase + (Date.now() - ctrl.timestampSetAt) : Date.now();
      const v = new DataView(buf.buffer, buf.byteOffset, 8);
      v.setUint32(0, now % 0x100000000, true);
      v.setUint16(4, Math.floor(now / 0x100000000), true);
      // Byte 6: bit 0 synch (0: continuous), bits 3:1 origin (1: set by host, 0: since reset).
      buf[6] = ctrl.timestampSetAt ? 1 << 1 : 0;
      buf[7] = 0;
      cmd.outData = buf;
      return done(cmd);
    }
    case FeatureId.HostIdentifier: {
      const extended = (sqeCdw11(cmd.sqe) & 1) === 1;
      if (!extended) return done(cmd, S_INVALID_FIELD);
      const buf = cmd.buffer(16);
      buf.set(ctrl.hostid);
      cmd.outData = buf;
      return done(cmd);
    }
    case FeatureId.NsWriteProtect: {
      const ns = ctrl.namespaces.get(nsid);
      if (!ns) return done(cmd, S_INVALID_NS);
      cmd.dw0 = ns.readOnly ? 1 : 0;
      return done(cmd);
    }
    default: {
      const dflt = PLAIN.get(id);
      if (dflt === undefined) return unsupported(cmd, ctrl, id, 'get');
      cmd.dw0 = useDefault ? dflt : (ctrl.featureDw.get(id) ?? dflt);
      return done(cmd);
    }
  }
}

function known(id: number): boolean {
  return (
    PLAIN.has(id) ||
    id === FeatureId.VolatileWriteCache ||
    id === FeatureId.NumberOfQueues ||
    id === FeatureId.AsyncEventConfig ||
    id === FeatureId.KeepAliveTimer ||
    id === FeatureId.Timestamp ||
    id === FeatureId.HostIdentifier ||
    id === FeatureId.NsWriteProtect ||
    isReservationFeature(id)
  );
}

export function setFeatures(cmd: Command, ctrl: Controller): void {
  const cdw10 = sqeCdw10(cmd.sqe);
  const cdw11 = sqeCdw11(cmd.sqe);
  const id = cdw10 & 0xff;
  if ((cdw10 & 0x80000000) !== 0) return done(cmd, S_FEATURE_NOT_SAVEABLE);
  if (ctrl.isDiscovery && !DISCOVERY_FEATURES.has(id)) return unsupported(cmd, ctrl, id, 'set');
  if (isReservationFeature(id)) return setReservationFeature(cmd, ctrl, id);
  switch (id) {
    case FeatureId.VolatileWriteCache:
      ctrl.volatileWriteCache = (cdw11 & 1) === 1;
      return done(cmd);
    case FeatureId.NumberOfQueues: {
      const nsqr = cdw11 & 0xffff;
      const ncqr = cdw11 >>> 16;
      if (nsqr === 0xffff || ncqr === 0xffff) return done(cmd, S_INVALID_FIELD);
      if (ctrl.queues.size > 1) return done(cmd, S_SEQUENCE_ERROR);
      const n = Math.min(Math.max(nsqr, ncqr) + 1, MAX_IO_QUEUES);
      ctrl.ioQueues = n;
      ctrl.ioQueuesSet = true;
      cmd.dw0 = (((n - 1) << 16) | (n - 1)) >>> 0;
      return done(cmd);
    }
    case FeatureId.AsyncEventConfig:
      ctrl.aec = (cdw11 & SUPPORTED_AEC) >>> 0;
      return done(cmd);
    case FeatureId.KeepAliveTimer:
      ctrl.setKato(cdw11);
      return done(cmd);
    case FeatureId.Timestamp: {
      const d = cmd.inData;
      if (!d || d.length < 8) return done(cmd, S_INVALID_FIELD);
      const v = new DataView(d.buffer, d.byteOffset, 8);
      ctrl.timestampBase = v.getUint32(0, true) + v.getUint16(4, true) * 0x100000000;
      ctrl.timestampSetAt = Date.now();
      return done(cmd);
    }
    case FeatureId.HostIdentifier:
    case FeatureId.NsWriteProtect:
      return done(cmd, S_FEATURE_NOT_CHANGEABLE);
    case FeatureId.PowerManagement:
      // Only power state 0 exists (NPSS 0).
      if ((cdw11 & 0x1f) !== 0) return done(cmd, S_INVALID_FIELD);
      ctrl.featureDw.set(id, cdw11 >>> 0);
      return done(cmd);
    default:
      if (!PLAIN.has(id)) return unsupported(cmd, ctrl, id, 'set');
      ctrl.featureDw.set(id, cdw11 >>> 0);
      return done(cmd);
  }
}
