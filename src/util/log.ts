// Logging: pino, one JSON line per event on stdout (pretty output is left to pino-pretty if wanted).
import { pino } from 'pino';

export type Logger = pino.Logger;

export function createLogger(level: string = process.env.NVMETD_LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { name: 'nvmetd' } });
}
