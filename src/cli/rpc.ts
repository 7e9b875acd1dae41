// `nvmetd rpc METHOD [--param value ...]` or `nvmetd rpc METHOD --json '{...}'`: one JSON-RPC call
// on a running target's RPC socket (serve --rpc-socket PATH), the result printed as JSON. Parameter
// names are SPDK's (dashes may stand for underscores); values are typed by the method's schema
// (trsvcid stays a string, num_blocks becomes a number); a dotted name fills an object member:
//   nvmetd rpc -s /var/tmp/nvmetd.sock nvmf_subsystem_add_listener --nqn nqn.2026-11.io.x:a \
//     --listen-address.trtype tcp --listen-address.traddr 127.0.0.1 --listen-address.trsvcid 4420
import net from 'node:net';
import { UsageError } from '../util/exit.js';
import { JsonScanner } from '../rpc/json-scan.js';
import type { Json } from '../rpc/json-value.js';
import { ALL_METHODS } from '../rpc/methods/index.js';

export const DEFAULT_RPC_SOCKET = '/var/tmp/spdk.sock';

export interface RpcArgs {
  socket?: string;
  json?: string;
  timeout?: string;
}

type Schema = { type?: string; properties?: Record<string, Schema> };

function coerce(raw: string | true, schema: Schema | undefined, name: string): Json {
  const type = schema?.type;
  if (raw === true) {
    if (type === undefined || type === 'boolean') return true;
    throw new UsageError(`--${name} needs a value`);
  }
  switch (type) {
    case 'string':
      return raw;
    case 'integer': {
      const n = Number(raw);
      if (!Number.isInteger(n)) throw new UsageError(`--${name}: expected an integer, got "${raw}"`);
      return n;
    }
    case 'boolean':
      if (raw === 'true' || raw === 'false') return raw === 'true';
      throw new UsageError(`--${name}: expected true or false, got "${raw}"`);
    default:
      // Objects, arrays, or a method this client does not know: JSON when it parses, else text.
      try {
        return JSON.parse(raw) as Json;
      } catch {
        return raw;
      }
  }
}

/** The params object from `--name value` pairs (and bare `--flag` for true). */
export function paramsFromArgs(method: string, args: string[]): { [k: string]: Json } {
  const schema = ALL_METHODS.find((m) => m.name === method)?.params?.schema as Schema | undefined;
  const out: { [k: string]: Json } = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--') || a.length <= 2) throw new UsageError(`unexpected argument "${a}" (parameters are --name value)`);
    let key = a.slice(2);
    let value: string | true;
    const eq = key.indexOf('=');
    if (eq >= 0) {
      value = key.slice(eq + 1);
      key = key.slice(0, eq);
    } else if (i + 1 < args.length && !args[i + 1]!.startsWith('--')) {
      value = args[++i]!;
    } else {
      value = true;
    }
    const path = key.split('.').map((k) => k.replace(/-/g, '_'));
    let obj = out;
    let s: Schema | undefined = schema;
    for (const k of path.slice(0, -1)) {
      s = s?.properties?.[k];
      const next = obj[k];
      if (next === undefined) obj[k] = {};
      else if (next === null || typeof next !== 'object' || Array.isArray(next)) throw new UsageError(`--${key}: ${k} is not an object`);
      obj = obj[k] as { [k: string]: Json };
    }
    const last = path[path.length - 1]!;
    obj[last] = coerce(value, s?.properties?.[last], key);
  }
  return out;
}

/** Sends one request the way SPDK's client does (one JSON object, no delimiter) and reads one answer. */
export function call(path: string, method: string, params: Json | undefined, timeoutMs = 60_000): Promise<{ result?: Json; error?: { code: number; message: string; data?: string } }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(path);
    let buf = Buffer.alloc(0);
    const scanner = new JsonScanner();
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer from ${path} within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    s.on('connect', () => {
      const req: { [k: string]: Json } = { jsonrpc: '2.0', method, id: 1 };
      if (params !== undefined) req.params = params;
      s.write(JSON.stringify(req));
    });
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const r = scanner.scan(buf);
      if (r.kind === 'incomplete') return;
      clearTimeout(timer);
      s.end();
      if (r.kind === 'invalid') reject(new Error(`the answer from ${path} is not JSON`));
      else resolve(JSON.parse(buf.subarray(0, r.end).toString('utf8')) as { result?: Json });
    });
    s.on('end', () => {
      clearTimeout(timer);
      reject(new Error(`${path} closed the connection without an answer`));
    });
    s.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`RPC socket ${path}: ${err.message}`));
    });
  });
}

export async function rpcCommand(method: string, args: string[], o: RpcArgs): Promise<void> {
  let params: Json | undefined;
  if (o.json !== undefined) {
    if (args.length > 0) throw new UsageError('--json cannot be combined with --name value parameters');
    try {
      params = JSON.parse(o.json) as Json;
    } catch (err) {
      throw new UsageError(`--json: ${(err as Error).message}`);
    }
  } else {
    const p = paramsFromArgs(method, args);
    params = Object.keys(p).length > 0 ? p : undefined;
  }
  const timeout = o.timeout === undefined ? 60 : Number(o.timeout);
  if (!(timeout > 0)) throw new UsageError(`--timeout: expected seconds, got "${o.timeout}"`);
  const answer = await call(o.socket ?? DEFAULT_RPC_SOCKET, method, params, timeout * 1000);
  if (answer.error) {
    process.stderr.write(`${JSON.stringify({ request: { method, params: params ?? null }, error: answer.error }, null, 2)}\n`);
    process.exitCode = 1;
    return;
  }
  process.stdout.write(`${JSON.stringify(answer.result ?? null, null, 2)}\n`);
}
