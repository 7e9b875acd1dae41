// JSON-RPC 2.0 as the SPDK-compatible socket speaks it: one request (an object) or one batch (an
// array) per JSON value, values back to back; one response object or one batch array per value,
// each followed by "\n". The rules the reference server applies, in its order:
//   - a value that is not an object or an array: Invalid request (-32600), id null;
//   - members other than jsonrpc, method, params and id, or one of them twice: Invalid request, id null;
//   - "jsonrpc" may be absent, else it must be "2.0"; "method" must be a string;
//   - "id" may be a string, a number or null (anything else: Invalid request, id null);
//   - "params" may be absent or null (no params), else an object or an array (else Invalid request,
//     the id echoed);
//   - no id, or id null: a notification, whose result is not sent; errors are always sent (id null);
//   - a batch: each element is a request as above; the responses go out as one array (in element
//     order), notifications' results left out; nothing at all when nothing is left; an empty batch
//     is one Invalid request error (not an array).
import type { Json, ParsedJson } from './json-value.js';

export const RpcCode = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  /** The method exists but not in the current state. */
  INVALID_STATE: -1,
} as const;

const STANDARD_MESSAGES: Record<number, string> = {
  [RpcCode.PARSE_ERROR]: 'Parse error',
  [RpcCode.INVALID_REQUEST]: 'Invalid request',
  [RpcCode.METHOD_NOT_FOUND]: 'Method not found',
  [RpcCode.INVALID_PARAMS]: 'Invalid parameters',
  [RpcCode.INTERNAL_ERROR]: 'Internal error',
};

/** An error answer: thrown by methods, turned into {"error":{"code","message"[,"data"]}}. */
export class RpcError extends Error {
  readonly code: number;
  /** Extra detail for people (which parameter, why); optional "data" member of the error. */
  readonly data: string | undefined;

  constructor(code: number, message?: string, data?: string) {
    super(message ?? STANDARD_MESSAGES[code] ?? 'Error');
    this.code = code;
    this.data = data;
  }
}

export type Params = Json[] | { [k: string]: Json };

/** Runs one method; resolves to its result or rejects with an RpcError. */
export type Dispatch = (method: string, params: Params | undefined, parsed: ParsedJson) => Promise<Json>;

const REQUEST_MEMBERS = new Set(['jsonrpc', 'method', 'params', 'id']);

function isObject(v: Json): v is { [k: string]: Json } {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function errorResponse(id: string | undefined, err: RpcError): string {
  const error: { code: number; message: string; data?: string } = { code: err.code, message: err.message };
  if (err.data !== undefined) error.data = err.data;
  return `{"jsonrpc":"2.0","id":${id ?? 'null'},"error":${JSON.stringify(error)}}`;
}

function resultResponse(id: string, result: Json): string {
  return `{"jsonrpc":"2.0","id":${id},"result":${JSON.stringify(result)}}`;
}

/** One request object (alone or a batch element): its response text, or null when none is due. */
async function answerOne(v: Json, parsed: ParsedJson, dispatch: Dispatch): Promise<string | null> {
  const invalid = (id?: string): string => errorResponse(id, new RpcError(RpcCode.INVALID_REQUEST));
  if (!isObject(v) || parsed.duplicates.has(v)) return invalid();
  for (const k of Object.keys(v)) if (!REQUEST_MEMBERS.has(k)) return invalid();
  if ('jsonrpc' in v && v.jsonrpc !== '2.0') return invalid();
  const method = v.method;
  if (typeof method !== 'string') return invalid();
  let id: string | undefined;
  if ('id' in v) {
    const raw = v.id;
    if (typeof raw === 'string') id = JSON.stringify(raw);
    else if (typeof raw === 'number') id = parsed.rawIds.get(v) ?? JSON.stringify(raw);
    else if (raw === null) id = 'null';
    else return invalid();
  }
  let params: Params | undefined;
  if ('params' in v && v.params !== null) {
    const p = v.params;
    if (typeof p !== 'object') return invalid(id);
    params = p;
  }
  try {
    const result = await dispatch(method, params, parsed);
    return id === undefined || id === 'null' ? null : resultResponse(id, result);
  } catch (err) {
    const e = err instanceof RpcError ? err : new RpcError(RpcCode.INTERNAL_ERROR, undefined, String((err as Error)?.message ?? err));
    return errorResponse(id, e);
  }
}

/** The response to one complete top-level value (a request or a batch), or null when none is due. */
export async function answer(parsed: ParsedJson, dispatch: Dispatch): Promise<string | null> {
  const v = parsed.value;
  if (Array.isArray(v)) {
    if (v.length === 0) return errorResponse(undefined, new RpcError(RpcCode.INVALID_REQUEST));
    // One after the other, as the reference server runs them: a batch may create then use a bdev.
    const sent: string[] = [];
    for (const e of v) {
      const r = await answerOne(e, parsed, dispatch);
      if (r !== null) sent.push(r);
    }
    return sent.length === 0 ? null : `[${sent.join(',')}]`;
  }
  if (isObject(v)) return answerOne(v, parsed, dispatch);
  return errorResponse(undefined, new RpcError(RpcCode.INVALID_REQUEST));
}

/** Whether a params value holds, at any depth, an object with a repeated member name. */
export function hasDuplicateNames(v: Json, parsed: ParsedJson): boolean {
  if (v === null || typeof v !== 'object') return false;
  if (!Array.isArray(v) && parsed.duplicates.has(v)) return true;
  return (Array.isArray(v) ? v : Object.values(v)).some((e) => hasDuplicateNames(e, parsed));
}
