// A FakeSocket whose reads work as Node's do for a socket with a user buffer (what user-buffer.ts
// sets up): every read lands in the buffer the handle was given, the read callback gets the socket's
// current buffer, and after each read the buffer generator (when set) names where the next one
// lands. Each read is recorded with the memory it landed in, so a test can tell which buffer
// received which bytes.
import net from 'node:net';
import { FakeSocket } from './fake-socket.js';

const sym: Record<string, symbol> = {};
{
  const probe = new net.Socket({ onread: { buffer: () => Buffer.alloc(1), callback: () => true } } as unknown as net.SocketConstructorOpts);
  for (const s of Object.getOwnPropertySymbols(probe)) if (s.description) sym[s.description] = s;
  probe.destroy();
}

export interface SeenRead {
  /** The memory the read landed in (a view of it, as the reader got it). */
  buf: Uint8Array;
  n: number;
}

/** Whether `a[0, an)` and `b` share any byte of memory. */
export function overlaps(a: Uint8Array, an: number, b: Uint8Array): boolean {
  if (a.buffer !== b.buffer) return false;
  return a.byteOffset < b.byteOffset + b.length && b.byteOffset < a.byteOffset + an;
}

export class DirectSocket extends FakeSocket {
  /** Where the next read lands (the native side's buffer). */
  next: Uint8Array | null = null;
  readonly reads: SeenRead[] = [];
  /** Times the handle was told to use another buffer. */
  handleSwitches = 0;
  readonly _handle = {
    useUserBuffer: (b: Uint8Array): void => {
      this.next = b;
      this.handleSwitches++;
    },
  };

  /** The peer sends `b`; the kernel has at most `max` bytes for each read. */
  override send(b: Buffer, max = Infinity): void {
    let at = 0;
    while (at < b.length && !this.destroyed) {
      if (this.paused) throw new Error('DirectSocket: the connection paused reading (not modelled here)');
      at += this.readOnce(b.subarray(at), max);
    }
  }

  /** One read of at most `max` bytes of `b`, whatever the socket's state (a read the kernel still delivers). */
  readOnce(b: Uint8Array, max = Infinity): number {
    const fields = this as unknown as Record<symbol, unknown>;
    const target = this.next;
    if (target === null) throw new Error('DirectSocket: no user buffer set');
    const n = Math.min(target.length, b.length, max);
    target.set(b.subarray(0, n));
    this.reads.push({ buf: target, n });
    (fields[sym.kBufferCb!] as (n: number, buf: unknown) => unknown)(n, fields[sym.kBuffer!]);
    const gen = fields[sym.kBufferGen!] as (() => unknown) | null | undefined;
    if (typeof gen === 'function') {
      const nb = gen();
      if (nb instanceof Uint8Array) {
        fields[sym.kBuffer!] = nb;
        this.next = nb;
      }
    }
    return n;
  }

  /** Bytes of all reads that landed in `buf`, and how many reads did. */
  landedIn(buf: Uint8Array): { bytes: number; reads: number } {
    let bytes = 0;
    let reads = 0;
    for (const r of this.reads) {
      if (!overlaps(r.buf, r.n, buf)) continue;
      bytes += r.n;
      reads++;
    }
    return { bytes, reads };
  }
}
