// Timers the target starts while an input runs (the ICReq timeout, the destroy-after-TermReq delay,
// keep-alive ticks) would outlive the input by seconds and keep its connections alive with them.
// While installed, the trap records every setTimeout/setInterval and cancels them all at the end of
// each input; the inputs themselves take well under a millisecond, so no target timer would fire.
type AnyFn = (...args: unknown[]) => unknown;

export class TimerTrap {
  readonly #handles: NodeJS.Timeout[] = [];
  #saved: { setTimeout: AnyFn; setInterval: AnyFn } | null = null;
  /** Timers the target started, in total. */
  started = 0;
  /** Only timers started while an input runs are recorded (not the test runner's, say). */
  active = false;

  install(): void {
    if (this.#saved) return;
    const g = globalThis as unknown as Record<string, AnyFn>;
    const realTimeout = g.setTimeout!;
    const realInterval = g.setInterval!;
    this.#saved = { setTimeout: realTimeout, setInterval: realInterval };
    const handles = this.#handles;
    g.setTimeout = (...args: unknown[]): unknown => {
      const h = realTimeout(...args) as NodeJS.Timeout;
      if (this.active) {
        handles.push(h);
        this.started++;
      }
      return h;
    };
    g.setInterval = (...args: unknown[]): unknown => {
      const h = realInterval(...args) as NodeJS.Timeout;
      if (this.active) {
        handles.push(h);
        this.started++;
      }
      return h;
    };
  }

  /** Cancels every timer started since the last call. */
  cancelAll(): void {
    for (const h of this.#handles) clearTimeout(h);
    this.#handles.length = 0;
  }

  uninstall(): void {
    this.cancelAll();
    if (!this.#saved) return;
    const g = globalThis as unknown as Record<string, AnyFn>;
    g.setTimeout = this.#saved.setTimeout;
    g.setInterval = this.#saved.setInterval;
    this.#saved = null;
  }
}
