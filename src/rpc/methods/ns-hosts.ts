// nvmf_ns_add_host / nvmf_ns_remove_host: per-host namespace masking. A namespace added with
// no_auto_visible (or configured with `hosts`) is seen only by the hosts on its list; these methods
// change the list. As SPDK: the host NQN must be a valid NQN but need not be admitted by the
// subsystem (yet); adding a listed host or removing an unlisted one changes nothing and succeeds; a
// namespace visible to every host has no list to change (refused). The change goes into the config,
// then to every I/O worker, then to the main thread's controllers: each controller of that host gets
// the Namespace Attribute Changed event and finds the nsid in its Changed Namespace List log.
import { nqnProblem } from '../../config/nqn.js';
import type { LiveTarget } from '../live.js';
import { object, str, u32, type ParamsObject, type RpcMethod } from '../table.js';
import { findSubsystem, invalidParams } from './common.js';

const schema = object({ nqn: str, nsid: u32, host: str, tgt_name: str }, ['nqn', 'nsid', 'host']);

async function setVisible(p: ParamsObject, live: LiveTarget, visible: boolean): Promise<true> {
  const s = findSubsystem(live, p);
  const nsid = p.nsid as number;
  const host = p.host as string;
  const problem = nqnProblem(host);
  if (problem) throw invalidParams(`host: ${problem}`);
  if (nsid === 0 || nsid > s.config.maxNamespaces) throw invalidParams(`nsid ${nsid} is out of range (1 to ${s.config.maxNamespaces})`);
  const ns = s.namespaces.get(nsid);
  // Not in the config: a removal of it is under way.
  if (!ns || !s.config.namespaces.includes(ns.config)) throw invalidParams(`namespace ${nsid} not found`);
  const current = ns.config.hosts;
  if (!current) throw invalidParams(`namespace ${nsid} is visible to every host (added without no_auto_visible): no host list to change`);
  const listed = current.includes(host);
  if (listed === visible) return true;
  const hosts = visible ? [...current, host] : current.filter((h) => h !== host);
  // In the config first: a worker started from now on builds it so, and a concurrent call builds on it.
  ns.config.hosts = hosts;
  const pool = live.workers;
  if (pool) {
    try {
      await pool.changeNamespace({ op: 'ns-hosts', subnqn: s.nqn, nsid, hosts });
    } catch (err) {
      // A worker that does not hold the namespace serves nothing of it: the change stands.
      live.log.warn({ subnqn: s.nqn, nsid, err }, 'rpc: namespace host change: a worker did not hold the namespace');
    }
  }
  // The latest list (a concurrent call may have changed it while the workers applied this one).
  const told = s.setNamespaceHosts(nsid, ns.config.hosts ?? null) ?? 0;
  live.log.info({ subnqn: s.nqn, nsid, hostnqn: host, controllersTold: told }, visible ? 'rpc: namespace made visible to host' : 'rpc: namespace hidden from host');
  return true;
}

export const nvmfNsAddHost: RpcMethod = {
  name: 'nvmf_ns_add_host',
  params: { schema },
  handler: (p, live) => setVisible(p, live, true),
};

export const nvmfNsRemoveHost: RpcMethod = {
  name: 'nvmf_ns_remove_host',
  params: { schema },
  handler: (p, live) => setVisible(p, live, false),
};
