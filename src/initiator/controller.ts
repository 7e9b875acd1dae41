// A host session with one NVMe-oF controller: the admin queue and its I/O queues, brought up the
// way a fabrics host does it (Connect, CAP/VS, CC.EN -> CSTS.RDY, Identify, Number of Queues,
// I/O queue Connects with the admin Connect's CNTLID), and the admin and I/O commands on top.
import { randomBytes, randomUUID } from 'node:crypto';
import { Cns, IDENTIFY_SIZE } from '../spec/identify.js';
import { FeatureId, LogId } from '../spec/log.js';
import { IoOpc } from '../spec/opcodes.js';
import { Cc, Csts, Prop } from '../spec/properties.js';
import { DISCOVERY_NQN, DiscLog } from '../spec/discovery.js';
import { HostQueue, type QueueOptions, type SubmitOptions } from './queue.js';
import { hostTlsPsk } from './tls.js';
import { CommandResult, expectOk, NvmeError } from './result.js';
import * as S from './sqe-build.js';
import { parseIdentifyController, parseIdentifyNamespace, type IdentifyController, type IdentifyNamespace } from './identify-parse.js';
import { CONNECT_ATR, authenticateQueue, type HostDhchapOptions } from './auth.js';
import { parseDiscoveryHeader, parseDiscoveryLog, type DiscoveryLog } from './discovery-log.js';

export interface ConnectOptions {
  host: string;
  port: number;
  subnqn: string;
  /** Default: a uuid-based host NQN made for this session. */
  hostnqn?: string;
  /** 16 bytes; default random. */
  hostid?: Uint8Array;
  hdgst?: boolean;
  ddgst?: boolean;
  /** Keep alive timeout in ms sent in the admin Connect (0 = off). When set, keep alives are sent every kato/2. */
  kato?: number;
  /** Send those keep alives (default true); false lets KATO expire (tests). */
  sendKeepAlives?: boolean;
  /** I/O queues to create (0 for a discovery controller or admin-only sessions). Default 1. */
  ioQueues?: number;
  /** Extra I/O queues to ask for in Number of Queues but leave unconnected (raw-mode tests connect them). */
  extraIoQueues?: number;
  /** Entries per I/O queue. Default 32. */
  queueSize?: number;
  /** Entries of the admin queue. Default 32. */
  adminQueueSize?: number;
  /** Ask for SQ flow control to be disabled (then reads may complete with C2HData SUCCESS). */
  disableSqFlowControl?: boolean;
  /** Override the in-capsule write limit derived from IOCCSZ (0 sends every write by R2T). */
  inCapsuleDataSize?: number;
  /** MAXR2T (0's based) sent in ICReq. */
  maxr2t?: number;
  /** HPDA sent in ICReq: C2H data is to start at a multiple of (hpda+1)*4 bytes. Default 0. */
  hpda?: number;
  commandTimeoutMs?: number;
  /** I/O queues receive into one reused buffer of this size (HostQueue readBufferSize; the load generator's fast path). */
  ioReadBufferSize?: number;
  /** Stop after the admin Connect (no CC.EN, no Identify, no I/O queues): for state machine tests. */
  adminOnly?: boolean;
  /**
   * In-band authentication (DH-HMAC-CHAP): run on every queue whose Connect answers ATR. Without it
   * such a queue stays unauthenticated (the controller then refuses its commands).
   */
  dhchap?: HostDhchapOptions;
  /**
   * NVMe/TCP over TLS 1.3: the host's configured PSK in the interchange format (NVMeTLSkey-1:...).
   * Every queue's connection runs a TLS handshake with the TLS PSK and identity (version 1, with the
   * PSK digest, as the Linux host sends it) derived from it for this host and subsystem.
   */
  tlsKey?: string;
}

/** In-capsule data a host may send on the admin queue (8 KiB capsule, SQE included). */
export const ADMIN_IN_CAPSULE = 8192 - 64;

export function defaultHostNqn(): string {
  return `nqn.2014-08.org.nvmexpress:uuid:${randomUUID()}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class Controller {
  readonly admin: HostQueue;
  readonly io: HostQueue[] = [];
  readonly options: ConnectOptions;
  readonly hostnqn: string;
  readonly hostid: Uint8Array;
  cntlid = 0;
  cap = 0n;
  vs = 0;
  id: IdentifyController | null = null;
  #kaTimer: NodeJS.Timeout | null = null;
  #rr = 0;
  /** Queues whose Connect answered ATR (authentication required), by qid. */
  readonly authRequired = new Set<number>();

  private constructor(admin: HostQueue, o: ConnectOptions, hostnqn: string, hostid: Uint8Array) {
    this.admin = admin;
    this.options = o;
    this.hostnqn = hostnqn;
    this.hostid = hostid;
  }

  /** Opens one queue's connection (ICReq/ICResp) with this session's transport options. */
  static openQueue(o: ConnectOptions, qid: number, queueSize: number): Promise<HostQueue> {
    const qo: QueueOptions = {
      host: o.host,
      port: o.port,
      qid,
      queueSize,
      hdgst: o.hdgst ?? false,
      ddgst: o.ddgst ?? false,
      maxr2t: o.maxr2t ?? 0,
      hpda: o.hpda ?? 0,
      inCapsuleDataSize: qid === 0 ? ADMIN_IN_CAPSULE : 0,
    };
    if (o.tlsKey !== undefined) {
      if (o.hostnqn === undefined) throw new Error('TLS: the host NQN must be given (it is part of the PSK identity)');
      qo.tls = hostTlsPsk(o.tlsKey, o.hostnqn, o.subnqn);
    }
    if (o.commandTimeoutMs !== undefined) qo.commandTimeoutMs = o.commandTimeoutMs;
    if (qid !== 0 && o.ioReadBufferSize !== undefined) qo.readBufferSize = o.ioReadBufferSize;
    return HostQueue.open(qo);
  }

  /** Sends Fabrics Connect on `q` and returns the completion (CNTLID in dw0 15:0 on success). */
  static fabricsConnect(
    q: HostQueue,
    p: { qid: number; queueSize: number; kato?: number; disableSqFlowControl?: boolean; cattr?: number } & S.ConnectDataParams,
  ): Promise<CommandResult> {
    return q
      .submit((sqe) => S.fabricsConnect(sqe, p), { dataOut: S.connectData(p), inCapsule: true })
      .then((r) => {
        if (r.ok) {
          q.qid = p.qid;
          // SQHD 0xFFFF in the Connect response: the controller disabled SQ flow control.
          q.sqFlowControlDisabled = r.sqhd === 0xffff;
        }
        return r;
      });
  }

  static async connect(o: ConnectOptions): Promise<Controller> {
    const hostnqn = o.hostnqn ?? defaultHostNqn();
    o = { ...o, hostnqn };
    const hostid = o.hostid ?? randomBytes(16);
    const admin = await Controller.openQueue(o, 0, o.adminQueueSize ?? 32);
    const c = new Controller(admin, o, hostnqn, hostid);
    try {
      await c.#bringUp();
      return c;
    } catch (e) {
      c.#stopKeepAlive();
      for (const q of [admin, ...c.io]) q.destroy();
      throw e;
    }
  }

  async #bringUp(): Promise<void> {
    const o = this.options;
    const r = await Controller.fabricsConnect(this.admin, {
      qid: 0,
      queueSize: o.adminQueueSize ?? 32,
      kato: o.kato ?? 0,
      disableSqFlowControl: o.disableSqFlowControl ?? false,
      hostid: this.hostid,
      cntlid: 0xffff,
      subnqn: o.subnqn,
      hostnqn: this.hostnqn,
    });
    expectOk('admin Connect', r);
    this.cntlid = r.dw0 & 0xffff;
    await this.#afterConnect(this.admin, 0, r);
    if ((o.kato ?? 0) > 0 && o.sendKeepAlives !== false) this.#startKeepAlive(o.kato!);
    if (o.adminOnly) return;

    this.cap = await this.propertyGetValue(Prop.CAP, true);
    this.vs = Number(await this.propertyGetValue(Prop.VS, false));
    await this.enable();

    const idr = await this.identifyController();
    this.id = parseIdentifyController(idr.data!);

    const want = o.ioQueues ?? 1;
    const ask = want + (o.extraIoQueues ?? 0);
    if (ask === 0) return;
    const nq = expectOk('Set Features (Number of Queues)', await this.setFeatures(FeatureId.NumberOfQueues, ((ask - 1) << 16) | (ask - 1)));
    const granted = Math.min(want, (nq.dw0 & 0xffff) + 1, (nq.dw0 >>> 16) + 1);
    const queueSize = o.queueSize ?? 32;
    const inCapsule = o.inCapsuleDataSize ?? Math.max(0, this.id.ioccsz * 16 - 64);
    for (let qid = 1; qid <= granted; qid++) {
      const q = await Controller.openQueue(o, qid, queueSize);
      this.io.push(q);
      q.inCapsuleDataSize = inCapsule;
      const cr = await Controller.fabricsConnect(q, {
        qid,
        queueSize,
        disableSqFlowControl: o.disableSqFlowControl ?? false,
        hostid: this.hostid,
        cntlid: this.cntlid,
        subnqn: o.subnqn,
        hostnqn: this.hostnqn,
      });
      expectOk(`I/O queue ${qid} Connect`, cr);
      await this.#afterConnect(q, qid, cr);
    }
  }

  /** A Connect that answered ATR: authenticate the queue when this session has a secret. */
  async #afterConnect(q: HostQueue, qid: number, r: CommandResult): Promise<void> {
    if ((r.dw0 & CONNECT_ATR) === 0) return;
    this.authRequired.add(qid);
    if (this.options.dhchap) await authenticateQueue(q, this.options.dhchap, this.hostnqn, this.options.subnqn);
  }

  /**
   * Runs a new authentication transaction on a connected queue (re-authentication; qid 0: the admin
   * queue), with this session's secret or the one given.
   */
  authenticate(qid: number, dhchap: HostDhchapOptions | undefined = this.options.dhchap): Promise<void> {
    if (!dhchap) return Promise.reject(new Error('no DH-HMAC-CHAP secret'));
    const q = qid === 0 ? this.admin : this.io[qid - 1];
    if (!q) return Promise.reject(new RangeError(`no queue ${qid}`));
    return authenticateQueue(q, dhchap, this.hostnqn, this.options.subnqn);
  }

  /** CC.EN = 1 with the settings a host uses (NVM command set, 4 KiB pages, 64/16-byte entries), then waits CSTS.RDY. */
  async enable(): Promise<void> {
    const cc = Cc.EN | (6 << Cc.iosqesShift) | (4 << Cc.iocqesShift);
    expectOk('Property Set CC', await this.propertySet(Prop.CC, cc));
    const toMs = Math.max(500, Number((this.cap >> 24n) & 0xffn) * 500);
    const until = Date.now() + toMs;
    for (;;) {
      const csts = Number(await this.propertyGetValue(Prop.CSTS, false));
      if (csts & Csts.CFS) throw new Error('controller fatal status (CSTS.CFS) while enabling');
      if (csts & Csts.RDY) return;
      if (Date.now() > until) throw new Error(`CSTS.RDY not set within CAP.TO (${toMs} ms)`);
      await sleep(10);
    }
  }

  #startKeepAlive(kato: number): void {
    this.#kaTimer = setInterval(() => {
      this.keepAlive().catch(() => this.#stopKeepAlive());
    }, Math.max(100, kato / 2));
    this.#kaTimer.unref();
  }

  #stopKeepAlive(): void {
    if (this.#kaTimer) clearInterval(this.#kaTimer);
    this.#kaTimer = null;
  }

  // ---- Generic submission ----

  submitAdmin(build: (sqe: Buffer) => void, o?: SubmitOptions): Promise<CommandResult> {
    return this.admin.submit(build, o);
  }

  /** I/O queue by index (0-based), or round robin when undefined. */
  ioQueue(index?: number): HostQueue {
    if (this.io.length === 0) throw new Error('no I/O queues');
    if (index === undefined) {
      index = this.#rr;
      this.#rr = (this.#rr + 1) % this.io.length;
    }
    const q = this.io[index];
    if (!q) throw new RangeError(`no I/O queue ${index}`);
    return q;
  }

  submitIo(build: (sqe: Buffer) => void, o?: SubmitOptions & { queue?: number }): Promise<CommandResult> {
    return this.ioQueue(o?.queue).submit(build, o);
  }

  // ---- Fabrics ----

  propertyGet(offset: number, size8: boolean): Promise<CommandResult> {
    return this.submitAdmin((sqe) => S.propertyGet(sqe, offset, size8));
  }

  async propertyGetValue(offset: number, size8: boolean): Promise<bigint> {
    const r = expectOk(`Property Get 0x${offset.toString(16)}`, await this.propertyGet(offset, size8));
    return size8 ? (BigInt(r.dw1) << 32n) | BigInt(r.dw0) : BigInt(r.dw0);
  }

  propertySet(offset: number, value: S.U64, size8 = false): Promise<CommandResult> {
    return this.submitAdmin((sqe) => S.propertySet(sqe, offset, value, size8));
  }

  // ---- Admin ----

  identify(cns: number, nsid = 0, cntid = 0, csi = 0): Promise<CommandResult> {
    return this.submitAdmin((sqe) => S.identify(sqe, cns, nsid, cntid, csi), { dataIn: Buffer.alloc(IDENTIFY_SIZE) });
  }

  identifyController(): Promise<CommandResult> {
    return this.identify(Cns.Controller).then((r) => expectOk('Identify Controller', r));
  }

  identifyNamespace(nsid: number): Promise<CommandResult> {
    return this.identify(Cns.Namespace, nsid);
  }

  async namespaceInfo(nsid: number): Promise<IdentifyNamespace> {
    const r = expectOk(`Identify Namespace ${nsid}`, await this.identifyNamespace(nsid));
    return parseIdentifyNamespace(r.data!);
  }

  identifyActiveNsList(startNsid = 0): Promise<CommandResult> {
    return this.identify(Cns.ActiveNsList, startNsid);
  }

  identifyNsDescriptors(nsid: number): Promise<CommandResult> {
    return this.identify(Cns.NsDescriptorList, nsid);
  }

  getLogPage(lid: number, length: number, offset: S.U64 = 0, o: S.LogPageOptions = {}): Promise<CommandResult> {
    return this.submitAdmin((sqe) => S.getLogPage(sqe, lid, length, offset, o), { dataIn: Buffer.alloc(length) });
  }

  getFeatures(fid: number, sel = 0, cdw11 = 0, nsid = 0, dataIn?: Uint8Array): Promise<CommandResult> {
    return this.submitAdmin((sqe) => S.getFeatures(sqe, fid, sel, cdw11, nsid), dataIn ? { dataIn } : {});
  }

  setFeatures(fid: number, cdw11: number, o: { save?: boolean; nsid?: number; cdw12?: number; dataOut?: Uint8Array } = {}): Promise<CommandResult> {
    return this.submitAdmin((sqe) => S.setFeatures(sqe, fid, cdw11, o.save ?? false, o.nsid ?? 0, o.cdw12 ?? 0), o.dataOut ? { dataOut: o.dataOut } : {});
  }

  keepAlive(): Promise<CommandResult> {
    return this.submitAdmin((sqe) => S.keepAlive(sqe));
  }

  /** Completes when the controller reports an event; never times out. */
  asyncEventRequest(): Promise<CommandResult> {
    return this.submitAdmin((sqe) => S.asyncEventRequest(sqe), { timeoutMs: 0 });
  }

  abort(sqid: number, cid: number): Promise<CommandResult> {
    return this.submitAdmin((sqe) => S.abort(sqe, sqid, cid));
  }

  // ---- NVM I/O ----

  read(nsid: number, slba: S.U64, nlb: number, dst: Uint8Array, o: S.RwFlags & { queue?: number } = {}): Promise<CommandResult> {
    return this.submitIo((sqe) => S.readWrite(sqe, IoOpc.Read, nsid, slba, nlb, o), { dataIn: dst, ...(o.queue !== undefined ? { queue: o.queue } : {}) });
  }

  write(
    nsid: number,
    slba: S.U64,
    nlb: number,
    src: Uint8Array,
    o: S.RwFlags & { queue?: number; inCapsule?: boolean } = {},
  ): Promise<CommandResult> {
    return this.submitIo((sqe) => S.readWrite(sqe, IoOpc.Write, nsid, slba, nlb, o), { dataOut: src, ...pick(o) });
  }

  compare(nsid: number, slba: S.U64, nlb: number, src: Uint8Array, o: { queue?: number; inCapsule?: boolean } = {}): Promise<CommandResult> {
    return this.submitIo((sqe) => S.readWrite(sqe, IoOpc.Compare, nsid, slba, nlb), { dataOut: src, ...pick(o) });
  }

  flush(nsid: number, o: { queue?: number } = {}): Promise<CommandResult> {
    return this.submitIo((sqe) => S.flush(sqe, nsid), pick(o));
  }

  /** Dataset Management with the deallocate attribute over `ranges`. */
  dsm(nsid: number, ranges: readonly S.DsmRange[], o: { queue?: number; deallocate?: boolean } = {}): Promise<CommandResult> {
    const data = S.encodeDsmRanges(ranges);
    return this.submitIo((sqe) => S.datasetManagement(sqe, nsid, ranges.length, o.deallocate ?? true), { dataOut: data, ...pick(o) });
  }

  writeZeroes(nsid: number, slba: S.U64, nlb: number, o: { queue?: number; deallocate?: boolean; fua?: boolean } = {}): Promise<CommandResult> {
    return this.submitIo((sqe) => S.writeZeroes(sqe, nsid, slba, nlb, o.deallocate ?? false, o.fua ?? false), pick(o));
  }

  verify(nsid: number, slba: S.U64, nlb: number, o: { queue?: number } = {}): Promise<CommandResult> {
    return this.submitIo((sqe) => S.verify(sqe, nsid, slba, nlb), pick(o));
  }

  /** Copy of `ranges` (descriptor format 0) to `sdlba`. */
  copy(nsid: number, sdlba: S.U64, ranges: readonly S.CopyRange[], o: S.CopyOptions & { queue?: number; inCapsule?: boolean } = {}): Promise<CommandResult> {
    const data = S.encodeCopyRanges(ranges);
    return this.submitIo((sqe) => S.copy(sqe, nsid, sdlba, ranges.length, o), { dataOut: data, ...pick(o) });
  }

  // ---- Teardown ----

  /**
   * Fabrics Disconnect on each I/O queue, a normal shutdown (CC.SHN) on the admin queue, then
   * closes every connection. Errors on the way are ignored: the goal is a closed session.
   */
  async disconnect(): Promise<void> {
    this.#stopKeepAlive();
    for (const q of this.io) {
      if (!q.isClosed && !q.failure) await q.submit((sqe) => S.fabricsDisconnect(sqe), { timeoutMs: 2000 }).catch(() => undefined);
      await q.close();
    }
    if (!this.admin.isClosed && !this.admin.failure && !this.options.adminOnly) {
      try {
        const cc = Number(await this.propertyGetValue(Prop.CC, false));
        await this.propertySet(Prop.CC, (cc & ~Cc.shnMask) | (1 << Cc.shnShift));
        const until = Date.now() + 2000;
        while (Date.now() < until) {
          const csts = Number(await this.propertyGetValue(Prop.CSTS, false));
          if ((csts & Csts.shstMask) === Csts.SHST_COMPLETE) break;
          await sleep(10);
        }
      } catch {
        // Best effort.
      }
    }
    await this.admin.close();
  }

  /** Closes every connection at once, without telling the controller. */
  destroy(): void {
    this.#stopKeepAlive();
    for (const q of [this.admin, ...this.io]) q.destroy();
  }
}

function pick(o: { queue?: number; inCapsule?: boolean }): { queue?: number; inCapsule?: boolean } {
  const r: { queue?: number; inCapsule?: boolean } = {};
  if (o.queue !== undefined) r.queue = o.queue;
  if (o.inCapsule !== undefined) r.inCapsule = o.inCapsule;
  return r;
}

/**
 * Reads the discovery log of the controller at host:port: connect to the discovery NQN, read the
 * log header, then header plus all entries, and check the generation counter did not move.
 */
export async function discover(o: Omit<ConnectOptions, 'subnqn' | 'ioQueues'>): Promise<DiscoveryLog> {
  const c = await Controller.connect({ ...o, subnqn: DISCOVERY_NQN, ioQueues: 0 });
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      const h = parseDiscoveryHeader(expectOk('discovery log header', await c.getLogPage(LogId.Discovery, DiscLog.headerSize)).data!);
      const len = DiscLog.headerSize + Number(h.numrec) * DiscLog.entrySize;
      const full = expectOk('discovery log', await c.getLogPage(LogId.Discovery, len));
      const log = parseDiscoveryLog(full.data!);
      if (log.genctr === h.genctr) return log;
    }
    throw new Error('discovery log generation counter kept changing');
  } finally {
    await c.disconnect();
  }
}

export { NvmeError };
