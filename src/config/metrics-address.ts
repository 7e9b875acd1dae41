// The metrics endpoint's address: "HOST:PORT" (an IPv6 host in brackets: "[::1]:9464"; port 0: any free port).
import { isIP } from 'node:net';

export interface MetricsAddress {
  host: string;
  port: number;
}

/** The parsed address, or why `text` is not one. */
export function parseMetricsAddress(text: string): MetricsAddress | string {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(text);
  if (!m) return `"${text}" is not an address of the form HOST:PORT (an IPv4 address, or an IPv6 address in brackets)`;
  const host = m[1] ?? m[2]!;
  if (isIP(host) === 0) return `"${host}" is not an IPv4 or IPv6 address`;
  const port = Number(m[3]);
  if (port > 65535) return `port ${port} is out of range (0-65535)`;
  return { host, port };
}
