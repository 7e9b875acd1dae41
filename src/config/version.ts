// The package version (the default firmware revision and `nvmetd --version`).
import { readFileSync } from 'node:fs';

let cached: string | undefined;

export function packageVersion(): string {
  if (cached === undefined) {
    // Compiled to dist/src/config/version.js: the package root is three levels up.
    const url = new URL('../../../package.json', import.meta.url);
    try {
      cached = String((JSON.parse(readFileSync(url, 'utf8')) as { version?: unknown }).version ?? '0.0.0');
    } catch {
      cached = '0.0.0';
    }
  }
  return cached;
}

/** The firmware revision field holds 8 ASCII characters. */
export function defaultFirmware(): string {
  return packageVersion().slice(0, 8);
}
