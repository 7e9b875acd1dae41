// contrib/grafana/nvmetd.json and contrib/prometheus/prometheus.yml: every series the dashboard queries
// is one a running target exports, every panel is described, its queries are valid PromQL (promtool),
// and the scrape example is a valid Prometheus config (promtool).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Controller } from '../../src/initiator/controller.js';
import { testConfig, withTarget } from './helpers.js';
import { haveTool } from '../unit/needs-tool.js';

interface Panel {
  type: string;
  title: string;
  description?: string;
  targets?: { expr: string; refId: string }[];
}
const DASHBOARD = JSON.parse(fs.readFileSync('contrib/grafana/nvmetd.json', 'utf8')) as { uid: string; panels: Panel[]; templating: { list: { name: string }[] } };
const PANELS = DASHBOARD.panels.filter((p) => p.type !== 'row');
const EXPRS = PANELS.flatMap((p) => (p.targets ?? []).map((t) => t.expr));

/** A query with the dashboard's variables replaced by what Grafana would put there. */
function concrete(expr: string): string {
  return expr.replace(/\$__rate_interval/g, '1m').replace(/\$(instance|subsystem|nsid)/g, '.*');
}

test('dashboard: every panel has a description and queries; variables are defined', () => {
  assert.equal(DASHBOARD.uid, 'nvmetd');
  assert.ok(PANELS.length >= 10);
  for (const p of PANELS) {
    assert.ok((p.description ?? '').length > 40, `panel "${p.title}" is described`);
    assert.ok((p.targets ?? []).length > 0, `panel "${p.title}" queries something`);
  }
  const vars = new Set(DASHBOARD.templating.list.map((v) => v.name));
  for (const e of EXPRS) for (const [, v] of e.matchAll(/\$(\w+)/g)) assert.ok(v === '__rate_interval' || vars.has(v!), `variable $${v} in ${e}`);
  // The panels the operators look for first.
  for (const want of [/IOPS/, /Throughput/, /latency/i, /Errors/, /connections/i]) assert.ok(PANELS.some((p) => want.test(p.title)), String(want));
});

test('dashboard: every series and label it queries exists on a running target', async () => {
  await withTarget({ ...testConfig({ workers: 1 }), metrics: '127.0.0.1:0' }, async (t) => {
    const c = await Controller.connect(t.opts());
    try {
      assert.ok((await c.flush(1)).ok);
      const text = await (await fetch(`http://127.0.0.1:${t.target.metrics!.port}/metrics`)).text();
      const labels = new Map<string, Set<string>>();
      for (const line of text.split('\n')) {
        const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? /.exec(line);
        if (!m || line.startsWith('#')) continue;
        const set = labels.get(m[1]!) ?? new Set<string>();
        for (const [, l] of (m[2] ?? '').matchAll(/(\w+)="/g)) set.add(l!);
        labels.set(m[1]!, set);
      }
      for (const expr of EXPRS) {
        const names = [...expr.matchAll(/\b(nvmetd_\w+)/g)].map((m) => m[1]!);
        assert.ok(names.length > 0, expr);
        for (const name of names) {
          assert.ok(labels.has(name), `${name} (in ${expr}) is exported`);
          // Labels the query matches on or groups by: the metric's own, or those Prometheus adds.
          const own = new Set([...labels.get(name)!, 'instance', 'job']);
          const selector = new RegExp(`${name}\\{([^}]*)\\}`).exec(expr)?.[1] ?? '';
          for (const [, l] of selector.matchAll(/(\w+)=~?"/g)) assert.ok(own.has(l!), `label ${l} of ${name}`);
        }
        for (const [, by] of expr.matchAll(/by \(([^)]*)\)/g)) {
          for (const l of by!.split(',').map((s) => s.trim())) assert.ok(names.some((n) => labels.get(n)!.has(l) || l === 'instance'), `grouping label ${l} in ${expr}`);
        }
      }
    } finally {
      await c.disconnect();
    }
  });
});

test('dashboard: every query is valid PromQL (promtool check rules)', (t) => {
  if (!haveTool(t, 'promtool', 'prometheus')) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-promql-'));
  try {
    const rules = path.join(dir, 'rules.yml');
    const body = EXPRS.map((e, i) => `      - record: nvmetd:dashboard_query_${i}\n        expr: ${JSON.stringify(concrete(e))}`).join('\n');
    fs.writeFileSync(rules, `groups:\n  - name: dashboard\n    rules:\n${body}\n`);
    const r = spawnSync('promtool', ['check', 'rules', rules], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.match(r.stdout, new RegExp(`SUCCESS: ${EXPRS.length} rules found`));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('prometheus scrape example: promtool check config accepts it; it scrapes /metrics', (t) => {
  const text = fs.readFileSync('contrib/prometheus/prometheus.yml', 'utf8');
  assert.match(text, /^\s+metrics_path: \/metrics$/m);
  if (!haveTool(t, 'promtool', 'prometheus')) return;
  const r = spawnSync('promtool', ['check', 'config', '--syntax-only', 'contrib/prometheus/prometheus.yml'], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
});
