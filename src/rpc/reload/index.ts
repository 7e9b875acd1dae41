// Reloading the config file into the running target (nvmetd_reload, SIGHUP): the file is read and
// validated exactly as at start; a file that does not load leaves the target as it is (one log line
// naming the problem). Otherwise the difference from the running state is planned (plan.ts) and
// applied through the live change paths (apply.ts); what cannot change live is warned about.
import { ConfigError } from '../../config/errors.js';
import { anaStateName } from '../../core/ana.js';
import type { LiveTarget } from '../live.js';
import { applyPlan, ReloadRefused } from './apply.js';
import { planReload } from './plan.js';

export { ReloadRefused } from './apply.js';

export interface ReloadResult {
  /** The file read. */
  path: string;
  /** One line per change applied. */
  applied: string[];
  /** What differs but cannot change live. */
  warnings: string[];
  /** Changes the I/O workers refused (the rest was applied). */
  failed: string[];
}

const reloading = new WeakSet<LiveTarget>();

export async function reloadConfig(live: LiveTarget): Promise<ReloadResult> {
  const source = live.source;
  try {
    if (!source) throw new ReloadRefused('the target was not started from a config file (serve --config FILE): nothing to reload');
    if (reloading.has(live)) throw new ReloadRefused('a reload is under way');
    reloading.add(live);
    try {
      let next;
      try {
        next = await source.load();
      } catch (err) {
        if (err instanceof ConfigError) throw new ReloadRefused(err.message);
        throw err;
      }
      const plan = planReload(live.config, next, (port, g) => anaStateName(live.ctx.ana.state(port, g)));
      for (const w of plan.warnings) live.log.warn({ config: source.path }, `reload: ${w}`);
      const { applied, failed } = await applyPlan(live, plan);
      live.log.info(
        { config: source.path, changes: applied.length, warnings: plan.warnings.length, failed: failed.length },
        applied.length === 0 && failed.length === 0 ? 'reload: nothing to change' : `reload: ${applied.length} change(s) applied`,
      );
      return { path: source.path, applied, warnings: plan.warnings, failed };
    } finally {
      reloading.delete(live);
    }
  } catch (err) {
    if (err instanceof ReloadRefused) live.log.error({ config: source?.path }, `reload refused, nothing changed: ${err.message}`);
    else live.log.error({ config: source?.path, err }, 'reload failed');
    throw err;
  }
}
