// The difference between the running configuration and a newly loaded one, as a list of changes the
// live change paths can apply (subsystems, namespaces, hosts, listeners, ANA states, RAM sizes),
// and warnings for what cannot change while the target runs (worker threads, memory budget,
// sockets, a subsystem's serial, a port's transport options...). Pure: no side effects.
import type { AnaStateName, NamespaceConfig, PortConfig, SubsystemConfig, TargetConfig } from '../../config/types.js';
import { ANA_GROUP_MAX } from '../../spec/log.js';

export type Change =
  | { kind: 'port-remove'; port: PortConfig }
  | { kind: 'port-unlink'; port: PortConfig; nqn: string }
  | { kind: 'host-remove'; nqn: string; host: string; disconnect: boolean }
  | { kind: 'ns-remove'; nqn: string; nsid: number }
  | { kind: 'subsystem-delete'; nqn: string }
  | { kind: 'port-add'; port: PortConfig }
  | { kind: 'subsystem-create'; subsystem: SubsystemConfig }
  | { kind: 'ns-add'; nqn: string; ns: NamespaceConfig }
  | { kind: 'ns-resize'; nqn: string; nsid: number; from: number; size: number }
  | { kind: 'host-add'; nqn: string; host: string }
  | { kind: 'allow-any-host'; nqn: string; allow: boolean }
  | { kind: 'port-link'; port: PortConfig; nqn: string }
  | { kind: 'ana'; port: PortConfig; grpid: number; state: AnaStateName };

export interface ReloadPlan {
  /** In the order they are applied: removals first, then additions, then ANA states. */
  changes: Change[];
  /** What differs but cannot change live, one sentence each. */
  warnings: string[];
}

/** The ANA state of a group on a running port. */
export type AnaLookup = (portId: number, grpid: number) => AnaStateName;

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** Running and new ports are the same listener: same address, and same TCP port (or the new one asks for any port, 0, under the same id). */
function samePort(run: PortConfig, next: PortConfig): boolean {
  return run.family === next.family && run.address === next.address && (run.port === next.port || (next.port === 0 && next.id === run.id));
}

export function planReload(running: TargetConfig, next: TargetConfig, anaState: AnaLookup): ReloadPlan {
  const removals: Change[] = [];
  const additions: Change[] = [];
  const ana: Change[] = [];
  const warnings: string[] = [];
  const notLive = (what: string): void => {
    warnings.push(`${what} cannot change while the target runs (restart to apply)`);
  };

  for (const key of ['logLevel', 'icreqTimeout', 'mdts', 'memoryBudget', 'shard', 'controlSocket', 'rpcSocket', 'metrics'] as const) {
    if (!same(running[key], next[key])) notLive(key);
  }
  const keys = (c: TargetConfig): unknown => c.hosts.filter((h) => h.dhchap || h.tlsKey).map((h) => [h.nqn, h.dhchap, h.tlsKey]);
  if (!same(keys(running), keys(next))) notLive('hosts (DH-HMAC-CHAP and TLS keys)');

  // Subsystems.
  const nextSubs = new Map(next.subsystems.map((s) => [s.nqn, s]));
  const runSubs = new Map(running.subsystems.map((s) => [s.nqn, s]));
  for (const s of running.subsystems) if (!nextSubs.has(s.nqn)) removals.push({ kind: 'subsystem-delete', nqn: s.nqn });
  for (const s of next.subsystems) {
    const run = runSubs.get(s.nqn);
    if (!run) {
      additions.push({ kind: 'subsystem-create', subsystem: { ...s, namespaces: [] } });
      for (const ns of s.namespaces) additions.push({ kind: 'ns-add', nqn: s.nqn, ns });
      continue;
    }
    for (const key of ['serial', 'model', 'firmware', 'maxNamespaces', 'cntlidMin', 'cntlidMax'] as const) {
      if (run[key] !== s[key]) notLive(`subsystems ${s.nqn}: ${key}`);
    }
    planHosts(run, s, removals, additions);
    planNamespaces(run, s, removals, additions);
  }

  // Ports.
  const matched = new Set<PortConfig>();
  for (const p of next.ports) {
    const run = running.ports.find((r) => !matched.has(r) && samePort(r, p));
    if (!run) {
      // A new listener: made empty, then linked to its subsystems once they exist.
      const port: PortConfig = { ...p, subsystems: [], referrals: [...p.referrals] };
      additions.push({ kind: 'port-add', port });
      for (const nqn of p.subsystems) additions.push({ kind: 'port-link', port, nqn });
      continue;
    }
    matched.add(run);
    for (const key of ['inlineDataSize', 'maxQueueSize', 'maxH2CData', 'tls', 'advertiseAddress', 'advertisePort', 'referrals'] as const) {
      if (!same(run[key], p[key])) notLive(`ports ${run.address}:${run.port}: ${key}`);
    }
    for (const nqn of run.subsystems) {
      // A deleted subsystem leaves every port by itself.
      if (!p.subsystems.includes(nqn) && nextSubs.has(nqn)) removals.unshift({ kind: 'port-unlink', port: run, nqn });
    }
    for (const nqn of p.subsystems) if (!run.subsystems.includes(nqn)) additions.push({ kind: 'port-link', port: run, nqn });
    for (let g = 1; g <= ANA_GROUP_MAX; g++) {
      const want = p.ana?.[String(g)] ?? 'optimized';
      if (anaState(run.id, g) !== want) ana.push({ kind: 'ana', port: run, grpid: g, state: want });
    }
  }
  for (const r of running.ports) if (!matched.has(r)) removals.unshift({ kind: 'port-remove', port: r });
  // New ports' ANA states: set once they listen.
  for (const c of additions) {
    if (c.kind !== 'port-add') continue;
    for (const [g, state] of Object.entries(c.port.ana ?? {})) if (state !== 'optimized') ana.push({ kind: 'ana', port: c.port, grpid: Number(g), state });
  }
  return { changes: [...removals, ...additions, ...ana], warnings };
}

function planHosts(run: SubsystemConfig, next: SubsystemConfig, removals: Change[], additions: Change[]): void {
  for (const h of run.allowedHosts) {
    if (!next.allowedHosts.includes(h)) removals.push({ kind: 'host-remove', nqn: next.nqn, host: h, disconnect: !next.allowAnyHost });
  }
  for (const h of next.allowedHosts) if (!run.allowedHosts.includes(h)) additions.push({ kind: 'host-add', nqn: next.nqn, host: h });
  if (run.allowAnyHost !== next.allowAnyHost) additions.push({ kind: 'allow-any-host', nqn: next.nqn, allow: next.allowAnyHost });
}

/** What makes a namespace the same namespace (everything but a RAM size, which can change live). */
function identity(n: NamespaceConfig): unknown {
  const b = n.backing.type === 'ram' ? { ...n.backing, size: 0 } : n.backing;
  return [b, n.blockSize, n.uuid, n.nguid, n.eui64, n.readOnly, n.enabled, n.anaGroup ?? 1];
}

function planNamespaces(run: SubsystemConfig, next: SubsystemConfig, removals: Change[], additions: Change[]): void {
  const nextNs = new Map(next.namespaces.map((n) => [n.nsid, n]));
  const runNs = new Map(run.namespaces.map((n) => [n.nsid, n]));
  for (const n of run.namespaces) {
    const m = nextNs.get(n.nsid);
    // Another namespace under the same nsid: removed, then the new one added.
    if (!m || !same(identity(n), identity(m))) removals.push({ kind: 'ns-remove', nqn: run.nqn, nsid: n.nsid });
  }
  for (const m of next.namespaces) {
    const n = runNs.get(m.nsid);
    if (!n || !same(identity(n), identity(m))) {
      additions.push({ kind: 'ns-add', nqn: next.nqn, ns: m });
    } else if (n.backing.type === 'ram' && m.backing.type === 'ram' && n.backing.size !== m.backing.size && m.enabled) {
      additions.push({ kind: 'ns-resize', nqn: next.nqn, nsid: m.nsid, from: n.backing.size, size: m.backing.size });
    }
  }
}

/** One line for a change, for the answer and the logs. */
export function describe(c: Change): string {
  const at = (p: PortConfig): string => (p.family === 'ipv6' ? `[${p.address}]:${p.port}` : `${p.address}:${p.port}`);
  switch (c.kind) {
    case 'port-remove': return `stop listening on ${at(c.port)}`;
    case 'port-unlink': return `remove ${c.nqn} from listener ${at(c.port)}`;
    case 'host-remove': return `remove host ${c.host} from ${c.nqn}`;
    case 'ns-remove': return `remove namespace ${c.nsid} of ${c.nqn}`;
    case 'subsystem-delete': return `delete subsystem ${c.nqn}`;
    case 'port-add': return `listen on ${at(c.port)}`;
    case 'subsystem-create': return `create subsystem ${c.subsystem.nqn}`;
    case 'ns-add': return `add namespace ${c.ns.nsid} to ${c.nqn}`;
    case 'ns-resize': return `resize namespace ${c.nsid} of ${c.nqn} from ${c.from} to ${c.size} bytes`;
    case 'host-add': return `allow host ${c.host} on ${c.nqn}`;
    case 'allow-any-host': return `${c.allow ? 'allow' : 'no longer allow'} any host on ${c.nqn}`;
    case 'port-link': return `add ${c.nqn} to listener ${at(c.port)}`;
    case 'ana': return `ANA group ${c.grpid} on ${at(c.port)}: ${c.state}`;
  }
}
