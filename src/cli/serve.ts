// `nvmetd serve`: load or build the config, start the target, print the nvme-cli lines, and shut down
// cleanly on SIGINT/SIGTERM (a second signal forces exit 1); SIGHUP reloads the config file.
import { formatSize, parseSize } from '../config/units.js';
import type { EventEmitter } from 'node:events';
import { loadConfigFile } from '../config/load.js';
import type { TargetConfig } from '../config/types.js';
import { createLogger, defaultLogFormat, LOG_FORMATS, type LogFormat, type Logger } from '../util/log.js';
import { connectHints } from './connect-hint.js';
import { EXIT_FAILURE, EXIT_OK, UsageError } from '../util/exit.js';
import { startTarget as startServerTarget, type Target } from '../server/target.js';
import { checkLogLevel, emptyConfig, zeroConfig, type ZeroConfigOptions } from './zero-config.js';
import { applyShardArgs, checkShardCpus, type ShardArgs } from './shard-options.js';
import { controlPathProblem } from '../control/server.js';
import { parseMetricsAddress } from '../config/metrics-address.js';

export interface ServeOptions extends ZeroConfigOptions, ShardArgs {
  config?: string;
  /** --rpc-socket: the SPDK-compatible JSON-RPC socket. */
  rpcSocket?: string;
  /** --metrics: the Prometheus endpoint's address (HOST:PORT). */
  metrics?: string;
  /** --memory-budget: bytes for data buffers (a size string). */
  memoryBudget?: string;
  /** --log-format: json or pretty (overrides the config file). */
  logFormat?: string;
}

/** Options as commander hands them over: repeatable options are absent when not given. */
export type ServeArgs = Omit<ServeOptions, 'file' | 'listen' | 'allowHost'> &
  Partial<Pick<ServeOptions, 'file' | 'listen' | 'allowHost'>>;

export async function serveCommand(args: ServeArgs): Promise<void> {
  const o: ServeOptions = { ...args, file: args.file ?? [], listen: args.listen ?? [], allowHost: args.allowHost ?? [] };
  const warnings: string[] = [];
  let config = await runningConfig(o, warnings);
  // Refused before anything starts: CPUs the process cannot be pinned to, a control socket path that cannot be.
  checkShardCpus(config, o);
  const controlProblem = config.controlSocket !== undefined ? controlPathProblem(config.controlSocket) : null;
  if (controlProblem) throw new UsageError(controlProblem);
  // Settled here (a worker thread's stdout is never a terminal) and carried to the workers in the config.
  config = { ...config, ...logSettings(config, o, process.env, process.stdout) };
  const log = createLogger(config.logLevel, config.logFormat);
  for (const w of warnings) log.warn(w);
  // A reload (SIGHUP, nvmetd_reload) reads the file again with the same command line overrides.
  const path = o.config;
  const source = path === undefined ? undefined : { path, load: () => runningConfig(o) };
  await runServe(config, {
    startTarget: (c, l) => startServerTarget(c, l, source ? { source } : {}),
    log,
    print: (line) => process.stdout.write(`${line}\n`),
    signals: process,
    exit: (code) => process.exit(code),
  });
}

/** The config file (or zero-config) with the command line's overrides. */
async function runningConfig(o: ServeOptions, warnings?: string[]): Promise<TargetConfig> {
  let config = applyShardArgs(await serveConfig(o, warnings), o);
  if (o.rpcSocket !== undefined) config = { ...config, rpcSocket: o.rpcSocket };
  if (o.metrics !== undefined) {
    const problem = parseMetricsAddress(o.metrics);
    if (typeof problem === 'string') throw new UsageError(`--metrics: ${problem}`);
    config = { ...config, metrics: o.metrics };
  }
  if (o.memoryBudget !== undefined) config = { ...config, memoryBudget: memoryBudgetArg(o.memoryBudget, config.mdts) };
  return config;
}

/**
 * The log level and format: the option, else the environment (NVMETD_LOG_LEVEL, NVMETD_LOG_FORMAT),
 * else the config file; the format's last resort is pretty on a terminal, JSON otherwise.
 */
export function logSettings(config: TargetConfig, o: { logLevel?: string; logFormat?: string }, env: NodeJS.ProcessEnv, stdout: { isTTY?: boolean }): Pick<TargetConfig, 'logLevel' | 'logFormat'> {
  const fromEnv = (name: string, check: (v: string) => string | undefined): string | undefined => {
    const v = env[name];
    if (v === undefined || v === '') return undefined;
    try {
      return check(v);
    } catch (err) {
      throw new UsageError(`${name}=${(err as Error).message.replace(/^--log-(level|format) /, '')}`);
    }
  };
  const logLevel = checkLogLevel(o.logLevel) ?? (fromEnv('NVMETD_LOG_LEVEL', checkLogLevel) as TargetConfig['logLevel'] | undefined) ?? config.logLevel;
  const logFormat = logFormatArg(o.logFormat) ?? (fromEnv('NVMETD_LOG_FORMAT', logFormatArg) as LogFormat | undefined) ?? config.logFormat ?? defaultLogFormat(stdout);
  return { logLevel, logFormat };
}

/** --log-format checked: undefined when not given. */
export function logFormatArg(text: string | undefined): LogFormat | undefined {
  if (text === undefined) return undefined;
  if (!(LOG_FORMATS as readonly string[]).includes(text)) throw new UsageError(`--log-format ${text}: must be one of ${LOG_FORMATS.join(', ')}`);
  return text as LogFormat;
}

function memoryBudgetArg(text: string, mdts: number): number {
  const bytes = parseSize(text);
  if (typeof bytes === 'string') throw new UsageError(`--memory-budget: ${bytes}`);
  if (bytes !== 0 && bytes < 8 * mdts) throw new UsageError(`--memory-budget: must be 0 (no limit) or at least 8 x MDTS = ${formatSize(8 * mdts)}`);
  return bytes;
}

export async function serveConfig(o: ServeOptions, warnings?: string[]): Promise<TargetConfig> {
  const zeroConfigUsed = o.ram !== undefined || o.ramOvercommit !== undefined || o.file.length > 0 || o.listen.length > 0 || o.nqn !== undefined ||
    o.blockSize !== undefined || o.allowHost.length > 0 || o.advertise !== undefined;
  if (o.config !== undefined) {
    if (zeroConfigUsed) {
      throw new UsageError('--config cannot be combined with --ram, --ram-overcommit, --file, --listen, --nqn, --block-size, --allow-host or --advertise');
    }
    const level = checkLogLevel(o.logLevel);
    const config = await loadConfigFile(o.config, warnings);
    return level === undefined ? config : { ...config, logLevel: level };
  }
  if (o.ram === undefined && o.file.length === 0) {
    const namespaceOptions = o.ramOvercommit !== undefined || o.nqn !== undefined || o.blockSize !== undefined || o.allowHost.length > 0;
    if (o.rpcSocket !== undefined && !namespaceOptions) return emptyConfig(o);
    throw new UsageError('serve needs --config FILE, or --ram SIZE and/or --file PATH for a zero-config start, or --rpc-socket PATH alone for an empty target');
  }
  return zeroConfig(o, warnings);
}

/** Starts the target (src/server/target.ts; tests pass a stand-in). */
export type StartTarget = (config: TargetConfig, log: Logger) => Promise<Pick<Target, 'addresses' | 'close'> & Partial<Pick<Target, 'reload'>>>;

export interface ServeDeps {
  startTarget: StartTarget;
  log: Logger;
  /** One line of plain text for the user (stdout). */
  print: (line: string) => void;
  /** Where SIGINT/SIGTERM arrive (process). */
  signals: EventEmitter;
  exit: (code: number) => void;
}

/** Starts the target and resolves once it is running; the exit happens from the signal handlers. */
export async function runServe(config: TargetConfig, deps: ServeDeps): Promise<void> {
  const { log } = deps;
  const now: { state: 'starting' | 'running' | 'stopping' } = { state: 'starting' };
  let target: Awaited<ReturnType<StartTarget>> | undefined;

  const stop = (): void => {
    now.state = 'stopping';
    target!.close().then(
      () => {
        log.info('target closed');
        log.flush();
        deps.exit(EXIT_OK);
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        log.flush();
        deps.exit(EXIT_FAILURE);
      },
    );
  };
  const onSignal = (signal: string): void => {
    if (now.state === 'stopping') {
      log.warn({ signal }, 'second signal: exiting without waiting for the shutdown');
      log.flush();
      deps.exit(EXIT_FAILURE);
      return;
    }
    log.info({ signal }, 'shutting down: closing listeners, completing in-flight I/O, flushing files');
    if (now.state === 'running') stop();
    else now.state = 'stopping'; // still starting: stop as soon as the target is up
  };
  deps.signals.on('SIGINT', () => onSignal('SIGINT'));
  deps.signals.on('SIGTERM', () => onSignal('SIGTERM'));
  // SIGHUP: the config file is read again and the difference applied; a refusal is logged by the reload.
  deps.signals.on('SIGHUP', () => {
    if (now.state !== 'running' || !target?.reload) {
      log.warn({ signal: 'SIGHUP' }, now.state === 'running' ? 'SIGHUP: nothing to reload' : 'SIGHUP ignored: the target is not running');
      return;
    }
    log.info({ signal: 'SIGHUP' }, 'reloading the config file');
    target.reload().catch(() => undefined);
  });

  try {
    target = await deps.startTarget(config, log);
  } catch (err) {
    log.error({ err }, 'the target failed to start');
    throw err;
  }
  if (now.state === 'stopping') {
    stop();
    return;
  }
  now.state = 'running';
  for (const line of connectHints(config, target.addresses)) deps.print(line);
}
