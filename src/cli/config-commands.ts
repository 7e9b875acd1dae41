// `nvmetd config import-nvmetcli FILE | validate FILE | schema`.
import { loadConfigFile } from '../config/load.js';
import { hideSecrets } from '../config/dhchap.js';
import { importNvmetcliFile } from '../config/nvmetcli.js';
import { normalizeConfig } from '../config/normalize.js';
import { schemaText } from '../config/schema.js';
import { ConfigError } from '../config/errors.js';
import { EXIT_FAILURE } from '../util/exit.js';

/** Prints our config for an nvmetcli saved config; warnings go to stderr. Exit 1 when the result is not valid. */
export async function importNvmetcliCommand(file: string): Promise<void> {
  const { config, warnings } = await importNvmetcliFile(file);
  process.stdout.write(`${JSON.stringify(config, null, 2)}\n`);
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  try {
    normalizeConfig(config, `${file} (imported)`);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`nvmetd: the imported config does not validate, edit it before use: ${err.message}\n`);
    process.exitCode = EXIT_FAILURE;
  }
}

export async function validateCommand(file: string, o: { normalized?: boolean }): Promise<void> {
  const warnings: string[] = [];
  const config = await loadConfigFile(file, warnings);
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  if (o.normalized) {
    // The secrets (some read from files) stay out of the output.
    process.stdout.write(`${JSON.stringify(config, hideSecrets, 2)}\n`);
    return;
  }
  const namespaces = config.subsystems.reduce((n, s) => n + s.namespaces.length, 0);
  process.stdout.write(
    `${file}: ok (${config.subsystems.length} subsystem(s), ${namespaces} namespace(s), ${config.ports.length} port(s))\n`,
  );
}

export function schemaCommand(): void {
  process.stdout.write(schemaText());
}
