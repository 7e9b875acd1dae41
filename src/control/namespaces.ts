// The control socket's "namespaces" answer: every namespace's counters summed over threads (what
// `nvmetd stats --watch` turns into rates). Read on request; nothing is kept per I/O here.
import type { TargetContext } from '../core/context.js';
import { NS_LATENCY_BLOCK, NS_OTHER_OPS, NsLatency, NsStat, type Namespace } from '../core/namespace.js';
import { HIST_BUCKETS } from '../runtime/stats.js';

export interface LatencyCounters {
  /** Sum of the sampled latencies (us) and their count (one command in 8 is sampled). */
  sumUs: number;
  count: number;
  /** Bucket i: sampled latencies in [2^i, 2^(i+1)) us. */
  histogramUs: number[];
}

export interface NamespaceCounters {
  subnqn: string;
  nsid: number;
  reads: number;
  writes: number;
  readBytes: number;
  writtenBytes: number;
  /** Completed commands other than Read and Write, by opcode name (flush, compare, ...). */
  other: Record<string, number>;
  errors: number;
  mediaErrors: number;
  latency: { read: LatencyCounters; write: LatencyCounters; other: LatencyCounters };
}

function latency(ns: Namespace, latencyClass: number): LatencyCounters {
  const at = NsStat.LATENCY + latencyClass * NS_LATENCY_BLOCK;
  const histogramUs: number[] = [];
  for (let i = 0; i < HIST_BUCKETS; i++) histogramUs.push(ns.total(at + 2 + i));
  return { sumUs: ns.total(at), count: ns.total(at + 1), histogramUs };
}

export function namespaceCounters(ctx: TargetContext): NamespaceCounters[] {
  const out: NamespaceCounters[] = [];
  for (const s of ctx.subsystems.values()) {
    for (const ns of [...s.namespaces.values()].sort((a, b) => a.nsid - b.nsid)) {
      const other: Record<string, number> = {};
      for (const { op, field } of NS_OTHER_OPS) other[op] = ns.total(field);
      out.push({
        subnqn: s.nqn,
        nsid: ns.nsid,
        reads: ns.total(NsStat.READS),
        writes: ns.total(NsStat.WRITES),
        readBytes: ns.total(NsStat.READ_512) * 512,
        writtenBytes: ns.total(NsStat.WRITTEN_512) * 512,
        other,
        errors: ns.total(NsStat.ERRORS),
        mediaErrors: ns.total(NsStat.MEDIA_ERRORS),
        latency: { read: latency(ns, NsLatency.READ), write: latency(ns, NsLatency.WRITE), other: latency(ns, NsLatency.OTHER) },
      });
    }
  }
  return out;
}
