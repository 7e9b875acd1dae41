// The namespace backend interface: batched, asynchronous, zero-copy.
//
// The transport submits operations while it parses one batch of received PDUs and then calls
// `kick()` once, so an engine that can (io_uring) turns a whole batch into one system call.
// Completion is signalled by calling `req.backendDone(result)` on the request that was passed in:
// result >= 0 is success (bytes moved, or 0), result < 0 is a negated errno. No closure is
// created per I/O: the request object is a preallocated slot that implements BackendRequest.
//
// Buffers passed to submitRead/submitWrite belong to the caller and stay untouched until backendDone.

export interface BackendRequest {
  backendDone(result: number): void;
}

export interface Backend {
  /** 'ram', 'file', 'block' */
  readonly kind: string;
  /** Human-readable engine name for logs ("ram", "io_uring(sqpoll)", "fs-threadpool", ...). */
  readonly engine: string;
  /** Capacity in bytes (a multiple of the namespace block size). */
  readonly sizeBytes: number;
  /** Whether discard really deallocates (reads of deallocated blocks return zeroes). */
  readonly discardZeroes: boolean;

  submitRead(req: BackendRequest, offset: number, dst: Uint8Array): void;
  /** fua: the data is durable when backendDone is called. */
  submitWrite(req: BackendRequest, offset: number, src: Uint8Array, fua: boolean): void;
  /**
   * True when submitWrite is done with `src` by the time it returns (copied, or refused), so the
   * caller may reuse that memory at once (in-capsule data lent from a socket's read buffer).
   * Absent or false: `src` must stay unchanged until the completion (io_uring, librbd).
   */
  readonly writeSourceReleasedOnSubmit?: boolean;
  submitFlush(req: BackendRequest): void;
  submitDiscard(req: BackendRequest, offset: number, length: number): void;
  /** fua: the zeroes are durable when backendDone is called. */
  submitWriteZeroes(req: BackendRequest, offset: number, length: number, fua: boolean): void;

  /**
   * A read-only view of [offset, offset+length) when the backend holds the data in memory
   * contiguously (RAM), so a read can be sent without a copy; null otherwise.
   */
  view(offset: number, length: number): Uint8Array | null;
  /**
   * Whether view(offset, length) would return a view now, without making one (nothing allocated):
   * the transport asks it before a read to know that no data buffer is needed. Absent: never.
   */
  viewable?(offset: number, length: number): boolean;

  /** Submits everything queued since the last kick (one system call for an io_uring engine). */
  kick(): void;

  /**
   * The backing changed size under the backend (a file grown, a RAM namespace resized elsewhere):
   * `sizeBytes` (a multiple of the block size) from now on. Absent: the size cannot change.
   */
  setCapacity?(sizeBytes: number): void;

  /**
   * Present on a backend whose backing can change size by itself (an RBD image resized by another
   * client): the owner of the namespace on the main thread sets it, and is called with the new size.
   */
  onCapacityChange?: ((sizeBytes: number) => void) | null;

  /** Flushes and releases the backing; pending operations complete first. */
  close(): Promise<void>;
}
