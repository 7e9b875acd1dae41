// Receive state machine for NVMe/TCP PDUs: turns a TCP byte stream, cut anywhere, into PDUs.
//
// Headers (at most 128 + 4 bytes) are gathered into one reused buffer; PDU data is copied once,
// straight from the socket's chunks into a destination the sink provides (the command's buffer),
// while the data digest is computed over each piece in place. A PDU split over many reads and many
// PDUs in one read are the same code path. Used by the target and by the initiator (role picks
// which PDU types may arrive).
//
// Direct receive: once a PDU's header has been accepted by the sink (so its destination is known and
// validated), the caller may ask directTarget() where its next socket read should land. When much of
// the PDU's data is still missing, the answer is a view of the destination covering exactly those
// bytes: the read puts them in place, push() is then handed that view and copies nothing (it still
// computes the data digest over them). The view never reaches past the PDU's data, so the next
// PDU's bytes never land in a command's buffer.
import { CH, DIGEST_LEN, FES, HLEN, PduFlags, PduType } from '../../spec/pdu.js';
import { crc32c, crc32cUpdate } from '../../native/crc32c.js';

export const enum RecvState {
  /** Gathering the common header and the PDU-specific header (+ header digest). */
  HEADER,
  /** Skipping padding between the header and PDO. */
  PAD,
  /** Copying PDU data into the sink's buffer. */
  DATA,
  /** Gathering the 4-byte data digest. */
  DDGST,
  /** A fatal error was reported; everything after is ignored. */
  ERROR,
}

export interface PduSink {
  /**
   * A complete, verified header has arrived: called for EVERY PDU, before its data (dataLen 0 for a
   * PDU without data), so a sink validates each header in one place. Return the buffer that
   * receives exactly `dataLen` bytes (any buffer when dataLen is 0); return null to stop (the sink
   * has reported an error and will close).
   * `hdr` is the PDU's header exactly (CH, PDU-specific header, header digest when present);
   * it is valid only during the call and the matching onPdu.
   */
  onHeader(hdr: Buffer, dataLen: number): Uint8Array | null;
  /**
   * onHeader() returned LEND_CHUNK but the data does not lie wholly in the current chunk (or a direct
   * read is about to be set up): the buffer to copy the data into after all.
   */
  lendRefused?(dataLen: number): Uint8Array;
  /** The whole PDU has arrived. `ddgstOk` is false when the data digest did not match. */
  onPdu(hdr: Buffer, data: Uint8Array | null, ddgstOk: boolean): void;
  /** A fatal transport error: the caller should send a TermReq (fes, fei, offending header) and close. */
  onFatal(fes: number, fei: number, hdr: Buffer, reason: string): void;
}

export interface ReaderOptions {
  /** PDU types the peer may send. */
  accept: readonly number[];
  /** Largest PLEN accepted (header + data + digests). */
  maxPlen: number;
}

const MAX_HEADER = 128 + DIGEST_LEN;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** onHeader()'s answer "hand me a view of the chunk if the data is all there" (see the file's head). */
export const LEND_CHUNK: Uint8Array = new Uint8Array(0);

/** The least PDU data still missing that earns a socket read of its own straight into its destination. */
export const DIRECT_MIN = 16 * 1024;

/** A view's ArrayBuffer and byte offset: one property access site each for every caller (shared type feedback). */
function bufferOf(chunk: Uint8Array): ArrayBufferLike {
  return chunk.buffer;
}
function offsetOf(chunk: Uint8Array): number {
  return chunk.byteOffset;
}

export class PduReader {
  /** DIRECT_MIN; the fuzzer lowers it so that the small transfers it makes take the direct path too. */
  static directMin = DIRECT_MIN;
  state: RecvState = RecvState.HEADER;
  hdgst = false;
  ddgst = false;
  readonly #accept = new Uint8Array(256);
  #maxPlen: number;
  readonly #sink: PduSink;
  readonly #hdr = Buffer.alloc(MAX_HEADER);
  /** #hdr as little-endian words (null on a big-endian machine, where the byte loop does it all). */
  readonly #hdrWords = LITTLE_ENDIAN ? new Int32Array(this.#hdr.buffer, this.#hdr.byteOffset, MAX_HEADER >> 2) : null;
  /** Views of #hdr by length, so each PDU's header is handed out at its exact size without allocating. */
  readonly #hdrViews: (Buffer | undefined)[] = [];
  /** Bytes gathered into #hdr so far. */
  #hdrHave = 0;
  /** Header bytes needed (CH first, then hlen + digest). */
  #hdrNeed: number = CH.size;
  #padLeft = 0;
  #data: Uint8Array | null = null;
  #dataLen = 0;
  #dataHave = 0;
  #hasDdgst = false;
  #crc = 0;
  readonly #ddgst = Buffer.alloc(DIGEST_LEN);
  #ddgstHave = 0;
  /** Set by detach(): stop after the current PDU and keep the bytes that follow. */
  #detaching = false;
  #leftover: Buffer | null = null;
  /** The view directTarget() handed out: the next push() must be exactly the read that landed in it. */
  #direct: Uint8Array | null = null;
  /** The chunk #wordsOf() saw last, and its word view (null until it is seen again, or if it is not word-aligned). */
  #wordsChunk: Uint8Array | null = null;
  #chunkWords: Int32Array | null = null;
  /** #wordsOf() looked at #wordsChunk's alignment already (it makes the view, or not, once). */
  #wordsTried = false;

  constructor(sink: PduSink, options: ReaderOptions) {
    this.#sink = sink;
    for (const t of options.accept) this.#accept[t] = 1;
    this.#maxPlen = options.maxPlen;
  }

  setMaxPlen(n: number): void {
    this.#maxPlen = n;
  }

  /** Feeds one received chunk. Returns when the chunk is consumed or a fatal error stopped parsing. */
  push(chunk: Uint8Array, length: number = chunk.length): void {
    if (this.#direct !== null) return this.#landed(chunk, length);
    let pos = 0;
    const end = length;
    // chunk.buffer and chunk.byteOffset, read at most once per push and only when data needs them
    // (in optimized code both are generic loads, `buffer` a call into the runtime; a chunk holding
    // many PDUs with data would otherwise read them for each, and a push of headers only never does).
    let chunkBuffer: ArrayBufferLike | null = null;
    let chunkOffset = -1;
    while (pos < end) {
      if (this.#detaching && this.state === RecvState.HEADER && this.#hdrHave === 0) {
        const rest = chunk.subarray(pos, end);
        this.#leftover = this.#leftover ? Buffer.concat([this.#leftover, rest]) : Buffer.from(rest);
        return;
      }
      switch (this.state) {
        case RecvState.HEADER: {
          const n = Math.min(this.#hdrNeed - this.#hdrHave, end - pos);
          // Headers are at most 132 bytes: a plain loop beats Buffer.copy's call into C++ here, and
          // one store per 4 bytes (into the header's word view) beats one per byte.
          const at = this.#hdrHave;
          let i = 0;
          const words = this.#hdrWords;
          if (words !== null && (at & 3) === 0) {
            const src = (pos & 3) === 0 ? this.#wordsOf(chunk) : null;
            if (src !== null) {
              // The chunk's bytes are word-aligned here too: one load per word.
              const from = pos >> 2;
              const to = at >> 2;
              for (; i + 4 <= n; i += 4) words[to + (i >> 2)] = src[from + (i >> 2)]!;
            } else {
              for (; i + 4 <= n; i += 4) {
                const p = pos + i;
                words[(at + i) >> 2] = chunk[p]! | (chunk[p + 1]! << 8) | (chunk[p + 2]! << 16) | (chunk[p + 3]! << 24);
              }
            }
          }
          const h = this.#hdr;
          for (; i < n; i++) h[at + i] = chunk[pos + i]!;
          this.#hdrHave += n;
          pos += n;
          if (this.#hdrHave === this.#hdrNeed) this.#headerProgress();
          break;
        }
        case RecvState.PAD: {
          const n = Math.min(this.#padLeft, end - pos);
          this.#padLeft -= n;
          pos += n;
          if (this.#padLeft === 0) this.#afterPad();
          break;
        }
        case RecvState.DATA: {
          let dst = this.#data!;
          if (dst === LEND_CHUNK) {
            // #dataHave is 0 here. The data and its digest in this chunk: onPdu() runs in this push().
            const len = this.#dataLen;
            if (end - pos >= len + (this.#hasDdgst ? DIGEST_LEN : 0)) {
              if (chunkOffset < 0) chunkOffset = offsetOf(chunk);
              this.#data = new Uint8Array((chunkBuffer ??= bufferOf(chunk)), chunkOffset + pos, len);
              if (this.#hasDdgst) this.#crc = crc32cUpdate(this.#crc, chunk, pos, len);
              this.#dataHave = len;
              pos += len;
              this.#afterData();
              break;
            }
            dst = this.#unlend();
          }
          const n = Math.min(this.#dataLen - this.#dataHave, end - pos);
          // A plain Uint8Array view of the piece: a Buffer subarray costs a FastBuffer construction more.
          if (pos === 0 && n === chunk.length) dst.set(chunk, this.#dataHave);
          else {
            if (chunkOffset < 0) chunkOffset = offsetOf(chunk);
            dst.set(new Uint8Array((chunkBuffer ??= bufferOf(chunk)), chunkOffset + pos, n), this.#dataHave);
          }
          if (this.#hasDdgst) this.#crc = crc32cUpdate(this.#crc, chunk, pos, n);
          this.#dataHave += n;
          pos += n;
          if (this.#dataHave === this.#dataLen) this.#afterData();
          break;
        }
        case RecvState.DDGST: {
          const n = Math.min(DIGEST_LEN - this.#ddgstHave, end - pos);
          for (let i = 0; i < n; i++) this.#ddgst[this.#ddgstHave + i] = chunk[pos + i]!;
          this.#ddgstHave += n;
          pos += n;
          if (this.#ddgstHave === DIGEST_LEN) this.#deliver(this.#ddgst.readUInt32LE(0) === this.#crc);
          break;
        }
        case RecvState.ERROR:
          return;
      }
    }
  }

  /**
   * The chunk as little-endian words (from its first byte, which is word-aligned), for gathering
   * headers; null the first time a chunk object is seen. A caller that reads into one buffer hands
   * the same chunk read after read (the thread's receive buffer): its view is made once. Chunks
   * that come once each (TLS plaintext, 'data' events) never pay for a view. A view aliases the
   * chunk's memory, so it stays right whatever is read into that memory later.
   */
  #wordsOf(chunk: Uint8Array): Int32Array | null {
    if (chunk !== this.#wordsChunk) {
      this.#wordsChunk = chunk;
      this.#chunkWords = null;
      this.#wordsTried = false;
      return null;
    }
    if (!this.#wordsTried) {
      this.#wordsTried = true;
      const at = offsetOf(chunk);
      if ((at & 3) === 0) this.#chunkWords = new Int32Array(bufferOf(chunk), at, chunk.length >> 2);
    }
    return this.#chunkWords;
  }

  /**
   * Where the next read should land: a view of the current PDU's destination covering exactly the
   * data still missing, when that is at least directMin bytes; null otherwise (a buffer of the
   * caller's). A view handed out obliges the caller: the next push() is that view, with the length
   * read into it. Call it again after every push().
   */
  directTarget(): Uint8Array | null {
    this.#direct = null;
    if (this.state !== RecvState.DATA || this.#detaching) return null;
    const left = this.#dataLen - this.#dataHave;
    if (left < PduReader.directMin) return null;
    const dst = this.#data === LEND_CHUNK ? this.#unlend() : this.#data!;
    this.#direct = this.#dataHave === 0 && dst.length === left ? dst : dst.subarray(this.#dataHave, this.#dataLen);
    return this.#direct;
  }

  /** The sink's buffer for data it asked to borrow from a chunk that does not hold it all. */
  #unlend(): Uint8Array {
    const b = this.#sink.lendRefused!(this.#dataLen);
    this.#data = b;
    return b;
  }

  /** True while a view from directTarget() is outstanding. */
  get directPending(): boolean {
    return this.#direct !== null;
  }

  /** A read landed in the view directTarget() handed out: the bytes are in place already. */
  #landed(chunk: Uint8Array, length: number): void {
    const view = this.#direct!;
    this.#direct = null;
    if (chunk !== view || this.state !== RecvState.DATA || length > this.#dataLen - this.#dataHave) {
      // The caller broke the contract: bytes may have gone to a place the reader did not expect.
      this.state = RecvState.ERROR;
      throw new Error('PDU reader: a read did not land in the direct target it was given');
    }
    if (this.#hasDdgst) this.#crc = crc32cUpdate(this.#crc, view, 0, length);
    this.#dataHave += length;
    if (this.#dataHave === this.#dataLen) this.#afterData();
  }

  #fatal(fes: number, fei: number, reason: string): void {
    this.state = RecvState.ERROR;
    this.#sink.onFatal(fes, fei, this.#hdr.subarray(0, Math.max(this.#hdrHave, CH.size)), reason);
  }

  /** Called each time #hdrNeed bytes are gathered: first the CH, then the full header. */
  #headerProgress(): void {
    const h = this.#hdr;
    const type = h[CH.pduType]!;
    const hlen = h[CH.hlen]!;
    // PLEN (LE u32) without readUInt32LE's argument checks: this runs twice per PDU.
    const plen = (h[CH.plen]! | (h[CH.plen + 1]! << 8) | (h[CH.plen + 2]! << 16)) + h[CH.plen + 3]! * 0x1000000;
    if (this.#hdrNeed === CH.size) {
      if (!this.#accept[type]) return this.#fatal(FES.INVALID_PDU_HEADER_FIELD, CH.pduType, `unexpected PDU type 0x${type.toString(16)}`);
      const want = (HLEN as Record<number, number>)[type]!;
      if (hlen !== want) return this.#fatal(FES.INVALID_PDU_HEADER_FIELD, CH.hlen, `PDU type 0x${type.toString(16)}: HLEN ${hlen}, expected ${want}`);
      const digested = this.hdgst && type !== PduType.ICReq && type !== PduType.ICResp && type !== PduType.H2CTermReq && type !== PduType.C2HTermReq;
      const flags = h[CH.flags]!;
      if (digested !== ((flags & PduFlags.HDGSTF) !== 0) && type !== PduType.H2CTermReq && type !== PduType.C2HTermReq) {
        return this.#fatal(FES.INVALID_PDU_HEADER_FIELD, CH.flags, `header digest flag ${flags & PduFlags.HDGSTF ? 'set' : 'missing'} against the negotiated setting`);
      }
      const hdrTotal = hlen + (digested ? DIGEST_LEN : 0);
      if (plen < hdrTotal) return this.#fatal(FES.INVALID_PDU_HEADER_FIELD, CH.plen, `PLEN ${plen} shorter than the header (${hdrTotal})`);
      if (plen > this.#maxPlen) return this.#fatal(FES.DATA_TRANSFER_LIMIT_EXCEEDED, CH.plen, `PLEN ${plen} beyond the maximum ${this.#maxPlen}`);
      this.#hdrNeed = hdrTotal;
      if (this.#hdrHave < this.#hdrNeed) return;
    }
    // Full header (and header digest) gathered.
    const digested = this.#hdrNeed > hlen;
    if (digested) {
      const got = h.readUInt32LE(hlen);
      const want = crc32c(h, 0, hlen);
      if (got !== want) return this.#fatal(FES.HEADER_DIGEST_ERROR, 0, `header digest mismatch (got 0x${got.toString(16)}, computed 0x${want.toString(16)})`);
    }
    const hdrTotal = this.#hdrNeed;
    if (plen === hdrTotal) {
      // No data: the sink still sees the header first, so that one check covers every PDU.
      this.#dataLen = 0;
      this.#hasDdgst = false;
      if (this.#sink.onHeader(this.#header(), 0) === null) {
        this.state = RecvState.ERROR;
        return;
      }
      this.#deliver(true);
      return;
    }
    const pdo = h[CH.pdo]!;
    const flags = h[CH.flags]!;
    const hasDdgst = (flags & PduFlags.DDGSTF) !== 0;
    if (hasDdgst !== (this.ddgst && type !== PduType.H2CTermReq && type !== PduType.C2HTermReq)) {
      return this.#fatal(FES.INVALID_PDU_HEADER_FIELD, CH.flags, `data digest flag ${hasDdgst ? 'set' : 'missing'} against the negotiated setting`);
    }
    const dataStart = type === PduType.H2CTermReq || type === PduType.C2HTermReq ? hdrTotal : pdo;
    if (dataStart < hdrTotal) return this.#fatal(FES.INVALID_PDU_HEADER_FIELD, CH.pdo, `PDO ${pdo} inside the header (${hdrTotal} bytes)`);
    const dataLen = plen - dataStart - (hasDdgst ? DIGEST_LEN : 0);
    if (dataLen <= 0) return this.#fatal(FES.INVALID_PDU_HEADER_FIELD, CH.plen, `PLEN ${plen} leaves no room for data after PDO ${pdo}`);
    this.#hasDdgst = hasDdgst;
    this.#dataLen = dataLen;
    this.#padLeft = dataStart - hdrTotal;
    if (this.#padLeft > 0) this.state = RecvState.PAD;
    else this.#afterPad();
  }

  /** The current PDU's header (CH + PSH + header digest), exactly: stale bytes of longer earlier headers excluded. */
  #header(): Buffer {
    const n = this.#hdrNeed;
    return (this.#hdrViews[n] ??= this.#hdr.subarray(0, n));
  }

  #afterPad(): void {
    const dst = this.#sink.onHeader(this.#header(), this.#dataLen);
    if (dst === null) {
      this.state = RecvState.ERROR;
      return;
    }
    this.#data = dst;
    this.#dataHave = 0;
    this.#crc = 0;
    this.state = RecvState.DATA;
  }

  #afterData(): void {
    if (this.#hasDdgst) {
      this.#ddgstHave = 0;
      this.state = RecvState.DDGST;
    } else {
      this.#deliver(true);
    }
  }

  #deliver(ddgstOk: boolean): void {
    const hdr = this.#header();
    const data = this.#dataLen > 0 ? this.#data : null;
    // Reset before the callback: the sink may change digests/limits (ICReq) or stop the reader.
    this.#data = null;
    this.#hdrHave = 0;
    this.#hdrNeed = CH.size;
    this.state = RecvState.HEADER;
    this.#sink.onPdu(hdr, data, data === null ? true : ddgstOk);
  }

  /**
   * Stops at the next PDU boundary (the connection is moving to another thread); bytes received
   * after it are kept for takeLeftover().
   */
  detach(): void {
    this.#detaching = true;
  }

  /** Undoes detach(): parsing continues here after all. */
  resumeAfterDetach(): void {
    this.#detaching = false;
  }

  takeLeftover(): Buffer | null {
    const l = this.#leftover;
    this.#leftover = null;
    return l;
  }

  /** Stops parsing (after a fatal error sent by the owner). */
  stop(): void {
    this.state = RecvState.ERROR;
    this.#direct = null;
  }
}
