// `nvmetd perf`: a user-space NVMe/TCP load generator (the engine is src/perf/). Prints a progress
// line each second and a summary at the end, or one JSON report with --json. Exit code 1 when any
// I/O failed, a connection was lost (one line on stderr: when, how many I/Os were lost) or --verify
// found wrong data.
import type { Command } from 'commander';
import { describeOptions, parsePerfOptions, PERF_DEFAULTS, WORKLOADS, type PerfArgs } from '../perf/options.js';
import { droppedLine, formatReport, runPerf } from '../perf/run.js';
import { EXIT_FAILURE } from '../util/exit.js';

export function registerPerf(program: Command): void {
  const d = PERF_DEFAULTS;
  program
    .command('perf')
    .description('generate NVMe/TCP load against a target and report IOPS, throughput and latency')
    .option('-a, --address <addr>', `target address (default ${d.address})`)
    .option('-s, --port <port>', `target TCP port (default ${d.port})`)
    .option('-n, --nqn <nqn>', `subsystem NQN (default ${d.nqn})`)
    .option('--hostnqn <nqn>', 'host NQN (default: a uuid-based NQN made for the run)')
    .option('--nsid <nsid>', `namespace id (default ${d.nsid})`)
    .option('-q, --queue-depth <n>', `commands outstanding per connection (default ${d.queueDepth})`)
    .option('-o, --io-size <size>', 'bytes per I/O, e.g. 4k, 128k (default 4k)')
    .option('-w, --workload <kind>', `${WORKLOADS.join(', ')} (default ${d.workload})`)
    .option('-M, --rwmixread <percent>', `reads in percent for randrw and rw (default ${d.rwmixread})`)
    .option('-t, --time <seconds>', `measured seconds (default ${d.time})`)
    .option('--warmup <seconds>', `seconds of I/O before measuring (default ${d.warmup})`)
    .option('--connections <n>', `I/O queues (TCP connections) per worker (default ${d.connections})`)
    .option('--workers <n>', `worker threads, each with its own controller and connections (default ${d.workers}: the main thread)`)
    .option('--span <size>', 'bytes of the namespace covered from LBA 0 (default: all of it)')
    .option('--tls-key <key>', 'NVMe/TCP over TLS 1.3 with this PSK: NVMeTLSkey-1:01:...: or file:PATH (needs --hostnqn)')
    .option('--hdgst', 'header digests')
    .option('--ddgst', 'data digests')
    .option('--verify', 'tag every block written and check every block read (read workloads write the span first)')
    .option('--disable-sqflow', 'ask the controller to disable SQ flow control (reads complete with C2HData SUCCESS)')
    .option('--seed <n>', 'seed of the offset generator (default 1)')
    .option('--json', 'print one JSON report instead of the progress lines and summary')
    .option('--quiet', 'no progress lines, only the summary')
    .action(perfCommand);
}

export async function perfCommand(args: PerfArgs): Promise<void> {
  const o = parsePerfOptions(args);
  const out = (s: string): boolean => process.stdout.write(`${s}\n`);
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    if (o.progress) out(`nvmetd perf: ${describeOptions(o)}, ${o.warmup} s warmup + ${o.time} s`);
    // For bench/run.ts: mark the measured window on stderr so it can sample the target's CPU there.
    const markers = process.env.NVMETD_PERF_MARKERS === '1';
    const report = await runPerf(o, {
      signal: stop.signal,
      onWindow: markers ? (edge) => process.stderr.write(`@window-${edge}\n`) : undefined,
      onProgress: o.progress
        ? (s) => out(`[${s.t.toFixed(0).padStart(4)} s ${s.phase === 'warmup' ? 'warmup ' : ''}] ${Math.round(s.iops).toString().padStart(9)} IOPS ${s.mibps.toFixed(1).padStart(9)} MiB/s${s.errors ? `  errors ${s.errors}` : ''}`)
        : undefined,
    });
    out(o.json ? JSON.stringify(report, null, 2) : formatReport(report));
    const dropped = droppedLine(report);
    if (dropped) process.stderr.write(`${dropped}\n`);
    if (report.errors > 0 || report.verifyErrors > 0 || dropped) process.exitCode = EXIT_FAILURE;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
