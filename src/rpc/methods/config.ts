// nvmetd's own configuration methods: nvmetd_get_config (the running configuration in the config
// file format, as JSON), nvmetd_save_config (written atomically to `path`, by default the file the
// target was started from, such that a target started from it reproduces the running state) and
// nvmetd_reload (the config file read again and the difference applied live; see ../reload).
import { ConfigError } from '../../config/errors.js';
import type { ConfigFile } from '../../config/file-format.js';
import { writeConfigFileAtomic } from '../../config/save.js';
import { toConfigFile } from '../../config/serialize.js';
import type { AnaStateName } from '../../config/types.js';
import { anaStateName } from '../../core/ana.js';
import { ANA_GROUP_MAX, AnaStateCode } from '../../spec/log.js';
import type { Json } from '../json-value.js';
import type { LiveTarget } from '../live.js';
import { reloadConfig, ReloadRefused } from '../reload/index.js';
import { object, str, type RpcMethod } from '../table.js';
import { RpcCode, RpcError } from '../wire.js';

/** The running configuration in the config file format; `warnings` gets what the file cannot say. */
export function runningConfigFile(live: LiveTarget, warnings?: string[]): ConfigFile {
  const anaStates = (portId: number): Record<string, AnaStateName> => {
    const out: Record<string, AnaStateName> = {};
    for (let g = 1; g <= ANA_GROUP_MAX; g++) {
      const code = live.ctx.ana.state(portId, g);
      if (code !== AnaStateCode.OPTIMIZED) out[String(g)] = anaStateName(code);
    }
    return out;
  };
  return toConfigFile(live.config, { anaStates, ...(warnings ? { warnings } : {}) });
}

export const nvmetdGetConfig: RpcMethod = {
  name: 'nvmetd_get_config',
  noParamsMessage: 'nvmetd_get_config method requires no parameters',
  handler: (_p, live) => runningConfigFile(live) as unknown as Json,
};

export const nvmetdSaveConfig: RpcMethod = {
  name: 'nvmetd_save_config',
  params: { schema: object({ path: str }, []), optional: true },
  handler: async (p, live) => {
    const path = typeof p.path === 'string' ? p.path : live.source?.path;
    if (path === undefined || path === '') {
      throw new RpcError(RpcCode.INVALID_PARAMS, 'Invalid parameters', 'path: the target was not started from a config file, give one');
    }
    const warnings: string[] = [];
    const file = runningConfigFile(live, warnings);
    try {
      await writeConfigFileAtomic(path, file);
    } catch (err) {
      const why = err instanceof ConfigError ? err.message : `${path}: ${(err as Error).message}`;
      live.log.error({ path }, `config not saved: ${why}`);
      throw new RpcError(RpcCode.INTERNAL_ERROR, `config not saved: ${why}`);
    }
    for (const w of warnings) live.log.warn({ path }, `config saved: ${w}`);
    live.log.info({ path, subsystems: file.subsystems.length, ports: file.ports?.length ?? 0 }, 'config saved');
    return { path, warnings };
  },
};

export const nvmetdReload: RpcMethod = {
  name: 'nvmetd_reload',
  noParamsMessage: 'nvmetd_reload method requires no parameters (it reads the config file the target was started from)',
  handler: async (_p, live) => {
    try {
      const r = await reloadConfig(live);
      return { path: r.path, applied: r.applied, warnings: r.warnings, failed: r.failed };
    } catch (err) {
      if (err instanceof ReloadRefused) throw new RpcError(RpcCode.INTERNAL_ERROR, `reload refused, nothing changed: ${err.message}`);
      throw err;
    }
  },
};
