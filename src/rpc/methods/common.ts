// Helpers shared by the nvmf_* methods: the target and subsystem lookups with SPDK's answers, the
// listen address form, identifiers as SPDK writes them.
import type { Controller } from '../../core/controller.js';
import type { PortConfig } from '../../config/types.js';
import type { Subsystem } from '../../core/subsystem.js';
import type { LiveTarget } from '../live.js';
import { TARGET_NAME } from '../live.js';
import type { ParamsObject } from '../table.js';
import { RpcCode, RpcError } from '../wire.js';

/** SPDK answers an error from a failed system call with the negative errno and its text. */
export const Errno = {
  EIO: [-5, 'Input/output error'],
  ENOENT: [-2, 'No such file or directory'],
  ENOMEM: [-12, 'Cannot allocate memory'],
  EBUSY: [-16, 'Device or resource busy'],
  EEXIST: [-17, 'File exists'],
  ENODEV: [-19, 'No such device'],
  EINVAL: [-22, 'Invalid argument'],
  EOPNOTSUPP: [-95, 'Operation not supported'],
} as const;

export function errnoError(e: readonly [number, string], detail?: string): RpcError {
  return new RpcError(e[0], e[1], detail);
}

export function invalidParams(detail?: string): RpcError {
  return new RpcError(RpcCode.INVALID_PARAMS, 'Invalid parameters', detail);
}

/** tgt_name, when given, must name the one target. */
export function checkTarget(p: ParamsObject): void {
  const t = p.tgt_name;
  if (typeof t === 'string' && t !== TARGET_NAME) throw new RpcError(RpcCode.INVALID_PARAMS, `NVMf target '${t}' not found`);
}

export function findSubsystem(live: LiveTarget, p: ParamsObject): Subsystem<Controller> {
  checkTarget(p);
  const nqn = p.nqn as string;
  const s = live.ctx.subsystems.get(nqn);
  if (!s) throw new RpcError(RpcCode.INVALID_PARAMS, `Subsystem with NQN '${nqn}' not found`);
  return s;
}

export function listenAddress(pc: PortConfig): { trtype: string; adrfam: string; traddr: string; trsvcid: string } {
  return { trtype: 'TCP', adrfam: pc.family === 'ipv6' ? 'IPv6' : 'IPv4', traddr: pc.address, trsvcid: String(pc.port) };
}

export function uuidText(b: Uint8Array): string {
  const h = Buffer.from(b).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export function isAllZero(b: Uint8Array): boolean {
  return b.every((x) => x === 0);
}

