// The system tools tests need: every test that may skip for a missing tool names it through haveTool(),
// .ci/run installs each of them and requires them (NVMETD_REQUIRE_TOOLS), and .ci/run's installer
// is quiet when the tool is there, installs it when not, and fails loudly when apt-get fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { haveTool, requiredTools } from './needs-tool.js';

const CI = fs.readFileSync('.ci/run', 'utf8');

function testSources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? testSources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

test('.ci/run installs and requires every tool a test checks for', () => {
  const uses = new Map<string, string>();
  for (const file of testSources('test').filter((f) => !f.endsWith('ci-tools.test.ts'))) {
    for (const m of fs.readFileSync(file, 'utf8').matchAll(/haveTool\(\s*\w+,\s*'([^']+)',\s*'([^']+)'/g)) uses.set(m[1]!, m[2]!);
  }
  assert.ok(uses.has('promtool'), 'the promtool check goes through haveTool');
  const required = requiredTools({ NVMETD_REQUIRE_TOOLS: /^export NVMETD_REQUIRE_TOOLS="([^"]*)"$/m.exec(CI)?.[1] ?? '' });
  for (const [tool, pkg] of uses) {
    assert.match(CI, new RegExp(`^need_tool ${tool} ${pkg}$`, 'm'), `.ci/run installs ${pkg} for ${tool}`);
    assert.ok(required.includes(tool), `.ci/run requires ${tool}`);
  }
  // Installed and required before the tests run.
  assert.ok(CI.indexOf('export NVMETD_REQUIRE_TOOLS') < CI.indexOf('npm test'));
});

test('haveTool: a missing tool skips the test, or fails it when required', () => {
  const skipped: string[] = [];
  const t = { skip: (why?: string) => void skipped.push(why ?? '') };
  assert.equal(haveTool(t, 'nvmetd-no-such-tool', 'nvmetd-pkg', {}), false);
  assert.match(skipped[0]!, /nvmetd-no-such-tool not installed \(ENOENT\); install the Debian package nvmetd-pkg/);
  assert.throws(() => haveTool(t, 'nvmetd-no-such-tool', 'nvmetd-pkg', { NVMETD_REQUIRE_TOOLS: 'promtool,nvmetd-no-such-tool' }), /NVMETD_REQUIRE_TOOLS requires it/);
  assert.equal(skipped.length, 1);
  assert.equal(haveTool(t, process.execPath, 'nodejs', {}), true);
});

/** Runs .ci/run's need_tool with fake apt-get/sudo first on PATH; `apt` is the fake apt-get's body. */
function needTool(tool: string, apt: string): { status: number | null; out: string; aptCalls: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-ci-'));
  const calls = path.join(dir, 'calls');
  fs.writeFileSync(path.join(dir, 'apt-get'), `#!/bin/sh\necho "$@" >> ${calls}\n${apt}\n`, { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'sudo'), '#!/bin/sh\nexec "$@"\n', { mode: 0o755 });
  const fn = /^need_tool\(\) \{[\s\S]*?^\}$/m.exec(CI)?.[0];
  assert.ok(fn, '.ci/run defines need_tool');
  const r = spawnSync('bash', ['-c', `set -euo pipefail\n${fn}\nneed_tool ${tool} some-package\necho done`], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${dir}:/usr/bin:/bin`, FAKE_DIR: dir },
  });
  const aptCalls = fs.existsSync(calls) ? fs.readFileSync(calls, 'utf8') : '';
  fs.rmSync(dir, { recursive: true, force: true });
  return { status: r.status, out: r.stdout + r.stderr, aptCalls };
}

test('.ci/run need_tool: nothing to do when the tool is there', () => {
  const r = needTool('sh', 'exit 0');
  assert.equal(r.status, 0);
  assert.equal(r.out, 'done\n');
  assert.equal(r.aptCalls, '');
});

test('.ci/run need_tool: installs the package quietly when the tool is missing', () => {
  // The fake apt-get "installs" the tool on install.
  const r = needTool('nvmetd-fake-tool', 'case "$*" in *install*) printf "#!/bin/sh\\n" > "$FAKE_DIR/nvmetd-fake-tool"; chmod +x "$FAKE_DIR/nvmetd-fake-tool";; esac');
  assert.equal(r.status, 0, r.out);
  assert.match(r.aptCalls, /^-qq update\n-qq install -y --no-install-recommends some-package\n$/);
  assert.match(r.out, /installing the Debian package some-package[\s\S]*done\n$/);
});

test('.ci/run need_tool: a failing apt-get stops CI with a message (no skip)', () => {
  const r = needTool('nvmetd-fake-tool', 'exit 100');
  assert.equal(r.status, 1);
  assert.match(r.out, /apt-get install some-package failed; the tests need nvmetd-fake-tool/);
  assert.doesNotMatch(r.out, /done/);
});

test('.ci/run need_tool: a package that does not provide the tool stops CI', () => {
  const r = needTool('nvmetd-fake-tool', 'exit 0');
  assert.equal(r.status, 1);
  assert.match(r.out, /some-package is installed but nvmetd-fake-tool is still not on PATH/);
});
