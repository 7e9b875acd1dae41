// What the RPC methods see of the running target: its context (subsystems, controllers), its
// running config, its listeners, the I/O workers, statistics, the bdev registry and the TCP
// transport's options. The composition root (src/server/target.ts) builds it.
import type { TargetConfig } from '../config/types.js';
import type { TargetContext } from '../core/context.js';
import type { Logger } from '../util/log.js';
import type { TcpListener } from '../transport/tcp/listener.js';
import type { WorkerPool, ShardInfo } from '../shard/pool.js';
import type { ThreadStatsSnapshot } from '../runtime/stats.js';
import type { BdevRegistry } from './bdevs.js';
import { TcpTransportState } from './transport-state.js';
import { Keyring } from './keyring.js';

export interface LiveTarget {
  readonly ctx: TargetContext;
  readonly config: TargetConfig;
  readonly log: Logger;
  /** The target's listeners: a listener the RPC adds joins this list (and is closed with the target). */
  readonly listeners: TcpListener[];
  readonly workers: WorkerPool | null;
  stats(): { main: ThreadStatsSnapshot; workers: ShardInfo[] };
  readonly bdevs: BdevRegistry;
  readonly transport: TcpTransportState;
  /** Named keys hosts are given by RPC (keyring_file_add_key). */
  readonly keyring: Keyring;
  /** The config file the target was started from, and how to load it again (absent: zero-config). */
  readonly source?: ConfigSource;
}

/** Where the running config came from: the file, and its loading with the command line's overrides. */
export interface ConfigSource {
  readonly path: string;
  load(): Promise<TargetConfig>;
}

/** The only NVMe-oF target this process runs, by the name SPDK gives its default target. */
export const TARGET_NAME = 'nvmf_tgt';

export function createLive(o: Omit<LiveTarget, 'transport' | 'keyring'>): LiveTarget {
  return { ...o, transport: new TcpTransportState(o.config), keyring: new Keyring() };
}
