// The standard benchmark matrix: 4 KiB random read and write at QD1 and QD32, 128 KiB sequential
// read and write at QD16; one connection and four; digests off and on.

export interface Point {
  /** Stable id used in the JSON, the table and the chart. */
  id: string;
  workload: 'randread' | 'randwrite' | 'read' | 'write';
  ioSize: number;
  /** Outstanding commands per connection. */
  qd: number;
  connections: number;
  digests: boolean;
}

function p(workload: Point['workload'], ioSize: number, qd: number, connections: number, digests: boolean): Point {
  const kib = ioSize / 1024;
  const total = qd * connections;
  const id = `${workload} ${kib}k qd${total}${connections > 1 ? ` ${connections}conn` : ''}${digests ? ' dgst' : ''}`;
  return { id, workload, ioSize, qd, connections, digests };
}

/** Several connections split the same total queue depth, so the points compare like for like. */
export const MATRIX: Point[] = [
  p('randread', 4096, 1, 1, false),
  p('randread', 4096, 32, 1, false),
  p('randread', 4096, 8, 4, false),
  p('randwrite', 4096, 1, 1, false),
  p('randwrite', 4096, 32, 1, false),
  p('randwrite', 4096, 8, 4, false),
  p('read', 131072, 16, 1, false),
  p('read', 131072, 4, 4, false),
  p('write', 131072, 16, 1, false),
  p('write', 131072, 4, 4, false),
  p('randread', 4096, 1, 1, true),
  p('randread', 4096, 32, 1, true),
  p('randwrite', 4096, 32, 1, true),
  p('read', 131072, 16, 1, true),
  p('write', 131072, 16, 1, true),
];

export interface Goal {
  point: string;
  metric: 'latency' | 'iops' | 'mibps';
  /** At most this (latency) or at least this (iops, mibps) times the reference. */
  limit: number;
  text: string;
  /** The reference is this point of the same target (digests against none), not the floor at `point`. */
  base?: string;
}

/** Issue 14's goals for the default (event) mode, as ratios measured in the same run. */
export const GOALS: Goal[] = [
  { point: 'randread 4k qd1', metric: 'latency', limit: 1.1, text: 'QD1 4 KiB read mean latency <= 1.1x floor' },
  { point: 'randread 4k qd32', metric: 'iops', limit: 0.9, text: 'QD32 4 KiB random read IOPS >= 0.9x floor' },
  { point: 'randwrite 4k qd32', metric: 'iops', limit: 0.9, text: 'QD32 4 KiB random write IOPS >= 0.9x floor' },
  { point: 'read 128k qd16', metric: 'mibps', limit: 0.9, text: '128 KiB sequential read MiB/s >= 0.9x floor' },
  { point: 'write 128k qd16', metric: 'mibps', limit: 0.9, text: '128 KiB sequential write MiB/s >= 0.9x floor' },
  {
    point: 'randread 4k qd32 dgst', base: 'randread 4k qd32', metric: 'iops', limit: 0.85,
    text: 'QD32 4 KiB random read with both digests >= 0.85x of the same target without',
  },
];
