// ConfigError: a configuration problem, reported as one line that names the source (a file name or
// "command line"), the JSON pointer of the field and the reason, e.g.
//   config.json: /subsystems/0/namespaces/1/blockSize: must be 512 or 4096

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    message: string,
    /** The file name or "command line". */
    readonly source: string,
    /** JSON pointer of the offending field ('' for the whole document). */
    readonly pointer: string = '',
  ) {
    super(message);
  }

  static at(source: string, pointer: string, reason: string): ConfigError {
    return new ConfigError(`${source}: ${pointer === '' ? '/' : pointer}: ${reason}`, source, pointer);
  }
}

/** Appends one reference token to a JSON pointer (RFC 6901 escaping). */
export function ptr(base: string, token: string | number): string {
  return `${base}/${String(token).replace(/~/g, '~0').replace(/\//g, '~1')}`;
}
