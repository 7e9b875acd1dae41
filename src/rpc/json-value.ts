// Turns one complete JSON value (already checked by JsonScanner) into JS values, keeping what the
// plain JSON.parse loses and the JSON-RPC server needs: which objects repeat a member name (a
// request or params object with a repeated name is refused, as the reference server does), and the
// exact text of an "id" member that is a number (echoed byte for byte, so 1.50 or 12345678901234567890
// come back as they were sent).

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export interface ParsedJson {
  value: Json;
  /** Objects in which a member name appears more than once. */
  duplicates: WeakSet<object>;
  /** For objects with a numeric "id" member: its source text. */
  rawIds: WeakMap<object, string>;
}

export function parseJson(text: string): ParsedJson {
  const duplicates = new WeakSet<object>();
  const rawIds = new WeakMap<object, string>();
  let i = 0;
  const ws = (): void => {
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
      i++;
    }
  };
  const string = (): string => {
    const start = i;
    i++; // opening quote
    while (text.charCodeAt(i) !== 0x22) i += text.charCodeAt(i) === 0x5c ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (): { v: Json; raw?: string } => {
    ws();
    const c = text.charCodeAt(i);
    if (c === 0x7b) {
      i++;
      const o: { [k: string]: Json } = {};
      const seen = new Set<string>();
      ws();
      if (text.charCodeAt(i) === 0x7d) {
        i++;
        return { v: o };
      }
      for (;;) {
        ws();
        const k = string();
        ws();
        i++; // ':'
        const m = value();
        if (seen.has(k)) duplicates.add(o);
        seen.add(k);
        Object.defineProperty(o, k, { value: m.v, enumerable: true, writable: true, configurable: true });
        if (k === 'id' && m.raw !== undefined) rawIds.set(o, m.raw);
        ws();
        if (text.charCodeAt(i++) === 0x7d) return { v: o };
      }
    }
    if (c === 0x5b) {
      i++;
      const a: Json[] = [];
      ws();
      if (text.charCodeAt(i) === 0x5d) {
        i++;
        return { v: a };
      }
      for (;;) {
        a.push(value().v);
        ws();
        if (text.charCodeAt(i++) === 0x5d) return { v: a };
      }
    }
    if (c === 0x22) return { v: string() };
    if (text.startsWith('true', i)) {
      i += 4;
      return { v: true };
    }
    if (text.startsWith('false', i)) {
      i += 5;
      return { v: false };
    }
    if (text.startsWith('null', i)) {
      i += 4;
      return { v: null };
    }
    const start = i;
    while (i < text.length && /[-+.eE0-9]/.test(text[i]!)) i++;
    const raw = text.slice(start, i);
    return { v: Number(raw), raw };
  };
  return { value: value().v, duplicates, rawIds };
}
