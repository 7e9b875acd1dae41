// PDU parse and build: the receive state machine (PduReader) fed batches of capsules as a target
// sees them and of responses with data as a host sees them; the target's header builders into an
// OutQueue; the host's capsule builder.
import type { Socket } from 'node:net';
import { PduReader, type PduSink } from '../../src/transport/tcp/pdu-reader.js';
import { OutQueue } from '../../src/transport/tcp/out-queue.js';
import { writeC2HData, writeCapsuleResp } from '../../src/transport/tcp/pdu-writer.js';
import { finishCapsuleCmd, MAX_CAPSULE_HEADER } from '../../src/initiator/pdu-build.js';
import { readWrite } from '../../src/initiator/sqe-build.js';
import { CAPSULE_SQE_OFFSET, PduType } from '../../src/spec/pdu.js';
import { IoOpc } from '../../src/spec/opcodes.js';
import { runSuite, type CaseResult } from './suite.js';

const BATCH = 32;

class CountingSink implements PduSink {
  pdus = 0;
  readonly dst = Buffer.alloc(131072);
  onHeader(_hdr: Buffer, dataLen: number): Uint8Array {
    return this.dst.subarray(0, dataLen);
  }
  onPdu(): void {
    this.pdus++;
  }
  onFatal(_f: number, _i: number, _h: Buffer, reason: string): void {
    throw new Error(reason);
  }
}

/** Bytes a socket would carry: the OutQueue's pieces, concatenated. */
class CaptureSocket {
  parts: Uint8Array[] = [];
  write(b: Uint8Array): boolean {
    this.parts.push(b);
    return true;
  }
  cork(): void {}
  uncork(): void {}
  take(): Buffer {
    const b = Buffer.concat(this.parts);
    this.parts = [];
    return b;
  }
}

/** 32 Read capsules (72-byte CapsuleCmd PDUs), as a target receives them. */
function capsules(hdgst: boolean): Buffer {
  const out: Buffer[] = [];
  for (let cid = 0; cid < BATCH; cid++) {
    const hdr = Buffer.alloc(MAX_CAPSULE_HEADER);
    const sqe = hdr.subarray(CAPSULE_SQE_OFFSET, CAPSULE_SQE_OFFSET + 64);
    readWrite(sqe, IoOpc.Read, 1, cid * 8, 8);
    sqe.writeUInt16LE(cid, 2);
    const n = finishCapsuleCmd(hdr, 0, { hdgst, ddgst: false, cpda: 0 });
    out.push(hdr.subarray(0, n));
  }
  return Buffer.concat(out);
}

/** 32 responses to 4 KiB reads (C2HData + CapsuleResp), as a host receives them. */
function readResponses(hdgst: boolean, ddgst: boolean): Buffer {
  const q = new OutQueue();
  const s = new CaptureSocket();
  const data = Buffer.alloc(4096, 0x5a);
  for (let cid = 0; cid < BATCH; cid++) {
    writeC2HData(q, hdgst, ddgst, 4, cid, 0, data, 0x04);
    writeCapsuleResp(q, hdgst, 0, 0, 0, 1, cid, 0);
  }
  q.flush(s as unknown as Socket);
  return s.take();
}

export function run(): CaseResult[] {
  const cases: { name: string; fn: () => void; bytes?: number }[] = [];
  for (const hdgst of [false, true]) {
    const bytes = capsules(hdgst);
    const sink = new CountingSink();
    const r = new PduReader(sink, { accept: [PduType.CapsuleCmd, PduType.H2CData], maxPlen: 1 << 20 });
    r.hdgst = hdgst;
    cases.push({ name: `parse 32 read capsules${hdgst ? ' +hdgst' : ''} (one chunk)`, fn: () => r.push(bytes) });
  }
  {
    const bytes = capsules(false);
    const sink = new CountingSink();
    const r = new PduReader(sink, { accept: [PduType.CapsuleCmd], maxPlen: 1 << 20 });
    const pieces: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += 100) pieces.push(bytes.subarray(at, at + 100));
    cases.push({ name: 'parse 32 read capsules (100-byte chunks)', fn: () => { for (const p of pieces) r.push(p); } });
  }
  for (const [hdgst, ddgst] of [[false, false], [true, true]] as const) {
    const bytes = readResponses(hdgst, ddgst);
    const sink = new CountingSink();
    const r = new PduReader(sink, { accept: [PduType.C2HData, PduType.CapsuleResp], maxPlen: 1 << 20 });
    r.hdgst = hdgst;
    r.ddgst = ddgst;
    cases.push({ name: `parse 32 C2HData 4k + resp${hdgst ? ' +digests' : ''} (host)`, fn: () => r.push(bytes), bytes: bytes.length });
  }
  {
    const q = new OutQueue();
    const s = new CaptureSocket();
    cases.push({
      name: 'build 32 CapsuleResp + flush',
      fn: () => {
        for (let cid = 0; cid < BATCH; cid++) writeCapsuleResp(q, false, 0, 0, 0, 1, cid, 0);
        q.flush(s as unknown as Socket);
        s.parts.length = 0;
      },
    });
    const data = Buffer.alloc(4096);
    for (const dg of [false, true]) {
      cases.push({
        name: `build 32 C2HData 4k + CapsuleResp${dg ? ' +digests' : ''} + flush`,
        fn: () => {
          for (let cid = 0; cid < BATCH; cid++) {
            writeC2HData(q, dg, dg, 4, cid, 0, data, 0x04);
            writeCapsuleResp(q, dg, 0, 0, 0, 1, cid, 0);
          }
          q.flush(s as unknown as Socket);
          s.parts.length = 0;
        },
      });
    }
  }
  {
    const hdr = Buffer.alloc(MAX_CAPSULE_HEADER);
    const sqe = hdr.subarray(CAPSULE_SQE_OFFSET, CAPSULE_SQE_OFFSET + 64);
    let lba = 0;
    cases.push({
      name: 'host: build one Read capsule (SQE + header)',
      fn: () => {
        readWrite(sqe, IoOpc.Read, 1, (lba = (lba + 8) & 0xfffff), 8);
        finishCapsuleCmd(hdr, 0, { hdgst: false, ddgst: false, cpda: 0 });
      },
    });
  }
  return runSuite(`PDU parse/build (batches of ${BATCH})`, cases);
}
