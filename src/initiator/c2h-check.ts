// Validation of a PDU header on the host side, before any of its data is accepted: only C2HData and
// C2HTermReq carry data, and a C2HData's command must expect data, DATAO/DATAL continuing its transfer.
import { CH, DATA, FES, PduType } from '../spec/pdu.js';
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

const NO_DATA = new Uint8Array(0);

/**
 * Where the data of a PDU the host receives goes (a C2HTermReq's error data, a C2HData's command
 * buffer; nothing for PDUs without data), or a fault for a PDU that carries data it may not.
 */
export function hostPduDestination(hdr: Buffer, dataLen: number, slots: { lookup(cid: number): CommandSlot | null }): Uint8Array | C2HFault {
  const type = hdr[CH.pduType]!;
  if (type === PduType.C2HTermReq) return Buffer.alloc(dataLen);
  if (type !== PduType.C2HData) {
    if (dataLen === 0) return NO_DATA;
    return { fes: FES.INVALID_PDU_HEADER_FIELD, fei: CH.plen, reason: `PDU type 0x${type.toString(16)} carries ${dataLen} data bytes` };
  }
  return checkC2HData(hdr, dataLen, slots.lookup(hdr.readUInt16LE(DATA.cccid)));
}
