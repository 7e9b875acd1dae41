// The nvmetd command line. Each command lives in its own file; this one wires them with commander and
// turns errors into exit codes: 2 for bad usage or a bad config (one line on stderr, no stack trace),
// 1 for runtime failures.
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/errors.js';
import { packageVersion } from '../config/version.js';
import { importNvmetcliCommand, schemaCommand, validateCommand } from './config-commands.js';
import { EXIT_FAILURE, EXIT_USAGE, UsageError } from '../util/exit.js';
import { registerKeys } from './keys.js';
import { registerManage } from './manage.js';
import { registerPerf } from './perf.js';
import { serveCommand } from './serve.js';
import { statsCommand } from './stats.js';
import { DEFAULT_RPC_SOCKET, rpcCommand } from './rpc.js';

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

export function buildProgram(): Command {
  const program = new Command('nvmetd')
    .description('User-space NVMe over TCP target')
    .version(packageVersion())
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');

  program
    .command('serve')
    .description('start the target from a config file, or zero-config from --ram/--file')
    .option('--config <file>', 'JSON config file (see `nvmetd config schema`)')
    .option('--ram <size>', 'zero-config: RAM namespace (nsid 1) of this size, e.g. 1GiB')
    .option('--ram-overcommit', 'zero-config: start the --ram namespace even when it is larger than physical memory plus swap')
    .option('--file <path>', 'zero-config: file or block device namespace (next nsid); repeatable', collect)
    .option('--listen <addr:port>', 'zero-config: listen address, e.g. 0.0.0.0:4420 or [::1]:4420 (default 127.0.0.1:4420); repeatable', collect)
    .option('--nqn <nqn>', 'zero-config: subsystem NQN (default nqn.2026-11.io.nvmetd:default)')
    .option('--block-size <bytes>', 'zero-config: logical block size, 512 or 4096 (default 512)')
    .option('--allow-host <nqn>', 'zero-config: admit only this host NQN; repeatable (default: any host)', collect)
    .option('--advertise <addr>', 'zero-config: address written into discovery log entries')
    .option('--log-level <level>', 'fatal, error, warn, info, debug or trace (overrides the config file)')
    .option('--log-format <format>', 'json (one JSON object per line) or pretty (readable lines); default: pretty on a terminal, json otherwise')
    .option('--workers <n>', 'I/O worker threads; each I/O queue lives on one of them (default 0: all on the main thread)')
    .option('--cores <list>', 'CPUs the I/O workers are pinned to, e.g. 2-5,8 (worker i on the i-th; implies --workers)')
    .option('--main-core <cpu>', 'CPU the main thread (controllers, admin queues) is pinned to')
    .option('--queue-policy <policy>', 'I/O queue placement: round-robin, per-controller or map')
    .option('--queue-map <map>', 'explicit placement QID:WORKER,... (implies --queue-policy map)')
    .option('--poll', 'busy-poll on every worker (dedicated cores: 100% CPU, lowest latency)')
    .option('--adaptive', 'poll while I/O flows, sleep when idle')
    .option('--control <path>', 'control socket for `nvmetd stats` (Unix socket path)')
    .option('--memory-budget <size>', 'memory for data buffers and queued responses, all threads together (e.g. 2GiB; 0: no limit; default: a quarter of RAM, at most 4GiB)')
    .option('--rpc-socket <path>', 'SPDK-compatible JSON-RPC socket for `nvmetd rpc` and SPDK\'s rpc.py -s (Unix socket path)')
    .option('--metrics <addr:port>', 'serve Prometheus metrics at GET /metrics on this address (e.g. 127.0.0.1:9464; IPv6 in brackets)')
    .action(serveCommand);

  program
    .command('rpc <method>')
    .description('call a JSON-RPC method (SPDK names) on a target started with --rpc-socket; prints the result')
    .option('-s, --socket <path>', `the JSON-RPC socket (default ${DEFAULT_RPC_SOCKET})`)
    .option('--json <params>', 'the params object as JSON, instead of --name value pairs')
    .option('-t, --timeout <seconds>', 'how long to wait for the answer (default 60)')
    .allowUnknownOption()
    .allowExcessArguments()
    .helpOption('-h, --help')
    .addHelpText('after', '\nParameters: --name value (SPDK parameter names, - or _), --obj.member value for object members.\nExample: nvmetd rpc -s /tmp/t.sock bdev_malloc_create --num-blocks 2048 --block-size 512 --name Malloc0')
    .action((method: string, o: { socket?: string; json?: string; timeout?: string }, cmd: Command) => rpcCommand(method, cmd.args.slice(1), o));

  program
    .command('stats')
    .description('print a running target\'s per-thread statistics and queue-to-core map')
    .option('--control <path>', 'the control socket given to `serve --control`')
    .option('--json', 'print the raw JSON')
    .option('--method <name>', 'ask another question: stats, controllers or namespaces (prints JSON)')
    .option('--watch', 'refresh every interval: IOPS, MB/s, latency per thread, namespace and controller (Ctrl-C ends it)')
    .option('--interval <seconds>', 'with --watch: seconds between refreshes (default 1)')
    .option('--count <n>', 'with --watch: stop after n refreshes')
    .action(statsCommand);

  const config = program.command('config').description('config file tools');
  config
    .command('import-nvmetcli <file>')
    .description('print an nvmetd config for a kernel target config saved by nvmetcli (/etc/nvmet/config.json)')
    .action(importNvmetcliCommand);
  config
    .command('validate <file>')
    .description('check a config file; exit 2 with the reason when it is bad')
    .option('--normalized', 'print the config with every default filled in')
    .action(validateCommand);
  config.command('schema').description('print the JSON Schema of the config file').action(schemaCommand);

  registerManage(program, config);
  registerKeys(program);
  registerPerf(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander has printed its message (or the help) already.
      process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
    } else if (err instanceof ConfigError || err instanceof UsageError) {
      process.stderr.write(`nvmetd: ${err.message}\n`);
      process.exitCode = EXIT_USAGE;
    } else {
      const e = err as Error;
      const message = String(e?.message ?? err);
      if (process.env.NVMETD_DEBUG) process.stderr.write(`nvmetd: ${e?.stack ?? message}\n`);
      else process.stderr.write(`nvmetd: ${message.split('\n')[0]} (NVMETD_DEBUG=1 for details)\n`);
      // Whatever was half started (listeners, files) must not keep the process alive.
      process.exit(EXIT_FAILURE);
    }
  }
}

await main(process.argv);
