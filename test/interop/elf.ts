// Minimal ELF64 little-endian reader for the interop setup: the dynamic loader (PT_INTERP), the
// shared libraries a binary needs (DT_NEEDED, DT_RUNPATH/DT_RPATH) and a kernel module's .modinfo
// strings. Only what the initramfs builder needs; no dependency on binutils or kmod.
import { readFileSync } from 'node:fs';

export interface ElfDynamicInfo {
  interp?: string;
  needed: string[];
  runpath: string[];
}

function cstr(buf: Buffer, off: number): string {
  let end = off;
  while (end < buf.length && buf[end] !== 0) end++;
  return buf.toString('latin1', off, end);
}

function checkElf64(buf: Buffer, what: string): void {
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${what}: not an ELF file`);
  if (buf[4] !== 2 || buf[5] !== 1) throw new Error(`${what}: not ELF64 little-endian`);
}

export function isElf(path: string): boolean {
  try {
    const b = readFileSync(path);
    return b.length > 4 && b.readUInt32BE(0) === 0x7f454c46;
  } catch {
    return false;
  }
}

interface Section {
  name: string;
  type: number;
  offset: number;
  size: number;
  addr: number;
  link: number;
}

function sections(buf: Buffer): Section[] {
  const shoff = Number(buf.readBigUInt64LE(0x28));
  const shentsize = buf.readUInt16LE(0x3a);
  const shnum = buf.readUInt16LE(0x3c);
  const shstrndx = buf.readUInt16LE(0x3e);
  if (shoff === 0 || shnum === 0) return [];
  const out: Section[] = [];
  const hdr = (i: number) => {
    const o = shoff + i * shentsize;
    return {
      nameOff: buf.readUInt32LE(o),
      type: buf.readUInt32LE(o + 4),
      addr: Number(buf.readBigUInt64LE(o + 0x10)),
      offset: Number(buf.readBigUInt64LE(o + 0x18)),
      size: Number(buf.readBigUInt64LE(o + 0x20)),
      link: buf.readUInt32LE(o + 0x28),
    };
  };
  const strtab = hdr(shstrndx);
  for (let i = 0; i < shnum; i++) {
    const h = hdr(i);
    out.push({ name: cstr(buf, strtab.offset + h.nameOff), type: h.type, offset: h.offset, size: h.size, addr: h.addr, link: h.link });
  }
  return out;
}

/** PT_INTERP, DT_NEEDED and DT_RUNPATH/DT_RPATH of an executable or shared library. */
export function readDynamic(path: string): ElfDynamicInfo {
  const buf = readFileSync(path);
  checkElf64(buf, path);
  const info: ElfDynamicInfo = { needed: [], runpath: [] };
  const phoff = Number(buf.readBigUInt64LE(0x20));
  const phentsize = buf.readUInt16LE(0x36);
  const phnum = buf.readUInt16LE(0x38);
  let dynOff = -1;
  let dynSize = 0;
  const loads: { vaddr: number; offset: number; filesz: number }[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    const type = buf.readUInt32LE(o);
    const offset = Number(buf.readBigUInt64LE(o + 8));
    const vaddr = Number(buf.readBigUInt64LE(o + 0x10));
    const filesz = Number(buf.readBigUInt64LE(o + 0x20));
    if (type === 3) info.interp = cstr(buf, offset); // PT_INTERP
    if (type === 2) { dynOff = offset; dynSize = filesz; } // PT_DYNAMIC
    if (type === 1) loads.push({ vaddr, offset, filesz }); // PT_LOAD
  }
  if (dynOff < 0) return info; // static binary
  const vaddrToOff = (va: number): number => {
    for (const l of loads) if (va >= l.vaddr && va < l.vaddr + l.filesz) return va - l.vaddr + l.offset;
    throw new Error(`${path}: address 0x${va.toString(16)} not in a PT_LOAD segment`);
  };
  const entries: [number, number][] = [];
  for (let o = dynOff; o + 16 <= dynOff + dynSize; o += 16) {
    const tag = Number(buf.readBigInt64LE(o));
    const val = Number(buf.readBigUInt64LE(o + 8));
    if (tag === 0) break;
    entries.push([tag, val]);
  }
  const strtabVa = entries.find(([t]) => t === 5)?.[1]; // DT_STRTAB
  if (strtabVa === undefined) return info;
  const strOff = vaddrToOff(strtabVa);
  for (const [tag, val] of entries) {
    if (tag === 1) info.needed.push(cstr(buf, strOff + val)); // DT_NEEDED
    if (tag === 29 || tag === 15) info.runpath.push(...cstr(buf, strOff + val).split(':').filter(Boolean)); // RUNPATH, RPATH
  }
  return info;
}

/** The key=value strings of a kernel module's .modinfo section (uncompressed .ko). */
export function readModinfo(buf: Buffer, what: string): Map<string, string[]> {
  checkElf64(buf, what);
  const sec = sections(buf).find((s) => s.name === '.modinfo');
  const out = new Map<string, string[]>();
  if (!sec) return out;
  const data = buf.subarray(sec.offset, sec.offset + sec.size);
  for (const s of data.toString('latin1').split('\0')) {
    const eq = s.indexOf('=');
    if (eq <= 0) continue;
    const k = s.slice(0, eq);
    const list = out.get(k) ?? [];
    list.push(s.slice(eq + 1));
    out.set(k, list);
  }
  return out;
}
