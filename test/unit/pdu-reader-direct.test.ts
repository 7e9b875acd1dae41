// PduReader's direct receive: after a PDU's header was accepted, the rest of its data may be read
// straight into its destination (directTarget()). Driven here as Node drives a socket with a user
// buffer: after every read, the next one lands where directTarget() says, else in a shared buffer
// (at most `limit` bytes of it: the connection keeps reads short while large transfers are due). Destinations carry guard bytes on both sides: a read that
// reached past a PDU's data would show there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DIRECT_MIN, PduReader, RecvState, type PduSink } from '../../src/transport/tcp/pdu-reader.js';
import { CH, DATA, PduType } from '../../src/spec/pdu.js';
import { buildCapsuleCmd, buildH2CData, type LinkParams } from '../../src/initiator/pdu-build.js';
import { mulberry32, pattern, sqeWith as sqe } from './reader-helpers.js';

const ACCEPT = [PduType.ICReq, PduType.H2CTermReq, PduType.CapsuleCmd, PduType.H2CData];
const GUARD = 64;
const POISON = 0xee;

interface Got {
  type: number;
  cid: number;
  data: Buffer | null;
  ddgstOk: boolean;
}

/** A sink whose destinations sit between guard bytes; it may refuse H2CData headers (refuseH2C). */
class GuardedSink implements PduSink {
  readonly got: Got[] = [];
  readonly fatals: string[] = [];
  readonly blocks: Uint8Array[] = [];
  refuseH2C = false;
  onHeader(hdr: Buffer, dataLen: number): Uint8Array | null {
    if (this.refuseH2C && hdr[CH.pduType] === PduType.H2CData) return null;
    const block = new Uint8Array(dataLen + 2 * GUARD).fill(POISON);
    this.blocks.push(block);
    return block.subarray(GUARD, GUARD + dataLen);
  }
  onPdu(hdr: Buffer, data: Uint8Array | null, ddgstOk: boolean): void {
    const type = hdr[CH.pduType]!;
    const cid = type === PduType.CapsuleCmd ? hdr.readUInt16LE(8 + 2) : hdr.readUInt16LE(DATA.cccid);
    this.got.push({ type, cid, data: data ? Buffer.from(data) : null, ddgstOk });
  }
  onFatal(_fes: number, _fei: number, _hdr: Buffer, reason: string): void {
    this.fatals.push(reason);
  }
  /** Every guard byte is still untouched. */
  guardsIntact(): boolean {
    return this.blocks.every((b) => {
      for (let i = 0; i < GUARD; i++) if (b[i] !== POISON || b[b.length - 1 - i] !== POISON) return false;
      return true;
    });
  }
}

function reader(sink: PduSink, p: LinkParams): PduReader {
  const r = new PduReader(sink, { accept: ACCEPT, maxPlen: 1 << 22 });
  r.hdgst = p.hdgst;
  r.ddgst = p.ddgst;
  return r;
}

interface Fed {
  /** Bytes that landed through a view of directTarget(). */
  direct: number;
  /** Reads into a directTarget() view. */
  directReads: number;
}

/**
 * Feeds `bytes` as a socket with a user buffer would: each read lands in directTarget() when it
 * names a view, else in `shared` (at most `limit` bytes), and takes at most what the kernel has
 * (`avail()` bytes per read, random in the tests).
 */
function feed(r: PduReader, bytes: Buffer, avail: () => number, limit = Infinity, shared = Buffer.alloc(256 * 1024)): Fed {
  const fed: Fed = { direct: 0, directReads: 0 };
  let at = 0;
  while (at < bytes.length && r.state !== RecvState.ERROR) {
    const view = r.directTarget();
    const target = view ?? shared.subarray(0, Math.min(shared.length, limit));
    const n = Math.min(target.length, bytes.length - at, avail());
    target.set(bytes.subarray(at, at + n));
    r.push(target, n);
    at += n;
    if (view !== null) {
      fed.direct += n;
      fed.directReads++;
    }
  }
  return fed;
}

const LINKS: [string, LinkParams][] = [
  ['no digests', { hdgst: false, ddgst: false, cpda: 0 }],
  ['both digests', { hdgst: true, ddgst: true, cpda: 0 }],
  ['data digest, PDO aligned to 64 bytes', { hdgst: false, ddgst: true, cpda: 15 }],
];

for (const [name, p] of LINKS) {
  test(`pdu-reader direct: large H2CData split over many reads lands in place, exactly (${name})`, () => {
    const big = [pattern(128 * 1024, 1), pattern(100 * 1024 + 3, 2), pattern(DIRECT_MIN + 1, 3)];
    const parts = [
      buildCapsuleCmd(sqe(0x01, 1), null, p),
      buildH2CData(1, 0, 0, big[0]!, true, p),
      buildCapsuleCmd(sqe(0x01, 2), pattern(4096, 9), p),
      buildH2CData(2, 1, 0, big[1]!, false, p),
      buildH2CData(2, 1, big[1]!.length, big[2]!, true, p),
      buildCapsuleCmd(sqe(0x02, 3), null, p),
    ];
    // Three rounds: longer than the shared buffer, so that even reads taking all the kernel has end
    // inside a payload.
    const ROUNDS = 3;
    const bytes = Buffer.concat([...parts, ...parts, ...parts]);
    const rnd = mulberry32(0x5eed + p.cpda);
    for (const [what, avail, limit] of [
      ['the kernel has everything, short reads between PDUs', () => Infinity, 8192],
      ['the kernel has everything, reads of 256 KiB', () => Infinity, Infinity],
      ['reads of random size', () => 1 + Math.floor(rnd() * 70000), 8192],
      ['small reads', () => 1 + Math.floor(rnd() * 3000), Infinity],
    ] as const) {
      const sink = new GuardedSink();
      const r = reader(sink, p);
      const fed = feed(r, bytes, avail, limit);
      assert.deepEqual(sink.fatals, [], what);
      const round = [
        [PduType.CapsuleCmd, 1, true],
        [PduType.H2CData, 1, true],
        [PduType.CapsuleCmd, 2, true],
        [PduType.H2CData, 2, true],
        [PduType.H2CData, 2, true],
        [PduType.CapsuleCmd, 3, true],
      ];
      assert.deepEqual(sink.got.map((g) => [g.type, g.cid, g.ddgstOk]), [...round, ...round, ...round], what);
      for (let i = 0; i < ROUNDS; i++) {
        assert.ok(sink.got[6 * i + 1]!.data!.equals(big[0]!), `${what}: first payload`);
        assert.ok(sink.got[6 * i + 3]!.data!.equals(big[1]!), `${what}: second payload`);
        assert.ok(sink.got[6 * i + 4]!.data!.equals(big[2]!), `${what}: third payload`);
      }
      assert.ok(sink.guardsIntact(), `${what}: nothing written beside a destination`);
      const large = ROUNDS * (big[0]!.length + big[1]!.length);
      // With short reads between PDUs, most of each large payload comes in place; with long reads,
      // what a read left of a payload does.
      if (limit !== Infinity) assert.ok(fed.direct > large * 0.8, `${what}: ${fed.direct} of ${large} bytes read in place`);
      else if (avail() === Infinity) assert.ok(fed.direct > 0, `${what}: the rest of a payload a long read cut is read in place`);
      assert.equal(r.state, RecvState.HEADER);
    }
  });
}

test('pdu-reader direct: the view covers exactly the missing data; the next PDU of the same read goes to the shared buffer', () => {
  const p: LinkParams = { hdgst: false, ddgst: false, cpda: 0 };
  const payload = pattern(64 * 1024, 4);
  const h2c = buildH2CData(5, 3, 0, payload, true, p);
  const next = buildCapsuleCmd(sqe(0x02, 6), null, p);
  const sink = new GuardedSink();
  const r = reader(sink, p);
  const shared = Buffer.alloc(4096);
  shared.set(h2c.subarray(0, 1000));
  r.push(shared, 1000);
  const view = r.directTarget();
  assert.ok(view !== null, 'a view for the rest of the payload');
  const headerLen = h2c.length - payload.length;
  assert.equal(view.length, payload.length - (1000 - headerLen), 'exactly the bytes still missing');
  // The kernel fills the view completely; what follows (the next capsule) is for the next read.
  const rest = Buffer.concat([h2c.subarray(1000), next]);
  view.set(rest.subarray(0, view.length));
  r.push(view, view.length);
  assert.equal(sink.got.length, 1, 'the H2CData PDU is complete');
  assert.ok(sink.got[0]!.data!.equals(payload));
  assert.equal(r.directTarget(), null, 'between PDUs the next read goes to the shared buffer');
  shared.set(rest.subarray(view.length));
  r.push(shared, rest.length - view.length);
  assert.deepEqual(sink.got.map((g) => [g.type, g.cid]), [[PduType.H2CData, 5], [PduType.CapsuleCmd, 6]]);
  assert.ok(sink.guardsIntact());
});

test('pdu-reader direct: the data digest covers the bytes that landed in place', () => {
  const p: LinkParams = { hdgst: false, ddgst: true, cpda: 0 };
  const payload = pattern(96 * 1024, 5);
  for (const corrupt of [false, true]) {
    const bytes = buildH2CData(7, 2, 0, payload, true, p);
    // A byte far into the payload: it arrives in the direct part (the first read takes 512 bytes).
    if (corrupt) bytes[bytes.length - 4 - 1000]! ^= 0x40;
    const sink = new GuardedSink();
    const r = reader(sink, p);
    let first = true;
    const fed = feed(r, bytes, () => (first ? ((first = false), 512) : Infinity), 8192);
    assert.ok(fed.direct > payload.length - 1024, 'nearly all the payload landed in place');
    assert.equal(sink.got.length, 1);
    assert.equal(sink.got[0]!.ddgstOk, !corrupt, corrupt ? 'a corrupted byte read in place fails the digest' : 'digest good');
  }
});

test('pdu-reader direct: no target before the header is accepted, none after a refusal, none for little data', () => {
  const p: LinkParams = { hdgst: false, ddgst: false, cpda: 0 };
  const payload = pattern(64 * 1024, 6);
  const h2c = buildH2CData(1, 0, 0, payload, true, p);
  const hdrLen = h2c.length - payload.length;
  // Header not complete yet.
  {
    const sink = new GuardedSink();
    const r = reader(sink, p);
    r.push(h2c.subarray(0, hdrLen - 1));
    assert.equal(r.directTarget(), null, 'no target while the header is incomplete');
  }
  // The sink refuses the header (bad TTAG, DATAO, DATAL...): nothing is ever read in place.
  {
    const sink = new GuardedSink();
    sink.refuseH2C = true;
    const r = reader(sink, p);
    r.push(h2c.subarray(0, hdrLen + 10));
    assert.equal(r.state, RecvState.ERROR);
    assert.equal(r.directTarget(), null, 'no target after a refused header');
    assert.equal(sink.blocks.length, 0);
  }
  // Padding before PDO: no destination yet.
  {
    const q: LinkParams = { hdgst: false, ddgst: false, cpda: 31 };
    const padded = buildH2CData(1, 0, 0, payload, true, q);
    const sink = new GuardedSink();
    const r = reader(sink, q);
    r.push(padded.subarray(0, hdrLen + 4));
    assert.equal(r.state, RecvState.PAD);
    assert.equal(r.directTarget(), null, 'no target while skipping padding');
  }
  // Less than DIRECT_MIN missing: copied from the shared buffer instead (a read of its own costs more).
  {
    const sink = new GuardedSink();
    const r = reader(sink, p);
    r.push(h2c.subarray(0, h2c.length - (DIRECT_MIN - 1)));
    assert.equal(r.state, RecvState.DATA);
    assert.equal(r.directTarget(), null);
    r.push(h2c.subarray(h2c.length - (DIRECT_MIN - 1)));
    assert.ok(sink.got[0]!.data!.equals(payload));
  }
});

test('pdu-reader direct: a read that did not land in the view handed out stops the reader', () => {
  const p: LinkParams = { hdgst: false, ddgst: false, cpda: 0 };
  const payload = pattern(64 * 1024, 7);
  const h2c = buildH2CData(1, 0, 0, payload, true, p);
  const sink = new GuardedSink();
  const r = reader(sink, p);
  r.push(h2c.subarray(0, 100));
  const view = r.directTarget();
  assert.ok(view !== null);
  assert.throws(() => r.push(Buffer.from(h2c.subarray(100, 200))), /direct target/);
  assert.equal(r.state, RecvState.ERROR);
  assert.equal(sink.got.length, 0, 'nothing delivered');
  assert.equal(r.directTarget(), null);
});

test('pdu-reader direct: stop() and detach() withdraw the target', () => {
  const p: LinkParams = { hdgst: false, ddgst: false, cpda: 0 };
  const h2c = buildH2CData(1, 0, 0, pattern(64 * 1024, 8), true, p);
  const sink = new GuardedSink();
  const r = reader(sink, p);
  r.push(h2c.subarray(0, 100));
  assert.ok(r.directTarget() !== null);
  assert.equal(r.directPending, true);
  r.stop();
  assert.equal(r.directPending, false, 'stop() forgets the view');
  assert.equal(r.directTarget(), null);
  const r2 = reader(new GuardedSink(), p);
  r2.push(h2c.subarray(0, 100));
  r2.detach();
  assert.equal(r2.directTarget(), null, 'a detaching reader reads nothing in place');
});
