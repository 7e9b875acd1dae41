// Data buffers for commands, granted from the thread's buffer pool within the memory budget.
// A command whose data does not fit waits (WAIT_BUFFER), in arrival order, and the connection stops
// reading until memory comes back: the budget is never exceeded, and a host that floods us is slowed
// down instead of growing our memory.
import type { DataPool } from './quota.js';
import { ReqState, type Request } from './request.js';

export interface GrantHooks {
  /** Receiving stops (true) or may resume (false). */
  memoryBlocked(blocked: boolean): void;
  /** `req` got its buffer (at least req.dataLen bytes; the hook decides who owns it). */
  granted(req: Request, buf: Buffer): void;
}

export class BufferGrants {
  readonly #pool: DataPool;
  readonly #hooks: GrantHooks;
  readonly #waiting: Request[] = [];
  #blocked = false;
  readonly #onMemoryBound = (): void => this.#onMemory();

  constructor(pool: DataPool, hooks: GrantHooks) {
    this.#pool = pool;
    this.#hooks = hooks;
  }

  get blocked(): boolean {
    return this.#blocked;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  /** Grants `req` its data buffer now, or parks it behind the commands already waiting. */
  request(req: Request): void {
    if (this.#waiting.length > 0 && this.#waiting[0] !== req) return this.#park(req);
    const buf = this.#pool.tryAcquire(req.dataLen);
    if (buf === null) return this.#park(req);
    if (req.state === ReqState.WAIT_BUFFER) this.#waiting.shift();
    this.#hooks.granted(req, buf);
  }

  /** A waiting request leaves (completed or dropped). */
  forget(req: Request): void {
    const i = this.#waiting.indexOf(req);
    if (i >= 0) this.#waiting.splice(i, 1);
  }

  clear(): void {
    this.#waiting.length = 0;
    if (this.#blocked) this.#pool.cancelWait(this.#onMemoryBound);
    this.#blocked = false;
  }

  #park(req: Request): void {
    if (req.state !== ReqState.WAIT_BUFFER) {
      req.setState(ReqState.WAIT_BUFFER);
      this.#waiting.push(req);
    }
    if (!this.#blocked) {
      this.#blocked = true;
      this.#hooks.memoryBlocked(true);
      this.#pool.whenAvailable(this.#onMemoryBound);
    }
  }

  #onMemory(): void {
    this.#blocked = false;
    while (this.#waiting.length > 0 && !this.#blocked) this.request(this.#waiting[0]!);
    if (!this.#blocked) this.#hooks.memoryBlocked(false);
  }
}
