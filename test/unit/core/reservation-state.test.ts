// The reservation state machine (src/core/reservations/state.ts) and the shared snapshot the I/O
// path checks (snapshot.ts): every reservation type against every command class, from the holder,
// a registrant and a non-registrant; Register / Acquire / Release / Clear, their statuses and notices.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NamespaceReservation, type Outcome } from '../../../src/core/reservations/state.js';
import { ReservationSnapshot } from '../../../src/core/reservations/snapshot.js';
import { HostTable } from '../../../src/core/reservations/hosts.js';
import { IoOpc } from '../../../src/spec/opcodes.js';
import { NoticeType } from '../../../src/spec/reservation.js';

const CONFLICT = 0x4083;
const INVALID_FIELD = 0x4002;
const A = 'a'.repeat(32);
const B = 'b'.repeat(32);
const C = 'c'.repeat(32);

function fresh(): { st: NamespaceReservation; snap: ReservationSnapshot; hosts: HostTable } {
  const snap = new ReservationSnapshot(new SharedArrayBuffer(1024), 0);
  const hosts = new HostTable();
  return { st: new NamespaceReservation(snap, hosts), snap, hosts };
}

function okay(o: Outcome): Outcome {
  assert.equal(o.status, 0, `status 0x${o.status.toString(16)}`);
  return o;
}

/** Whether host `h` is refused a command of `opcode` by the published snapshot. */
function blocked(snap: ReservationSnapshot, hosts: HostTable, h: string, opcode: number): boolean {
  return snap.conflicts(opcode, { hostIndex: hosts.index(h) });
}

// The spec's command-behaviour table, written out: for each type, [holder, registrant, non-registrant]
// x [read group, write group]; true = Reservation Conflict.
const TABLE: Record<number, [boolean, boolean][]> = {
  1: [[false, false], [false, true], [false, true]],
  2: [[false, false], [true, true], [true, true]],
  3: [[false, false], [false, false], [false, true]],
  4: [[false, false], [false, false], [true, true]],
  5: [[false, false], [false, false], [false, true]],
  6: [[false, false], [false, false], [true, true]],
};
const READS = [IoOpc.Read, IoOpc.Compare, IoOpc.Verify];
const WRITES = [IoOpc.Write, IoOpc.WriteZeroes, IoOpc.DatasetManagement, IoOpc.Flush, IoOpc.Copy, IoOpc.WriteUncorrectable];
const NEVER = [IoOpc.ReservationRegister, IoOpc.ReservationReport, IoOpc.ReservationAcquire, IoOpc.ReservationRelease];

for (const rtype of [1, 2, 3, 4, 5, 6]) {
  test(`reservation type ${rtype}: every command class from the holder, a registrant and a non-registrant`, () => {
    const { st, snap, hosts } = fresh();
    okay(st.register(A, 0, false, 0n, 0xaan));
    okay(st.register(B, 0, false, 0n, 0xbbn));
    okay(st.acquire(A, 0, 0xaan, 0n, rtype));
    assert.equal(snap.rtype, rtype);
    [A, B, C].forEach((h, who) => {
      const [r, w] = TABLE[rtype]![who]!;
      for (const op of READS) assert.equal(blocked(snap, hosts, h, op), r, `type ${rtype} ${['holder', 'registrant', 'non-registrant'][who]} opcode ${op}`);
      for (const op of WRITES) assert.equal(blocked(snap, hosts, h, op), w, `type ${rtype} ${['holder', 'registrant', 'non-registrant'][who]} opcode ${op}`);
      for (const op of NEVER) assert.equal(blocked(snap, hosts, h, op), false, 'reservation commands are checked by their own rules');
    });
    // Host index 0 (no index left) is a non-registrant.
    assert.equal(snap.conflicts(IoOpc.Write, { hostIndex: 0 }), TABLE[rtype]![2]![1]);
    okay(st.release(A, 0, 0xaan, rtype));
    for (const h of [A, B, C]) for (const op of [...READS, ...WRITES]) assert.equal(blocked(snap, hosts, h, op), false, 'released: nothing refused');
  });
}

test('no reservation: nothing is refused, registered or not', () => {
  const { st, snap, hosts } = fresh();
  okay(st.register(A, 0, false, 0n, 1n));
  for (const op of [...READS, ...WRITES]) assert.equal(blocked(snap, hosts, C, op), false);
});

test('Register: same key again is fine, another key conflicts; unregister and replace check CRKEY unless IEKEY', () => {
  const { st } = fresh();
  okay(st.register(A, 0, false, 0n, 5n));
  assert.equal(st.generation, 1);
  okay(st.register(A, 0, false, 0n, 5n));
  assert.equal(st.register(A, 0, false, 0n, 6n).status, CONFLICT);
  assert.equal(st.register(B, 1, false, 0n, 0n).status, CONFLICT, 'unregister without a registration');
  assert.equal(st.register(B, 2, true, 0n, 7n).status, CONFLICT, 'replace without a registration');
  assert.equal(st.register(A, 2, false, 4n, 7n).status, CONFLICT, 'replace with a wrong CRKEY');
  okay(st.register(A, 2, true, 4n, 7n));
  assert.equal(st.registrants.get(A)!.key, 7n);
  assert.equal(st.register(A, 1, false, 5n, 0n).status, CONFLICT);
  okay(st.register(A, 1, false, 7n, 0n));
  assert.equal(st.registrants.size, 0);
  assert.equal(st.register(A, 3, false, 0n, 0n).status, INVALID_FIELD, 'reserved action');
  assert.equal(st.generation, 3);
});

test('Acquire: only registrants with their key; a second host conflicts; the holder may not change type by Acquire', () => {
  const { st } = fresh();
  assert.equal(st.acquire(A, 0, 1n, 0n, 1).status, CONFLICT, 'not registered');
  okay(st.register(A, 0, false, 0n, 1n));
  okay(st.register(B, 0, false, 0n, 2n));
  assert.equal(st.acquire(A, 0, 9n, 0n, 1).status, CONFLICT, 'wrong key');
  okay(st.acquire(A, 0, 1n, 0n, 1));
  okay(st.acquire(A, 0, 1n, 0n, 1));
  assert.equal(st.acquire(A, 0, 1n, 0n, 2).status, CONFLICT);
  assert.equal(st.acquire(B, 0, 2n, 0n, 1).status, CONFLICT);
  assert.equal(st.holder, A);
});

test('Unregistering the holder releases the reservation; registrants-only types tell the others', () => {
  const { st, snap } = fresh();
  okay(st.register(A, 0, false, 0n, 1n));
  okay(st.register(B, 0, false, 0n, 2n));
  okay(st.acquire(A, 0, 1n, 0n, 3));
  const out = okay(st.register(A, 1, false, 1n, 0n));
  assert.equal(st.rtype, 0);
  assert.equal(snap.rtype, 0);
  assert.deepEqual(out.notices, [{ host: B, type: NoticeType.RESERVATION_RELEASED }]);
  // Write Exclusive: no notice.
  okay(st.register(A, 0, false, 0n, 1n));
  okay(st.acquire(A, 0, 1n, 0n, 1));
  assert.deepEqual(okay(st.register(A, 1, false, 1n, 0n)).notices, []);
});

test('All-registrants: the reservation stays until the last registrant leaves', () => {
  const { st } = fresh();
  okay(st.register(A, 0, false, 0n, 1n));
  okay(st.register(B, 0, false, 0n, 2n));
  okay(st.acquire(A, 0, 1n, 0n, 5));
  assert.ok(st.holds(B), 'every registrant holds it');
  okay(st.acquire(B, 0, 2n, 0n, 5));
  okay(st.register(A, 1, false, 1n, 0n));
  assert.equal(st.rtype, 5);
  okay(st.register(B, 1, false, 2n, 0n));
  assert.equal(st.rtype, 0);
});

test('Preempt: the holder key moves the reservation, its owners are unregistered and told', () => {
  const { st, snap, hosts } = fresh();
  okay(st.register(A, 0, false, 0n, 1n));
  okay(st.register(B, 0, false, 0n, 2n));
  okay(st.register(C, 0, false, 0n, 3n));
  okay(st.acquire(A, 0, 1n, 0n, 1));
  const gen = st.generation;
  const out = okay(st.acquire(B, 1, 2n, 1n, 2));
  assert.equal(st.holder, B);
  assert.equal(st.rtype, 2);
  assert.equal(st.generation, gen + 1);
  assert.ok(!st.registrants.has(A));
  // A loses its registration; the type changed, so the other registrants hear the old one was released.
  assert.deepEqual(out.notices, [
    { host: A, type: NoticeType.REGISTRATION_PREEMPTED },
    { host: C, type: NoticeType.RESERVATION_RELEASED },
  ]);
  assert.ok(blocked(snap, hosts, A, IoOpc.Read), 'exclusive access now: A refused');
  // A key no one has: conflict; PRKEY 0 against a single holder: Invalid Field.
  assert.equal(st.acquire(C, 1, 3n, 42n, 1).status, CONFLICT);
  assert.equal(st.acquire(C, 1, 3n, 0n, 1).status, INVALID_FIELD);
  // A key that is not the holder's: only the registrations go.
  okay(st.register(A, 0, false, 0n, 9n));
  assert.deepEqual(okay(st.acquire(C, 2, 3n, 9n, 1)).notices, [{ host: A, type: NoticeType.REGISTRATION_PREEMPTED }]);
  assert.equal(st.holder, B);
  // The holder preempting itself changes the type.
  okay(st.acquire(B, 1, 2n, 2n, 1));
  assert.equal(st.rtype, 1);
});

test('Preempt without a reservation unregisters by key; all-registrants with PRKEY 0 takes everything', () => {
  const { st } = fresh();
  okay(st.register(A, 0, false, 0n, 1n));
  okay(st.register(B, 0, false, 0n, 2n));
  assert.equal(st.acquire(A, 1, 1n, 7n, 1).status, CONFLICT);
  okay(st.acquire(A, 1, 1n, 2n, 1));
  assert.deepEqual([...st.registrants.keys()], [A]);
  assert.equal(st.rtype, 0, 'no reservation created');
  okay(st.register(B, 0, false, 0n, 2n));
  okay(st.register(C, 0, false, 0n, 3n));
  okay(st.acquire(B, 0, 2n, 0n, 6));
  const out = okay(st.acquire(A, 1, 1n, 0n, 1));
  assert.equal(st.rtype, 1);
  assert.equal(st.holder, A);
  assert.deepEqual([...st.registrants.keys()], [A]);
  assert.deepEqual(out.notices.map((n) => [n.host, n.type]).sort(), [[B, 1], [C, 1]]);
});

test('Release: the type must match (Invalid Field); a non-holder releasing is a no-op; Clear drops everything', () => {
  const { st } = fresh();
  okay(st.register(A, 0, false, 0n, 1n));
  okay(st.register(B, 0, false, 0n, 2n));
  okay(st.acquire(A, 0, 1n, 0n, 4));
  assert.equal(st.release(A, 0, 1n, 3).status, INVALID_FIELD);
  assert.equal(st.release(B, 0, 9n, 4).status, CONFLICT, 'wrong key');
  assert.equal(okay(st.release(B, 0, 2n, 4)).changed, false);
  assert.equal(st.rtype, 4);
  assert.deepEqual(okay(st.release(A, 0, 1n, 4)).notices, [{ host: B, type: NoticeType.RESERVATION_RELEASED }]);
  okay(st.acquire(B, 0, 2n, 0n, 1));
  const gen = st.generation;
  const out = okay(st.release(A, 1, 1n, 0));
  assert.deepEqual(out.notices, [{ host: B, type: NoticeType.RESERVATION_PREEMPTED }]);
  assert.equal(st.registrants.size, 0);
  assert.equal(st.rtype, 0);
  assert.equal(st.generation, gen + 1);
  assert.equal(st.release(A, 2, 1n, 0).status, CONFLICT, 'no longer registered');
});

test('save / restore round trip republishes the snapshot', () => {
  const a = fresh();
  okay(a.st.register(A, 0, false, 0n, 0xffffffffffffffffn));
  okay(a.st.register(B, 0, false, 0n, 2n));
  okay(a.st.acquire(A, 0, 0xffffffffffffffffn, 0n, 1));
  a.st.ptpl = true;
  const b = fresh();
  b.st.restore(a.st.save());
  assert.deepEqual(b.st.save(), a.st.save());
  assert.ok(blocked(b.snap, b.hosts, B, IoOpc.Write));
  assert.ok(!blocked(b.snap, b.hosts, A, IoOpc.Write));
});
