// nvmetd as a Ceph RBD gateway against librbd itself, in one run (`npm run bench:rbd`):
//   baseline: `rbd bench` on the image (librbd, no NVMe/TCP in between),
//   nvmetd:   the same image as namespace 1 of an nvmetd child process, loaded by `nvmetd perf` over
//             loopback, with the target's CPU time per I/O.
// Jobs: 4 KiB random read and write at QD32, 128 KiB sequential read and write at QD16. The ratio
// nvmetd/rbd-bench is the figure (goal >= 0.8x); absolute numbers depend on the cluster.
// The cluster: NVMETD_CEPH_CONF + NVMETD_CEPH_POOL for an existing one, else a single-node cluster from
// test/ceph/cluster.sh (brought up and taken down here). Results: bench/results/rbd.json and rbd.md.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, freePort, procCpuSeconds, stopChild, waitForPort } from './targets.js';

const NVMETD = path.join(ROOT, 'bin', 'nvmetd.js');
const SECONDS = Number(process.env.NVMETD_BENCH_SECONDS ?? 8);
const IMAGE = 'nvmetd-bench';
const IMAGE_MIB = 256;
const NQN = 'nqn.2026-11.io.nvmetd:rbd-bench';

interface Job {
  name: string;
  workload: 'randread' | 'randwrite' | 'read' | 'write';
  size: string;
  qd: number;
}

const JOBS: Job[] = [
  { name: '4k randread QD32', workload: 'randread', size: '4K', qd: 32 },
  { name: '4k randwrite QD32', workload: 'randwrite', size: '4K', qd: 32 },
  { name: '128k read QD16', workload: 'read', size: '128K', qd: 16 },
  { name: '128k write QD16', workload: 'write', size: '128K', qd: 16 },
];

interface Row {
  job: string;
  rbdBenchIops: number;
  nvmetdIops: number;
  ratio: number;
  nvmetdLatencyUs: number;
  targetCpuUsPerIo: number;
}

function rbd(conf: string, ...args: string[]): string {
  return execFileSync('rbd', ['-c', conf, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** librbd's own figure: ops/sec over SECONDS worth of I/O (rbd bench runs a fixed total). */
function rbdBench(conf: string, pool: string, job: Job, estimateIops: number): number {
  const bytes = job.size === '4K' ? 4096 : 131072;
  const total = Math.max(bytes * 2000, Math.min(IMAGE_MIB * 1024 * 1024, Math.round(estimateIops * SECONDS) * bytes));
  const out = rbd(
    conf,
    'bench',
    '--io-type',
    job.workload.includes('read') ? 'read' : 'write',
    '--io-size',
    job.size,
    '--io-threads',
    String(job.qd),
    '--io-total',
    String(total),
    '--io-pattern',
    job.workload.startsWith('rand') ? 'rand' : 'seq',
    `${pool}/${IMAGE}`,
  );
  const m = /elapsed:\s*([0-9.]+)\s+ops:\s*([0-9]+)\s+ops\/sec:\s*([0-9.]+)/.exec(out);
  if (!m) throw new Error(`cannot read rbd bench's summary:\n${out}`);
  return Number(m[3]);
}

interface PerfResult {
  iops: number;
  latencyUs: { avg: number };
}

function perf(port: number, job: Job): Promise<PerfResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [NVMETD, 'perf', '-s', String(port), '-n', NQN, '-t', String(SECONDS), '--warmup', '1', '--json', '-q', String(job.qd), '-w', job.workload, '-o', job.size.toLowerCase()],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`nvmetd perf exited with ${code}`));
      resolve(JSON.parse(out) as PerfResult);
    });
  });
}

async function main(): Promise<void> {
  let conf = process.env.NVMETD_CEPH_CONF;
  const pool = process.env.NVMETD_CEPH_POOL ?? 'nvmetd';
  const ownCluster = !conf;
  const clusterDir = path.join(os.tmpdir(), 'nvmetd-ceph-bench');
  if (ownCluster) {
    execFileSync('bash', [path.join(ROOT, 'test', 'ceph', 'cluster.sh'), 'up', clusterDir], { stdio: ['ignore', 'inherit', 'inherit'] });
    conf = path.join(clusterDir, 'ceph.conf');
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-rbd-bench-'));
  try {
    try {
      rbd(conf!, 'rm', '--no-progress', `${pool}/${IMAGE}`);
    } catch {
      /* not there */
    }
    rbd(conf!, 'create', '--size', `${IMAGE_MIB}M`, `${pool}/${IMAGE}`);
    // Reads of never-written objects cost nothing in RADOS: fill the image first.
    rbd(conf!, 'bench', '--io-type', 'write', '--io-size', '4M', '--io-threads', '4', '--io-total', `${IMAGE_MIB}M`, '--io-pattern', 'seq', `${pool}/${IMAGE}`);
    const port = await freePort();
    const cfgFile = path.join(work, 'gw.json');
    fs.writeFileSync(
      cfgFile,
      JSON.stringify({
        logLevel: 'warn',
        ports: [{ address: '127.0.0.1', port }],
        subsystems: [{ nqn: NQN, namespaces: [{ nsid: 1, blockSize: 4096, backing: { type: 'rbd', pool, image: IMAGE, cephConf: conf } }] }],
      }),
    );
    const rows: Row[] = [];
    const child = spawn(process.execPath, [NVMETD, 'serve', '--config', cfgFile], { stdio: ['ignore', 'ignore', 'inherit'] });
    try {
      await waitForPort(port, child, 'nvmetd', 60_000);
      for (const job of JOBS) {
        const c0 = procCpuSeconds(child.pid!);
        const r = await perf(port, job);
        const cpu = procCpuSeconds(child.pid!) - c0;
        const base = rbdBench(conf!, pool, job, r.iops);
        const row: Row = {
          job: job.name,
          rbdBenchIops: Math.round(base),
          nvmetdIops: Math.round(r.iops),
          ratio: Math.round((r.iops / base) * 100) / 100,
          nvmetdLatencyUs: Math.round(r.latencyUs.avg),
          targetCpuUsPerIo: Math.round(((cpu * 1e6) / Math.max(1, r.iops * (SECONDS + 1))) * 10) / 10,
        };
        rows.push(row);
        process.stderr.write(`${job.name}: rbd bench ${row.rbdBenchIops} IOPS, nvmetd ${row.nvmetdIops} IOPS (${row.ratio}x), target ${row.targetCpuUsPerIo} us CPU/IO\n`);
      }
    } finally {
      await stopChild(child);
    }
    const results = { date: new Date().toISOString(), host: os.hostname(), cpus: os.availableParallelism(), seconds: SECONDS, cluster: ownCluster ? 'single-node test cluster (test/ceph/cluster.sh)' : conf, rows };
    const dir = path.join(ROOT, 'bench', 'results');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'rbd.json'), `${JSON.stringify(results, null, 2)}\n`);
    const md = [
      '# nvmetd as an RBD gateway vs librbd (`npm run bench:rbd`)',
      '',
      `${results.date}, ${results.cpus} CPUs, ${SECONDS} s per job, cluster: ${results.cluster}. Ratio = nvmetd / rbd bench, same image, same run.`,
      '',
      '| job | rbd bench IOPS | nvmetd IOPS | ratio | nvmetd mean latency (us) | target CPU per I/O (us) |',
      '|---|---|---|---|---|---|',
      ...rows.map((r) => `| ${r.job} | ${r.rbdBenchIops} | ${r.nvmetdIops} | ${r.ratio}x | ${r.nvmetdLatencyUs} | ${r.targetCpuUsPerIo} |`),
      '',
    ].join('\n');
    fs.writeFileSync(path.join(dir, 'rbd.md'), md);
    process.stdout.write(md);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
    if (ownCluster) execFileSync('bash', [path.join(ROOT, 'test', 'ceph', 'cluster.sh'), 'down', clusterDir], { stdio: 'inherit' });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:rbd: ${(err as Error).message}\n`);
  process.exit(1);
});
