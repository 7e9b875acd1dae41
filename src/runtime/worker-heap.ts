// The young generation of an I/O worker's heap, set to what the main thread's reaches.
//
// Each read still allocates a few short-lived objects (a view of the namespace's memory, the C2HData
// piece): V8 collects them in scavenges of the young generation, each with a fixed cost. V8 grows
// that generation only when enough objects survive scavenges; the main thread's grows while it loads
// the configuration and starts, a worker's hardly ever does, so a worker doing the same I/O as the
// main thread ran about twice as many scavenges per command (docs/perf.md, "Workers against the main
// thread, per core"). The floor is a V8 flag read when a heap is configured: set before a worker is
// created, it sizes that worker's heap (and those of later threads); the main thread's heap was
// configured at start and stays as it is. Worker resourceLimits can cap the young generation but
// not give it a floor.
import v8 from 'node:v8';

/**
 * Semi-space floor of a worker heap (MiB): the size the main thread's settles at under I/O (its
 * scavenges free about 6 MiB each); half the 16 MiB a young generation may grow to (Node's default
 * cap, 48 MiB, is three semi-spaces). Scavenges per command halve; a worker commits 16 MiB of young
 * generation from the start instead of 2 MiB.
 */
export const WORKER_SEMI_SPACE_MB = 8;

let applied = false;

/** Makes heaps configured from now on (worker threads) start with WORKER_SEMI_SPACE_MB semi-spaces. Idempotent. */
export function sizeWorkerYoungGeneration(): void {
  if (applied) return;
  applied = true;
  v8.setFlagsFromString(`--min-semi-space-size=${WORKER_SEMI_SPACE_MB}`);
}
