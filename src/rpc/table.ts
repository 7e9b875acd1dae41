// The method table: each method's SPDK name, the JSON Schema of its params (SPDK's parameter names;
// the defaults are SPDK's and are applied by the handlers), how a params decoding failure is
// answered (SPDK's nvmf_* methods say -32602 "Invalid parameters", its bdev_* methods -32603
// "spdk_json_decode_object failed"), and the handler. Params are checked in this one place before a
// handler sees them; a refused request gets one log line.
import { Ajv, type ValidateFunction } from 'ajv';
import type { Json, ParsedJson } from './json-value.js';
import type { LiveTarget } from './live.js';
import { hasDuplicateNames, RpcCode, RpcError, type Dispatch, type Params } from './wire.js';

export type ParamsObject = { [k: string]: Json };

export interface RpcMethod {
  readonly name: string;
  /**
   * JSON Schema of the params object; absent: the method takes no params at all. `optional`: params
   * may be left out (SPDK's "if (params)" methods); else they are required.
   */
  readonly params?: { schema: Record<string, unknown>; optional?: boolean };
  /** The answer to params that do not decode (default: -32602 "Invalid parameters"). */
  readonly decodeError?: { code: number; message: string };
  /** Message when params are given to a method that takes none. */
  readonly noParamsMessage?: string;
  /** Whether the method can run in the current state (default: always). */
  available?(live: LiveTarget): boolean;
  handler(params: ParamsObject, live: LiveTarget, table: MethodTable): Json | Promise<Json>;
}

export interface MethodTable {
  readonly methods: readonly RpcMethod[];
  get(name: string): RpcMethod | undefined;
}

// Schema building blocks for SPDK's decoder types.
export const u8 = { type: 'integer', minimum: 0, maximum: 0xff } as const;
export const u16 = { type: 'integer', minimum: 0, maximum: 0xffff } as const;
export const u32 = { type: 'integer', minimum: 0, maximum: 0xffffffff } as const;
export const i32 = { type: 'integer', minimum: -0x80000000, maximum: 0x7fffffff } as const;
export const u64 = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;
export const bool = { type: 'boolean' } as const;
export const str = { type: 'string' } as const;
export const uuid = { type: 'string', pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' } as const;

/** An object schema: `strict` (SPDK's spdk_json_decode_object) refuses unknown members,
 * relaxed (spdk_json_decode_object_relaxed) ignores them. */
export function object(properties: Record<string, unknown>, required: string[], strict = true): Record<string, unknown> {
  return { type: 'object', properties, required, additionalProperties: !strict };
}

export const BDEV_DECODE_ERROR = { code: RpcCode.INTERNAL_ERROR, message: 'spdk_json_decode_object failed' } as const;

export function createTable(methods: readonly RpcMethod[]): MethodTable {
  const byName = new Map(methods.map((m) => [m.name, m]));
  return { methods, get: (name) => byName.get(name) };
}

/** The dispatcher the server calls: method lookup, params checks, then the handler. */
export function createDispatch(table: MethodTable, live: LiveTarget): Dispatch {
  const ajv = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true });
  const validators = new Map<string, ValidateFunction>();
  for (const m of table.methods) if (m.params) validators.set(m.name, ajv.compile(m.params.schema));
  const log = live.log.child({ component: 'rpc' });

  return async (name: string, params: Params | undefined, parsed: ParsedJson): Promise<Json> => {
    const m = table.get(name);
    if (!m) throw new RpcError(RpcCode.METHOD_NOT_FOUND);
    const decodeError = (detail: string): RpcError => {
      log.warn({ method: name, detail }, 'rpc: invalid parameters');
      const e = m.decodeError ?? { code: RpcCode.INVALID_PARAMS, message: 'Invalid parameters' };
      return new RpcError(e.code, e.message, detail);
    };
    let p: ParamsObject = {};
    if (!m.params) {
      if (params !== undefined) {
        throw new RpcError(RpcCode.INVALID_PARAMS, m.noParamsMessage ?? `${name} method requires no parameters`);
      }
    } else if (params === undefined) {
      if (!m.params.optional) throw decodeError('params are required');
    } else {
      if (Array.isArray(params)) throw decodeError('params must be an object');
      if (hasDuplicateNames(params, parsed)) throw decodeError('a parameter is given twice');
      const validate = validators.get(name)!;
      if (!validate(params)) {
        const e = validate.errors?.[0];
        const where = e?.instancePath ? e.instancePath.slice(1).replace(/\//g, '.') : '';
        const extra = e?.keyword === 'additionalProperties' ? ` "${(e.params as { additionalProperty: string }).additionalProperty}"` : '';
        throw decodeError(`${where ? `${where}: ` : ''}${e?.message ?? 'invalid'}${extra}`);
      }
      p = params;
    }
    if (m.available && !m.available(live)) {
      throw new RpcError(
        RpcCode.INVALID_STATE,
        `${name} is not yet supported while I/O worker threads run (shard.workers > 0): the workers would not see the change`,
      );
    }
    try {
      return await m.handler(p, live, table);
    } catch (err) {
      if (err instanceof RpcError) throw err;
      log.error({ method: name, err }, 'rpc: method failed');
      throw new RpcError(RpcCode.INTERNAL_ERROR, 'Internal error', String((err as Error)?.message ?? err));
    }
  };
}
