// Sizes in the config file and on the command line: a number of bytes, or a string such as
// "512MiB", "1G", "4k", "1.5GiB", "100MB".
//   K, M, G, T, P alone or with "iB" (KiB, MiB, ...) are binary (1024^n);
//   kB, MB, GB, TB, PB (SI prefix followed by "B") are decimal (1000^n), as coreutils reads them.

export const SIZE_PATTERN = '^\\s*[0-9]+(\\.[0-9]+)?\\s*([kKmMgGtTpP](i?[bB])?|[bB])?\\s*$';
const SIZE_RE = new RegExp(SIZE_PATTERN);
const POWERS: Record<string, number> = { '': 0, k: 1, m: 2, g: 3, t: 4, p: 5 };

/** Bytes for a size, or a string telling why it is not one. */
export function parseSize(input: number | string): number | string {
  if (typeof input === 'number') {
    if (!Number.isSafeInteger(input) || input < 0) return 'must be a whole number of bytes';
    return input;
  }
  if (!SIZE_RE.test(input)) return `"${input}" is not a size (examples: 4096, "512MiB", "1G", "100MB")`;
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$/.exec(input)!;
  const value = Number(m[1]);
  const unit = m[2]!;
  let bytes: number;
  if (unit === '' || unit.toLowerCase() === 'b') {
    bytes = value;
  } else {
    const power = POWERS[unit[0]!.toLowerCase()]!;
    const decimal = unit.length === 2 && (unit[1] === 'B' || unit[1] === 'b');
    bytes = value * (decimal ? 1000 : 1024) ** power;
  }
  if (!Number.isSafeInteger(bytes)) {
    return Number.isInteger(bytes) ? `"${input}" is too large` : `"${input}" is not a whole number of bytes`;
  }
  return bytes;
}

/** The shortest exact binary form: 1073741824 -> "1GiB", 1536 -> "1536" ... for messages and output. */
export function formatSize(bytes: number): string {
  const units = ['', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  let v = bytes;
  while (i < units.length - 1 && v >= 1024 && v % 1024 === 0) {
    v /= 1024;
    i++;
  }
  return i === 0 ? String(bytes) : `${v}${units[i]}`;
}
