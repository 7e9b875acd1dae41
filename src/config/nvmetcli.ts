// Import of the Linux kernel target's saved configuration, as written by `nvmetcli save` to
// /etc/nvmet/config.json: a dump of the configfs tree /sys/kernel/config/nvmet.
//
//   { "hosts":      [ { "nqn" } ],
//     "ports":      [ { "portid", "addr": { adrfam, traddr, treq, trsvcid, trtype, tsas },
//                       "param": { inline_data_size, max_queue_size, pi_enable },
//                       "referrals": [ { "name", "addr": { ..., portid }, "enable" } ],
//                       "ana_groups": [ { "grpid", "ana": { "state" } } ], "subsystems": [ nqn ] } ],
//     "subsystems": [ { "nqn", "attr": { allow_any_host, serial, model, firmware, version, ieee_oui,
//                                        cntlid_min, cntlid_max, pi_enable, qid_max, ... },
//                       "allowed_hosts": [ nqn ],
//                       "namespaces": [ { "nsid", "enable", "ana_grpid",
//                                         "device": { path, uuid, nguid }, "ana": {...}, "resv": {...} } ],
//                       "passthru": [...] } ] }
//
// Attribute values are strings as read from configfs ("1", "16384"), ids are numbers. Everything that
// nvmetd cannot honour is reported in `warnings`; nothing is dropped silently.
import { readFileSync, realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { isIP } from 'node:net';
import { ConfigError } from './errors.js';
import type { ConfigFile, DhchapInput, HostInput, NamespaceInput, PortInput, ReferralInput, SubsystemInput } from './file-format.js';
import { readJsonFile } from './load.js';
import { nameProblem, notNqnWarning } from './nqn.js';
import { configSchema } from './schema.js';
import { ANA_STATE_NAMES } from './types.js';
import { ANA_GROUP_MAX } from '../spec/log.js';

export interface NvmetcliImport {
  config: ConfigFile;
  warnings: string[];
}

export interface NvmetcliOptions {
  /** Logical block size of a block device path, when it can be found (default: from /sys/class/block). */
  blockDeviceBlockSize?: (path: string) => 512 | 4096 | undefined;
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined =>
  typeof v === 'string' ? v.trim() : typeof v === 'number' ? String(v) : undefined;
const int = (v: unknown): number | undefined => {
  const s = str(v);
  if (s === undefined || s === '') return undefined;
  const n = s.startsWith('0x') || s.startsWith('0X') ? Number.parseInt(s.slice(2), 16) : Number(s);
  return Number.isInteger(n) ? n : undefined;
};
const flag = (v: unknown): boolean | undefined => {
  const n = int(v);
  return n === undefined ? undefined : n !== 0;
};
const isZeroId = (s: string): boolean => /^[0\-:]+$/.test(s);

export async function importNvmetcliFile(path: string, options: NvmetcliOptions = {}): Promise<NvmetcliImport> {
  return importNvmetcli(await readJsonFile(path), path, options);
}

export function importNvmetcli(raw: unknown, source: string, options: NvmetcliOptions = {}): NvmetcliImport {
  if (!isObj(raw)) throw new ConfigError(`${source}: /: not an nvmetcli configuration (expected a JSON object)`, source);
  return new Importer(source, options).run(raw);
}

class Importer {
  readonly warnings: string[] = [];
  /** Ports imported with TLS ("optional"/"required"): one warning names them all (their PSKs are not here). */
  readonly tlsPorts: string[] = [];
  constructor(readonly source: string, readonly options: NvmetcliOptions) {}

  warn(at: string, message: string): void {
    this.warnings.push(`${this.source}: ${at}: ${message}`);
  }

  /** Warns about every key of `obj` not in `handled`. */
  rest(obj: Obj, handled: string[], at: string, what: string): void {
    for (const key of Object.keys(obj)) {
      if (!handled.includes(key)) this.warn(`${at}/${key}`, `${what} "${key}" is not supported by nvmetd, ignored`);
    }
  }

  run(raw: Obj): NvmetcliImport {
    this.rest(raw, ['hosts', 'ports', 'subsystems'], '', 'section');
    const hosts = list(raw.hosts).flatMap((h, i) => this.host(h, `/hosts/${i}`));
    const subsystems = list(raw.subsystems).flatMap((s, i) => this.subsystem(s, `/subsystems/${i}`));
    const known = new Set(subsystems.map((s) => s.nqn));
    const ports = list(raw.ports).flatMap((p, i) => this.port(p, `/ports/${i}`, known));
    if (ports.length === 0) this.warn('/ports', 'no TCP port to import: nvmetd will listen on its default 127.0.0.1:4420');
    if (this.tlsPorts.length > 0) {
      this.warn('/ports', `TLS imported as ports[].tls (${this.tlsPorts.join(', ')}), but the PSKs stay in the kernel keyring: set hosts[].tlsKey by hand for each host that connects over TLS (nvmetd keys gen-tls, or the host's configured PSK); nvmetd refuses a port that requires TLS while no host has one`);
    }
    const config: ConfigFile = {
      ...(hosts.length > 0 ? { hosts } : {}),
      ...(ports.length > 0 ? { ports: ports.map((p) => inSchemaOrder(p, 'port')) } : {}),
      subsystems: subsystems.map((s) => inSchemaOrder(s, 'subsystem')),
    };
    // Names the kernel target accepts are served (a warning when not an NQN); the rest cannot be.
    const names = new Set([...hosts.map((h) => h.nqn), ...subsystems.flatMap((s) => [s.nqn, ...(s.allowedHosts ?? [])])]);
    for (const name of names) {
      const problem = nameProblem(name);
      const warning = problem ? `${problem}: nvmetd refuses it; rename it here and on the hosts` : notNqnWarning(name);
      if (warning) this.warn(`(${JSON.stringify(name)})`, warning);
    }
    return { config, warnings: this.warnings };
  }

  host(h: unknown, at: string): HostInput[] {
    if (!isObj(h) || str(h.nqn) === undefined) {
      this.warn(at, 'host without "nqn", skipped');
      return [];
    }
    // nvmetcli saves the configfs attributes dhchap_key, dhchap_ctrl_key, dhchap_hash, dhchap_dhgroup
    // as the group "dhchap": { key, ctrl_key, hash, dhgroup }; flat dhchap_* names are read too.
    const flat = Object.fromEntries(Object.entries(h).filter(([k]) => k.startsWith('dhchap_')).map(([k, v]) => [k.slice('dhchap_'.length), v]));
    this.rest(h, ['nqn', 'dhchap', ...Object.keys(flat).map((k) => `dhchap_${k}`)], at, 'host attribute');
    const grouped = isObj(h.dhchap);
    const attrs: Obj = grouped ? (h.dhchap as Obj) : flat;
    const out: HostInput = { nqn: str(h.nqn)! };
    const dhchap = this.dhchap(attrs, (name) => (grouped ? `${at}/dhchap/${name}` : `${at}/dhchap_${name}`));
    if (dhchap) out.dhchap = dhchap;
    return [out];
  }

  /** The kernel's host DH-HMAC-CHAP attributes (values never appear in warnings: they hold secrets). */
  dhchap(a: Obj, at: (name: string) => string): DhchapInput | null {
    for (const name of Object.keys(a)) {
      if (!['key', 'ctrl_key', 'hash', 'dhgroup'].includes(name)) this.warn(at(name), `DH-HMAC-CHAP attribute "${name}" is not supported by nvmetd, ignored`);
    }
    const key = str(a.key) ?? '';
    const ctrlKey = str(a.ctrl_key) ?? '';
    if (key === '') {
      if (ctrlKey !== '') this.warn(at('ctrl_key'), 'a controller key without a host key: the kernel does not authenticate such a host, ignored');
      return null;
    }
    const out: DhchapInput = { key };
    if (ctrlKey !== '') out.ctrlKey = ctrlKey;
    // The kernel names hashes "hmac(sha256)" and holds one hash and one DH group per host.
    const hash = (str(a.hash) ?? '').replace(/^hmac\((.*)\)$/, '$1');
    if (hash !== '') out.hash = hash;
    const dhgroup = str(a.dhgroup) ?? '';
    if (dhgroup !== '') out.dhgroup = dhgroup;
    return out;
  }

  subsystem(s: unknown, at: string): SubsystemInput[] {
    if (!isObj(s) || !str(s.nqn)) {
      this.warn(at, 'subsystem without "nqn", skipped');
      return [];
    }
    this.rest(s, ['nqn', 'attr', 'allowed_hosts', 'namespaces'], at, 'subsystem entry');
    const out: SubsystemInput = { nqn: str(s.nqn)! };
    const allowed = list(s.allowed_hosts).flatMap((h) => (str(h) ? [str(h)!] : []));
    const attr = isObj(s.attr) ? s.attr : {};
    const a = `${at}/attr`;
    for (const [key, value] of Object.entries(attr)) {
      const v = str(value) ?? '';
      switch (key) {
        case 'allow_any_host':
          if (flag(v) === true && allowed.length > 0) {
            this.warn(`${a}/allow_any_host`, 'is 1 but allowed_hosts lists hosts (the kernel refuses that too): only the listed hosts are admitted');
          } else if (flag(v) !== undefined) {
            out.allowAnyHost = flag(v)!;
          }
          break;
        case 'serial': if (v !== '') out.serial = this.ascii(v, 20, `${a}/serial`); break;
        case 'model': if (v !== '') out.model = this.ascii(v, 40, `${a}/model`); break;
        case 'firmware': if (v !== '') out.firmware = this.ascii(v, 8, `${a}/firmware`); break;
        case 'cntlid_min': if (int(v) !== undefined) out.cntlidMin = int(v)!; break;
        case 'cntlid_max': if (int(v) !== undefined) out.cntlidMax = int(v)!; break;
        case 'version':
          this.warn(`${a}/version`, `NVMe version ${v} ignored: nvmetd reports the version it implements`);
          break;
        case 'pi_enable':
          if (flag(v)) this.warn(`${a}/pi_enable`, 'protection information is not supported, ignored');
          break;
        case 'ieee_oui':
        case 'vendor_id':
        case 'subsys_vendor_id':
          if (int(v) !== 0) this.warn(`${a}/${key}`, `${key} ${v} is not supported, ignored`);
          break;
        case 'qid_max':
          this.warn(`${a}/qid_max`, `qid_max ${v} ignored: nvmetd grants the number of I/O queues it is built for`);
          break;
        default:
          this.warn(`${a}/${key}`, `subsystem attribute "${key}" is not supported by nvmetd, ignored`);
      }
    }
    if (allowed.length > 0) {
      out.allowedHosts = allowed;
      out.allowAnyHost = false;
    }
    const namespaces = list(s.namespaces).flatMap((n, i) => this.namespace(n, `${at}/namespaces/${i}`));
    if (namespaces.length > 0) out.namespaces = namespaces;
    return [out];
  }

  ascii(v: string, max: number, at: string): string {
    let out = v.replace(/[^ -~]/g, '?');
    if (out !== v) this.warn(at, 'non-ASCII characters replaced by "?"');
    if (out.length > max) {
      this.warn(at, `"${out}" is longer than ${max} characters, truncated`);
      out = out.slice(0, max).trimEnd();
    }
    return out;
  }

  namespace(n: unknown, at: string): NamespaceInput[] {
    if (!isObj(n) || int(n.nsid) === undefined) {
      this.warn(at, 'namespace without "nsid", skipped');
      return [];
    }
    const nsid = int(n.nsid)!;
    this.rest(n, ['nsid', 'enable', 'device', 'ana_grpid', 'ana', 'resv', 'buffered_io'], at, 'namespace entry');
    const device = isObj(n.device) ? n.device : {};
    const path = str(device.path) ?? '';
    if (path === '') {
      this.warn(`${at}/device/path`, `namespace ${nsid} has no device path, skipped`);
      return [];
    }
    const ns: NamespaceInput = { nsid, backing: { type: 'file', path } };
    if (path.startsWith('/dev/')) {
      ns.backing = { type: 'block', path };
      const bs = (this.options.blockDeviceBlockSize ?? sysfsBlockSize)(path);
      if (bs !== undefined && bs !== 512) ns.blockSize = bs;
      if (bs === undefined) {
        this.warn(`${at}/device/path`, `cannot read the logical block size of ${path}: using 512 (set "blockSize" if the kernel target reported 4096)`);
      }
    } else {
      // The kernel target's file backend uses the file system's block size (4096 on ext4/xfs).
      ns.blockSize = 4096;
      this.warn(`${at}/device/path`, `file ${path}: block size set to 4096 as the kernel target's file backend uses on ext4/xfs; check it matches what hosts saw`);
    }
    const buffered = flag(n.buffered_io ?? device.buffered_io);
    if (buffered !== undefined) (ns.backing as { buffered?: boolean }).buffered = buffered;
    for (const [key, value] of Object.entries(device)) {
      const v = str(value) ?? '';
      const d = `${at}/device/${key}`;
      switch (key) {
        case 'path':
        case 'buffered_io':
          break;
        case 'uuid':
        case 'nguid':
        case 'eui64':
          if (v === '') break;
          if (isZeroId(v)) {
            this.warn(d, `all-zero ${key} means "none": nvmetd derives a stable one instead`);
            break;
          }
          ns[key] = v;
          break;
        case 'p2pmem':
          if (flag(v)) this.warn(d, 'peer-to-peer memory is not supported, ignored');
          break;
        default:
          this.warn(d, `namespace device attribute "${key}" is not supported by nvmetd, ignored`);
      }
    }
    const enable = flag(n.enable);
    if (enable === false) ns.enabled = false;
    const grpid = int(n.ana_grpid ?? (isObj(n.ana) ? n.ana.grpid : undefined));
    if (grpid !== undefined && grpid >= 1 && grpid <= ANA_GROUP_MAX) {
      if (grpid !== 1) ns.anaGroup = grpid;
    } else if (n.ana_grpid !== undefined || isObj(n.ana)) {
      this.warn(`${at}/ana_grpid`, `ANA group ${String(n.ana_grpid ?? (n.ana as Record<string, unknown>).grpid)} is out of range (1 to ${ANA_GROUP_MAX}): group 1 is used`);
    }
    if (isObj(n.resv) && flag(n.resv.enable)) {
      this.warn(`${at}/resv/enable`, 'reservations are not supported, ignored');
    }
    return [ns];
  }

  port(p: unknown, at: string, subsystems: Set<string>): PortInput[] {
    if (!isObj(p)) {
      this.warn(at, 'not an object, skipped');
      return [];
    }
    const addr = isObj(p.addr) ? p.addr : {};
    const trtype = str(addr.trtype) ?? '';
    const id = int(p.portid);
    if (trtype !== 'tcp') {
      this.warn(at, `port ${id ?? '?'} has transport "${trtype || 'none'}": nvmetd serves TCP only, port skipped`);
      return [];
    }
    this.rest(p, ['portid', 'addr', 'param', 'referrals', 'subsystems', 'ana_groups', 'enable'], at, 'port entry');
    const out: PortInput = {};
    if (id !== undefined && id >= 1 && id <= 65535) out.id = id;
    else this.warn(`${at}/portid`, `port id ${String(p.portid)} is out of range: a free id is used`);
    this.address(addr, `${at}/addr`, out, 'port');
    if (out.tls !== undefined) this.tlsPorts.push(`port ${id ?? '?'}: ${out.tls}`);
    const param = isObj(p.param) ? p.param : {};
    for (const [key, value] of Object.entries(param)) {
      const v = int(value);
      const q = `${at}/param/${key}`;
      switch (key) {
        case 'inline_data_size':
          if (v !== undefined && v >= 0) out.inlineDataSize = v;
          else this.warn(q, `${String(value)} means the transport default: nvmetd offers its default 8192`);
          break;
        case 'max_queue_size':
          if (v !== undefined && v > 0) out.maxQueueSize = v;
          else this.warn(q, `${String(value)} means the transport default: nvmetd offers its default 128`);
          break;
        case 'pi_enable':
          if (v) this.warn(q, 'protection information is not supported, ignored');
          break;
        default:
          this.warn(q, `port parameter "${key}" is not supported by nvmetd, ignored`);
      }
    }
    out.subsystems = list(p.subsystems).flatMap((s, i) => {
      const nqn = str(s);
      if (nqn && subsystems.has(nqn)) return [nqn];
      this.warn(`${at}/subsystems/${i}`, `no imported subsystem "${String(s)}", link skipped`);
      return [];
    });
    const ana: Record<string, string> = {};
    list(p.ana_groups).forEach((g, i) => {
      const q = `${at}/ana_groups/${i}`;
      if (!isObj(g)) return this.warn(q, 'not an object, skipped');
      const grpid = int(g.grpid);
      const state = isObj(g.ana) ? str(g.ana.state) : undefined;
      if (grpid === undefined || grpid < 1 || grpid > ANA_GROUP_MAX) {
        return this.warn(q, `ANA group ${String(g.grpid)} is out of range (1 to ${ANA_GROUP_MAX}), skipped`);
      }
      if (state === undefined) return; // the kernel's default: optimized
      if (!(ANA_STATE_NAMES as readonly string[]).includes(state)) {
        return this.warn(`${q}/ana/state`, `"${state}" is not an ANA state, group ${grpid} stays optimized`);
      }
      if (state !== 'optimized') ana[String(grpid)] = state;
    });
    if (Object.keys(ana).length > 0) out.ana = ana;
    const referrals = list(p.referrals).flatMap((r, i) => this.referral(r, `${at}/referrals/${i}`));
    if (referrals.length > 0) out.referrals = referrals;
    return [out];
  }

  referral(r: unknown, at: string): ReferralInput[] {
    if (!isObj(r)) return [];
    this.rest(r, ['name', 'addr', 'enable', 'portid'], at, 'referral entry');
    const addr = isObj(r.addr) ? r.addr : {};
    const trtype = str(addr.trtype) ?? '';
    if (trtype !== 'tcp') {
      this.warn(at, `referral ${str(r.name) ?? ''} has transport "${trtype || 'none'}": only TCP referrals are listed, skipped`);
      return [];
    }
    if (flag(r.enable) === false) {
      this.warn(at, `referral ${str(r.name) ?? ''} is disabled, skipped`);
      return [];
    }
    const out: { address?: string; port?: number; family?: 'ipv4' | 'ipv6'; portId?: number } = {};
    this.address(addr, `${at}/addr`, out, 'referral');
    if (out.address === undefined) return [];
    const portId = int(addr.portid ?? r.portid);
    if (portId !== undefined && portId >= 1 && portId <= 65535) out.portId = portId;
    return [out as ReferralInput];
  }

  /** addr { adrfam, traddr, trsvcid, treq, tsas, trtype } of a port or a referral into `out`. */
  address(addr: Obj, at: string, out: { address?: string; port?: number; family?: 'ipv4' | 'ipv6'; tls?: 'none' | 'optional' | 'required' }, what: string): void {
    let treq = '';
    let tsas = '';
    for (const [key, value] of Object.entries(addr)) {
      const v = str(value) ?? '';
      switch (key) {
        case 'trtype':
        case 'portid':
          break;
        case 'traddr':
          if (isIP(v) !== 0) out.address = v;
          else this.warn(`${at}/traddr`, `"${v}" is not an IP address: ${what === 'port' ? 'listening on 127.0.0.1' : 'skipped'}`);
          break;
        case 'trsvcid': {
          const n = int(v);
          if (n !== undefined && n >= 1 && n <= 65535) out.port = n;
          else this.warn(`${at}/trsvcid`, `"${v}" is not a TCP port: 4420 used`);
          break;
        }
        case 'adrfam':
          if (v === 'ipv4' || v === 'ipv6') out.family = v;
          else this.warn(`${at}/adrfam`, `address family "${v}" ignored: inferred from the address`);
          break;
        case 'treq':
          if (v !== '' && v !== 'not specified' && v !== 'required' && v !== 'not required') this.warn(`${at}/treq`, `"${v}" is not a treq value, ignored`);
          else treq = v;
          break;
        case 'tsas':
          if (v !== '' && v !== 'none' && v !== 'tls1.3') this.warn(`${at}/tsas`, `security type "${v}" is not supported by nvmetd, ignored`);
          else tsas = v;
          break;
        default:
          this.warn(`${at}/${key}`, `address attribute "${key}" is not supported by nvmetd, ignored`);
      }
    }
    // TLS: a secure channel required, else offered when the port's security type is TLS 1.3.
    const tls = treq === 'required' ? 'required' : tsas === 'tls1.3' ? 'optional' : undefined;
    if (tls !== undefined) {
      if (what === 'port') out.tls = tls;
      else this.warn(at, `TLS (${tls}) of a ${what} is not carried over: nvmetd lists it as a plain TCP entry`);
    }
    // The family must agree with the address; let the address decide.
    if (out.address !== undefined && out.family !== undefined) {
      const actual = isIP(out.address) === 6 ? 'ipv6' : 'ipv4';
      if (actual !== out.family) {
        this.warn(`${at}/adrfam`, `"${out.family}" does not match ${out.address}: ${actual} used`);
        out.family = actual;
      }
    }
  }
}

/** A copy of `obj` with its keys in the order the schema lists them (and nested objects likewise). */
function inSchemaOrder<T extends object>(obj: T, definition: keyof typeof configSchema.definitions): T {
  const def = configSchema.definitions[definition] as { properties: Record<string, unknown> };
  const nested: Record<string, keyof typeof configSchema.definitions> = {
    referrals: 'referral', namespaces: 'namespace',
  };
  const out: Record<string, unknown> = {};
  for (const key of [...Object.keys(def.properties), ...Object.keys(obj)]) {
    if (key in out || !(key in obj)) continue;
    const value = (obj as Record<string, unknown>)[key];
    const sub = nested[key];
    out[key] = sub && Array.isArray(value) ? value.map((v: object) => inSchemaOrder(v, sub)) : value;
  }
  return out as T;
}

/** Logical block size of a block device from sysfs, when the device exists on this machine. */
export function sysfsBlockSize(path: string): 512 | 4096 | undefined {
  try {
    const name = basename(realpathSync(path));
    const dir = realpathSync(`/sys/class/block/${name}`);
    for (const q of [`${dir}/queue/logical_block_size`, `${dir}/../queue/logical_block_size`]) {
      try {
        const n = Number(readFileSync(q, 'utf8').trim());
        if (n === 512 || n === 4096) return n;
      } catch {
        // a partition has its queue/ in the parent directory
      }
    }
  } catch {
    // not on this machine
  }
  return undefined;
}
