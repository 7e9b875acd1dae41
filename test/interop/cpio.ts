// Writer for the "newc" cpio format the kernel unpacks as an initramfs. Written here so that the
// archive can hold root-owned files and device nodes without privileges or the cpio tool.
import { closeSync, openSync, writeSync } from 'node:fs';

export type CpioEntry =
  | { kind: 'dir'; path: string; mode?: number }
  | { kind: 'file'; path: string; data: Buffer; mode?: number }
  | { kind: 'symlink'; path: string; target: string }
  | { kind: 'chardev'; path: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

export class CpioWriter {
  private fd: number;
  private ino = 1;
  private written = 0;

  constructor(path: string) {
    this.fd = openSync(path, 'w');
  }

  private put(buf: Buffer): void {
    writeSync(this.fd, buf);
    this.written += buf.length;
  }

  private record(name: string, mode: number, data: Buffer, rdevMajor = 0, rdevMinor = 0): void {
    const nameBuf = Buffer.from(name + '\0', 'utf8');
    const header =
      '070701' +
      hex8(this.ino++) +
      hex8(mode) +
      hex8(0) + // uid
      hex8(0) + // gid
      hex8(1) + // nlink
      hex8(0) + // mtime (fixed: reproducible archives)
      hex8(data.length) +
      hex8(0) + // dev major
      hex8(0) + // dev minor
      hex8(rdevMajor) +
      hex8(rdevMinor) +
      hex8(nameBuf.length) +
      hex8(0); // check
    this.put(Buffer.from(header, 'latin1'));
    this.put(nameBuf);
    this.put(Buffer.alloc(pad4(110 + nameBuf.length)));
    if (data.length) {
      this.put(data);
      this.put(Buffer.alloc(pad4(data.length)));
    }
  }

  add(e: CpioEntry): void {
    const name = e.path.replace(/^\/+/, '');
    switch (e.kind) {
      case 'dir':
        this.record(name, S_IFDIR | (e.mode ?? 0o755), Buffer.alloc(0));
        break;
      case 'file':
        this.record(name, S_IFREG | (e.mode ?? 0o644), e.data);
        break;
      case 'symlink':
        this.record(name, S_IFLNK | 0o777, Buffer.from(e.target, 'utf8'));
        break;
      case 'chardev':
        this.record(name, S_IFCHR | (e.mode ?? 0o600), Buffer.alloc(0), e.major, e.minor);
        break;
    }
  }

  /** Writes the trailer, pads to a 512-byte boundary and closes the file. */
  close(): void {
    this.record('TRAILER!!!', 0, Buffer.alloc(0));
    const rest = (512 - (this.written % 512)) % 512;
    if (rest) this.put(Buffer.alloc(rest));
    closeSync(this.fd);
  }
}

/** Adds every parent directory of the entries (once, parents first), then the entries. */
export function withParents(entries: CpioEntry[]): CpioEntry[] {
  const dirs = new Set<string>();
  const out: CpioEntry[] = [];
  for (const e of entries) {
    const parts = e.path.replace(/^\/+/, '').split('/');
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!dirs.has(d)) {
        dirs.add(d);
        out.push({ kind: 'dir', path: d });
      }
    }
  }
  return [...out, ...entries];
}
