// The interop run's configuration: hosts, namespaces and ports (interopConfig), the nvmetd config file
// the target under test starts from (nvmetdConfigJson), and the guest's environment (guestEnv). The
// run's secrets are made once per run; runState carries what the runner learns as it starts (the
// guest's nvme-cli version, the re-auth key file).
import { join } from 'node:path';
import type { InteropConfig } from './checks.js';
import type { Release } from './setup.js';
import { interopAuthExtraKeys, interopAuthKeys, interopTlsKeys, tlsDerivationFor, tlsImportLine, type InteropAuthExtraKeys, type InteropAuthKeys, type InteropTlsKeys } from './auth-keys.js';
import { RBD_NQN } from './gateways.js';

export interface Options {
  reference: boolean;
  release: Release;
  only: string;
  timeoutSec: number;
  memory: string;
  cpus: number;
}

/** Set by the runner as it starts: how the guest's libnvme derives TLS PSKs, the re-auth key file. */
export const runState = { guestNvmeCli: '', reauthKeyFile: '' };

export function interopConfig(o: Options, runDir: string): InteropConfig {
  const mib = 1024 * 1024;
  return {
    mode: o.reference ? 'reference' : 'nvmetd',
    release: o.release,
    taddr: o.reference ? '127.0.0.1' : '10.0.2.2',
    // QEMU's user networking maps 10.0.2.2:P in the guest to 127.0.0.1:P here: same port both sides.
    tport: o.reference ? 4420 : Number(process.env.NVMETD_INTEROP_PORT ?? 4420),
    hostPort: Number(process.env.NVMETD_INTEROP_PORT ?? 4420),
    subnqn: 'nqn.2026-11.io.nvmetd:interop',
    serial: 'nvmetd-interop-01',
    model: 'nvmetd interop',
    hosts: [
      { nqn: 'nqn.2014-08.org.nvmexpress:uuid:8d7d4a52-0c0e-4f57-9a5f-1a2b3c4d5e01', id: '8d7d4a52-0c0e-4f57-9a5f-1a2b3c4d5e01' },
      { nqn: 'nqn.2014-08.org.nvmexpress:uuid:8d7d4a52-0c0e-4f57-9a5f-1a2b3c4d5e02', id: '8d7d4a52-0c0e-4f57-9a5f-1a2b3c4d5e02' },
      { nqn: 'nqn.2014-08.org.nvmexpress:uuid:8d7d4a52-0c0e-4f57-9a5f-1a2b3c4d5e03', id: '8d7d4a52-0c0e-4f57-9a5f-1a2b3c4d5e03' },
      // Host 4 authenticates (DH-HMAC-CHAP); it also has a TLS PSK (TLS + DH-HMAC-CHAP on the TLS subsystem).
      { nqn: 'nqn.2014-08.org.nvmexpress:uuid:8d7d4a52-0c0e-4f57-9a5f-1a2b3c4d5e04', id: '8d7d4a52-0c0e-4f57-9a5f-1a2b3c4d5e04' },
      // Host 5 has a TLS PSK only, and is allowed on the TLS subsystem only.
      { nqn: 'nqn.2014-08.org.nvmexpress:uuid:8d7d4a52-0c0e-4f57-9a5f-1a2b3c4d5e05', id: '8d7d4a52-0c0e-4f57-9a5f-1a2b3c4d5e05' },
      // Host 6 too, with the TP 8018 (RFC 8446) derivation whatever the guest's libnvme does.
      { nqn: 'nqn.2014-08.org.nvmexpress:uuid:8d7d4a52-0c0e-4f57-9a5f-1a2b3c4d5e06', id: '8d7d4a52-0c0e-4f57-9a5f-1a2b3c4d5e06' },
      // Host 7 is allowed on the interop subsystem, but namespace 2 is masked from it (ns-masking).
      { nqn: 'nqn.2014-08.org.nvmexpress:uuid:8d7d4a52-0c0e-4f57-9a5f-1a2b3c4d5e07', id: '8d7d4a52-0c0e-4f57-9a5f-1a2b3c4d5e07' },
      // Hosts 8-10 authenticate with one hash and one DH group each (guest/auth.sh; they see namespace 1 only).
      { nqn: 'nqn.2014-08.org.nvmexpress:uuid:8d7d4a52-0c0e-4f57-9a5f-1a2b3c4d5e08', id: '8d7d4a52-0c0e-4f57-9a5f-1a2b3c4d5e08' },
      { nqn: 'nqn.2014-08.org.nvmexpress:uuid:8d7d4a52-0c0e-4f57-9a5f-1a2b3c4d5e09', id: '8d7d4a52-0c0e-4f57-9a5f-1a2b3c4d5e09' },
      { nqn: 'nqn.2014-08.org.nvmexpress:uuid:8d7d4a52-0c0e-4f57-9a5f-1a2b3c4d5e0a', id: '8d7d4a52-0c0e-4f57-9a5f-1a2b3c4d5e0a' },
      // Host 11 has a SHA-384 TLS PSK (NVMeTLSkey-1:02, TLS_AES_256_GCM_SHA384), on the TLS subsystem only.
      { nqn: 'nqn.2014-08.org.nvmexpress:uuid:8d7d4a52-0c0e-4f57-9a5f-1a2b3c4d5e0b', id: '8d7d4a52-0c0e-4f57-9a5f-1a2b3c4d5e0b' },
    ],
    namespaces: [
      {
        nsid: 1, kind: 'ram', blockSize: 512, size: 256 * mib, uuid: '6e766d65-7464-4000-8000-696e7465726f', nguid: '6e766d6574640001696e7465726f7031',
        // Reservations persist through power loss (reservations-ptpl); a fresh file each run.
        ptplFile: join(runDir, 'ns1-ptpl.json'),
      },
      {
        nsid: 2, kind: 'file', blockSize: 4096, size: 256 * mib, uuid: '6e766d65-7464-4000-8000-696e74657232', nguid: '6e766d6574640002696e7465726f7032',
        path: join(runDir, 'ns2.img'),
      },
    ],
  };
}

/** The two RBD gateways' ports (first port + 5 and + 6; + 1 is TLS, + 2 multipath-ana's). */
export function gatewayPorts(c: InteropConfig): { a: number; b: number } {
  return { a: c.hostPort + 5, b: c.hostPort + 6 };
}

/** The port of multipath-ana's second path (NVMETD_INTEROP_PORT2, default the first port + 2: + 1 is the TLS port). */
export function secondPort(c: InteropConfig): number {
  return Number(process.env.NVMETD_INTEROP_PORT2 ?? c.hostPort + 2);
}

/** I/O worker threads of the target under test (NVMETD_INTEROP_WORKERS, default 2; 0: none). */
export function interopWorkers(): number {
  const n = Number(process.env.NVMETD_INTEROP_WORKERS ?? 2);
  return Number.isInteger(n) && n >= 0 ? n : 2;
}

/**
 * perf-vs-fio: namespace 1 answers every command after this delay, so fio in the (emulated, slow)
 * guest and `nvmetd perf` on this machine both measure the target, not their own overhead.
 */
export const PERF_DELAY_US = 50_000;
export const PERF_QD = 8;
export const PERF_SECONDS = 10;
/** The run's DH-HMAC-CHAP secrets (host 4), made once per run. */
let authKeys: InteropAuthKeys | null = null;
export function keysFor(c: InteropConfig): InteropAuthKeys {
  return (authKeys ??= interopAuthKeys(c.hosts[3]!.nqn, c.subnqn));
}

/** Secrets of hosts 8-10 (guest/auth.sh), made once per run; the re-auth key file is written at start. */
let authExtraKeys: InteropAuthExtraKeys | null = null;
export function extraKeysFor(c: InteropConfig): InteropAuthExtraKeys {
  return (authExtraKeys ??= interopAuthExtraKeys({ uni: c.hosts[7]!.nqn, sha512: c.hosts[8]!.nqn, reauth: c.hosts[9]!.nqn }, c.subnqn));
}


/**
 * TLS: a second port (host port + 1) that requires TLS and offers only a RAM subsystem of its own, so
 * the plain scenarios and the reference comparisons see exactly what they saw before (hosts 1-3 are
 * not allowed on it). Hosts 4, 5, 6 (SHA-256) and 11 (SHA-384) have PSKs (fresh each run).
 */
export const TLS_SUBNQN = 'nqn.2026-11.io.nvmetd:interop-tls';
let tlsKeys: InteropTlsKeys | null = null;
export function tlsKeysFor(): InteropTlsKeys {
  return (tlsKeys ??= interopTlsKeys());
}
/** How the guest's libnvme derives TLS PSKs (compat before 1.16, i.e. nvme-cli before 2.16). */


export function nvmetdConfigJson(c: InteropConfig, ns1DelayUs = 0): string {
  const workers = interopWorkers();
  const keys = keysFor(c);
  const tk = tlsKeysFor();
  const xk = extraKeysFor(c);
  const derivation = tlsDerivationFor(runState.guestNvmeCli);
  const cfg = {
    ...(workers > 0 ? { shard: { workers } } : {}),
    hosts: [
      { nqn: c.hosts[3]!.nqn, dhchap: { key: keys.host, ctrlKey: keys.ctrl }, tlsKey: tk.host4, tlsKeyDerivation: derivation },
      { nqn: c.hosts[4]!.nqn, tlsKey: tk.host5, tlsKeyDerivation: derivation },
      { nqn: c.hosts[5]!.nqn, tlsKey: tk.host6 },
      { nqn: c.hosts[10]!.nqn, tlsKey: tk.host11, tlsKeyDerivation: derivation },
      { nqn: c.hosts[7]!.nqn, dhchap: { key: xk.uni, hash: ['sha256'], dhgroup: ['ffdhe2048'] } },
      { nqn: c.hosts[8]!.nqn, dhchap: { key: xk.sha512, ctrlKey: xk.sha512Ctrl, hash: ['sha512'], dhgroup: ['null'] } },
      { nqn: c.hosts[9]!.nqn, dhchap: { key: xk.reauth } },
    ],
    ports: [
      { id: 1, address: '127.0.0.1', port: c.hostPort, advertiseAddress: '10.0.2.2', advertisePort: c.tport, subsystems: [c.subnqn] },
      { id: 2, address: '127.0.0.1', port: c.hostPort + 1, advertiseAddress: '10.0.2.2', advertisePort: c.tport + 1, subsystems: [TLS_SUBNQN], tls: 'required' },
    ],
    subsystems: [{
      nqn: c.subnqn,
      serial: c.serial,
      model: c.model,
      allowAnyHost: false,
      allowedHosts: [c.hosts[0].nqn, c.hosts[1].nqn, c.hosts[3]!.nqn, c.hosts[6]!.nqn, c.hosts[7]!.nqn, c.hosts[8]!.nqn, c.hosts[9]!.nqn],
      namespaces: c.namespaces.map((n) => ({
        nsid: n.nsid,
        backing: n.kind === 'ram' ? { type: 'ram', size: n.size, ...(n.nsid === 1 && ns1DelayUs ? { delayUs: ns1DelayUs } : {}) } : { type: 'file', path: n.path, size: n.size },
        blockSize: n.blockSize,
        uuid: n.uuid,
        nguid: n.nguid,
        // Per-host masking: every allowed host but host 7 sees namespace 2.
        ...(n.nsid === 2 ? { hosts: [c.hosts[0].nqn, c.hosts[1].nqn, c.hosts[3]!.nqn] } : {}),
        // Reservations persist through power loss on namespace 1 (reservations-ptpl), fresh each run.
        ...(n.ptplFile ? { ptplFile: n.ptplFile } : {}),
      })),
    }, {
      nqn: TLS_SUBNQN,
      serial: 'nvmetd-interop-tls',
      model: c.model,
      allowAnyHost: false,
      allowedHosts: [c.hosts[3]!.nqn, c.hosts[4]!.nqn, c.hosts[5]!.nqn, c.hosts[10]!.nqn],
      namespaces: [{ nsid: 1, backing: { type: 'ram', size: 64 * 1024 * 1024 }, blockSize: 512 }],
    }],
  };
  return JSON.stringify(cfg, null, 2) + '\n';
}

export function guestEnv(c: InteropConfig, o: Options): string {
  const fioSize = process.env.NVMETD_INTEROP_FIO_SIZE ?? '64M';
  const kv: Record<string, string | number> = {
    MODE: c.mode, TADDR: c.taddr, TPORT: c.tport, SUBNQN: c.subnqn, SERIAL: c.serial, MODEL: c.model,
    HOSTNQN1: c.hosts[0].nqn, HOSTID1: c.hosts[0].id, HOSTNQN2: c.hosts[1].nqn, HOSTID2: c.hosts[1].id,
    HOSTNQN3: c.hosts[2].nqn, HOSTID3: c.hosts[2].id,
    HOSTNQN4: c.hosts[3]!.nqn, HOSTID4: c.hosts[3]!.id,
    HOSTNQN5: c.hosts[4]!.nqn, HOSTID5: c.hosts[4]!.id,
    HOSTNQN7: c.hosts[6]!.nqn, HOSTID7: c.hosts[6]!.id,
    HOSTNQN6: c.hosts[5]!.nqn, HOSTID6: c.hosts[5]!.id,
    TLS_SUBNQN, TLS_TPORT: c.tport + 1, TLS_KEY4: tlsKeysFor().host4, TLS_KEY5: tlsKeysFor().host5,
    TLS_IMPORT6: tlsImportLine(tlsKeysFor().host6, c.hosts[5]!.nqn, TLS_SUBNQN),
    HOSTNQN11: c.hosts[10]!.nqn, HOSTID11: c.hosts[10]!.id, TLS_KEY11: tlsKeysFor().host11,
    DHCHAP_KEY4: keysFor(c).host, DHCHAP_CTRL4: keysFor(c).ctrl, DHCHAP_WRONG4: keysFor(c).wrong,
    HOSTNQN8: c.hosts[7]!.nqn, HOSTID8: c.hosts[7]!.id, HOSTNQN9: c.hosts[8]!.nqn, HOSTID9: c.hosts[8]!.id,
    HOSTNQN10: c.hosts[9]!.nqn, HOSTID10: c.hosts[9]!.id, DHCHAP_KEY8: extraKeysFor(c).uni,
    DHCHAP_KEY9: extraKeysFor(c).sha512, DHCHAP_CTRL9: extraKeysFor(c).sha512Ctrl,
    DHCHAP_KEY10: extraKeysFor(c).reauth, DHCHAP_NEW10: extraKeysFor(c).reauthNew, REAUTH_KEYFILE: runState.reauthKeyFile,
    FIO_SIZE: fioSize, FIO_IODEPTH: 16, KILL_FIO_SIZE: process.env.NVMETD_INTEROP_KILL_FIO_SIZE ?? '128M', KILL_AFTER: 5, KILL_DOWNTIME: 3,
    KATO: 5, IDLE_SECS: 17, CTRL_LOSS_TMO: 180, RECONNECT_DELAY: 2, REQUEST_TIMEOUT: 120,
    PERF_QD, PERF_SECONDS, PERF_DELAY_US,
    // Live management over the target's RPC socket: the second port (a listener added by RPC, the
    // second path of multipath-ana; same number on both sides like the first) and the address the
    // target's listeners are bound to (what listen_address names in the RPC calls).
    TPORT2: secondPort(c), RBD_NQN, GW_A: gatewayPorts(c).a, GW_B: gatewayPorts(c).b, RPC_LADDR: '127.0.0.1', HOT_NSID: 3, MP_FIO_SECS: 40, RBD_FIO_SECS: 30,
    ONLY: o.only,
  };
  c.namespaces.forEach((n, i) => {
    const p = `NS${i + 1}_`;
    kv[p + 'NSID'] = n.nsid; kv[p + 'BS'] = n.blockSize; kv[p + 'SIZE'] = n.size; kv[p + 'KIND'] = n.kind;
    kv[p + 'UUID'] = n.uuid; kv[p + 'NGUID'] = n.nguid;
  });
  return Object.entries(kv).map(([k, v]) => `${k}='${String(v).replace(/'/g, '')}'`).join('\n') + '\n';
}
