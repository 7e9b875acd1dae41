// Parsing of --listen values: "ADDR:PORT", "[IPV6]:PORT", "ADDR", "IPV6", "PORT".
import { isIP } from 'node:net';
import { UsageError } from '../util/exit.js';

export interface ListenAddress {
  address: string;
  port: number;
}

export function parseListen(value: string, defaultAddress = '127.0.0.1', defaultPort = 4420): ListenAddress {
  const v = value.trim();
  const bad = (why: string): never => {
    throw new UsageError(`--listen ${value}: ${why} (examples: 0.0.0.0:4420, [::1]:4420, 10.0.0.5)`);
  };
  const port = (s: string): number => {
    if (!/^[0-9]{1,5}$/.test(s) || Number(s) > 65535) bad(`"${s}" is not a TCP port`);
    return Number(s);
  };
  let address: string;
  let p = defaultPort;
  const bracket = /^\[([^\]]*)\](?::(.*))?$/.exec(v);
  if (bracket) {
    address = bracket[1]!;
    if (bracket[2] !== undefined) p = port(bracket[2]);
    if (isIP(address) !== 6) bad(`"${address}" is not an IPv6 address`);
  } else if (/^[0-9]+$/.test(v)) {
    address = defaultAddress;
    p = port(v);
  } else if (isIP(v) !== 0) {
    address = v;
  } else {
    const colon = v.lastIndexOf(':');
    if (colon < 0) bad(`"${v}" is not an IP address`);
    address = v.slice(0, colon);
    p = port(v.slice(colon + 1));
    if (isIP(address) === 0) bad(`"${address}" is not an IP address`);
    if (isIP(address) === 6) bad('write an IPv6 address with a port as [ADDR]:PORT');
  }
  return { address, port: p };
}
