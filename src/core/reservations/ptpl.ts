// Persist Through Power Loss: a namespace's reservation state in a JSON file (namespaces[].ptplFile),
// written atomically on every change while PTPL is on (temp file, fsync, rename, fsync of the
// directory) and read back, checked like any config input, when the target starts.
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { MAX_REGISTRANTS, type SavedState } from './state.js';

const VERSION = 1;
const HOST_RE = /^[0-9a-f]{32}$/;
const KEY_RE = /^0x[0-9a-f]{1,16}$/;

/** A PTPL file that cannot be used: the message names the file and what is wrong. */
export class PtplFileError extends Error {}

interface FileShape {
  version: number;
  ptpl: boolean;
  generation: number;
  rtype: number;
  holder: string | null;
  registrants: { hostid: string; key: string }[];
}

export function encodeState(s: SavedState): string {
  const f: FileShape = {
    version: VERSION,
    ptpl: s.ptpl,
    generation: s.generation,
    rtype: s.rtype,
    holder: s.holder,
    registrants: s.registrants.map((r) => ({ hostid: r.host, key: `0x${r.key.toString(16)}` })),
  };
  return `${JSON.stringify(f, null, 2)}\n`;
}

/** Parses and checks a file's text; throws PtplFileError with the first problem and where. */
export function decodeState(text: string, file: string): SavedState {
  const bad = (at: string, what: string): never => {
    throw new PtplFileError(`ptplFile ${file}: ${at ? `${at}: ` : ''}${what}`);
  };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return bad('', `not JSON (${(err as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad('', 'must be a JSON object');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!['version', 'ptpl', 'generation', 'rtype', 'holder', 'registrants'].includes(k)) bad(`/${k}`, 'unknown field');
  if (o.version !== VERSION) bad('/version', `must be ${VERSION}`);
  if (typeof o.ptpl !== 'boolean') bad('/ptpl', 'must be true or false');
  const generation = o.generation;
  if (typeof generation !== 'number' || !Number.isInteger(generation) || generation < 0 || generation > 0xffffffff) bad('/generation', 'must be an integer from 0 to 4294967295');
  const rtype = o.rtype;
  if (typeof rtype !== 'number' || !Number.isInteger(rtype) || rtype < 0 || rtype > 6) bad('/rtype', 'must be a reservation type from 0 (none) to 6');
  if (!Array.isArray(o.registrants)) return bad('/registrants', 'must be an array');
  if (o.registrants.length > MAX_REGISTRANTS) bad('/registrants', `more than ${MAX_REGISTRANTS} registrants`);
  const seen = new Set<string>();
  const registrants = o.registrants.map((r: unknown, i: number) => {
    const at = `/registrants/${i}`;
    if (typeof r !== 'object' || r === null || Array.isArray(r)) return bad(at, 'must be an object { hostid, key }');
    const e = r as Record<string, unknown>;
    for (const k of Object.keys(e)) if (k !== 'hostid' && k !== 'key') bad(`${at}/${k}`, 'unknown field');
    if (typeof e.hostid !== 'string' || !HOST_RE.test(e.hostid)) bad(`${at}/hostid`, 'must be 32 lower-case hex digits (a 128-bit Host Identifier)');
    if (typeof e.key !== 'string' || !KEY_RE.test(e.key)) bad(`${at}/key`, 'must be a 64-bit key written 0x followed by 1 to 16 lower-case hex digits');
    const host = e.hostid as string;
    if (seen.has(host)) bad(`${at}/hostid`, 'registered twice');
    seen.add(host);
    return { host, key: BigInt(e.key as string) };
  });
  const holder = o.holder;
  const single = (rtype as number) >= 1 && (rtype as number) <= 4;
  if (single) {
    if (typeof holder !== 'string' || !seen.has(holder)) bad('/holder', 'must be the hostid of a registrant (the reservation holder)');
  } else if (holder !== null) {
    bad('/holder', rtype === 0 ? 'must be null without a reservation' : 'must be null for an all-registrants reservation');
  }
  if ((rtype as number) >= 5 && registrants.length === 0) bad('/rtype', 'an all-registrants reservation needs registrants');
  return { ptpl: o.ptpl as boolean, generation: generation as number, rtype: rtype as number, holder: single ? (holder as string) : null, registrants };
}

/** Reads a PTPL file; null when it does not exist (nothing was persisted yet). */
export async function loadState(file: string): Promise<SavedState | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new PtplFileError(`ptplFile ${file}: cannot be read (${(err as Error).message})`);
  }
  return decodeState(text, file);
}

/** Replaces the file's content atomically and durably. */
export async function writeAtomic(file: string, text: string): Promise<void> {
  const dir = dirname(file);
  const tmp = join(dir, `.${basename(file)}.tmp`);
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(text, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/**
 * Writes a namespace's state in order: each save() resolves once a write that started after it was
 * asked for has reached the disk (so a command completes only once its change is durable).
 */
export class PtplWriter {
  readonly file: string;
  #chain: Promise<void> = Promise.resolve();

  constructor(file: string) {
    this.file = file;
  }

  save(state: () => SavedState): Promise<void> {
    const next = this.#chain.then(() => writeAtomic(this.file, encodeState(state())));
    this.#chain = next.catch(() => undefined);
    return next;
  }
}
