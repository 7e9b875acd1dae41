// Moving bytes in and out of the addon's TLS engine by hand, for the engine's tests.
import type { NativeTlsEngine } from '../../src/native/tls-engine.js';

/** What `e` has for its peer now, or null. */
export function take(e: NativeTlsEngine): Buffer | null {
  const parts: Buffer[] = [];
  for (;;) {
    const buf = Buffer.alloc(65536);
    const n = e.takeInto(buf);
    if (n === 0) break;
    parts.push(buf.subarray(0, n));
  }
  return parts.length === 0 ? null : Buffer.concat(parts);
}

/** The plaintext `e` can give now, or null. */
export function read(e: NativeTlsEngine): Buffer | null {
  const parts: Buffer[] = [];
  for (let cap = e.readable(); cap > 0; cap = e.readable()) {
    const buf = Buffer.alloc(cap);
    const n = e.readInto(buf);
    if (n === 0) break;
    parts.push(buf.subarray(0, n));
  }
  return parts.length === 0 ? null : Buffer.concat(parts);
}
