// A command on a namespace completed: the per-namespace counters the SMART log does not keep (other
// opcodes, errors, latency by class), written into this thread's preallocated slot. No allocation.
import { NS_LATENCY_BLOCK, NsLatency, NsStat } from './namespace.js';
import { latencyBucket } from '../runtime/stats.js';
import { IoOpc } from '../spec/opcodes.js';

/** `stats`: the namespace's slot for this thread (Namespace.stats); latencyUs < 0: not sampled. */
export function nsCompleted(stats: Float64Array, opcode: number, latencyUs: number, failed: boolean): void {
  let latencyClass: number = NsLatency.OTHER;
  switch (opcode) {
    case IoOpc.Read:
      latencyClass = NsLatency.READ;
      break;
    case IoOpc.Write:
      latencyClass = NsLatency.WRITE;
      break;
    case IoOpc.Flush:
      stats[NsStat.FLUSHES]++;
      break;
    case IoOpc.Compare:
      stats[NsStat.COMPARES]++;
      break;
    case IoOpc.WriteZeroes:
      stats[NsStat.WRITE_ZEROES]++;
      break;
    case IoOpc.DatasetManagement:
      stats[NsStat.DSMS]++;
      break;
    case IoOpc.Verify:
      stats[NsStat.VERIFIES]++;
      break;
    case IoOpc.Copy:
      stats[NsStat.COPIES]++;
      break;
  }
  if (failed) stats[NsStat.ERRORS]++;
  if (latencyUs < 0) return;
  const at = NsStat.LATENCY + latencyClass * NS_LATENCY_BLOCK;
  stats[at] += latencyUs;
  stats[at + 1]++;
  stats[at + 2 + latencyBucket(latencyUs)]++;
}
