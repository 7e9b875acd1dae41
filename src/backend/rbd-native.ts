// Typed view of the RBD half of the native addon (native/rbd.cc). librbd itself is loaded by the addon
// with dlopen on the first rbd namespace, so a machine without Ceph builds and runs everything else.

/** One thread's handle on a shared image: operations are tagged with a slot index (< capacity). */
export interface NativeRbdChannel {
  read(tag: number, dst: Uint8Array, offset: number): void;
  write(tag: number, src: Uint8Array, offset: number): void;
  flush(tag: number): void;
  discard(tag: number, offset: number, length: number): void;
  writeZeroes(tag: number, offset: number, length: number): void;
  /** The image size in bytes (librbd's cached header), or -errno. */
  size(): number;
  inflight(): number;
  /** Detaches from the image; throws EBUSY while operations are in flight. */
  close(): void;
}

export interface RbdChannelOptions {
  /** The key an rbdOpen resolved with. */
  key: string;
  /** [head, tail, mask, _, (tag, res) * capacity]; capacity a power of two. */
  completions: Int32Array;
  /** Once per batch of completions, on this thread's event loop. */
  onComplete: () => void;
  /** The image header changed (resized by `rbd resize`, another gateway, ...). */
  onUpdate?: () => void;
}

export interface RbdOpenOptions {
  /** Identifies the shared image: every thread that opens the same key shares one RADOS client. */
  key: string;
  conf?: string;
  user: string;
  pool: string;
  image: string;
  options?: Record<string, string>;
}

export interface RbdNative {
  RbdChannel: new (o: RbdChannelOptions) => NativeRbdChannel;
  /** Connects (once per key and process) and opens the image; rejects with librados/librbd's reason. */
  rbdOpen(o: RbdOpenOptions): Promise<string>;
  /** Drops one reference taken by rbdOpen; the last closes the image and the client. */
  rbdRelease(key: string): Promise<string>;
  /** '' when librbd loads on this machine, else what to install. */
  rbdAvailable(): string;
  /** Resizes the image; every client (and this one's channels) sees it through the header watch. */
  rbdResize(key: string, bytes: number): Promise<string>;
  /** JSON: { exclusiveLock, owner, owners, client }. */
  rbdLockState(key: string): Promise<string>;
  /** Breaks (and so blocklists) other owners of the exclusive lock, then holds it; the broken owners. */
  rbdTakeLock(key: string): Promise<string>;
  /** Gives a held exclusive lock back. */
  rbdReleaseLock(key: string): Promise<string>;
}

let loaded: RbdNative | null | undefined;
let loadError = '';

/** The addon's RBD functions with librbd loadable, or null (with rbdLoadError() saying why). */
export async function loadRbdNative(): Promise<RbdNative | null> {
  if (loaded !== undefined) return loaded;
  try {
    const mod = (await import('../native/addon.js')) as { native: unknown };
    const n = mod.native as Partial<RbdNative>;
    if (typeof n.RbdChannel !== 'function' || typeof n.rbdAvailable !== 'function') {
      loadError = 'the native addon was built without RBD support (rebuild it with `npx node-gyp rebuild`)';
      loaded = null;
    } else {
      loadError = n.rbdAvailable();
      loaded = loadError === '' ? (n as RbdNative) : null;
    }
  } catch (err) {
    loadError = `the native addon did not load: ${(err as Error).message}`;
    loaded = null;
  }
  return loaded;
}

export function rbdLoadError(): string {
  return loadError;
}
