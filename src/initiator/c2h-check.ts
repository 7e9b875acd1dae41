// Validation of a C2HData header on the host side, before any of its data is accepted: the command
// it names must expect data, and DATAO/DATAL must continue its transfer exactly.
import { DATA, FES } from '../spec/pdu.js';
import type { CommandSlot } from './slot.js';

export interface C2HFault {
  readonly fes: number;
  readonly fei: number;
  readonly reason: string;
}

/** The destination of the PDU's data, or a fault for a C2HTermReq. */
export function checkC2HData(hdr: Buffer, dataLen: number, slot: CommandSlot | null): Uint8Array | C2HFault {
  const cid = hdr.readUInt16LE(DATA.cccid);
  const datao = hdr.readUInt32LE(DATA.offset);
  const datal = hdr.readUInt32LE(DATA.length);
  if (slot === null || slot.dataIn === null) {
    return { fes: FES.INVALID_PDU_HEADER_FIELD, fei: DATA.cccid, reason: `C2HData for cid ${cid}, which expects no data` };
  }
  if (datal !== dataLen) {
    return { fes: FES.INVALID_PDU_HEADER_FIELD, fei: DATA.length, reason: `C2HData DATAL ${datal} but the PDU carries ${dataLen} bytes` };
  }
  if (datao !== slot.received || datao + datal > slot.dataIn.length) {
    return {
      fes: FES.DATA_TRANSFER_OUT_OF_RANGE,
      fei: DATA.offset,
      reason: `C2HData cid ${cid} DATAO ${datao} DATAL ${datal}: expected offset ${slot.received}, buffer ${slot.dataIn.length}`,
    };
  }
  return slot.dataIn.subarray(datao, datao + datal);
}
