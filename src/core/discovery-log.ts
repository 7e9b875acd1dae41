// The discovery log page: every subsystem x port the connecting host may see, referrals, and the
// current discovery subsystem entry.
import type { Controller } from './controller.js';
import type { PortConfig, TlsMode } from '../config/types.js';
import { AdrFam, DiscEntry, DiscLog, SubType, TcpSecType, TrType, Treq } from '../spec/discovery.js';

/** Admin queue size hosts should use (ASQSZ). */
const ASQSZ = 32;

/** TREQ secure channel bits per port TLS mode (TSAS then says TLS 1.3). */
const SECURE_CHANNEL: Record<TlsMode, number> = { none: Treq.NOT_SPECIFIED, optional: Treq.NOT_REQUIRED, required: Treq.REQUIRED };

interface Entry {
  subtype: number;
  /** tls: what the port asks of hosts (none for referrals: their own log says). */
  port: { id: number; family: 'ipv4' | 'ipv6'; address: string; port: number; tls: TlsMode };
  subnqn: string;
}

function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::' || address === '';
}

function advertised(port: PortConfig, localAddress: string): Entry['port'] {
  const address = port.advertiseAddress ?? (isWildcard(port.address) ? localAddress : port.address);
  return {
    id: port.id,
    family: address.includes(':') ? 'ipv6' : 'ipv4',
    address,
    port: port.advertisePort ?? port.port,
    tls: port.tls,
  };
}

export function discoveryEntries(ctrl: Controller): Entry[] {
  const ctx = ctrl.ctx;
  const adminQueue = ctrl.queues.get(0);
  const entries: Entry[] = [];
  const local = adminQueue?.localAddress ?? '';
  if (adminQueue) {
    entries.push({ subtype: SubType.CURRENT_DISCOVERY, port: advertised(adminQueue.port, local), subnqn: ctx.discoveryNqn });
  }
  for (const port of ctx.config.ports) {
    for (const subsys of ctx.portSubsystems(port)) {
      if (!subsys.hostAllowed(ctrl.hostnqn)) continue;
      entries.push({ subtype: SubType.NVME, port: advertised(port, local), subnqn: subsys.nqn });
    }
  }
  const seen = new Set<string>();
  for (const port of ctx.config.ports) {
    for (const r of port.referrals) {
      const key = `${r.address}:${r.port}`;
      if (seen.has(key)) continue;
      seen.add(key);
      entries.push({
        subtype: SubType.REFERRAL,
        port: { id: r.portId, family: r.family, address: r.address, port: r.port, tls: 'none' },
        subnqn: ctx.discoveryNqn,
      });
    }
  }
  return entries;
}

export function buildDiscoveryLog(ctrl: Controller): Buffer {
  const entries = discoveryEntries(ctrl);
  const b = Buffer.alloc(DiscLog.headerSize + entries.length * DiscLog.entrySize);
  b.writeBigUInt64LE(ctrl.ctx.genctr, DiscLog.genctr);
  b.writeBigUInt64LE(BigInt(entries.length), DiscLog.numrec);
  b.writeUInt16LE(0, DiscLog.recfmt);
  entries.forEach((e, i) => {
    const at = DiscLog.headerSize + i * DiscLog.entrySize;
    b[at + DiscEntry.trtype] = TrType.TCP;
    b[at + DiscEntry.adrfam] = e.port.family === 'ipv6' ? AdrFam.IPV6 : AdrFam.IPV4;
    b[at + DiscEntry.subtype] = e.subtype;
    b[at + DiscEntry.treq] = SECURE_CHANNEL[e.port.tls] | Treq.DISABLE_SQFLOW;
    b.writeUInt16LE(e.port.id, at + DiscEntry.portid);
    b.writeUInt16LE(0xffff, at + DiscEntry.cntlid);
    b.writeUInt16LE(ASQSZ, at + DiscEntry.asqsz);
    b.writeUInt16LE(0, at + DiscEntry.eflags);
    // NUL-padded ASCII, as hosts read these fields as C strings.
    b.write(String(e.port.port), at + DiscEntry.trsvcid, 'ascii');
    b.write(e.subnqn, at + DiscEntry.subnqn, 255, 'utf8');
    b.write(e.port.address, at + DiscEntry.traddr, 'ascii');
    b[at + DiscEntry.tsas] = e.port.tls === 'none' ? TcpSecType.NONE : TcpSecType.TLS13;
  });
  return b;
}
