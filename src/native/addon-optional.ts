// The addon for code that must load without it: the same module object src/native/addon.ts loads
// (require caches it), or null when it does not load or lacks one of the functions asked for. Importing
// this never throws, so modules with a plain fallback (pool slabs, RAM namespace memory) stay usable
// on a machine where the addon is missing or older.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export function optionalAddon<T extends object>(functions: readonly (keyof T & string)[]): T | null {
  let n: Record<string, unknown>;
  try {
    // dist/src/native -> project root, as in addon.ts.
    const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
    n = createRequire(import.meta.url)(path.join(root, 'build', 'Release', 'nvmetd_native.node')) as Record<string, unknown>;
  } catch {
    return null;
  }
  return functions.every((f) => typeof n[f] === 'function') ? (n as T) : null;
}
