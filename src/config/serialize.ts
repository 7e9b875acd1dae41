// From a running TargetConfig back to the config file format (file-format.ts): what
// `nvmetd_save_config` writes. Every value is written explicitly (identifiers, port ids, bound TCP
// ports), so that normalizing the result gives back the same TargetConfig: a target started from
// the saved file has the same subsystems, namespaces (same NGUID/UUID/EUI-64), hosts and listeners.
// The running ANA states come from the caller (they live in the target, not in the config).
import type { ConfigFile, DhchapInput, HostInput, NamespaceInput, PortInput, SubsystemInput } from './file-format.js';
import type { AnaStateName, Backing, HostConfig, NamespaceConfig, PortConfig, SubsystemConfig, TargetConfig } from './types.js';

export interface SerializeOptions {
  /** The running ANA states of a port's groups that are not optimized; absent: the config's. */
  anaStates?: (portId: number) => Record<string, AnaStateName>;
  /** Told about what the file cannot express as it runs (one sentence each). */
  warnings?: string[];
}

export function toConfigFile(config: TargetConfig, o: SerializeOptions = {}): ConfigFile {
  const out: ConfigFile = {
    logLevel: config.logLevel,
    ...(config.logFormat !== undefined ? { logFormat: config.logFormat } : {}),
    icreqTimeout: config.icreqTimeout,
    mdts: config.mdts,
    ...(config.memoryBudget !== undefined ? { memoryBudget: config.memoryBudget } : {}),
    // Hosts without keys are only names: the subsystems' allowedHosts list them.
    hosts: config.hosts.filter((h) => h.dhchap !== undefined || h.tlsKey !== undefined).map(host),
    ports: config.ports.map((p) => port(p, o)),
    subsystems: config.subsystems.map((s) => subsystem(s, o)),
  };
  if (config.controlSocket !== undefined) out.controlSocket = config.controlSocket;
  if (config.rpcSocket !== undefined) out.rpcSocket = config.rpcSocket;
  if (config.metrics !== undefined) out.metrics = config.metrics;
  const sh = config.shard;
  if (sh) {
    out.shard = { workers: sh.workers, cores: [...sh.cores], policy: sh.policy, map: { ...sh.map }, mode: sh.mode };
    if (sh.mainCore >= 0) out.shard.mainCore = sh.mainCore;
  }
  return out;
}

function host(h: HostConfig): HostInput {
  const out: HostInput = { nqn: h.nqn };
  if (h.dhchap) {
    const d: DhchapInput = { key: h.dhchap.key, hash: [...h.dhchap.hashes], dhgroup: [...h.dhchap.dhgroups] };
    if (h.dhchap.ctrlKey !== undefined) d.ctrlKey = h.dhchap.ctrlKey;
    out.dhchap = d;
  }
  if (h.tlsKey !== undefined) out.tlsKey = h.tlsKey;
  if (h.tlsKeyDerivation !== undefined) out.tlsKeyDerivation = h.tlsKeyDerivation;
  return out;
}

function port(p: PortConfig, o: SerializeOptions): PortInput {
  const out: PortInput = {
    id: p.id,
    address: p.address,
    port: p.port,
    family: p.family,
    subsystems: [...p.subsystems],
    referrals: p.referrals.map((r) => ({ address: r.address, port: r.port, family: r.family, portId: r.portId })),
    inlineDataSize: p.inlineDataSize,
    maxQueueSize: p.maxQueueSize,
    maxH2CData: p.maxH2CData,
    tls: p.tls,
  };
  if (p.advertiseAddress !== undefined) out.advertiseAddress = p.advertiseAddress;
  if (p.advertisePort !== undefined) out.advertisePort = p.advertisePort;
  const ana = o.anaStates ? o.anaStates(p.id) : (p.ana ?? {});
  if (Object.keys(ana).length > 0) out.ana = { ...ana };
  return out;
}

function subsystem(s: SubsystemConfig, o: SerializeOptions): SubsystemInput {
  // The file cannot say "any host, and these hosts": admission is what counts, the list goes.
  const hosts = s.allowAnyHost ? [] : [...s.allowedHosts];
  if (s.allowAnyHost && s.allowedHosts.length > 0) {
    o.warnings?.push(`${s.nqn}: allows any host; its list of allowed hosts (${s.allowedHosts.join(', ')}) is not saved`);
  }
  return {
    nqn: s.nqn,
    serial: s.serial,
    model: s.model,
    firmware: s.firmware,
    allowAnyHost: s.allowAnyHost,
    allowedHosts: hosts,
    maxNamespaces: s.maxNamespaces,
    cntlidMin: s.cntlidMin,
    cntlidMax: s.cntlidMax,
    namespaces: s.namespaces.map(namespace),
  };
}

function namespace(n: NamespaceConfig): NamespaceInput {
  return {
    nsid: n.nsid,
    backing: backing(n.backing),
    blockSize: n.blockSize,
    uuid: n.uuid,
    nguid: n.nguid,
    eui64: n.eui64,
    readOnly: n.readOnly,
    enabled: n.enabled,
    anaGroup: n.anaGroup ?? 1,
    ...(n.hosts !== undefined ? { hosts: [...n.hosts] } : {}),
    ...(n.ptplFile !== undefined ? { ptplFile: n.ptplFile } : {}),
  };
}

function backing(b: Backing): NamespaceInput['backing'] {
  switch (b.type) {
    case 'ram':
      return { type: 'ram', size: b.size, ...(b.delayUs ? { delayUs: b.delayUs } : {}), ...(b.overcommit ? { overcommit: true } : {}) };
    case 'file':
      return { type: 'file', path: b.path, ...(b.size !== undefined ? { size: b.size } : {}), ...(b.buffered !== undefined ? { buffered: b.buffered } : {}) };
    case 'block':
      return { type: 'block', path: b.path, ...(b.buffered !== undefined ? { buffered: b.buffered } : {}) };
    case 'rbd':
      return { type: 'rbd', pool: b.pool, image: b.image, user: b.user, ...(b.cephConf !== undefined ? { cephConf: b.cephConf } : {}), ...(b.options ? { options: { ...b.options } } : {}) };
  }
}
