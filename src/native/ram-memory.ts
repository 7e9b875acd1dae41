// RAM namespace memory through the addon (native/ram_memory.cc): transparent huge pages for its
// segments, and large copies into it with streaming stores (they do not read the destination first).
//   NVMETD_RAM_HUGEPAGES=0   no madvise(MADV_HUGEPAGE): namespace memory in 4 KiB pages
//   NVMETD_RAM_STREAMING=0   every copy into namespace memory is a plain one
// A missing addon, or one built without these functions, means plain copies and no huge pages.
import { optionalAddon } from './addon-optional.js';

interface RamNative {
  ramCopy(dst: Uint8Array, dstOffset: number, src: Uint8Array, srcOffset: number, length: number, streaming: boolean): void;
  ramAdviseHuge(view: Uint8Array, huge?: boolean): number;
  ramStreamingStores(): boolean;
}

/**
 * Copies of at least this many bytes use streaming stores: a destination not in the cache (most of a
 * namespace larger than the last-level cache) is written without being read first. Measured in the
 * target (docs/perf.md, "(d) RAM namespace memory"): 8 KiB and larger writes cost less CPU with them,
 * 4 KiB ones more (the call into the addon, and a destination that may still be in the cache).
 */
export const STREAMING_MIN = 8192;

const n = optionalAddon<RamNative>(['ramCopy', 'ramAdviseHuge', 'ramStreamingStores']);

/** What the switches and the addon allow now (read once; tests may change them through setRamMemoryOptions). */
const options = {
  hugePages: n !== null && process.env.NVMETD_RAM_HUGEPAGES !== '0',
  streaming: n !== null && n.ramStreamingStores() && process.env.NVMETD_RAM_STREAMING !== '0',
};

/** The first refusal of madvise (-errno), 0 while none; kept so that it can be reported once. */
let adviseRefused = 0;
/** Bytes advised in this thread since start: for huge pages, and against them. */
let advised = 0;
let advisedAgainst = 0;

export interface RamMemoryOptions {
  hugePages: boolean;
  streaming: boolean;
}

export function ramMemoryOptions(): RamMemoryOptions {
  return { ...options };
}

/** Overrides the environment's switches (tests); a switch the addon cannot honour stays off. */
export function setRamMemoryOptions(o: Partial<RamMemoryOptions>): void {
  if (o.hugePages !== undefined) options.hugePages = o.hugePages && n !== null;
  if (o.streaming !== undefined) options.streaming = o.streaming && n !== null && n.ramStreamingStores();
}

/**
 * Asks for transparent huge pages over the 2 MiB-aligned interior of `view`'s memory (THP in
 * "madvise" or "always" mode; nothing where it is "never"). With huge false, asks for none
 * (MADV_NOHUGEPAGE, whatever the switch: memory that must grow 4 KiB at a time, even in "always"
 * mode). Returns the bytes advised, 0 when the switch is off, nothing whole fits, or the kernel
 * refused (the first refusal: adviseRefusal()).
 */
export function adviseHugePages(view: Uint8Array, huge = true): number {
  if ((huge && !options.hugePages) || n === null) return 0;
  const r = n.ramAdviseHuge(view, huge);
  if (r < 0) {
    if (adviseRefused === 0) adviseRefused = r;
    return 0;
  }
  if (huge) advised += r;
  else advisedAgainst += r;
  return r;
}

/** Bytes adviseHugePages advised in this thread so far (a kernel without THP: always 0). */
export function hugePageBytesAdvised(): number {
  return advised;
}

/** Bytes adviseHugePages(view, false) advised against huge pages in this thread so far. */
export function noHugePageBytesAdvised(): number {
  return advisedAgainst;
}

/** The first -errno madvise(MADV_HUGEPAGE) returned in this thread, 0 while none. */
export function adviseRefusal(): number {
  return adviseRefused;
}

/**
 * TypedArray.prototype.set on a constant: optimized code calls it directly, where `dst.set` was a
 * generic property load through the inline cache on every copy (seen in the target's optimized code).
 */
const typedArraySet = Uint8Array.prototype.set;

/** Copies src[srcOffset, +length) into dst at dstOffset: streaming stores for large copies, a plain copy otherwise. */
export function copyIntoRam(dst: Uint8Array, dstOffset: number, src: Uint8Array, srcOffset: number, length: number): void {
  if (length >= STREAMING_MIN && options.streaming) {
    n!.ramCopy(dst, dstOffset, src, srcOffset, length, true);
  } else if (srcOffset === 0 && length === src.length) {
    typedArraySet.call(dst, src, dstOffset);
  } else {
    typedArraySet.call(dst, src.subarray(srcOffset, srcOffset + length), dstOffset);
  }
}
