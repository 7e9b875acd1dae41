// Get / Set Features for reservations: Reservation Notification Mask (82h, per controller and
// namespace) and Reservation Persistence (83h, PTPL of the namespace).
import type { Command } from '../command.js';
import type { Controller } from '../controller.js';
import { FeatureId } from '../../spec/log.js';
import { sqeCdw11, sqeNsid } from '../../spec/sqe.js';
import { S_INVALID_FIELD, S_INVALID_NS } from '../../spec/status.js';

const NSID_ALL = 0xffffffff;

export function isReservationFeature(fid: number): boolean {
  return fid === FeatureId.ReservationNotificationMask || fid === FeatureId.ReservationPersistence;
}

function done(cmd: Command, status = 0): void {
  cmd.status = status;
  cmd.complete();
}

/** Get Features 82h / 83h (current or default value) of the namespace the command names. */
export function getReservationFeature(cmd: Command, ctrl: Controller, fid: number, useDefault: boolean): void {
  const ns = ctrl.subsys?.namespaces.get(sqeNsid(cmd.sqe));
  if (!ns) return done(cmd, S_INVALID_NS);
  if (useDefault) cmd.dw0 = 0;
  else if (fid === FeatureId.ReservationNotificationMask) cmd.dw0 = ctrl.resvNotices.mask(ns.nsid);
  else cmd.dw0 = ctrl.ctx.reservations?.ptpl(ns) ? 1 : 0;
  done(cmd);
}

/** Set Features 82h (one namespace, or all with NSID FFFFFFFFh) / 83h (one namespace). */
export function setReservationFeature(cmd: Command, ctrl: Controller, fid: number): void {
  const nsid = sqeNsid(cmd.sqe);
  const cdw11 = sqeCdw11(cmd.sqe);
  const namespaces = ctrl.subsys?.namespaces;
  if (!namespaces) return done(cmd, S_INVALID_FIELD);
  if (fid === FeatureId.ReservationNotificationMask) {
    if (nsid !== NSID_ALL && !namespaces.has(nsid)) return done(cmd, S_INVALID_NS);
    const nsids = nsid === NSID_ALL ? namespaces.keys() : [nsid];
    if (!ctrl.resvNotices.setMask(nsids, cdw11)) return done(cmd, S_INVALID_FIELD);
    return done(cmd);
  }
  const ns = namespaces.get(nsid);
  const manager = ctrl.ctx.reservations;
  if (!ns || !manager) return done(cmd, S_INVALID_NS);
  void manager.setPtpl(ns, (cdw11 & 1) === 1, ctrl.log).then((status) => done(cmd, status));
}
