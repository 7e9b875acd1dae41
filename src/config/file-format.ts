// The JSON config file as written by people (and by `nvmetd config import-nvmetcli`): TargetConfig with
// optional fields and friendly sizes. schema.ts describes the same shape for validators and editors;
// normalize.ts turns it into a TargetConfig.
import type { AddressFamily, TargetConfig } from './types.js';

export type SizeInput = number | string;

export type BackingInput =
  | { type: 'ram'; size: SizeInput; delayUs?: number; overcommit?: boolean }
  | { type: 'file'; path: string; size?: SizeInput; buffered?: boolean }
  | { type: 'block'; path: string; buffered?: boolean }
  | { type: 'rbd'; pool: string; image: string; cephConf?: string; user?: string; options?: Record<string, string> };

export interface NamespaceInput {
  nsid?: number;
  backing: BackingInput;
  blockSize?: 512 | 4096;
  uuid?: string;
  nguid?: string;
  eui64?: string;
  readOnly?: boolean;
  enabled?: boolean;
  anaGroup?: number;
  ptplFile?: string;
  hosts?: string[];
}

export interface SubsystemInput {
  nqn: string;
  serial?: string;
  model?: string;
  firmware?: string;
  allowAnyHost?: boolean;
  allowedHosts?: string[];
  maxNamespaces?: number;
  cntlidMin?: number;
  cntlidMax?: number;
  namespaces?: NamespaceInput[];
}

export interface ReferralInput {
  address: string;
  port?: number;
  family?: AddressFamily;
  portId?: number;
}

export interface PortInput {
  id?: number;
  address?: string;
  port?: number;
  family?: AddressFamily;
  advertiseAddress?: string;
  advertisePort?: number;
  subsystems?: string[];
  referrals?: ReferralInput[];
  inlineDataSize?: SizeInput;
  maxQueueSize?: number;
  maxH2CData?: SizeInput;
  ana?: Record<string, string>;
  tls?: 'none' | 'optional' | 'required';
}

/** hosts[].dhchap: the secrets as DHHC-1 strings or "file:PATH"; a name or a list for hash/dhgroup. */
export interface DhchapInput {
  key: string;
  ctrlKey?: string;
  hash?: string | string[];
  dhgroup?: string | string[];
}

export interface HostInput {
  nqn: string;
  dhchap?: DhchapInput;
  tlsKey?: string;
  tlsKeyDerivation?: 'rfc8446' | 'compat';
}

export interface ConfigFile {
  $schema?: string;
  logLevel?: TargetConfig['logLevel'];
  logFormat?: TargetConfig['logFormat'];
  icreqTimeout?: number;
  mdts?: SizeInput;
  memoryBudget?: SizeInput;
  hosts?: HostInput[];
  ports?: PortInput[];
  subsystems: SubsystemInput[];
  controlSocket?: string;
  rpcSocket?: string;
  metrics?: string;
  shard?: {
    workers?: number;
    cores?: number[] | string;
    mainCore?: number;
    policy?: 'round-robin' | 'per-controller' | 'map';
    map?: Record<string, number>;
    mode?: 'event' | 'poll' | 'adaptive';
  };
}
