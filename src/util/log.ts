// Logging: pino. Two formats: "json" (one JSON object per line, for journald/log shippers) and "pretty"
// (one readable line per event for a terminal: time, level, message, then key=value fields). Pretty
// lines are made here from pino's JSON line, so no formatter dependency and the same fields in both.
import { pino } from 'pino';

export type Logger = pino.Logger;
export type LogFormat = 'json' | 'pretty';
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty'];

/** Where log lines go (pino's destination): process stdout unless a test passes its own. */
export interface LogSink {
  write(line: string): unknown;
  flush?(): void;
}

/** The default format: pretty for a person at a terminal, JSON lines for anything else. */
export function defaultLogFormat(out: { isTTY?: boolean } = process.stdout): LogFormat {
  return out.isTTY === true ? 'pretty' : 'json';
}

/** NVMETD_LOG_FORMAT when valid (lets tests and workers without a TTY pick a format), else undefined. */
function envFormat(): LogFormat | undefined {
  const v = process.env.NVMETD_LOG_FORMAT;
  return v === 'json' || v === 'pretty' ? v : undefined;
}

export function createLogger(level: string = process.env.NVMETD_LOG_LEVEL ?? 'info', format: LogFormat = envFormat() ?? 'json', sink?: LogSink): Logger {
  const options = { level, base: { name: 'nvmetd' } };
  const dest: LogSink = sink ?? pino.destination({ dest: 1, sync: true });
  if (format === 'json') return pino(options, dest as pino.DestinationStream);
  const color = sink === undefined && process.stdout.isTTY === true && process.env.NO_COLOR === undefined;
  const pretty: LogSink = {
    write: (line: string) => dest.write(prettyLine(line, color)),
    flush: () => dest.flush?.(),
  };
  return pino(options, pretty as pino.DestinationStream);
}

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const LEVEL_COLORS: Record<number, string> = { 10: '90', 20: '36', 30: '32', 40: '33', 50: '31', 60: '35' };
/** Fields every line has, shown in the line's head (or not at all) rather than as key=value. */
const HEAD_FIELDS = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name']);

/** One pino JSON line -> "HH:MM:SS.mmm LEVEL message key=value ...\n" (local time). */
export function prettyLine(jsonLine: string, color = false): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(jsonLine) as Record<string, unknown>;
  } catch {
    return jsonLine.endsWith('\n') ? jsonLine : `${jsonLine}\n`;
  }
  const t = new Date(typeof o.time === 'number' ? o.time : Date.now());
  const two = (n: number): string => String(n).padStart(2, '0');
  const time = `${two(t.getHours())}:${two(t.getMinutes())}:${two(t.getSeconds())}.${String(t.getMilliseconds()).padStart(3, '0')}`;
  const lvl = typeof o.level === 'number' ? o.level : 30;
  let level = (LEVEL_NAMES[lvl] ?? String(o.level)).padEnd(5);
  if (color) level = `\x1b[${LEVEL_COLORS[lvl] ?? '0'}m${level}\x1b[0m`;
  let out = `${time} ${level} ${typeof o.msg === 'string' ? o.msg : ''}`;
  let stack = '';
  for (const [k, v] of Object.entries(o)) {
    if (HEAD_FIELDS.has(k)) continue;
    if ((k === 'err' || k === 'error') && v !== null && typeof v === 'object') {
      const e = v as { message?: unknown; stack?: unknown };
      out += ` ${k}=${fieldValue(e.message ?? v)}`;
      if (process.env.NVMETD_DEBUG && typeof e.stack === 'string') stack = `\n    ${e.stack.split('\n').join('\n    ')}`;
      continue;
    }
    out += ` ${k}=${fieldValue(v)}`;
  }
  return `${out}${stack}\n`;
}

/** A field value: bare when it is a simple word or number, JSON otherwise (quoted, escaped). */
function fieldValue(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (typeof v === 'string' && /^[\w./:@[\]-]+$/.test(v)) return v;
  return JSON.stringify(v) ?? String(v);
}
