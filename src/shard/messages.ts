// Control-plane messages between the main thread (controller owner) and the I/O workers.
// Per-I/O traffic never crosses threads; these are per-connection or per-controller events.
import type { NamespaceConfig, PollMode, PortConfig, SubsystemConfig, SubsystemHostKeys, TargetConfig } from '../config/types.js';
import type { QueueHandoff } from '../transport/tcp/handoff.js';

export type { QueueHandoff };

/** Everything a worker needs to serve I/O queues on its own. */
export interface WorkerInit {
  index: number;
  config: TargetConfig;
  /** Cores this worker is pinned to (empty: not pinned). */
  cores: number[];
  mode: PollMode;
  /** The subsystems' indexes in keep-alive ring records (stable: a deleted subsystem keeps its number). */
  subsysIndex: Record<string, number>;
  /** Shared memory of RAM namespaces, by "subnqn/nsid". */
  ramShares: Record<string, SharedArrayBuffer[]>;
  /** Shared namespace counters, by "subnqn/nsid"; this worker writes slot index + 1. */
  nsStats: Record<string, SharedArrayBuffer>;
  /** Worker -> main ring (keep-alive traffic, statistics). */
  ring: SharedArrayBuffer;
  /** Per-worker statistics the main thread reads at any time (see stats.ts). */
  stats: SharedArrayBuffer;
  /** Controller state words (CtrlState bits), CTRL_SLOTS Int32s, shared by all workers. */
  ctrlState: SharedArrayBuffer;
  /** ANA group states per port (src/core/ana.ts), written by the main thread. */
  anaState: SharedArrayBuffer;
  /** The target-wide memory budget's shared accounting (src/runtime/memory-budget.ts). */
  memoryBudget: SharedArrayBuffer;
}

/**
 * What an I/O worker knows of a controller that lives on the main thread: one Int32 word per
 * controller slot in shared memory (WorkerInit.ctrlState), written by the main thread the moment
 * the state changes (before the command that changed it completes) and read by the worker for each
 * command. A message could arrive after the host's next I/O on a worker's socket; this cannot.
 */
export const CtrlState = {
  /** CSTS.RDY: I/O commands may execute (cleared by CC.EN = 0 and by a completed CC.SHN shutdown). */
  READY: 1 << 0,
  /** CC.SHN was set: a shutdown is in progress or complete. */
  SHUTTING_DOWN: 1 << 1,
  /** Volatile Write Cache feature (Set Features FID 06h) enabled. */
  VOLATILE_WRITE_CACHE: 1 << 2,
  /** The controller was torn down: its I/O queues close without answering what they still hold. */
  GONE: 1 << 3,
  /** Bits 8 and up: the host's index in reservation snapshots (fixed for the controller's life). */
  HOST_INDEX_SHIFT: 8,
} as const;
/** Controller slots in WorkerInit.ctrlState: at most this many controllers with queues on workers. */
export const CTRL_SLOTS = 65536;

/**
 * A change the main thread has made at run time (and written into the config, so that a worker
 * started later builds it too), for every worker to apply to its own copy.
 *   subsystem-add: a subsystem made by RPC (no namespaces yet), `index` its ring record number.
 *   subsystem-remove: a deleted subsystem (its controllers were torn down by the main thread); its
 *        namespaces' backends are closed once nothing is in flight on them.
 *   port-add: a new listener's port, for the queues that come through it.
 *   host-keys: a host's keys on a subsystem changed (RPC add_host / set_keys, a keyring key removed):
 *        re-authentication on this worker's queues uses them from then on.
 * Namespace changes:
 *   ns-add: `ramShare` is the namespace's shared memory (RAM namespaces), `nsStats` its shared counters;
 *        a file or block namespace is opened by each worker with descriptors of its own.
 *   ns-remove: from the moment it is applied, commands to the nsid fail with Invalid Namespace; the
 *        worker closes its backend once the commands in flight on it have finished.
 *   ns-resize: the namespace is `size` bytes from now on; a RAM one over `ramShare` (the main thread
 *        grew the memory in place or added segments), a file one over the same (grown) file.
 *   ns-hosts: the hosts that see the namespace are `hosts` from now on (null: every admitted host);
 *        for a host that lost it, commands to the nsid fail with Invalid Namespace from then on.
 */
export type LiveChange =
  | { op: 'subsystem-add'; config: SubsystemConfig; index: number }
  | { op: 'subsystem-remove'; subnqn: string }
  | { op: 'port-add'; port: PortConfig }
  /** A host's run-time keys on a subsystem (SubsystemConfig.hostKeys) set, changed or (null) dropped. */
  | { op: 'host-keys'; subnqn: string; hostnqn: string; keys: SubsystemHostKeys | null }
  | { op: 'ns-add'; subnqn: string; ns: NamespaceConfig; ramShare: SharedArrayBuffer[] | null; nsStats: SharedArrayBuffer }
  | { op: 'ns-remove'; subnqn: string; nsid: number }
  | { op: 'ns-resize'; subnqn: string; nsid: number; size: number; ramShare: SharedArrayBuffer[] | null }
  | { op: 'ns-hosts'; subnqn: string; nsid: number; hosts: string[] | null };

export type MainToWorker =
  /** Answered by 'change-applied' with the same reqId. */
  | { type: 'change'; reqId: number; change: LiveChange }
  /** `ctrlSlot`: the controller's word in WorkerInit.ctrlState (already holding its state). */
  | { type: 'adopt'; handoff: QueueHandoff; ctrlSlot: number }
  | { type: 'close-queue'; queueId: number; reason: string }
  /** The answer to a 'resv' request: status and the data to return (Reservation Report). */
  | { type: 'resv-done'; reqId: number; status: number; out: Uint8Array | null }
  | { type: 'shutdown' };

export type WorkerToMain =
  | { type: 'ready'; index: number; tid: number; affinity: number[] }
  | { type: 'adopt-failed'; queueId: number; reason: string }
  /** `dropped`: commands in flight on the queue when it closed (they never got a completion). */
  | { type: 'queue-closed'; queueId: number; reason: string; dropped: number }
  | { type: 'error-record'; subnqn: string; cntlid: number; sqid: number; cid: number; status: number; nsid: number; location: number; lba: string }
  /** `error`: why the worker could not apply the change (null: applied). */
  | { type: 'change-applied'; reqId: number; error: string | null }
  /** A reservation command from a worker's queue, for the main thread (which owns the state) to run. */
  | { type: 'resv'; reqId: number; subnqn: string; cntlid: number; nsid: number; sqe: Uint8Array; data: Uint8Array | null; dataLen: number }
  | { type: 'shutdown-done' };

/** Ring record types (word 0). */
export const RingMsg = {
  /** [type, cntlid, nqnIndex]: keep-alive traffic on an I/O queue of that controller. */
  TRAFFIC: 1,
} as const;
