// One line per record of an input, naming the PDU fields that matter (for reports and --replay).
import { CAPSULE_SQE_OFFSET, CH, DATA, IC, PduType, TERM } from '../../src/spec/pdu.js';
import { SGL, SQE } from '../../src/spec/sqe.js';
import { reframe, type FuzzInput } from './input.js';

const NAMES: Record<number, string> = { 0: 'ICReq', 2: 'H2CTermReq', 4: 'CapsuleCmd', 6: 'H2CData' };

export function describePdu(b: Buffer): string {
  if (b.length < CH.size) return `${b.length} bytes (partial common header) ${b.toString('hex')}`;
  const type = b[CH.pduType]!;
  const head = `${NAMES[type] ?? `type 0x${type.toString(16)}`} flags 0x${b[CH.flags]!.toString(16)} hlen ${b[CH.hlen]} pdo ${b[CH.pdo]} plen ${b.readUInt32LE(CH.plen)} (${b.length} bytes here)`;
  const S = CAPSULE_SQE_OFFSET;
  if (type === PduType.CapsuleCmd && b.length >= S + 64) {
    const opc = b[S + SQE.opcode]!;
    return `${head}: opc 0x${opc.toString(16)}${opc === 0x7f ? ` fctype 0x${b[S + SQE.fctype]!.toString(16)}` : ''} cid ${b.readUInt16LE(S + SQE.cid)} nsid ${b.readUInt32LE(S + SQE.nsid)} sgl id 0x${b[S + SQE.dptr + SGL.identifier]!.toString(16)} len ${b.readUInt32LE(S + SQE.dptr + SGL.length)} cdw10 0x${b.readUInt32LE(S + SQE.cdw10).toString(16)} cdw11 0x${b.readUInt32LE(S + SQE.cdw11).toString(16)} cdw12 0x${b.readUInt32LE(S + SQE.cdw12).toString(16)}`;
  }
  if (type === PduType.H2CData && b.length >= 24) {
    return `${head}: cccid ${b.readUInt16LE(DATA.cccid)} ttag ${b.readUInt16LE(DATA.ttag)} datao ${b.readUInt32LE(DATA.offset)} datal ${b.readUInt32LE(DATA.length)}`;
  }
  if (type === PduType.ICReq && b.length >= 16) return `${head}: pfv ${b.readUInt16LE(IC.pfv)} hpda ${b[IC.pda]} digest ${b[IC.digest]}`;
  if (type === PduType.H2CTermReq && b.length >= 14) return `${head}: fes ${b.readUInt16LE(TERM.fes)} fei ${b.readUInt32LE(TERM.fei)}`;
  return head;
}

/** Records as delivered, each followed by the PDUs it holds (cut along PLEN). */
export function describeInput(input: FuzzInput): string[] {
  const out: string[] = [];
  input.forEach((c, i) => out.push(`#${i} conn ${c.conn}, ${c.bytes.length} bytes${c.flags ? ' (after an event-loop turn)' : ''}`));
  out.push('PDUs per connection (cut along PLEN, in delivery order):');
  for (const p of reframe(input)) out.push(`  conn ${p.conn}: ${describePdu(p.bytes)}`);
  return out;
}
