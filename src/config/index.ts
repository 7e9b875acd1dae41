// The configuration layer: file format, schema, normalization, nvmetcli import.
export { ConfigError } from './errors.js';
export { loadConfigFile, readJsonFile, parseJsonText } from './load.js';
export { normalizeConfig, DEFAULTS, type NormalizeOptions } from './normalize.js';
export { configSchema, schemaText } from './schema.js';
export { importNvmetcli, importNvmetcliFile, type NvmetcliImport } from './nvmetcli.js';
export { parseSize, formatSize } from './units.js';
export { nqnProblem, DISCOVERY_NQN } from './nqn.js';
export type { ConfigFile } from './file-format.js';
export type * from './types.js';
