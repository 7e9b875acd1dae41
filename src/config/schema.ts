// The JSON Schema of the config file (draft-07), the validator compiled from it, and the translation
// of the first validation error into one line: "<source>: <JSON pointer>: <reason>".
//
// schema/nvmetd.schema.json is this object printed by `nvmetd config schema`; a unit test keeps them equal.
// The schema checks shape, types and ranges; normalize.ts checks what a schema cannot say well
// (NQN byte length, uniqueness, references, multiples of the block size, IP addresses).
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { ConfigError, ptr } from './errors.js';
import { NAME_PATTERN } from './nqn.js';
import { SIZE_PATTERN } from './units.js';

const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
const NGUID_PATTERN =
  '^([0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$';
const EUI64_PATTERN = '^([0-9a-fA-F]{16}|([0-9a-fA-F]{2}[:-]){7}[0-9a-fA-F]{2})$';
const ASCII_PATTERN = '^[ -~]*$';
const SECRET_PATTERN = '^(DHHC-1:|file:.)';
const TLS_KEY_PATTERN = '^(NVMeTLSkey-1:|file:.)';

/** Reason printed for a failed `pattern`, by pattern. */
const PATTERN_REASONS: Record<string, string> = {
  [UUID_PATTERN]: 'must be a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)',
  [NGUID_PATTERN]: 'must be 32 hex digits (dashes as in a UUID allowed)',
  [EUI64_PATTERN]: 'must be 16 hex digits (optionally in pairs separated by ":" or "-")',
  [ASCII_PATTERN]: 'must contain printable ASCII characters only',
  [SIZE_PATTERN]: 'must be a number of bytes or a size such as "512MiB", "1G" or "100MB"',
  [NAME_PATTERN]: 'must not contain a NUL character',
  [SECRET_PATTERN]: 'must be a secret in the DHHC-1 format (DHHC-1:<hh>:<base64>:) or "file:PATH"',
  [TLS_KEY_PATTERN]: 'must be a TLS PSK in the interchange format (NVMeTLSkey-1:<hh>:<base64>:) or "file:PATH"',
};

const size = (description: string) => ({
  description: `${description} Bytes, or a string such as "512MiB", "1G", "100MB".`,
  type: ['integer', 'string'],
  minimum: 0,
  pattern: SIZE_PATTERN,
});
const nqn = (description: string) => ({
  description: `${description} An NQN (nqn.yyyy-mm.reverse.domain:name or nqn.2014-08.org.nvmexpress:uuid:UUID); other names of at most 223 bytes are accepted with a warning, as the Linux kernel target accepts them.`,
  type: 'string',
  minLength: 1,
  maxLength: 223,
  pattern: NAME_PATTERN,
});
const ip = (description: string) => ({ description, type: 'string', minLength: 1 });
const family = {
  description: 'Address family; inferred from the address when absent (IPv6 when it contains ":").',
  enum: ['ipv4', 'ipv6'],
};
const dhchapSecret = (description: string) => ({
  description: `${description} The DHHC-1 interchange format (DHHC-1:<hh>:<base64>:, as \`nvmetd keys\` or \`nvme gen-dhchap-key\` print it), or "file:PATH" to read it from a file when nvmetd starts (the file must not be readable by group or others; relative paths are relative to the config file).`,
  type: 'string',
  pattern: SECRET_PATTERN,
});
const oneOrMore = (description: string, names: string[]) => ({
  description: `${description} A name or a list of names.`,
  oneOf: [{ enum: names }, { type: 'array', minItems: 1, uniqueItems: true, items: { enum: names } }],
});
const tcpPort = (description: string, min: number) => ({ description, type: 'integer', minimum: min, maximum: 65535 });

export const configSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'nvmetd configuration',
  description: 'Configuration of nvmetd, a user-space NVMe over TCP target. See docs/configuration.md.',
  type: 'object',
  additionalProperties: false,
  required: ['subsystems'],
  properties: {
    $schema: { description: 'Path or URL of this schema, for editors.', type: 'string' },
    logLevel: { description: 'Log level. Default "info".', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] },
    logFormat: { description: 'Log line format: "json" (one JSON object per line) or "pretty" (one readable line per event). Default: pretty when stdout is a terminal, json otherwise.', enum: ['json', 'pretty'] },
    icreqTimeout: {
      description: 'Seconds a new connection may stay silent before its ICReq arrives. Default 10.',
      type: 'number',
      exclusiveMinimum: 0,
      maximum: 3600,
    },
    mdts: size('Maximum data transfer size of one command: a power of two, at least 4096. Default 1MiB.'),
    memoryBudget: size('Memory for data buffers and queued responses, all threads together; at the budget connections stop reading until memory is free. 0: no limit. Default: a quarter of the machine memory, at most 4GiB.'),
    controlSocket: { description: 'Unix socket path for `nvmetd stats`. Default: none.', type: 'string', minLength: 1 },
    rpcSocket: { description: 'Unix socket path of the SPDK-compatible JSON-RPC server (`nvmetd rpc`, SPDK scripts/rpc.py -s). Default: none.', type: 'string', minLength: 1 },
    metrics: { description: 'Address ("HOST:PORT", e.g. "127.0.0.1:9464"; an IPv6 host in brackets) of the Prometheus text-format endpoint GET /metrics. Default: none.', type: 'string', minLength: 1 },
    shard: {
      description: 'I/O worker threads and CPU pinning. Default: no workers (every queue on the main thread).',
      type: 'object',
      additionalProperties: false,
      properties: {
        workers: { description: 'I/O worker threads; each I/O queue lives on one for its whole life. Default 0 (or the number of cores listed).', type: 'integer', minimum: 0, maximum: 256 },
        cores: {
          description: 'CPUs the workers are pinned to: worker i on the i-th (wrapping). A list of numbers or a string like "2-5,8".',
          oneOf: [{ type: 'array', items: { type: 'integer', minimum: 0, maximum: 4095 } }, { type: 'string', pattern: '^\\d+(-\\d+)?(,\\d+(-\\d+)?)*$' }],
        },
        mainCore: { description: 'CPU the main thread (controllers, admin queues, accept) is pinned to; -1 or absent: not pinned.', type: 'integer', minimum: -1, maximum: 4095 },
        policy: { description: 'I/O queue placement. Default round-robin.', enum: ['round-robin', 'per-controller', 'map'] },
        map: {
          description: 'policy "map": I/O queue id -> worker index; unlisted queues go round robin.',
          type: 'object',
          patternProperties: { '^[0-9]+$': { type: 'integer', minimum: 0 } },
          additionalProperties: false,
        },
        mode: { description: 'event (default), poll (busy-poll, 100% of each worker core) or adaptive.', enum: ['event', 'poll', 'adaptive'] },
      },
    },
    hosts: {
      description: 'Known host NQNs. Every NQN in an allowedHosts list is added automatically.',
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['nqn'],
        properties: {
          nqn: nqn('Host NQN.'),
          dhchap: {
            description: 'In-band authentication (DH-HMAC-CHAP): when present, this host must authenticate on every queue of an NVM subsystem before any other command runs (the discovery controller does not ask).',
            type: 'object',
            additionalProperties: false,
            required: ['key'],
            properties: {
              key: dhchapSecret('The host\'s secret: the host proves it knows it.'),
              ctrlKey: dhchapSecret('The controller\'s secret, for hosts that ask the controller to authenticate too (bidirectional); must differ from key.'),
              hash: oneOrMore('HMAC hash(es) offered, most preferred first. Default: sha256, sha384, sha512.', ['sha256', 'sha384', 'sha512']),
              dhgroup: oneOrMore('Diffie-Hellman group(s) offered, most preferred first ("null": no DH exchange). Default: ffdhe2048, ffdhe3072, ffdhe4096, ffdhe6144, ffdhe8192, null.', ['null', 'ffdhe2048', 'ffdhe3072', 'ffdhe4096', 'ffdhe6144', 'ffdhe8192']),
            },
          },
          tlsKey: {
            description: 'The host\'s configured TLS PSK (NVMe/TCP TLS 1.3, TP 8011/8018): NVMeTLSkey-1:01:<base64>: (SHA-256), NVMeTLSkey-1:02:<base64>: (SHA-384) or NVMeTLSkey-1:00:<base64 of 32 or 48 bytes>:, as `nvme gen-tls-key` prints it, or "file:PATH" to read it from a file (not readable by group or others). The host is admitted on ports with tls optional or required under the identity NVMe0R0h/NVMe1R0h <host NQN> <subsystem NQN> (h: 1 SHA-256 with TLS_AES_128_GCM_SHA256, 2 SHA-384 with TLS_AES_256_GCM_SHA384).',
            type: 'string',
            pattern: TLS_KEY_PATTERN,
          },
          tlsKeyDerivation: {
            description: 'How the host\'s tools turn tlsKey into the TLS PSK (the HKDF-Expand-Label encoding): rfc8446 (default; libnvme 1.16 and later) or compat (libnvme before 1.16, e.g. nvme-cli 2.13 of Debian 13, and newer nvme-cli with --compat). With the wrong one the handshake fails: "binder does not verify".',
            enum: ['rfc8446', 'compat'],
          },
        },
      },
    },
    ports: {
      description: 'TCP listeners. Default: one port on 127.0.0.1:4420 exposing every subsystem.',
      type: 'array',
      minItems: 1,
      items: { $ref: '#/definitions/port' },
    },
    subsystems: {
      description: 'NVM subsystems.',
      type: 'array',
      items: { $ref: '#/definitions/subsystem' },
    },
  },
  definitions: {
    port: {
      type: 'object',
      additionalProperties: false,
      properties: {
        id: { description: 'Port id (PORTID in discovery log entries). Default: the next free id from 1.', type: 'integer', minimum: 1, maximum: 65535 },
        address: ip('IPv4 or IPv6 address to listen on ("0.0.0.0" and "::" for all). Default "127.0.0.1".'),
        port: tcpPort('TCP port; 0 picks a free one. Default 4420.', 0),
        family,
        advertiseAddress: ip('Address written into discovery log entries instead of the listen address.'),
        advertisePort: tcpPort('Port written into discovery log entries instead of the listen port.', 1),
        subsystems: {
          description: 'NQNs of the subsystems exposed on this port. Default: all.',
          type: 'array',
          items: nqn('Subsystem NQN.'),
        },
        referrals: {
          description: 'Other discovery controllers listed in this port\'s discovery log.',
          type: 'array',
          items: { $ref: '#/definitions/referral' },
        },
        inlineDataSize: size('In-capsule data size offered on I/O queues: a multiple of 16, at most 1MiB. Default 8192.'),
        maxQueueSize: { description: 'Largest I/O queue size (entries) a host may ask for. Default 128.', type: 'integer', minimum: 32, maximum: 65536 },
        maxH2CData: size('MAXH2CDATA offered in ICResp: a multiple of 4, at least 4096, at most 1GiB. Default 131072.'),
        ana: {
          description:
            'Asymmetric Namespace Access state of ANA groups on this port, by group id ("1" to "128"). Groups not listed are optimized.',
          type: 'object',
          additionalProperties: { enum: ['optimized', 'non-optimized', 'inaccessible', 'persistent-loss', 'change'] },
        },
        tls: {
          description: 'NVMe/TCP over TLS 1.3 with a pre-shared key (TP 8011; cipher suite TLS_AES_128_GCM_SHA256): none (default), optional (hosts may use TLS or not) or required (plain connections are closed). Hosts authenticate with their hosts[].tlsKey. With shard.workers, TLS I/O queues move to the workers with their session like plain ones.',
          enum: ['none', 'optional', 'required'],
        },
      },
    },
    referral: {
      type: 'object',
      additionalProperties: false,
      required: ['address'],
      properties: {
        address: ip('IPv4 or IPv6 address of the referred discovery controller.'),
        port: tcpPort('Its TCP port. Default 4420.', 1),
        family,
        portId: { description: 'Port id reported in the referral entry. Default 1.', type: 'integer', minimum: 1, maximum: 65535 },
      },
    },
    subsystem: {
      type: 'object',
      additionalProperties: false,
      required: ['nqn'],
      properties: {
        nqn: nqn('Subsystem NQN.'),
        serial: { description: 'Serial number (at most 20 ASCII characters). Default: derived from the NQN.', type: 'string', minLength: 1, maxLength: 20, pattern: ASCII_PATTERN },
        model: { description: 'Model number (at most 40 ASCII characters). Default "nvmetd".', type: 'string', minLength: 1, maxLength: 40, pattern: ASCII_PATTERN },
        firmware: { description: 'Firmware revision (at most 8 ASCII characters). Default: the nvmetd version.', type: 'string', minLength: 1, maxLength: 8, pattern: ASCII_PATTERN },
        allowAnyHost: { description: 'Admit every host. Default: true when allowedHosts is absent or empty, else false.', type: 'boolean' },
        allowedHosts: { description: 'Host NQNs admitted when allowAnyHost is false.', type: 'array', items: nqn('Host NQN.') },
        maxNamespaces: { description: 'Largest nsid (and number of namespaces). Default 1024.', type: 'integer', minimum: 1, maximum: 4294967294 },
        cntlidMin: { description: 'Lowest controller id given out. Default 1.', type: 'integer', minimum: 1, maximum: 65519 },
        cntlidMax: { description: 'Highest controller id given out. Default 65519 (0xFFEF).', type: 'integer', minimum: 1, maximum: 65519 },
        namespaces: { type: 'array', items: { $ref: '#/definitions/namespace' } },
      },
    },
    namespace: {
      type: 'object',
      additionalProperties: false,
      required: ['backing'],
      properties: {
        nsid: { description: 'Namespace id, 1 to maxNamespaces. Default: the lowest free one.', type: 'integer', minimum: 1, maximum: 4294967294 },
        backing: {
          type: 'object',
          required: ['type'],
          properties: { type: { enum: ['ram', 'file', 'block', 'rbd'] } },
          allOf: [
            { if: { properties: { type: { const: 'ram' } } }, then: { $ref: '#/definitions/ramBacking' } },
            { if: { properties: { type: { const: 'file' } } }, then: { $ref: '#/definitions/fileBacking' } },
            { if: { properties: { type: { const: 'block' } } }, then: { $ref: '#/definitions/blockBacking' } },
            { if: { properties: { type: { const: 'rbd' } } }, then: { $ref: '#/definitions/rbdBacking' } },
          ],
        },
        blockSize: { description: 'Logical block size. Default 512.', enum: [512, 4096] },
        uuid: { description: 'Namespace UUID. Default: derived from the subsystem NQN and nsid.', type: 'string', pattern: UUID_PATTERN },
        nguid: { description: 'Namespace globally unique id. Default: derived from the subsystem NQN and nsid.', type: 'string', pattern: NGUID_PATTERN },
        eui64: { description: 'IEEE extended unique id. Default: derived from the subsystem NQN and nsid.', type: 'string', pattern: EUI64_PATTERN },
        readOnly: { description: 'Refuse writes. Default false.', type: 'boolean' },
        enabled: { description: 'Expose the namespace. Default true.', type: 'boolean' },
        anaGroup: { description: 'ANA group id (ANAGRPID) of the namespace, 1 to 128. Default 1.', type: 'integer', minimum: 1, maximum: 128 },
        ptplFile: {
          description:
            'Persist Through Power Loss: a file where the reservation state is written (atomically, on every change) once a host turns PTPL on, and read back at start. Absent: PTPL is not supported.',
          type: 'string',
          minLength: 1,
        },
        hosts: {
          description:
            'Host NQNs that see the namespace (per-host masking); the others find its nsid inactive. Absent: every host the subsystem admits. Empty: no host (until nvmf_ns_add_host adds one).',
          type: 'array',
          items: nqn('Host NQN.'),
        },
      },
    },
    ramBacking: {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'size'],
      properties: {
        type: { const: 'ram' },
        size: size('Capacity: a multiple of the block size.'),
        delayUs: {
          description: 'Completion delay in microseconds for every command (default 0): a target of known latency, for measuring initiators.',
          type: 'integer',
          minimum: 0,
          maximum: 10000000,
        },
        overcommit: {
          description: 'Start even when the size exceeds physical memory plus swap (memory is used only as blocks are written). Default false: such a size is refused.',
          type: 'boolean',
        },
      },
    },
    fileBacking: {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'path'],
      properties: {
        type: { const: 'file' },
        path: { description: 'Regular file; relative paths are relative to the config file.', type: 'string', minLength: 1 },
        size: size('Capacity (a multiple of the block size); the file is extended when shorter. Default: the file\'s size.'),
        buffered: { description: 'Use the page cache instead of direct I/O. Default false.', type: 'boolean' },
      },
    },
    blockBacking: {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'path'],
      properties: {
        type: { const: 'block' },
        path: { description: 'Block device, e.g. /dev/nvme0n1.', type: 'string', minLength: 1 },
        buffered: { description: 'Use the page cache instead of direct I/O. Default false.', type: 'boolean' },
      },
    },
    rbdBacking: {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'pool', 'image'],
      properties: {
        type: { const: 'rbd' },
        pool: { description: 'Ceph pool of the image.', type: 'string', minLength: 1, maxLength: 255 },
        image: { description: 'RBD image name.', type: 'string', minLength: 1, maxLength: 255 },
        cephConf: { description: 'ceph.conf to read (monitors, keyring). Default: librados\' search (CEPH_CONF, /etc/ceph/ceph.conf).', type: 'string', minLength: 1 },
        user: { description: 'Ceph user, without "client.". Default "admin".', type: 'string', minLength: 1, pattern: '^[A-Za-z0-9_.-]+$' },
        options: {
          description: 'Extra Ceph client options, name -> value (e.g. {"rados_osd_op_timeout": "30"}).',
          type: 'object',
          additionalProperties: { type: 'string' },
        },
      },
    },
  },
} as const;

/** The schema as published in schema/nvmetd.schema.json. */
export function schemaText(): string {
  return `${JSON.stringify(configSchema, null, 2)}\n`;
}

let validator: ValidateFunction | undefined;

function compile(): ValidateFunction {
  if (!validator) {
    const ajv = new Ajv({ allErrors: false, verbose: true, allowUnionTypes: true, strict: true });
    validator = ajv.compile(configSchema as unknown as Record<string, unknown>);
  }
  return validator;
}

/** Throws a ConfigError for the first schema violation in `raw`. */
export function validateShape(raw: unknown, source: string): void {
  const validate = compile();
  if (validate(raw)) return;
  const errors = validate.errors ?? [];
  // `if`/`allOf` wrappers report after the real error; the first error that is not one of them wins.
  const error = errors.find((e) => e.keyword !== 'if' && e.keyword !== 'allOf') ?? errors[0];
  if (!error) throw ConfigError.at(source, '', 'invalid configuration');
  const { pointer, reason } = describe(error);
  throw ConfigError.at(source, pointer, reason);
}

function describe(e: ErrorObject): { pointer: string; reason: string } {
  const here = e.instancePath;
  const p = e.params as Record<string, unknown>;
  const parent = (e.parentSchema ?? {}) as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return { pointer: ptr(here, String(p.missingProperty)), reason: 'is required' };
    case 'additionalProperties': {
      const name = String(p.additionalProperty);
      const known = Object.keys((parent.properties ?? {}) as object);
      const hint = closest(name, known);
      return {
        pointer: ptr(here, name),
        reason: `is not a known field${hint ? ` (did you mean "${hint}"?)` : ''}; known fields: ${known.join(', ')}`,
      };
    }
    case 'type': {
      const t = p.type;
      if (Array.isArray(t) || t === 'integer,string') {
        return { pointer: here, reason: 'must be a number of bytes or a size such as "512MiB", "1G" or "100MB"' };
      }
      const names: Record<string, string> = {
        integer: 'an integer', number: 'a number', string: 'a string', boolean: 'true or false',
        object: 'an object', array: 'an array',
      };
      return { pointer: here, reason: `must be ${names[String(t)] ?? String(t)}` };
    }
    case 'enum':
      return { pointer: here, reason: `must be ${alternatives((p.allowedValues as unknown[]) ?? [])}` };
    case 'const':
      return { pointer: here, reason: `must be ${JSON.stringify(p.allowedValue)}` };
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return { pointer: here, reason: range(parent) };
    case 'minLength':
      return { pointer: here, reason: p.limit === 1 ? 'must not be empty' : `must be at least ${String(p.limit)} characters long` };
    case 'maxLength':
      return { pointer: here, reason: `must be at most ${String(p.limit)} characters long` };
    case 'minItems':
      return { pointer: here, reason: `must have at least ${String(p.limit)} item${p.limit === 1 ? '' : 's'}` };
    case 'pattern':
      return { pointer: here, reason: PATTERN_REASONS[String(p.pattern)] ?? `must match ${String(p.pattern)}` };
    default:
      return { pointer: here, reason: e.message ?? 'is invalid' };
  }
}

function range(s: Record<string, unknown>): string {
  const lo = s.minimum as number | undefined;
  const xlo = s.exclusiveMinimum as number | undefined;
  const hi = s.maximum as number | undefined;
  const what = s.type === 'integer' ? 'an integer' : 'a number';
  if (xlo !== undefined && hi !== undefined) return `must be ${what} greater than ${xlo} and at most ${hi}`;
  if (lo !== undefined && hi !== undefined) return `must be ${what} from ${lo} to ${hi}`;
  if (lo !== undefined) return `must be at least ${lo}`;
  if (hi !== undefined) return `must be at most ${hi}`;
  return `must be greater than ${String(xlo)}`;
}

/** "512 or 4096", "one of "a", "b" or "c"". */
export function alternatives(values: unknown[]): string {
  const shown = values.map((v) => (typeof v === 'string' ? `"${v}"` : String(v)));
  if (shown.length <= 1) return shown.join('');
  const list = `${shown.slice(0, -1).join(', ')} or ${shown[shown.length - 1]}`;
  return shown.length === 2 ? list : `one of ${list}`;
}

function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = distance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j]!;
      row[j] = Math.min(up + 1, row[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return row[b.length]!;
}
