// The core's entry point, loaded when `serve` needs it so that the config and CLI layers build and run
// (validate, import, schema) on their own. The contract, from src/core/target.ts:
//   export async function startTarget(config: TargetConfig, log: Logger): Promise<Target>
// Target.addresses lists the bound listeners in the order of config.ports.
import type { TargetConfig } from '../config/types.js';
import type { Logger } from '../util/log.js';

export interface Target {
  readonly addresses: { address: string; port: number }[];
  /** Listeners closed, in-flight I/O completed, files flushed. */
  close(): Promise<void>;
}

export type StartTarget = (config: TargetConfig, log: Logger) => Promise<Target>;

export async function loadStartTarget(): Promise<StartTarget> {
  // A variable specifier: the build does not depend on the core being present.
  const specifier = '../core/target.js';
  let mod: { startTarget?: unknown };
  try {
    mod = (await import(specifier)) as { startTarget?: unknown };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('core/target.js')) {
      throw new Error('the target core (dist/src/core/target.js) is not built: run `npm run build`');
    }
    throw err;
  }
  if (typeof mod.startTarget !== 'function') throw new Error('src/core/target.js does not export startTarget()');
  return mod.startTarget as StartTarget;
}
