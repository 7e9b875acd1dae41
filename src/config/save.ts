// Writing a config file atomically: the text goes to a temporary file next to the target, is
// fsynced, then renamed over the target (and the directory fsynced), so that a crash leaves either
// the old file or the new one, never half of one. The file is created mode 0600: it may hold
// DH-HMAC-CHAP and TLS secrets. Before anything is written the text is normalized like a file
// given to `serve`: a file that would not start is not written.
import fs from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { ConfigError } from './errors.js';
import type { ConfigFile } from './file-format.js';
import { normalizeConfig } from './normalize.js';
import type { TargetConfig } from './types.js';

export function configText(file: ConfigFile): string {
  return `${JSON.stringify(file, null, 2)}\n`;
}

/** Checks that `file` loads (as `serve --config` would load it from `path`); returns the normalized config. */
export function checkConfigFile(file: ConfigFile, path: string): TargetConfig {
  try {
    return normalizeConfig(JSON.parse(configText(file)), path, { baseDir: dirname(resolve(path)) });
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(`the running configuration would not load back: ${err.message}`, path, err.pointer);
    throw err;
  }
}

export async function writeConfigFileAtomic(path: string, file: ConfigFile): Promise<void> {
  checkConfigFile(file, path);
  const full = resolve(path);
  const dir = dirname(full);
  const tmp = join(dir, `.${basename(full)}.${process.pid}.${Date.now()}.tmp`);
  const fh = await fs.open(tmp, 'wx', 0o600);
  try {
    try {
      await fh.writeFile(configText(file), 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, full);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
  // The rename itself is durable once the directory is synced.
  const d = await fs.open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
