// `nvmetd serve --ram SIZE [--file PATH ...] ...`: a config built from command-line options.
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { normalizeConfig } from '../config/normalize.js';
import type { BackingInput, ConfigFile, NamespaceInput } from '../config/file-format.js';
import { nameProblem } from '../config/nqn.js';
import { pathKind } from '../config/path-kind.js';
import type { TargetConfig } from '../config/types.js';
import { formatSize, parseSize } from '../config/units.js';
import { OVERCOMMIT_EFFECT, machineMemory, ramFitProblem } from '../config/memory.js';
import { UsageError } from '../util/exit.js';
import { parseListen } from './listen.js';

export const DEFAULT_NQN = 'nqn.2026-11.io.nvmetd:default';
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

export interface ZeroConfigOptions {
  ram?: string;
  /** --ram-overcommit: start the RAM namespace even when it exceeds physical memory plus swap. */
  ramOvercommit?: boolean;
  file: string[];
  listen: string[];
  nqn?: string;
  blockSize?: string;
  allowHost: string[];
  advertise?: string;
  logLevel?: string;
}

/** `warnings` receives names that are served although they are not NQNs. */
export function zeroConfig(o: ZeroConfigOptions, warnings?: string[]): TargetConfig {
  const blockSize = o.blockSize === undefined ? 512 : Number(o.blockSize);
  if (blockSize !== 512 && blockSize !== 4096) throw new UsageError(`--block-size ${o.blockSize}: must be 512 or 4096`);
  const nqn = o.nqn ?? DEFAULT_NQN;
  const problem = nameProblem(nqn);
  if (problem) throw new UsageError(`--nqn: ${problem}`);
  for (const h of o.allowHost) {
    const p = nameProblem(h);
    if (p) throw new UsageError(`--allow-host: ${p}`);
  }
  if (o.advertise !== undefined && isIP(o.advertise) === 0) {
    throw new UsageError(`--advertise ${o.advertise}: not an IP address`);
  }
  const logLevel = checkLogLevel(o.logLevel);

  const namespaces: NamespaceInput[] = [];
  if (o.ram !== undefined) {
    const size = parseSize(o.ram);
    if (typeof size === 'string') throw new UsageError(`--ram: ${size}`);
    if (size === 0 || size % blockSize !== 0) {
      throw new UsageError(`--ram ${o.ram}: must be a positive multiple of the block size ${blockSize} (${formatSize(size)} is not)`);
    }
    if (!o.ramOvercommit) {
      const problem = ramFitProblem(size, machineMemory(), `--ram ${o.ram}`, `add --ram-overcommit to start anyway (${OVERCOMMIT_EFFECT})`);
      if (problem) throw new UsageError(problem);
    }
    namespaces.push({ backing: { type: 'ram', size, ...(o.ramOvercommit ? { overcommit: true } : {}) }, blockSize });
  } else if (o.ramOvercommit) {
    throw new UsageError('--ram-overcommit needs --ram SIZE');
  }
  for (const f of o.file) {
    if (f.trim() === '') throw new UsageError('--file: empty path');
    const path = resolve(f);
    // The type is what the path is: a block device or a regular file (a missing path is taken as a
    // block device under /dev/, a file elsewhere; opening it says it is missing).
    const { kind, what } = pathKind(path);
    if (kind === 'other') throw new UsageError(`--file ${f}: ${path} is ${what}; a namespace needs a regular file or a block device`);
    const block = kind === 'block' || (kind === 'missing' && path.startsWith('/dev/'));
    const backing: BackingInput = block ? { type: 'block', path } : { type: 'file', path };
    namespaces.push({ backing, blockSize });
  }

  const listens = (o.listen.length > 0 ? o.listen : ['127.0.0.1:4420']).map((l) => parseListen(l));
  const file: ConfigFile = {
    logLevel: logLevel ?? 'info',
    ports: listens.map((l) => ({
      address: l.address,
      port: l.port,
      ...(o.advertise !== undefined ? { advertiseAddress: o.advertise } : {}),
    })),
    subsystems: [{
      nqn,
      ...(o.allowHost.length > 0 ? { allowedHosts: o.allowHost } : {}),
      namespaces,
    }],
  };
  return normalizeConfig(file, 'command line', warnings ? { warnings } : {});
}

/**
 * `serve --rpc-socket PATH` alone, as SPDK's nvmf_tgt starts: no subsystem, only the discovery
 * controller on the --listen addresses (default 127.0.0.1:4420); everything else comes over the socket.
 */
export function emptyConfig(o: { listen: string[]; advertise?: string; logLevel?: string }): TargetConfig {
  if (o.advertise !== undefined && isIP(o.advertise) === 0) throw new UsageError(`--advertise ${o.advertise}: not an IP address`);
  const listens = (o.listen.length > 0 ? o.listen : ['127.0.0.1:4420']).map((l) => parseListen(l));
  const file: ConfigFile = {
    logLevel: checkLogLevel(o.logLevel) ?? 'info',
    ports: listens.map((l) => ({ address: l.address, port: l.port, ...(o.advertise !== undefined ? { advertiseAddress: o.advertise } : {}) })),
    subsystems: [],
  };
  return normalizeConfig(file, 'command line');
}

export function checkLogLevel(level: string | undefined): TargetConfig['logLevel'] | undefined {
  if (level === undefined) return undefined;
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new UsageError(`--log-level ${level}: must be one of ${LOG_LEVELS.join(', ')}`);
  }
  return level as TargetConfig['logLevel'];
}
