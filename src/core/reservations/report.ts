// Reservation Report data: the extended data structure (128-bit Host Identifiers, 64-byte entries).
// Hosts on NVMe over Fabrics have 128-bit Host Identifiers only, so the regular structure (64-bit
// ones) is refused by the caller with Host Identifier Inconsistent Format, as the spec asks.
import { CNTLID_DYNAMIC, Report } from '../../spec/reservation.js';
import type { NamespaceReservation } from './state.js';

/** The whole report (header and every registrant); the caller returns the window the host asked for. */
export function buildReport(st: NamespaceReservation): Buffer {
  const regs = [...st.registrants.values()];
  const b = Buffer.alloc(Report.extHeaderSize + regs.length * Report.extEntrySize);
  b.writeUInt32LE(st.generation >>> 0, Report.gen);
  b[Report.rtype] = st.rtype;
  b.writeUInt16LE(Math.min(regs.length, 0xffff), Report.regctl);
  b[Report.ptpls] = st.ptpl ? 1 : 0;
  regs.forEach((r, i) => {
    const at = Report.extHeaderSize + i * Report.extEntrySize;
    // Dynamic controller model: a registrant is a host, not one controller.
    b.writeUInt16LE(CNTLID_DYNAMIC, at + Report.eCntlid);
    b[at + Report.eRcsts] = st.holds(r.host) ? 1 : 0;
    b.writeBigUInt64LE(r.key, at + Report.eRkey);
    b.write(r.host, at + Report.eHostid, 16, 'hex');
  });
  return b;
}
