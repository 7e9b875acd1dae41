// The normalized target configuration: what `nvmetd serve` runs. The JSON file format (see schema.ts)
// maps onto these types one to one, with defaults filled in by the loader.

export type AddressFamily = 'ipv4' | 'ipv6';

export interface RamBacking {
  type: 'ram';
  /** Size in bytes (the file format also accepts strings such as "1GiB"). */
  size: number;
  /**
   * Completion delay in microseconds (0: none): every command waits this long, like null_blk's
   * completion_nsec. For measuring initiators and load generators against a target of known latency.
   */
  delayUs?: number;
  /**
   * Start even though the size exceeds physical memory plus swap (memory is used only as blocks are
   * written); without it such a size is refused.
   */
  overcommit?: boolean;
}
export interface FileBacking {
  type: 'file';
  path: string;
  /** Size in bytes; when the file is shorter it is extended (sparse), when absent the file's size is used. */
  size?: number;
  /** Buffered I/O through the page cache (like the kernel target's buffered_io) instead of O_DIRECT. */
  buffered?: boolean;
}
export interface BlockBacking {
  type: 'block';
  path: string;
  buffered?: boolean;
}
/**
 * A Ceph RBD image through librbd (loaded only when such a namespace is configured). Every gateway that
 * exports the image opens it with its own RADOS client; see README "Scale-out on Ceph".
 */
export interface RbdBacking {
  type: 'rbd';
  pool: string;
  image: string;
  /** ceph.conf to read (monitors, keyring); absent: librados' default search (CEPH_CONF, /etc/ceph/ceph.conf). */
  cephConf?: string;
  /** Ceph user without the "client." prefix; default "admin". */
  user: string;
  /** Extra Ceph client options (name -> value), e.g. { "rados_osd_op_timeout": "30" }. */
  options?: Record<string, string>;
}
export type Backing = RamBacking | FileBacking | BlockBacking | RbdBacking;

/** Asymmetric Namespace Access state of a group on a port. */
export type AnaStateName = 'optimized' | 'non-optimized' | 'inaccessible' | 'persistent-loss' | 'change';
export const ANA_STATE_NAMES: readonly AnaStateName[] = ['optimized', 'non-optimized', 'inaccessible', 'persistent-loss', 'change'];

export interface NamespaceConfig {
  nsid: number;
  backing: Backing;
  /** Logical block size: 512 or 4096. */
  blockSize: 512 | 4096;
  /** RFC 4122 text form. Stable across restarts: derived from subsystem NQN + nsid when not given. */
  uuid: string;
  /** 32 hex digits. */
  nguid: string;
  /** 16 hex digits. */
  eui64: string;
  readOnly: boolean;
  enabled: boolean;
  /** ANA group (ANAGRPID) the namespace belongs to, 1 to ANA_GROUP_MAX; absent: 1. */
  anaGroup?: number;
  /** Persist Through Power Loss: where the namespace's reservation state is kept (absent: PTPL not supported). */
  ptplFile?: string;
  /**
   * Host NQNs that see the namespace (per-host masking); absent: every host the subsystem admits.
   * An empty list hides it from every host (SPDK's "no auto visible" with no host added yet).
   */
  hosts?: string[];
}

export interface SubsystemConfig {
  nqn: string;
  serial: string;
  model: string;
  firmware: string;
  allowAnyHost: boolean;
  /** Host NQNs admitted when allowAnyHost is false. */
  allowedHosts: string[];
  maxNamespaces: number;
  cntlidMin: number;
  cntlidMax: number;
  namespaces: NamespaceConfig[];
  /**
   * Keys given to hosts of this subsystem at run time (JSON-RPC nvmf_subsystem_add_host /
   * nvmf_subsystem_set_keys), by host NQN; they take precedence over hosts[] for this subsystem.
   * Never part of the config file (holds secrets: never print or save it).
   */
  hostKeys?: Record<string, SubsystemHostKeys>;
}

/** A keyring key a host entry uses: its name and the keyring's id for it (names can be reused). */
export interface KeyRef {
  name: string;
  id: number;
}

/** One host's run-time keys on one subsystem (SubsystemConfig.hostKeys). */
export interface SubsystemHostKeys {
  dhchapKeyRef?: KeyRef;
  dhchapCtrlKeyRef?: KeyRef;
  pskRef?: KeyRef;
  /** Present: the host must authenticate on this subsystem with these secrets. */
  dhchap?: HostDhchapConfig;
  /** The host's TLS PSK (NVMeTLSkey-1) for this subsystem. */
  tlsKey?: string;
  /**
   * Set when a DH-HMAC-CHAP key this host uses was removed from the keyring: the host must still
   * authenticate and cannot (every authentication fails with this reason). A PSK is taken when the
   * host is added, so removing its keyring key does not change TLS.
   */
  unusable?: string;
}

export interface ReferralConfig {
  address: string;
  port: number;
  family: AddressFamily;
  /** Port id reported in the discovery log entry. */
  portId: number;
}

export interface PortConfig {
  id: number;
  /** Address to listen on ("0.0.0.0", "::", "127.0.0.1", ...). */
  address: string;
  port: number;
  family: AddressFamily;
  /** Address and port written into discovery log entries (defaults to address/port). */
  advertiseAddress?: string;
  advertisePort?: number;
  /** NQNs of the subsystems exposed on this port. */
  subsystems: string[];
  referrals: ReferralConfig[];
  /** In-capsule data size offered on I/O queues (bytes). */
  inlineDataSize: number;
  /** Largest queue size (entries) a host may ask for on an I/O queue. */
  maxQueueSize: number;
  /** MAXH2CDATA offered in ICResp (bytes). */
  maxH2CData: number;
  /**
   * ANA state of groups on this port at start, by group id ("1".."128"); groups not listed are
   * optimized. The running state lives in the target context (src/core/ana.ts).
   */
  ana?: Record<string, AnaStateName>;
  /** NVMe/TCP TLS 1.3 with a PSK (TP 8011): none, optional (TLS or plain), required. */
  tls: TlsMode;
}

export type TlsMode = 'none' | 'optional' | 'required';

/** DH-HMAC-CHAP settings of one host (in-band authentication). */
export interface HostDhchapConfig {
  /** The host's secret, DHHC-1:<hh>:<base64>: (read from the file when the config says "file:PATH"). */
  key: string;
  /** The controller's secret, for hosts that ask for bidirectional authentication. */
  ctrlKey?: string;
  /** Hashes offered, most preferred first: sha256, sha384, sha512. */
  hashes: string[];
  /** DH groups offered, most preferred first: ffdhe2048 ... ffdhe8192, null. */
  dhgroups: string[];
}

export interface HostConfig {
  nqn: string;
  /** Present: this host must authenticate (DH-HMAC-CHAP) on every queue of an NVM subsystem. */
  dhchap?: HostDhchapConfig;
  /**
   * The host's configured TLS PSK, NVMeTLSkey-1:01:<base64>: (read from the file when the config says
   * "file:PATH"): admits it on ports with TLS.
   */
  tlsKey?: string;
  /**
   * How the host's tools turn tlsKey into the TLS PSK: rfc8446 (default; libnvme 1.16+) or compat
   * (libnvme before 1.16, e.g. nvme-cli 2.13 of Debian 13). Set only with tlsKey.
   */
  tlsKeyDerivation?: 'rfc8446' | 'compat';
}

export type QueuePolicy = 'round-robin' | 'per-controller' | 'map';
export type PollMode = 'event' | 'poll' | 'adaptive';

/** How I/O queues are spread over worker threads and cores. */
export interface ShardConfig {
  /** I/O worker threads; 0 keeps every queue on the main thread. */
  workers: number;
  /** CPUs the workers are pinned to (worker i on cores[i % length]); empty: not pinned. */
  cores: number[];
  /** CPU the main thread (controllers, admin queues, accept) is pinned to; -1: not pinned. */
  mainCore: number;
  /** round-robin over I/O queues, all queues of a controller on one worker, or an explicit qid map. */
  policy: QueuePolicy;
  /** policy 'map': I/O queue id -> worker index (queues not listed go round robin). */
  map: Record<string, number>;
  /** event-driven (idle target ~0% CPU), poll (busy-poll, 100% of each worker's core), adaptive. */
  mode: PollMode;
}

export interface TargetConfig {
  hosts: HostConfig[];
  ports: PortConfig[];
  subsystems: SubsystemConfig[];
  /** Log level for pino. */
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  /** Log line format: JSON lines or one readable line per event; absent: pretty on a terminal, JSON otherwise. */
  logFormat?: 'json' | 'pretty';
  /** Seconds a new connection may stay silent before its ICReq arrives. */
  icreqTimeout: number;
  /** Max data transfer size in bytes (power of two, >= 4096). */
  mdts: number;
  /**
   * Bytes of data buffers and queued responses all threads together may hold (0: no limit; absent: a
   * quarter of the machine's memory, at most 4 GiB). At the budget, connections stop reading.
   */
  memoryBudget?: number;
  /** Worker threads and pinning; absent: I/O queues on the main thread. */
  shard?: ShardConfig;
  /** Path of the control socket (`nvmetd stats`); absent: none. */
  controlSocket?: string;
  /** Path of the SPDK-compatible JSON-RPC socket (`nvmetd rpc`, SPDK's rpc.py -s); absent: none. */
  rpcSocket?: string;
  /** Address ("HOST:PORT") of the Prometheus /metrics endpoint; absent: none. */
  metrics?: string;
}
