// Decoding of the discovery log page (log identifier 70h).
import { DiscEntry, DiscLog } from '../spec/discovery.js';

export interface DiscoveryEntry {
  trtype: number;
  adrfam: number;
  subtype: number;
  treq: number;
  portid: number;
  cntlid: number;
  asqsz: number;
  eflags: number;
  trsvcid: string;
  subnqn: string;
  traddr: string;
  /** TCP: security type (byte 0 of TSAS). */
  sectype: number;
}

export interface DiscoveryLog {
  genctr: bigint;
  numrec: bigint;
  recfmt: number;
  entries: DiscoveryEntry[];
}

function field(b: Buffer, at: number, len: number): string {
  const end = b.indexOf(0, at);
  return b
    .toString('latin1', at, end < 0 || end > at + len ? at + len : end)
    .replace(/ +$/, '');
}

export function parseDiscoveryHeader(b: Buffer): { genctr: bigint; numrec: bigint; recfmt: number } {
  return {
    genctr: b.readBigUInt64LE(DiscLog.genctr),
    numrec: b.readBigUInt64LE(DiscLog.numrec),
    recfmt: b.readUInt16LE(DiscLog.recfmt),
  };
}

export function parseDiscoveryEntry(b: Buffer, at = 0): DiscoveryEntry {
  return {
    trtype: b[at + DiscEntry.trtype]!,
    adrfam: b[at + DiscEntry.adrfam]!,
    subtype: b[at + DiscEntry.subtype]!,
    treq: b[at + DiscEntry.treq]!,
    portid: b.readUInt16LE(at + DiscEntry.portid),
    cntlid: b.readUInt16LE(at + DiscEntry.cntlid),
    asqsz: b.readUInt16LE(at + DiscEntry.asqsz),
    eflags: b.readUInt16LE(at + DiscEntry.eflags),
    trsvcid: field(b, at + DiscEntry.trsvcid, 32),
    subnqn: field(b, at + DiscEntry.subnqn, 256),
    traddr: field(b, at + DiscEntry.traddr, 256),
    sectype: b[at + DiscEntry.tsas]!,
  };
}

/** A whole log: the 1024-byte header followed by NUMREC 1024-byte entries (as many as `b` holds). */
export function parseDiscoveryLog(b: Buffer): DiscoveryLog {
  const h = parseDiscoveryHeader(b);
  const entries: DiscoveryEntry[] = [];
  const n = Number(h.numrec);
  for (let i = 0; i < n; i++) {
    const at = DiscLog.headerSize + i * DiscLog.entrySize;
    if (at + DiscLog.entrySize > b.length) break;
    entries.push(parseDiscoveryEntry(b, at));
  }
  return { ...h, entries };
}
