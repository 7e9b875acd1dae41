// Tests that run a system tool (promtool, systemd-analyze): on a developer machine without it they skip
// with the package to install; where NVMETD_REQUIRE_TOOLS names the tool (.ci/run sets it after
// installing the packages) a missing tool fails the test instead.
import { spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';

/** The tools NVMETD_REQUIRE_TOOLS names (comma or space separated). */
export function requiredTools(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.NVMETD_REQUIRE_TOOLS ?? '').split(/[\s,]+/).filter((s) => s !== '');
}

/**
 * True when `tool` runs (`tool --version`). Otherwise: throws when the tool is required, else marks
 * the test skipped with the Debian package to install, and returns false.
 */
export function haveTool(t: Pick<TestContext, 'skip'>, tool: string, debianPackage: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const probe = spawnSync(tool, ['--version'], { encoding: 'utf8' });
  if (!probe.error) return true;
  const why = `${tool} not installed (${(probe.error as NodeJS.ErrnoException).code ?? probe.error.message}); install the Debian package ${debianPackage}`;
  if (requiredTools(env).includes(tool)) throw new Error(`${why}: NVMETD_REQUIRE_TOOLS requires it (.ci/run installs it)`);
  t.skip(`${why} to run this check`);
  return false;
}
