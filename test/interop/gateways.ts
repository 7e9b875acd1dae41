// Two nvmetd gateways on one Ceph RBD image, for the rbd-failover scenario: the single-node cluster of
// test/ceph/cluster.sh (brought up on the guest's first `gw-up` request, taken down at the end) and
// gateways a and b as child processes, each with its own config, port and RPC socket. The guest drives
// them with requests: gw-up, gw-kill a|b, gw-start a|b, gw-ana a|b STATE, gw-lock (rbd lock ls).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Target } from './processes.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export const RBD_NQN = 'nqn.2026-11.io.nvmetd:rbd-gateways';
const POOL = 'nvmetd';
const IMAGE = 'interop-ha';
type Name = 'a' | 'b';

export class RbdGateways {
  readonly #runDir: string;
  readonly #ports: Record<Name, number>;
  readonly #advertise: string;
  readonly #clusterDir = join(tmpdir(), 'nvmetd-ceph-interop');
  #sockDir = '';
  #gw: Partial<Record<Name, Target>> = {};
  #clusterUp = false;

  /** ports: the gateways' TCP ports (the guest reaches them at the same ports of `advertise`). */
  constructor(runDir: string, ports: Record<Name, number>, advertise: string) {
    this.#runDir = runDir;
    this.#ports = ports;
    this.#advertise = advertise;
  }

  get conf(): string {
    return join(this.#clusterDir, 'ceph.conf');
  }

  /** One guest request (the action after "gw-"); the answer text for the ACK. */
  async handle(action: string, args: string): Promise<string> {
    const name = args.split(/\s+/)[0] as Name;
    const gw = (): Target => {
      const t = this.#gw[name];
      if (!t) throw new Error(`no gateway ${name} (gw-up first)`);
      return t;
    };
    switch (action) {
      case 'gw-up':
        return this.#up();
      case 'gw-kill':
        await gw().stop('SIGKILL');
        return `gateway ${name} killed`;
      case 'gw-start':
        await gw().start();
        return `gateway ${name} listening on ${this.#ports[name]}`;
      case 'gw-ana': {
        const state = args.split(/\s+/)[1] ?? '';
        const listen = { trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.1', trsvcid: String(this.#ports[name]) };
        return gw().rpc('nvmf_subsystem_listener_set_ana_state', { nqn: RBD_NQN, listen_address: listen, ana_state: state });
      }
      case 'gw-lock':
        return execFileSync('rbd', ['-c', this.conf, 'lock', 'ls', `${POOL}/${IMAGE}`], { encoding: 'utf8' }).replace(/\s+/g, ' ').trim();
      default:
        throw new Error(`unknown action ${action}`);
    }
  }

  async #up(): Promise<string> {
    if (!this.#clusterUp) {
      execFileSync('bash', [join(repoRoot, 'test', 'ceph', 'cluster.sh'), 'up', this.#clusterDir], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 300_000 });
      this.#clusterUp = true;
    }
    try {
      execFileSync('rbd', ['-c', this.conf, 'rm', '--no-progress', `${POOL}/${IMAGE}`], { stdio: 'ignore' });
    } catch {
      /* not there yet */
    }
    execFileSync('rbd', ['-c', this.conf, 'create', '--size', '256M', `${POOL}/${IMAGE}`]);
    this.#sockDir = mkdtempSync(join(tmpdir(), 'nvmetd-gw-'));
    for (const [name, cntlidMin] of [['a', 1], ['b', 1001]] as const) {
      const port = this.#ports[name];
      const cfg = {
        logLevel: 'info',
        shard: { workers: 1 },
        // Every gateway starts inaccessible (also when restarted): the owner is made optimized through the RPC.
        ports: [{ id: 1, address: '127.0.0.1', port, advertiseAddress: this.#advertise, advertisePort: port, ana: { '1': 'inaccessible' } }],
        subsystems: [
          {
            nqn: RBD_NQN,
            serial: 'nvmetd-rbd-ha',
            model: 'nvmetd rbd gateway',
            allowAnyHost: true,
            cntlidMin,
            cntlidMax: cntlidMin + 999,
            namespaces: [
              {
                nsid: 1,
                blockSize: 4096,
                uuid: '6e766d65-7464-4000-8000-726264686131',
                nguid: '6e766d6574640003726264686131aa01',
                backing: { type: 'rbd', pool: POOL, image: IMAGE, cephConf: this.conf },
              },
            ],
          },
        ],
      };
      mkdirSync(this.#runDir, { recursive: true });
      const file = join(this.#runDir, `gateway-${name}.json`);
      writeFileSync(file, JSON.stringify(cfg, null, 2));
      const t = new Target(file, join(this.#runDir, `gateway-${name}.log`), '127.0.0.1', port, join(this.#sockDir, `${name}.sock`));
      await t.start();
      this.#gw[name] = t;
    }
    return `${this.#ports.a} ${this.#ports.b}`;
  }

  /** Stops both gateways and the cluster (always, at the end of the run). */
  async close(): Promise<void> {
    for (const t of Object.values(this.#gw)) await t?.stop('SIGTERM').catch(() => undefined);
    this.#gw = {};
    if (this.#clusterUp) {
      try {
        execFileSync('bash', [join(repoRoot, 'test', 'ceph', 'cluster.sh'), 'down', this.#clusterDir], { stdio: 'ignore', timeout: 60_000 });
      } catch {
        /* best effort */
      }
      this.#clusterUp = false;
    }
    if (this.#sockDir) rmSync(this.#sockDir, { recursive: true, force: true });
  }
}
