// The TCP transport as SPDK's nvmf_create_transport / nvmf_get_transports see it. This target always
// speaks TCP, so the transport exists from the start; the first nvmf_create_transport -t TCP (what
// every SPDK set-up script sends first) is accepted and applies the options that have a meaning here
// to every port's running config (new connections use them) and to ports added later:
//   in_capsule_data_size -> inlineDataSize   max_queue_depth -> maxQueueSize   max_io_size -> maxH2CData
// The other options are kept and shown by nvmf_get_transports but change nothing (see APPLIED).
import type { PortConfig, TargetConfig } from '../config/types.js';
import { MAX_IO_QUEUES } from '../core/controller.js';
import type { Json } from './json-value.js';

/** Options this target applies; the rest are stored only. */
export const APPLIED = ['in_capsule_data_size', 'max_queue_depth', 'max_io_size'] as const;

export type TcpTransportOpts = {
  max_queue_depth: number;
  max_io_qpairs_per_ctrlr: number;
  in_capsule_data_size: number;
  max_io_size: number;
  max_aq_depth: number;
  iobuf_small_cache_size: number;
  iobuf_large_cache_size: number;
  dif_insert_or_strip: boolean;
  zcopy: boolean;
  c2h_success: boolean;
  sock_priority: number;
  abort_timeout_sec: number;
  ack_timeout: number;
  data_wr_pool_size: number;
  disable_command_passthru: boolean;
  kas: number;
  min_kato: number;
};

/** Port settings new listeners get. */
export interface PortDefaults {
  inlineDataSize: number;
  maxQueueSize: number;
  maxH2CData: number;
}

export class TcpTransportState {
  readonly #config: TargetConfig;
  /** Whether nvmf_create_transport has been called (a second call is refused, as SPDK does). */
  created = false;
  readonly portDefaults: PortDefaults;
  readonly stored: Record<string, Json> = {};

  constructor(config: TargetConfig) {
    this.#config = config;
    const first: PortConfig | undefined = config.ports[0];
    this.portDefaults = {
      inlineDataSize: first?.inlineDataSize ?? 8192,
      maxQueueSize: first?.maxQueueSize ?? 128,
      maxH2CData: first?.maxH2CData ?? 131072,
    };
  }

  /** Whether these options would change a port setting. */
  changesPorts(params: Record<string, Json>): boolean {
    const d = this.portDefaults;
    const differs = (v: Json | undefined, now: number): boolean => typeof v === 'number' && v !== now;
    return differs(params.in_capsule_data_size, d.inlineDataSize) || differs(params.max_queue_depth, d.maxQueueSize) || differs(params.max_io_size, d.maxH2CData);
  }

  /** Applies the options that map onto port settings (already validated) and stores the rest. */
  apply(params: Record<string, Json>): void {
    const d = this.portDefaults;
    if (typeof params.in_capsule_data_size === 'number') d.inlineDataSize = params.in_capsule_data_size;
    if (typeof params.max_queue_depth === 'number') d.maxQueueSize = params.max_queue_depth;
    if (typeof params.max_io_size === 'number') d.maxH2CData = params.max_io_size;
    for (const p of this.#config.ports) {
      p.inlineDataSize = d.inlineDataSize;
      p.maxQueueSize = d.maxQueueSize;
      p.maxH2CData = d.maxH2CData;
    }
    for (const [k, v] of Object.entries(params)) {
      if (k !== 'trtype' && k !== 'tgt_name' && !(APPLIED as readonly string[]).includes(k)) this.stored[k] = v;
    }
    this.created = true;
  }

  /** The transport as nvmf_get_transports shows it (SPDK's field names and order). */
  describe(): { trtype: string } & TcpTransportOpts {
    const d = this.portDefaults;
    const s = this.stored;
    const num = (k: string, dflt: number): number => (typeof s[k] === 'number' ? (s[k] as number) : dflt);
    const bool = (k: string, dflt: boolean): boolean => (typeof s[k] === 'boolean' ? (s[k] as boolean) : dflt);
    return {
      trtype: 'TCP',
      max_queue_depth: d.maxQueueSize,
      // Fixed by the controller.
      max_io_qpairs_per_ctrlr: MAX_IO_QUEUES,
      in_capsule_data_size: d.inlineDataSize,
      max_io_size: d.maxH2CData,
      max_aq_depth: num('max_aq_depth', 128),
      iobuf_small_cache_size: num('iobuf_small_cache_size', 4294967295),
      iobuf_large_cache_size: num('iobuf_large_cache_size', 4294967295),
      dif_insert_or_strip: bool('dif_insert_or_strip', false),
      zcopy: bool('zcopy', false),
      c2h_success: bool('c2h_success', true),
      sock_priority: num('sock_priority', 0),
      abort_timeout_sec: num('abort_timeout_sec', 1),
      ack_timeout: num('ack_timeout', 0),
      data_wr_pool_size: num('data_wr_pool_size', 0),
      disable_command_passthru: bool('disable_command_passthru', false),
      kas: num('kas', 10),
      min_kato: num('min_kato', 10000),
    };
  }
}
