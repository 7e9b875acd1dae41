// `serve` options for worker threads and pinning: --workers, --cores, --main-core, --queue-policy,
// --queue-map, --poll / --adaptive. They apply on top of a config file or a zero-config start.
import type { PollMode, QueuePolicy, ShardConfig, TargetConfig } from '../config/types.js';
import { allowedCpus, formatCpuList, parseCpuList, parseQueueMap } from '../config/cpus.js';
import { UsageError } from '../util/exit.js';

export interface ShardArgs {
  workers?: string;
  cores?: string;
  mainCore?: string;
  queuePolicy?: string;
  queueMap?: string;
  poll?: boolean;
  adaptive?: boolean;
  control?: string;
}

export const DEFAULT_SHARD: ShardConfig = { workers: 0, cores: [], mainCore: -1, policy: 'round-robin', map: {}, mode: 'event' };

function int(name: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${name}: expected an integer in ${min}..${max}, got "${v}"`);
  return n;
}

export function applyShardArgs(config: TargetConfig, args: ShardArgs): TargetConfig {
  const { control, ...a } = args;
  if (control !== undefined) config = { ...config, controlSocket: control };
  const given = [a.workers, a.cores, a.mainCore, a.queuePolicy, a.queueMap, a.poll, a.adaptive].some((v) => v !== undefined);
  if (!given) return config;
  const s: ShardConfig = { ...DEFAULT_SHARD, ...(config.shard ?? {}) };
  try {
    if (a.cores !== undefined) s.cores = parseCpuList(a.cores);
    if (a.workers !== undefined) s.workers = int('--workers', a.workers, 0, 256);
    else if (a.cores !== undefined && s.workers === 0) s.workers = s.cores.length;
    if (a.mainCore !== undefined) s.mainCore = int('--main-core', a.mainCore, 0, 4095);
    if (a.queueMap !== undefined) {
      s.map = parseQueueMap(a.queueMap);
      s.policy = 'map';
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError((err as Error).message);
  }
  if (a.queuePolicy !== undefined) {
    const p = a.queuePolicy as QueuePolicy;
    if (p !== 'round-robin' && p !== 'per-controller' && p !== 'map') {
      throw new UsageError(`--queue-policy: expected round-robin, per-controller or map, got "${a.queuePolicy}"`);
    }
    s.policy = p;
  }
  if (a.poll && a.adaptive) throw new UsageError('--poll and --adaptive exclude each other');
  const mode: PollMode = a.poll ? 'poll' : a.adaptive ? 'adaptive' : s.mode;
  s.mode = mode;
  for (const w of Object.values(s.map)) {
    if (w >= Math.max(1, s.workers)) throw new UsageError(`--queue-map names worker ${w}, but there are ${s.workers} workers`);
  }
  return { ...config, shard: s };
}

/**
 * Refuses CPUs this process cannot run on (pinning them would fail once started): `--cores`,
 * `--main-core`, or the config file's shard.cores / shard.mainCore. `cpus`: allowedCpus() by default.
 */
export function checkShardCpus(config: TargetConfig, args: ShardArgs, cpus: readonly number[] = allowedCpus()): void {
  const s = config.shard;
  if (!s) return;
  const have = new Set(cpus);
  const machine = `this machine lets nvmetd use CPU${cpus.length === 1 ? '' : 's'} ${formatCpuList(cpus)}`;
  const missing = s.cores.filter((c) => !have.has(c));
  if (missing.length > 0) {
    const name = args.cores !== undefined ? `--cores ${args.cores}` : `shard.cores (${formatCpuList(s.cores)})`;
    throw new UsageError(`${name}: no CPU${missing.length === 1 ? '' : 's'} ${formatCpuList(missing)}; ${machine}`);
  }
  if (s.mainCore >= 0 && !have.has(s.mainCore)) {
    const name = args.mainCore !== undefined ? `--main-core ${args.mainCore}` : `shard.mainCore (${s.mainCore})`;
    throw new UsageError(`${name}: no CPU ${s.mainCore}; ${machine}`);
  }
}
