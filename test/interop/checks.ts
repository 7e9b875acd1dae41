// Host-side checks of what nvme-cli printed in the guest: Identify data against the configuration,
// and (nvmetd mode) field by field against the kernel target's reference data, except for the fields
// listed in expected-differences.md.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface NamespaceSpec {
  nsid: number;
  kind: 'ram' | 'file';
  blockSize: 512 | 4096;
  size: number;
  uuid: string;
  nguid: string;
  path?: string;
  /** Persist Through Power Loss file of the namespace's reservations (nvmetd mode). */
  ptplFile?: string;
}

export interface InteropConfig {
  mode: 'nvmetd' | 'reference';
  release: string;
  taddr: string;
  tport: number;
  hostPort: number;
  subnqn: string;
  serial: string;
  model: string;
  hosts: { nqn: string; id: string }[];
  namespaces: NamespaceSpec[];
}

export interface HostCheck {
  name: string;
  ok: boolean;
  skip?: boolean;
  detail: string;
  log?: string[];
}

type Json = Record<string, unknown>;

function readJson(dir: string, f: string): Json | undefined {
  const p = join(dir, f);
  if (!existsSync(p)) return undefined;
  const text = readFileSync(p, 'utf8');
  const start = text.indexOf('{');
  try {
    return JSON.parse(text.slice(start)) as Json;
  } catch {
    return undefined;
  }
}

/** "key : value" lines of nvme-cli's text output. */
function readText(dir: string, f: string): Map<string, string> {
  const out = new Map<string, string>();
  const p = join(dir, f);
  if (!existsSync(p)) return out;
  for (const l of readFileSync(p, 'utf8').split('\n')) {
    const m = l.match(/^(\w+)\s*:\s*(.*)$/);
    if (m) out.set(m[1].toLowerCase(), m[2].trim());
  }
  return out;
}

const num = (v: unknown): number => (typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN);
const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v)).trim();
const hexNorm = (s: string) => s.replace(/[-:\s]/g, '').toLowerCase();

function check(name: string, problems: string[], okDetail: string, log?: string[]): HostCheck {
  return problems.length === 0
    ? { name, ok: true, detail: okDetail }
    : { name, ok: false, detail: problems.join('; '), log };
}

/** Objects anywhere in v that have the given key. */
function objectsWith(v: unknown, key: string, acc: Json[] = []): Json[] {
  if (Array.isArray(v)) for (const x of v) objectsWith(x, key, acc);
  else if (v && typeof v === 'object') {
    if (key in (v as Json)) acc.push(v as Json);
    for (const x of Object.values(v as Json)) objectsWith(x, key, acc);
  }
  return acc;
}

export function checkIdentify(c: InteropConfig, art: string): HostCheck[] {
  const out: HostCheck[] = [];

  // nvme list
  {
    const j = readJson(art, 'nvme-list.json');
    const p: string[] = [];
    if (!j) p.push('nvme list -o json gave no JSON');
    else {
      const devs = objectsWith(j, 'NameSpace').concat(objectsWith(j, 'NSID'));
      for (const ns of c.namespaces) {
        const d = devs.find((x) => num(x.NameSpace ?? x.NSID) === ns.nsid && (!('SerialNumber' in x) || str(x.SerialNumber) === c.serial));
        if (!d) { p.push(`namespace ${ns.nsid} not listed`); continue; }
        if ('SerialNumber' in d && str(d.SerialNumber) !== c.serial) p.push(`ns ${ns.nsid} SerialNumber "${str(d.SerialNumber)}" != "${c.serial}"`);
        if ('ModelNumber' in d && str(d.ModelNumber) !== c.model) p.push(`ns ${ns.nsid} ModelNumber "${str(d.ModelNumber)}" != "${c.model}"`);
        if ('PhysicalSize' in d && num(d.PhysicalSize) !== ns.size) p.push(`ns ${ns.nsid} PhysicalSize ${str(d.PhysicalSize)} != ${ns.size}`);
        if ('SectorSize' in d && num(d.SectorSize) !== ns.blockSize) p.push(`ns ${ns.nsid} SectorSize ${str(d.SectorSize)} != ${ns.blockSize}`);
      }
    }
    out.push(check('nvme-list', p, `serial, model, size and sector size of ${c.namespaces.length} namespaces`, p.length ? [readFileSync(join(art, 'nvme-list.txt'), 'utf8')] : undefined));
  }

  // id-ctrl
  {
    const j = readJson(art, 'id-ctrl.json');
    const p: string[] = [];
    if (!j) p.push('nvme id-ctrl -o json gave no JSON');
    else {
      if (str(j.sn) !== c.serial) p.push(`sn "${str(j.sn)}" != "${c.serial}"`);
      if (str(j.mn) !== c.model) p.push(`mn "${str(j.mn)}" != "${c.model}"`);
      if (str(j.subnqn) !== c.subnqn) p.push(`subnqn "${str(j.subnqn)}" != "${c.subnqn}"`);
      if (!(num(j.cmic) & 2)) p.push(`cmic ${str(j.cmic)}: bit 1 (multiple controllers) clear, yet two hosts share the subsystem`);
      if (num(j.nn) < Math.max(...c.namespaces.map((n) => n.nsid))) p.push(`nn ${str(j.nn)} below the highest NSID`);
      if (num(j.sqes) !== 0x66) p.push(`sqes ${str(j.sqes)} != 0x66`);
      if (num(j.cqes) !== 0x44) p.push(`cqes ${str(j.cqes)} != 0x44`);
      if ('cntrltype' in j && num(j.cntrltype) !== 1) p.push(`cntrltype ${str(j.cntrltype)} != 1 (I/O controller)`);
      if (!(num(j.kas) > 0)) p.push(`kas ${str(j.kas)}: no keep-alive granularity`);
    }
    out.push(check('id-ctrl', p, `sn "${c.serial}", mn "${c.model}", subnqn, cmic, sqes/cqes`));
  }

  // id-ns
  {
    const p: string[] = [];
    for (const ns of c.namespaces) {
      const j = readJson(art, `id-ns-${ns.nsid}.json`);
      if (!j) { p.push(`ns ${ns.nsid}: nvme id-ns -o json gave no JSON`); continue; }
      const blocks = ns.size / ns.blockSize;
      if (num(j.nsze) !== blocks) p.push(`ns ${ns.nsid} nsze ${str(j.nsze)} != ${blocks}`);
      if (num(j.ncap) !== blocks) p.push(`ns ${ns.nsid} ncap ${str(j.ncap)} != ${blocks}`);
      const lbafs = (j.lbafs as Json[] | undefined) ?? [];
      const f = lbafs[num(j.flbas) & 0xf];
      const ds = Math.log2(ns.blockSize);
      if (!f || num(f.ds) !== ds) p.push(`ns ${ns.nsid} LBA format ${num(j.flbas) & 0xf} has ds ${f ? str(f.ds) : '?'} != ${ds}`);
      if (f && num(f.ms) !== 0) p.push(`ns ${ns.nsid} metadata size ${str(f.ms)} != 0`);
      if (!(num(j.nmic) & 1)) p.push(`ns ${ns.nsid} nmic ${str(j.nmic)}: not shared, yet two hosts use it`);
      if (hexNorm(str(j.nguid)) !== hexNorm(ns.nguid)) p.push(`ns ${ns.nsid} nguid ${str(j.nguid)} != ${ns.nguid}`);
    }
    out.push(check('id-ns', p, `size, LBA size, NGUID, sharing of ${c.namespaces.length} namespaces`));
  }

  // ns-descs (text: "uuid    : ...", "nguid   : ...")
  {
    const p: string[] = [];
    for (const ns of c.namespaces) {
      const t = readText(art, `ns-descs-${ns.nsid}.txt`);
      if (t.size === 0) { p.push(`ns ${ns.nsid}: no ns-descs output`); continue; }
      if (hexNorm(t.get('uuid') ?? '') !== hexNorm(ns.uuid)) p.push(`ns ${ns.nsid} uuid ${t.get('uuid') ?? '(none)'} != ${ns.uuid}`);
      if (hexNorm(t.get('nguid') ?? '') !== hexNorm(ns.nguid)) p.push(`ns ${ns.nsid} nguid ${t.get('nguid') ?? '(none)'} != ${ns.nguid}`);
    }
    out.push(check('ns-descs', p, 'UUID and NGUID descriptors match the configuration'));
  }
  return out;
}

/** Rows "| structure | field | reason |" of expected-differences.md. */
export function expectedDifferences(mdPath: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  if (!existsSync(mdPath)) return out;
  for (const l of readFileSync(mdPath, 'utf8').split('\n')) {
    const m = l.match(/^\|\s*`?([\w-]+)`?\s*\|\s*`?([\w.-]+)`?\s*\|/);
    if (!m || m[1] === 'structure' || /^-+$/.test(m[1])) continue;
    const set = out.get(m[1]) ?? new Set<string>();
    set.add(m[2]);
    out.set(m[1], set);
  }
  return out;
}

function diffObjects(ours: Json, ref: Json, ignore: Set<string>, prefix = ''): string[] {
  const diffs: string[] = [];
  const keys = new Set([...Object.keys(ref), ...Object.keys(ours)]);
  for (const k of keys) {
    if (ignore.has(k) || ignore.has(prefix + k)) continue;
    const a = JSON.stringify(ours[k]);
    const b = JSON.stringify(ref[k]);
    if (a !== b) diffs.push(`${prefix}${k}: nvmetd=${a ?? '(absent)'} kernel=${b ?? '(absent)'}`);
  }
  return diffs;
}

export function compareWithReference(art: string, refDir: string, mdPath: string, extraIgnore: string[] = []): HostCheck[] {
  const exp = expectedDifferences(mdPath);
  const ign = (s: string) => new Set([...(exp.get(s) ?? []), ...(s === 'discover' ? extraIgnore : [])]);
  const out: HostCheck[] = [];
  if (!existsSync(join(refDir, 'id-ctrl.json'))) {
    return [{ name: 'reference-compare', ok: true, skip: true, detail: `no reference data in ${refDir}: run the suite with --reference first` }];
  }
  const one = (name: string, structure: string, files: [string, string][]) => {
    const diffs: string[] = [];
    for (const [f, label] of files) {
      const a = readJson(art, f);
      const b = readJson(refDir, f);
      if (!a || !b) { diffs.push(`${f}: missing (${!a ? 'nvmetd' : 'reference'})`); continue; }
      for (const d of diffObjects(a, b, ign(structure))) diffs.push(label ? `${label} ${d}` : d);
    }
    out.push(diffs.length
      ? { name, ok: false, detail: `${diffs.length} field(s) differ from the kernel target and are not in expected-differences.md`, log: diffs }
      : { name, ok: true, detail: `all fields agree except the ${ign(structure).size} listed in expected-differences.md` });
  };
  one('reference-id-ctrl', 'id-ctrl', [['id-ctrl.json', '']]);
  one('reference-id-ns', 'id-ns', [['id-ns-1.json', 'ns1'], ['id-ns-2.json', 'ns2']]);

  // ns-descs: which descriptor types are present (values are per-configuration)
  {
    const diffs: string[] = [];
    for (const nsid of [1, 2]) {
      const a = readText(art, `ns-descs-${nsid}.txt`);
      const b = readText(refDir, `ns-descs-${nsid}.txt`);
      const ka = [...a.keys()].filter((k) => !ign('ns-descs').has(k)).sort().join(',');
      const kb = [...b.keys()].filter((k) => !ign('ns-descs').has(k)).sort().join(',');
      if (ka !== kb) diffs.push(`ns${nsid} descriptor types: nvmetd=[${ka}] kernel=[${kb}]`);
      for (const k of a.keys()) {
        if (!ign('ns-descs').has(k) && b.has(k) && a.get(k) !== b.get(k)) diffs.push(`ns${nsid} ${k}: nvmetd=${a.get(k)} kernel=${b.get(k)}`);
      }
    }
    out.push(diffs.length
      ? { name: 'reference-ns-descs', ok: false, detail: 'descriptors differ from the kernel target', log: diffs }
      : { name: 'reference-ns-descs', ok: true, detail: 'same descriptors as the kernel target' });
  }

  // discovery log: same records (by subtype), fields compared except the listed ones
  {
    const a = readJson(art, 'discover.json');
    const b = readJson(refDir, 'discover.json');
    const diffs: string[] = [];
    if (!a || !b) diffs.push(`discover.json missing (${!a ? 'nvmetd' : 'reference'})`);
    else {
      const ra = (a.records as Json[] | undefined) ?? [];
      const rb = (b.records as Json[] | undefined) ?? [];
      if (ra.length !== rb.length) diffs.push(`record count: nvmetd=${ra.length} kernel=${rb.length}`);
      for (const r of rb) {
        const mine = ra.find((x) => x.subtype === r.subtype);
        if (!mine) { diffs.push(`no "${str(r.subtype)}" record`); continue; }
        for (const d of diffObjects(mine, r, ign('discover'))) diffs.push(`${str(r.subtype)}: ${d}`);
      }
      for (const d of diffObjects(a, b, new Set(['records', ...ign('discover')]))) diffs.push(d);
    }
    out.push(diffs.length
      ? { name: 'reference-discover', ok: false, detail: `${diffs.length} discovery log difference(s) not in expected-differences.md`, log: diffs }
      : { name: 'reference-discover', ok: true, detail: 'discovery log records agree with the kernel target' });
  }
  return out;
}
