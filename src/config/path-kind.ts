// What a backing path is on this machine (regular file, block device, something else), for choosing
// a zero-config namespace's type and for saying what was found when it does not fit the configured one.
import fs from 'node:fs';

export type PathKind = 'file' | 'block' | 'missing' | 'other';

/** The kind of `path` (symbolic links followed) and its description: "a character device", ... */
export function pathKind(path: string): { kind: PathKind; what: string } {
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'missing', what: 'missing' };
    return { kind: 'other', what: `not readable (${code ?? (err as Error).message})` };
  }
  if (st.isFile()) return { kind: 'file', what: 'a regular file' };
  if (st.isBlockDevice()) return { kind: 'block', what: 'a block device' };
  if (st.isCharacterDevice()) return { kind: 'other', what: 'a character device' };
  if (st.isDirectory()) return { kind: 'other', what: 'a directory' };
  if (st.isFIFO()) return { kind: 'other', what: 'a FIFO' };
  if (st.isSocket()) return { kind: 'other', what: 'a socket' };
  return { kind: 'other', what: 'not a regular file or a block device' };
}

/** Why `path` cannot back a namespace of type `type`, or null when it can (or is missing: opening says why). */
export function backingKindProblem(path: string, type: 'file' | 'block'): string | null {
  const { kind, what } = pathKind(path);
  if (kind === type || kind === 'missing') return null;
  if (type === 'block') return `${path} is ${what}, but its backing is configured as type "block" (a block device)`;
  if (kind === 'block') return `${path} is a block device, but its backing is configured as type "file" (use type "block")`;
  return `${path} is ${what}; a file namespace needs a regular file or a block device`;
}
