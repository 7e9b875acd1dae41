// From the config file (file-format.ts) to the TargetConfig the target runs: schema check, defaults,
// derived identifiers, and the checks that span fields. The first problem found is thrown as one
// ConfigError naming the source, the JSON pointer and the reason.
import { isIP } from 'node:net';
import { isAbsolute, resolve } from 'node:path';
import { ConfigError, ptr } from './errors.js';
import { parseCpuList } from './cpus.js';
import { normalizeDhchap } from './dhchap.js';
import { checkPortTls, normalizeTlsKey, normalizeTlsKeyDerivation } from './tls.js';
import { parseMetricsAddress } from './metrics-address.js';
import { OVERCOMMIT_EFFECT, approxSize, machineMemory, ramFitProblem, type MachineMemory } from './memory.js';
import type { BackingInput, ConfigFile, NamespaceInput, PortInput, SizeInput, SubsystemInput } from './file-format.js';
import { deriveEui64, deriveNguid, deriveSerial, deriveUuid } from './ids.js';
import { DISCOVERY_NQN, nameProblem, notNqnWarning } from './nqn.js';
import { validateShape } from './schema.js';
import { ANA_STATE_NAMES } from './types.js';
import type {
  AnaStateName, AddressFamily, Backing, HostConfig, NamespaceConfig, PortConfig, ReferralConfig, ShardConfig, SubsystemConfig, TargetConfig,
} from './types.js';
import { formatSize, parseSize } from './units.js';
import { ANA_GROUP_MAX } from '../spec/log.js';
import { defaultFirmware } from './version.js';

export const DEFAULTS = {
  address: '127.0.0.1',
  port: 4420,
  inlineDataSize: 8192,
  maxQueueSize: 128,
  maxH2CData: 131072,
  mdts: 1048576,
  icreqTimeout: 10,
  logLevel: 'info',
  model: 'nvmetd',
  maxNamespaces: 1024,
  cntlidMin: 1,
  cntlidMax: 0xffef,
  blockSize: 512,
  referralPort: 4420,
  referralPortId: 1,
} as const;

export interface NormalizeOptions {
  /** Directory that relative file/block paths are resolved against (the config file's); default: left as is. */
  baseDir?: string;
  /** Memory that RAM namespaces must fit (tests); default: this machine's. */
  memory?: MachineMemory;
  /** Receives the warnings (names that are not NQNs, once each); default: dropped. */
  warnings?: string[];
}

/** Validates `raw` (a parsed config file) and returns the normalized config; throws ConfigError. */
export function normalizeConfig(raw: unknown, source: string, options: NormalizeOptions = {}): TargetConfig {
  validateShape(raw, source);
  return new Normalizer(source, options).run(raw as ConfigFile);
}

class Normalizer {
  /** First pointer that used each identifier, for "duplicate" messages. */
  readonly #seen = new Map<string, string>();
  /** Names already warned about. */
  readonly #warned = new Set<string>();

  constructor(readonly source: string, readonly options: NormalizeOptions) {}

  fail(pointer: string, reason: string): never {
    throw ConfigError.at(this.source, pointer, reason);
  }

  /** Records `key` in `space` as used at `pointer`; fails when it was used before. */
  unique(space: string, key: string, pointer: string, what: string): void {
    const k = `${space}\0${key}`;
    const first = this.#seen.get(k);
    if (first !== undefined) this.fail(pointer, `duplicate ${what} (also at ${first})`);
    this.#seen.set(k, pointer);
  }

  size(value: SizeInput, pointer: string): number {
    const bytes = parseSize(value);
    if (typeof bytes === 'string') this.fail(pointer, bytes);
    return bytes;
  }

  /** A subsystem or host name: refused when the kernel target would refuse it, warned about (once) when not an NQN. */
  nqn(value: string, pointer: string): string {
    const problem = nameProblem(value);
    if (problem) this.fail(pointer, problem);
    const warning = this.#warned.has(value) ? null : notNqnWarning(value);
    if (warning) {
      this.#warned.add(value);
      this.options.warnings?.push(`${this.source}: ${pointer}: ${warning}`);
    }
    return value;
  }

  address(value: string, pointer: string): string {
    if (isIP(value) === 0) this.fail(pointer, `"${value}" is not an IPv4 or IPv6 address`);
    return value;
  }

  family(address: string, given: AddressFamily | undefined, pointer: string): AddressFamily {
    const actual: AddressFamily = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (given !== undefined && given !== actual) {
      this.fail(ptr(pointer, 'family'), `is "${given}" but the address ${address} is ${actual === 'ipv6' ? 'IPv6' : 'IPv4'}`);
    }
    return actual;
  }

  run(file: ConfigFile): TargetConfig {
    const mdts = this.size(file.mdts ?? DEFAULTS.mdts, '/mdts');
    if (mdts < 4096 || mdts > 2 ** 30 || (mdts & (mdts - 1)) !== 0) {
      this.fail('/mdts', `must be a power of two from 4096 to 1GiB (got ${formatSize(mdts)})`);
    }
    let memoryBudget: number | undefined;
    if (file.memoryBudget !== undefined) {
      memoryBudget = this.size(file.memoryBudget, '/memoryBudget');
      if (memoryBudget !== 0 && memoryBudget < 8 * mdts) {
        this.fail('/memoryBudget', `must be 0 (no limit) or at least 8 x MDTS = ${formatSize(8 * mdts)}, so that commands of the largest size can be served (got ${formatSize(memoryBudget)})`);
      }
    }
    const subsystems = file.subsystems.map((s, i) => this.subsystem(s, `/subsystems/${i}`));
    this.checkRamFits(subsystems);
    const ports = (file.ports ?? [{}]).map((p, i) => this.port(p, `/ports/${i}`, subsystems));
    this.assignPortIds(file.ports ?? [{}], ports);
    this.checkListeners(ports);
    const hosts = this.hosts(file, subsystems);
    ports.forEach((port, i) => checkPortTls(port.tls, hosts, (r) => this.fail(`/ports/${i}/tls`, r)));
    return {
      hosts,
      ports,
      subsystems,
      logLevel: file.logLevel ?? DEFAULTS.logLevel,
      ...(file.logFormat !== undefined ? { logFormat: file.logFormat } : {}),
      icreqTimeout: file.icreqTimeout ?? DEFAULTS.icreqTimeout,
      mdts,
      ...(memoryBudget !== undefined ? { memoryBudget } : {}),
      ...(file.controlSocket !== undefined ? { controlSocket: (this.options.baseDir !== undefined && !isAbsolute(file.controlSocket) ? resolve(this.options.baseDir, file.controlSocket) : file.controlSocket) } : {}),
      ...(file.rpcSocket !== undefined ? { rpcSocket: this.options.baseDir !== undefined && !isAbsolute(file.rpcSocket) ? resolve(this.options.baseDir, file.rpcSocket) : file.rpcSocket } : {}),
      ...(file.metrics !== undefined ? { metrics: this.metrics(file.metrics) } : {}),
      ...(file.shard !== undefined ? { shard: this.shard(file.shard) } : {}),
    };
  }

  metrics(text: string): string {
    const parsed = parseMetricsAddress(text);
    if (typeof parsed === 'string') this.fail('/metrics', parsed);
    return text;
  }

  shard(s: NonNullable<ConfigFile['shard']>): ShardConfig {
    let cores: number[] = [];
    if (typeof s.cores === 'string') {
      try {
        cores = parseCpuList(s.cores);
      } catch (err) {
        this.fail('/shard/cores', (err as Error).message);
      }
    } else if (s.cores) {
      cores = [...new Set(s.cores)].sort((a, b) => a - b);
    }
    const workers = s.workers ?? cores.length;
    const map = s.map ?? {};
    for (const [qid, w] of Object.entries(map)) {
      if (w >= Math.max(workers, 1)) this.fail(`/shard/map/${qid}`, `names worker ${w}, but there are ${workers} workers`);
    }
    // mainCore -1 means "not pinned" (the file leaves the field out).
    return {
      workers,
      cores,
      mainCore: s.mainCore ?? -1,
      policy: s.policy ?? (s.map ? 'map' : 'round-robin'),
      map,
      mode: s.mode ?? 'event',
    };
  }

  hosts(file: ConfigFile, subsystems: SubsystemConfig[]): HostConfig[] {
    const hosts: HostConfig[] = [];
    const known = new Set<string>();
    (file.hosts ?? []).forEach((h, i) => {
      const at = `/hosts/${i}/nqn`;
      this.nqn(h.nqn, at);
      this.unique('host', h.nqn, at, 'host NQN');
      known.add(h.nqn);
      const host: HostConfig = { nqn: h.nqn };
      if (h.dhchap !== undefined) host.dhchap = normalizeDhchap(h.dhchap, `/hosts/${i}/dhchap`, this.options.baseDir, (p, r) => this.fail(p, r));
      if (h.tlsKey !== undefined) host.tlsKey = normalizeTlsKey(h.tlsKey, this.options.baseDir, (r) => this.fail(`/hosts/${i}/tlsKey`, r));
      if (h.tlsKeyDerivation !== undefined) {
        host.tlsKeyDerivation = normalizeTlsKeyDerivation(h.tlsKeyDerivation, h.tlsKey !== undefined, (r) => this.fail(`/hosts/${i}/tlsKeyDerivation`, r));
      }
      hosts.push(host);
    });
    for (const s of subsystems) {
      for (const nqn of s.allowedHosts) {
        if (!known.has(nqn)) {
          known.add(nqn);
          hosts.push({ nqn });
        }
      }
    }
    return hosts;
  }

  subsystem(s: SubsystemInput, at: string): SubsystemConfig {
    const nqn = this.nqn(s.nqn, `${at}/nqn`);
    if (nqn === DISCOVERY_NQN) this.fail(`${at}/nqn`, 'is the discovery NQN, which nvmetd serves by itself');
    this.unique('subsystem', nqn, `${at}/nqn`, 'subsystem NQN');

    const allowedHosts = (s.allowedHosts ?? []).map((h, i) => {
      const hp = `${at}/allowedHosts/${i}`;
      this.nqn(h, hp);
      this.unique(`allowed:${nqn}`, h, hp, 'host NQN');
      return h;
    });
    if (s.allowAnyHost === true && allowedHosts.length > 0) {
      this.fail(`${at}/allowAnyHost`, 'cannot be true while allowedHosts lists hosts (remove one of the two)');
    }
    const cntlidMin = s.cntlidMin ?? DEFAULTS.cntlidMin;
    const cntlidMax = s.cntlidMax ?? DEFAULTS.cntlidMax;
    if (cntlidMin > cntlidMax) {
      this.fail(`${at}/${s.cntlidMax === undefined ? 'cntlidMin' : 'cntlidMax'}`, `cntlidMin (${cntlidMin}) must not exceed cntlidMax (${cntlidMax})`);
    }
    const maxNamespaces = s.maxNamespaces ?? DEFAULTS.maxNamespaces;
    const allowAnyHost = s.allowAnyHost ?? allowedHosts.length === 0;
    const namespaces = this.namespaces(s.namespaces ?? [], `${at}/namespaces`, nqn, maxNamespaces);
    if (!allowAnyHost) this.warnUnadmitted(namespaces, allowedHosts, `${at}/namespaces`);
    return {
      nqn,
      serial: s.serial ?? deriveSerial(nqn),
      model: s.model ?? DEFAULTS.model,
      firmware: s.firmware ?? defaultFirmware(),
      allowAnyHost,
      allowedHosts,
      maxNamespaces,
      cntlidMin,
      cntlidMax,
      namespaces,
    };
  }

  /**
   * A namespace's host that the subsystem does not admit is accepted (as SPDK does: the host may be
   * allowed later, by RPC), with a warning: until then it cannot connect to see the namespace.
   */
  warnUnadmitted(namespaces: NamespaceConfig[], allowedHosts: string[], at: string): void {
    namespaces.forEach((ns, i) => {
      (ns.hosts ?? []).forEach((h, j) => {
        if (allowedHosts.includes(h)) return;
        this.options.warnings?.push(`${this.source}: ${at}/${i}/hosts/${j}: host "${h}" is not in allowedHosts: it cannot connect to see the namespace`);
      });
    });
  }

  /** namespaces[].hosts: host NQNs (named as allowedHosts are), each once. */
  nsHosts(list: string[], at: string): string[] {
    const seen = new Map<string, number>();
    return list.map((h, j) => {
      const hp = `${at}/${j}`;
      this.nqn(h, hp);
      const first = seen.get(h);
      if (first !== undefined) this.fail(hp, `duplicate host NQN (also at ${at}/${first})`);
      seen.set(h, j);
      return h;
    });
  }

  namespaces(list: NamespaceInput[], at: string, nqn: string, maxNamespaces: number): NamespaceConfig[] {
    const used = new Set<number>();
    list.forEach((ns, i) => {
      if (ns.nsid === undefined) return;
      const np = `${at}/${i}/nsid`;
      if (ns.nsid > maxNamespaces) this.fail(np, `must be at most maxNamespaces (${maxNamespaces})`);
      this.unique(`nsid:${nqn}`, String(ns.nsid), np, 'nsid');
      used.add(ns.nsid);
    });
    let next = 1;
    return list.map((ns, i) => {
      let nsid = ns.nsid;
      if (nsid === undefined) {
        while (used.has(next)) next++;
        nsid = next;
        used.add(nsid);
        if (nsid > maxNamespaces) this.fail(`${at}/${i}`, `no free nsid: maxNamespaces is ${maxNamespaces}`);
      }
      return this.namespace(ns, `${at}/${i}`, nqn, nsid);
    });
  }

  namespace(ns: NamespaceInput, at: string, nqn: string, nsid: number): NamespaceConfig {
    const blockSize = ns.blockSize ?? DEFAULTS.blockSize;
    return {
      nsid,
      backing: this.backing(ns.backing, `${at}/backing`, blockSize),
      blockSize,
      uuid: this.identifier('uuid', ns.uuid, at, () => deriveUuid(nqn, nsid)),
      nguid: this.identifier('nguid', ns.nguid, at, () => deriveNguid(nqn, nsid)),
      eui64: this.identifier('eui64', ns.eui64, at, () => deriveEui64(nqn, nsid)),
      readOnly: ns.readOnly ?? false,
      enabled: ns.enabled ?? true,
      anaGroup: ns.anaGroup ?? 1,
      ...(ns.ptplFile !== undefined ? { ptplFile: this.ptplFile(ns.ptplFile, `${at}/ptplFile`) } : {}),
      ...(ns.hosts !== undefined ? { hosts: this.nsHosts(ns.hosts, `${at}/hosts`) } : {}),
    };
  }

  identifier(kind: 'uuid' | 'nguid' | 'eui64', given: string | undefined, at: string, derive: () => string): string {
    const p = `${at}/${kind}`;
    let value: string;
    if (given === undefined) {
      value = derive();
    } else {
      value = given.toLowerCase();
      if (kind !== 'uuid') value = value.replace(/[-:]/g, '');
      if (/^[0:-]*$/.test(value)) this.fail(p, 'must not be all zeroes (leave it out to get a stable derived one)');
    }
    this.unique(kind, value, p, kind === 'eui64' ? 'EUI-64' : kind.toUpperCase());
    return value;
  }

  backing(b: BackingInput, at: string, blockSize: number): Backing {
    const multiple = (bytes: number, p: string): number => {
      if (bytes === 0) this.fail(p, 'must be greater than 0');
      if (bytes % blockSize !== 0) this.fail(p, `${formatSize(bytes)} is not a multiple of the block size ${blockSize}`);
      return bytes;
    };
    switch (b.type) {
      case 'ram':
        return {
          type: 'ram',
          size: multiple(this.size(b.size, `${at}/size`), `${at}/size`),
          ...(b.delayUs ? { delayUs: b.delayUs } : {}),
          ...(b.overcommit ? { overcommit: true } : {}),
        };
      case 'file': {
        const path = this.path(b.path, `${at}/path`);
        const out: Backing = { type: 'file', path };
        if (b.size !== undefined) out.size = multiple(this.size(b.size, `${at}/size`), `${at}/size`);
        if (b.buffered !== undefined) out.buffered = b.buffered;
        return out;
      }
      case 'block': {
        const out: Backing = { type: 'block', path: this.path(b.path, `${at}/path`) };
        if (b.buffered !== undefined) out.buffered = b.buffered;
        return out;
      }
      case 'rbd': {
        const out: Backing = { type: 'rbd', pool: b.pool, image: b.image, user: b.user ?? 'admin' };
        if (b.cephConf !== undefined) out.cephConf = this.options.baseDir !== undefined && !isAbsolute(b.cephConf) ? resolve(this.options.baseDir, b.cephConf) : b.cephConf;
        if (b.options !== undefined) out.options = { ...b.options };
        this.unique('backing', `rbd:${out.cephConf ?? ''}:${out.pool}/${out.image}`, `${at}/image`, 'RBD image: two namespaces on one image (share one namespace instead)');
        return out;
      }
    }
  }

  /** A namespace's PTPL file: one per namespace, not a backing file. */
  ptplFile(path: string, at: string): string {
    if (path.trim() === '') this.fail(at, 'must not be empty');
    const full = this.options.baseDir !== undefined && !isAbsolute(path) ? resolve(this.options.baseDir, path) : path;
    this.unique('backing', full, at, 'path: a ptplFile must be a file of its own (not another namespace\'s ptplFile or backing)');
    return full;
  }

  path(path: string, at: string): string {
    if (path.trim() === '') this.fail(at, 'must not be empty');
    const full = this.options.baseDir !== undefined && !isAbsolute(path) ? resolve(this.options.baseDir, path) : path;
    this.unique('backing', full, at, 'backing path: two namespaces on one file or device (share one namespace instead)');
    return full;
  }

  port(p: PortInput, at: string, subsystems: SubsystemConfig[]): PortConfig {
    const address = this.address(p.address ?? DEFAULTS.address, `${at}/address`);
    const known = new Set(subsystems.map((s) => s.nqn));
    const exposed = (p.subsystems ?? subsystems.map((s) => s.nqn)).map((nqn, i) => {
      const sp = `${at}/subsystems/${i}`;
      if (!known.has(nqn)) this.fail(sp, `no subsystem has the NQN "${nqn}"`);
      this.unique(`port-subsystem:${at}`, nqn, sp, 'subsystem NQN');
      return nqn;
    });
    const inlineDataSize = this.size(p.inlineDataSize ?? DEFAULTS.inlineDataSize, `${at}/inlineDataSize`);
    if (inlineDataSize % 16 !== 0 || inlineDataSize > 1048576) {
      this.fail(`${at}/inlineDataSize`, `must be a multiple of 16 from 0 to 1MiB (got ${inlineDataSize})`);
    }
    const maxH2CData = this.size(p.maxH2CData ?? DEFAULTS.maxH2CData, `${at}/maxH2CData`);
    if (maxH2CData % 4 !== 0 || maxH2CData < 4096 || maxH2CData > 2 ** 30) {
      this.fail(`${at}/maxH2CData`, `must be a multiple of 4 from 4096 to 1GiB (got ${maxH2CData})`);
    }
    const out: PortConfig = {
      id: p.id ?? 0, // assigned by assignPortIds
      address,
      port: p.port ?? DEFAULTS.port,
      family: this.family(address, p.family, at),
      subsystems: exposed,
      referrals: (p.referrals ?? []).map((r, i) => this.referral(r, `${at}/referrals/${i}`)),
      inlineDataSize,
      maxQueueSize: p.maxQueueSize ?? DEFAULTS.maxQueueSize,
      maxH2CData,
      tls: p.tls ?? 'none',
    };
    if (p.ana !== undefined) out.ana = this.ana(p.ana, `${at}/ana`);
    if (p.advertiseAddress !== undefined) out.advertiseAddress = this.address(p.advertiseAddress, `${at}/advertiseAddress`);
    if (p.advertisePort !== undefined) out.advertisePort = p.advertisePort;
    return out;
  }

  /** ports[].ana: group ids 1..ANA_GROUP_MAX in decimal, each with a state name. */
  ana(given: Record<string, string>, at: string): Record<string, AnaStateName> {
    const out: Record<string, AnaStateName> = {};
    for (const [key, state] of Object.entries(given)) {
      const grpid = /^[1-9][0-9]*$/.test(key) ? Number(key) : NaN;
      if (!(grpid >= 1 && grpid <= ANA_GROUP_MAX)) {
        this.fail(ptr(at, key), `"${key}" is not an ANA group id: use a decimal number from 1 to ${ANA_GROUP_MAX}`);
      }
      if (!(ANA_STATE_NAMES as readonly string[]).includes(state)) {
        this.fail(ptr(at, key), `"${state}" is not an ANA state: ${ANA_STATE_NAMES.map((n) => `"${n}"`).join(', ')}`);
      }
      out[String(grpid)] = state as AnaStateName;
    }
    return out;
  }

  referral(r: { address: string; port?: number; family?: AddressFamily; portId?: number }, at: string): ReferralConfig {
    const address = this.address(r.address, `${at}/address`);
    return {
      address,
      port: r.port ?? DEFAULTS.referralPort,
      family: this.family(address, r.family, at),
      portId: r.portId ?? DEFAULTS.referralPortId,
    };
  }

  /** RAM namespaces without "overcommit" must add up to no more than physical memory plus swap. */
  checkRamFits(subsystems: SubsystemConfig[]): void {
    const mem = this.options.memory ?? machineMemory();
    let total = 0;
    let count = 0;
    subsystems.forEach((s, i) => {
      s.namespaces.forEach((ns, j) => {
        if (ns.backing.type !== 'ram' || ns.backing.overcommit) return;
        total += ns.backing.size;
        count++;
        const what = count === 1
          ? `a ${approxSize(ns.backing.size)} RAM namespace`
          : `RAM namespaces adding up to ${approxSize(total)} (with this one)`;
        const problem = ramFitProblem(total, mem, what, `set "overcommit": true on its RAM backing to start anyway (${OVERCOMMIT_EFFECT})`);
        if (problem) this.fail(`/subsystems/${i}/namespaces/${j}/backing/size`, problem);
      });
    });
  }

  assignPortIds(inputs: PortInput[], ports: PortConfig[]): void {
    inputs.forEach((p, i) => {
      if (p.id !== undefined) this.unique('port-id', String(p.id), `/ports/${i}/id`, 'port id');
    });
    const used = new Set(inputs.flatMap((p) => (p.id === undefined ? [] : [p.id])));
    let next = 1;
    for (const port of ports) {
      if (port.id !== 0) continue;
      while (used.has(next)) next++;
      port.id = next;
      used.add(next);
    }
  }

  /** Two ports may not listen on the same address and port (a wildcard address covers the others). */
  checkListeners(ports: PortConfig[]): void {
    ports.forEach((a, i) => {
      if (a.port === 0) return;
      for (let j = 0; j < i; j++) {
        const b = ports[j]!;
        if (b.port !== a.port) continue;
        const clash =
          a.address === b.address ||
          a.address === '::' || b.address === '::' ||
          (a.family === 'ipv4' && b.family === 'ipv4' && (a.address === '0.0.0.0' || b.address === '0.0.0.0'));
        if (clash) {
          this.fail(`/ports/${i}/port`, `${listenName(a)} overlaps ${listenName(b)} of /ports/${j}`);
        }
      }
    });
  }
}

function listenName(p: PortConfig): string {
  return p.family === 'ipv6' ? `[${p.address}]:${p.port}` : `${p.address}:${p.port}`;
}
