// The nvme-cli lines printed once the target listens, so that a user can copy them.
import { networkInterfaces } from 'node:os';
import type { PortConfig, TargetConfig } from '../config/types.js';

export function connectHints(config: TargetConfig, bound: { address: string; port: number }[]): string[] {
  const lines: string[] = [];
  config.ports.forEach((port, i) => {
    const b = bound[i] ?? { address: port.address, port: port.port };
    const host = port.advertiseAddress ?? reachable(port, b.address);
    const svc = port.advertisePort ?? b.port;
    const where = `-t tcp -a ${host} -s ${svc}`;
    lines.push(`nvmetd: port ${port.id} listening on ${port.family === 'ipv6' ? `[${b.address}]` : b.address}:${b.port}`);
    lines.push(`nvme discover ${where}`);
    for (const nqn of port.subsystems) {
      const s = config.subsystems.find((x) => x.nqn === nqn);
      const hostnqn = s && !s.allowAnyHost && s.allowedHosts[0] !== undefined ? ` --hostnqn ${s.allowedHosts[0]}` : '';
      lines.push(`nvme connect ${where} -n ${nqn}${hostnqn}`);
    }
  });
  return lines;
}

/** For a wildcard listener, an address of this machine that a host can reach; else the address itself. */
function reachable(port: PortConfig, address: string): string {
  if (address !== '0.0.0.0' && address !== '::') return address;
  const want = port.family === 'ipv6' ? 'IPv6' : 'IPv4';
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (!a.internal && a.family === want && !a.address.startsWith('fe80')) return a.address;
    }
  }
  return port.family === 'ipv6' ? '::1' : '127.0.0.1';
}
