import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JsonScanner, type ScanResult } from '../../src/rpc/json-scan.js';
import { parseJson } from '../../src/rpc/json-value.js';

const scan = (text: string): ScanResult => new JsonScanner().scan(Buffer.from(text));

/** Feeds `text` one byte more at a time (the same growing buffer), as split reads would. */
function scanByteByByte(text: string): ScanResult[] {
  const s = new JsonScanner();
  const b = Buffer.from(text);
  const out: ScanResult[] = [];
  for (let n = 1; n <= b.length; n++) {
    const r = s.scan(b.subarray(0, n));
    out.push(r);
    if (r.kind !== 'incomplete') break;
  }
  return out;
}

test('rpc scanner: a complete object ends right after its closing brace, whatever follows', () => {
  const text = '{"jsonrpc":"2.0","method":"x","id":1}{"method":"y"}';
  const r = scan(text);
  assert.deepEqual(r, { kind: 'complete', end: text.indexOf('}{') + 1, values: 8 });
});

test('rpc scanner: a value split at every byte is incomplete until its last byte', () => {
  const text = ' \n{"a":[1,-2.5e+3,true,null,"x\\"\\u00e9"],"b":{}}';
  const steps = scanByteByByte(text);
  assert.equal(steps.length, Buffer.byteLength(text));
  for (const r of steps.slice(0, -1)) assert.equal(r.kind, 'incomplete');
  assert.deepEqual(steps[steps.length - 1], { kind: 'complete', end: Buffer.byteLength(text), values: 13 });
});

test('rpc scanner: garbage is reported where it is seen, not when a closing brace never comes', () => {
  for (const [text, at] of [
    ['{abc', 1],
    ['hello', 0],
    ['{"a" 1}', 5],
    ['{"a":1,}', 7],
    ['[1 2]', 3],
    ['{"a":1]', 6],
    ['"\u0001"', 1],
    ['{"a":01}', 6],
    ['{"a":"\\x"}', 7],
    ['}', 0],
  ] as const) {
    assert.deepEqual(scan(text), { kind: 'invalid', at }, text);
  }
});

test('rpc scanner: a top-level scalar is a complete value (a number ends at the next byte)', () => {
  assert.deepEqual(scan('"abc" '), { kind: 'complete', end: 5, values: 1 });
  assert.deepEqual(scan('true{'), { kind: 'complete', end: 4, values: 1 });
  assert.equal(scan('123').kind, 'incomplete');
  assert.deepEqual(scan('123 '), { kind: 'complete', end: 3, values: 1 });
  assert.equal(scan('   ').kind, 'incomplete');
});

test('rpc json value: repeated member names and numeric ids as written are kept', () => {
  const p = parseJson('{"id":1.50,"params":{"a":1,"a":2},"x":[{"id":12345678901234567890}]}');
  const v = p.value as { params: object; x: object[] };
  assert.equal(p.rawIds.get(v as object), '1.50');
  assert.ok(p.duplicates.has(v.params));
  assert.ok(!p.duplicates.has(v));
  assert.equal(p.rawIds.get(v.x[0]!), '12345678901234567890');
  const proto = parseJson('{"__proto__":{"polluted":true}}').value as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(proto), Object.prototype, '__proto__ is a plain member, not the prototype');
  assert.deepEqual(Object.keys(proto), ['__proto__']);
});
