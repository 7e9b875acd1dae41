// What the friendly management subcommands (manage.ts) share: the socket option, one JSON-RPC call
// whose error answer becomes one clear line on stderr and exit status 1, and small argument parsers.
import { Option, type Command } from 'commander';
import { parseSize } from '../config/units.js';
import type { Json } from '../rpc/json-value.js';
import { UsageError } from '../util/exit.js';
import { parseListen } from './listen.js';
import { call, DEFAULT_RPC_SOCKET } from './rpc.js';

export interface SocketOption {
  rpcSocket?: string;
  /** --socket, as `nvmetd rpc` names it. */
  socket?: string;
}

/** Adds -s/--rpc-socket (the socket given to `serve --rpc-socket`). */
export function withSocket(cmd: Command): Command {
  return cmd
    .option('-s, --rpc-socket <path>', `the target's JSON-RPC socket (serve --rpc-socket; default ${DEFAULT_RPC_SOCKET})`)
    .addOption(new Option('--socket <path>', 'the same as --rpc-socket (the name `nvmetd rpc` uses)').hideHelp());
}

/** An error answer of the target, already printed. */
export class RpcFailed extends Error {
  override readonly name = 'RpcFailed';
}

/**
 * One call; an error answer is printed as `nvmetd: METHOD: MESSAGE (DETAIL)` and thrown as
 * RpcFailed (the command then exits 1). A socket that cannot be reached is a plain error.
 */
export async function rpc(o: SocketOption, method: string, params?: Json): Promise<Json> {
  const path = o.rpcSocket ?? o.socket ?? DEFAULT_RPC_SOCKET;
  let answer;
  try {
    answer = await call(path, method, params);
  } catch (err) {
    process.stderr.write(`nvmetd: ${(err as Error).message} (is a target running with --rpc-socket ${path}?)\n`);
    throw new RpcFailed(method);
  }
  if (answer.error) {
    const e = answer.error;
    process.stderr.write(`nvmetd: ${method}: ${e.message}${e.data ? ` (${e.data})` : ''} [code ${e.code}]\n`);
    throw new RpcFailed(method);
  }
  return answer.result ?? null;
}

/** Runs a subcommand's action; an RpcFailed sets exit status 1 (its message is printed already). */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      if (!(err instanceof RpcFailed)) throw err;
      process.exitCode = 1;
    }
  };
}

export function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

export function sizeArg(name: string, value: string): number {
  const bytes = parseSize(value);
  if (typeof bytes === 'string') throw new UsageError(`${name}: ${bytes}`);
  return bytes;
}

export function intArg(name: string, value: string, min: number, max: number): number {
  const n = /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) throw new UsageError(`${name}: expected a number from ${min} to ${max}, got "${value}"`);
  return n;
}

/** "ADDR:PORT" or "[IPV6]:PORT" as SPDK's listen_address. */
export function listenAddress(value: string): { trtype: string; adrfam: string; traddr: string; trsvcid: string } {
  let a;
  try {
    a = parseListen(value);
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/^--listen /, 'address '));
  }
  return { trtype: 'tcp', adrfam: a.address.includes(':') ? 'ipv6' : 'ipv4', traddr: a.address, trsvcid: String(a.port) };
}
