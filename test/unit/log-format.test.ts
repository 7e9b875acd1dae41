// Log formats: JSON lines or pretty lines, the default chosen by whether stdout is a terminal, the
// --log-format option and the config field, and the real CLI printing the chosen format.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createLogger, defaultLogFormat, prettyLine, type LogSink } from '../../src/util/log.js';
import { logFormatArg, logSettings } from '../../src/cli/serve.js';
import { normalizeConfig } from '../../src/config/normalize.js';

function capture(): LogSink & { lines: string[] } {
  const lines: string[] = [];
  return { lines, write: (l: string) => lines.push(l) };
}

test('json format: one JSON object per line with level, msg and fields', () => {
  const sink = capture();
  const log = createLogger('info', 'json', sink);
  log.info({ nsid: 1 }, 'namespace added');
  log.debug('not at this level');
  assert.equal(sink.lines.length, 1);
  const o = JSON.parse(sink.lines[0]!) as Record<string, unknown>;
  assert.equal(o.level, 30);
  assert.equal(o.msg, 'namespace added');
  assert.equal(o.nsid, 1);
});

test('pretty format: time, level, message, key=value fields; no JSON', () => {
  const sink = capture();
  const log = createLogger('debug', 'pretty', sink);
  log.warn({ nsid: 3, peer: '127.0.0.1:5000', subsystems: ['a b'] }, 'LBA out of range');
  log.debug('detail');
  assert.equal(sink.lines.length, 2);
  assert.match(sink.lines[0]!, /^\d\d:\d\d:\d\d\.\d{3} WARN  LBA out of range nsid=3 peer=127\.0\.0\.1:5000 subsystems=\["a b"\]\n$/);
  assert.match(sink.lines[1]!, /^\d\d:\d\d:\d\d\.\d{3} DEBUG detail\n$/);
  assert.throws(() => JSON.parse(sink.lines[0]!));
});

test('pretty format: an error shows its message, quoted when it has spaces', () => {
  const sink = capture();
  createLogger('info', 'pretty', sink).error({ err: new Error('disk on fire') }, 'backend failed');
  assert.match(sink.lines[0]!, / ERROR backend failed err="disk on fire"\n$/);
});

test('prettyLine passes a line that is not JSON through unchanged', () => {
  assert.equal(prettyLine('plain text'), 'plain text\n');
});

test('default format: pretty on a terminal, json otherwise', () => {
  assert.equal(defaultLogFormat({ isTTY: true }), 'pretty');
  assert.equal(defaultLogFormat({ isTTY: false }), 'json');
  assert.equal(defaultLogFormat({}), 'json');
});

test('--log-format accepts json and pretty, refuses anything else', () => {
  assert.equal(logFormatArg(undefined), undefined);
  assert.equal(logFormatArg('json'), 'json');
  assert.equal(logFormatArg('pretty'), 'pretty');
  assert.throws(() => logFormatArg('xml'), /--log-format xml: must be one of json, pretty/);
});

test('config logFormat: kept when given, absent otherwise, refused when unknown', () => {
  const base = { subsystems: [] };
  assert.equal(normalizeConfig({ ...base, logFormat: 'pretty' }, 'c.json').logFormat, 'pretty');
  assert.equal('logFormat' in normalizeConfig(base, 'c.json'), false);
  assert.throws(() => normalizeConfig({ ...base, logFormat: 'xml' }, 'c.json'), /\/logFormat: must be "json" or "pretty"/);
});

/** Runs `nvmetd serve` until it prints its connect line, stops it, returns stdout. */
function serveOutput(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/nvmetd.js', 'serve', '--ram', '1MiB', '--listen', '127.0.0.1:0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      out += d;
      if (out.includes('nvme connect')) child.kill('SIGINT');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`serve exited ${code}: ${out}`));
    });
  });
}

test('nvmetd serve: json lines when stdout is a pipe, pretty lines with --log-format pretty', async () => {
  const json = (await serveOutput([])).split('\n').filter((l) => l.startsWith('{'));
  assert.ok(json.length >= 2, 'log lines are JSON by default on a pipe');
  assert.ok(json.some((l) => (JSON.parse(l) as { msg?: string }).msg === 'target closed'));
  const pretty = (await serveOutput(['--log-format', 'pretty'])).split('\n');
  assert.ok(!pretty.some((l) => l.startsWith('{')), 'no JSON line in pretty format');
  assert.ok(pretty.some((l) => /^\d\d:\d\d:\d\d\.\d{3} INFO  target closed$/.test(l)));
});

test('log settings: option, then NVMETD_LOG_LEVEL / NVMETD_LOG_FORMAT, then the config file, then the terminal test', () => {
  const config = { ...normalizeConfig({ subsystems: [], logLevel: 'warn', logFormat: 'json' }, 'c.json') };
  const bare = normalizeConfig({ subsystems: [] }, 'c.json');
  assert.deepEqual(logSettings(config, {}, {}, { isTTY: true }), { logLevel: 'warn', logFormat: 'json' });
  // The environment was documented (NVMETD_LOG_LEVEL=debug nvmetd serve) but serve ignored it.
  assert.deepEqual(logSettings(config, {}, { NVMETD_LOG_LEVEL: 'debug', NVMETD_LOG_FORMAT: 'pretty' }, {}), { logLevel: 'debug', logFormat: 'pretty' });
  assert.deepEqual(logSettings(config, { logLevel: 'error', logFormat: 'json' }, { NVMETD_LOG_LEVEL: 'debug', NVMETD_LOG_FORMAT: 'pretty' }, {}), { logLevel: 'error', logFormat: 'json' });
  assert.deepEqual(logSettings(bare, {}, { NVMETD_LOG_LEVEL: '' }, { isTTY: true }), { logLevel: 'info', logFormat: 'pretty' });
  assert.deepEqual(logSettings(bare, {}, {}, { isTTY: false }), { logLevel: 'info', logFormat: 'json' });
  assert.throws(() => logSettings(bare, {}, { NVMETD_LOG_LEVEL: 'loud' }, {}), /^UsageError: NVMETD_LOG_LEVEL=loud: must be one of fatal, error/);
  assert.throws(() => logSettings(bare, {}, { NVMETD_LOG_FORMAT: 'xml' }, {}), /^UsageError: NVMETD_LOG_FORMAT=xml: must be one of json, pretty/);
});
