// ports[].tls and hosts[].tlsKey: defaults, keys checked at load (never echoed), SHA-384 keys kept,
// "file:PATH" keys, a required port without any key refused, the discovery log's TREQ/TSAS per port,
// and a TcpListener on a port that requires TLS serving a host with its PSK.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { normalizeConfig } from '../../src/config/normalize.js';
import { ConfigError } from '../../src/config/errors.js';
import { hideSecrets } from '../../src/config/dhchap.js';
import { deriveTlsPsk, formatTlsKey, parseTlsKey } from '../../src/keys/tls-key.js';
import { buildDiscoveryLog } from '../../src/core/discovery-log.js';
import type { Controller } from '../../src/core/controller.js';
import { parseDiscoveryLog } from '../../src/initiator/discovery-log.js';
import { TcpSecType, Treq } from '../../src/spec/discovery.js';
import { TcpListener } from '../../src/transport/tcp/listener.js';
import { buildICReq } from '../../src/initiator/pdu-build.js';
import { CH, PduType } from '../../src/spec/pdu.js';
import { makeContext } from './core/fakes.js';

const SUBNQN = 'nqn.2026-11.io.nvmetd:tls';
const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:0d0d0d0d-1111-2222-3333-444444444444';
const KEY = formatTlsKey({ transform: 1, key: crypto.randomBytes(32) });
const KEY384 = formatTlsKey({ transform: 2, key: crypto.randomBytes(48) });

function config(tlsKey: string | undefined, ports: Record<string, unknown>[] = [{ tls: 'required' }]) {
  return {
    hosts: [{ nqn: HOSTNQN, ...(tlsKey !== undefined ? { tlsKey } : {}) }],
    ports,
    subsystems: [{ nqn: SUBNQN, namespaces: [{ backing: { type: 'ram', size: '1MiB' } }] }],
  };
}

function refused(raw: unknown, pointer: string, reason: RegExp, o: { baseDir?: string } = {}): ConfigError {
  try {
    normalizeConfig(raw, 'c.json', o);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.pointer, pointer, err.message);
    assert.match(err.message, reason);
    return err;
  }
  assert.fail('accepted');
}

test('config tls: ports default to none; a host key is kept as given; optional and required are accepted', () => {
  const plain = normalizeConfig(config(undefined, [{}]), 'c.json');
  assert.equal(plain.ports[0]!.tls, 'none');
  const c = normalizeConfig(config(KEY, [{ tls: 'optional' }, { port: 4421, tls: 'required' }]), 'c.json');
  assert.deepEqual(c.ports.map((p) => p.tls), ['optional', 'required']);
  assert.equal(c.hosts[0]!.tlsKey, KEY);
  const printed = JSON.stringify(c, hideSecrets);
  assert.ok(!printed.includes(KEY), 'the key is hidden when the config is printed');
  assert.ok(printed.includes('"tlsKey":"(secret)"'), printed);
});

test('config tls: bad keys, unknown modes and a required port without keys are refused; a SHA-384 key is accepted', () => {
  const broken = KEY.slice(0, 20) + (KEY[20] === 'A' ? 'B' : 'A') + KEY.slice(21);
  const e = refused(config(broken), '/hosts/0/tlsKey', /CRC|base64/);
  assert.ok(!e.message.includes(broken.slice(16, 40)), e.message);
  refused(config('secret'), '/hosts/0/tlsKey', /NVMeTLSkey-1/);
  assert.equal(normalizeConfig(config(KEY384), 'c.json').hosts[0]!.tlsKey, KEY384);
  refused(config(KEY, [{ tls: 'yes' }]), '/ports/0/tls', /./);
  refused(config(undefined, [{ tls: 'required' }]), '/ports/0/tls', /no host has a tlsKey/);
});

test('config tls: "file:PATH" keys are read at load and refused when others may read them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nvmetd-tls-'));
  const f = join(dir, 'host.psk');
  writeFileSync(f, `${KEY}\n`);
  chmodSync(f, 0o600);
  assert.equal(normalizeConfig(config('file:host.psk'), 'c.json', { baseDir: dir }).hosts[0]!.tlsKey, KEY);
  chmodSync(f, 0o644);
  refused(config('file:host.psk'), '/hosts/0/tlsKey', /readable by group or others/, { baseDir: dir });
});

test('discovery log: TREQ and TSAS say what each port asks (not specified/none, not required/TLS 1.3, required/TLS 1.3)', () => {
  const cfg = normalizeConfig(config(KEY, [{ port: 4420 }, { port: 4421, tls: 'optional' }, { port: 4422, tls: 'required' }]), 'c.json');
  const ctx = makeContext(cfg);
  const ctrl = { ctx, queues: new Map(), hostnqn: HOSTNQN } as unknown as Controller;
  const log = parseDiscoveryLog(buildDiscoveryLog(ctrl));
  const byPort = new Map(log.entries.map((e) => [e.trsvcid, e]));
  assert.equal(log.entries.length, 3);
  assert.deepEqual([byPort.get('4420')!.treq & 3, byPort.get('4420')!.sectype], [Treq.NOT_SPECIFIED, TcpSecType.NONE]);
  assert.deepEqual([byPort.get('4421')!.treq & 3, byPort.get('4421')!.sectype], [Treq.NOT_REQUIRED, TcpSecType.TLS13]);
  assert.deepEqual([byPort.get('4422')!.treq & 3, byPort.get('4422')!.sectype], [Treq.REQUIRED, TcpSecType.TLS13]);
  for (const e of log.entries) assert.equal(e.treq & Treq.DISABLE_SQFLOW, Treq.DISABLE_SQFLOW);
});

test('listener: a port with tls required serves a host with its PSK over TLS and closes a plain one', async () => {
  const cfg = normalizeConfig(config(KEY, [{ port: 0, tls: 'required' }]), 'c.json');
  const ctx = makeContext(cfg);
  const l = new TcpListener(cfg.ports[0]!, ctx);
  const { port } = await l.listen();
  try {
    const d = deriveTlsPsk(parseTlsKey(KEY), HOSTNQN, SUBNQN, 1);
    const h = tls.connect({ host: '127.0.0.1', port, minVersion: 'TLSv1.3', ciphers: 'TLS_AES_128_GCM_SHA256', checkServerIdentity: () => undefined, pskCallback: () => ({ identity: d.identity, psk: d.psk }) });
    const first = await new Promise<Buffer>((resolve, reject) => {
      h.once('secureConnect', () => h.write(buildICReq({ hdgst: false, ddgst: false })));
      h.once('data', resolve);
      h.once('error', reject);
    });
    assert.equal(first[CH.pduType], PduType.ICResp);
    assert.equal(l.queues.size, 1);
    h.destroy();
    const plain = net.connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    plain.on('data', (b: Buffer) => got.push(b));
    plain.write(buildICReq({ hdgst: false, ddgst: false }));
    await new Promise((r) => plain.once('close', r));
    assert.equal(got.length, 0, 'a plain host gets nothing on a TLS-only port');
  } finally {
    await l.stopAccepting();
  }
});

// The Linux host turns its socket over to kernel TLS right after the handshake and reads the ICResp
// as the first record: a NewSessionTicket there fails the connection ("unhandled TLS record 22").
test('listener: no TLS session ticket reaches the host; the first record after the handshake is the ICResp', async () => {
  const cfg = normalizeConfig(config(KEY, [{ port: 0, tls: 'required' }]), 'c.json');
  const l = new TcpListener(cfg.ports[0]!, makeContext(cfg));
  const { port } = await l.listen();
  let h: tls.TLSSocket | undefined;
  try {
    const d = deriveTlsPsk(parseTlsKey(KEY), HOSTNQN, SUBNQN, 0);
    h = tls.connect({ host: '127.0.0.1', port, minVersion: 'TLSv1.3', ciphers: 'TLS_AES_128_GCM_SHA256', checkServerIdentity: () => undefined, pskCallback: () => ({ identity: d.identity, psk: d.psk }) });
    const c = h;
    let tickets = 0;
    c.on('session', () => tickets++);
    const first = await new Promise<Buffer>((resolve, reject) => {
      // The ICReq goes out only after the server had every chance to send its tickets.
      c.once('secureConnect', () => setTimeout(() => c.write(buildICReq({ hdgst: false, ddgst: false })), 200));
      c.once('data', resolve);
      c.once('error', reject);
    });
    assert.equal(first[CH.pduType], PduType.ICResp);
    assert.equal(tickets, 0, 'the target sent a TLS session ticket');
  } finally {
    h?.destroy();
    await l.stopAccepting();
  }
});

test('config tls: tlsKeyDerivation is rfc8446 or compat, and only next to a tlsKey', () => {
  const withDerivation = (d: unknown, key: string | null = KEY) => ({ ...config(undefined, [{}]), hosts: [{ nqn: HOSTNQN, ...(key ? { tlsKey: key } : {}), tlsKeyDerivation: d }] });
  assert.equal(normalizeConfig(withDerivation('compat'), 'c.json').hosts[0]!.tlsKeyDerivation, 'compat');
  assert.equal(normalizeConfig(withDerivation('rfc8446'), 'c.json').hosts[0]!.tlsKeyDerivation, 'rfc8446');
  assert.equal(normalizeConfig(config(KEY, [{}]), 'c.json').hosts[0]!.tlsKeyDerivation, undefined);
  refused(withDerivation('libnvme'), '/hosts/0/tlsKeyDerivation', /./);
  refused(withDerivation('compat', null), '/hosts/0/tlsKeyDerivation', /no tlsKey/);
});

// libnvme before 1.16 (nvme-cli 2.13 of Debian 13) inserts a TLS PSK derived with the pre-RFC 8446
// HKDF labels: such a host completes the handshake once its key is marked "compat", and not before.
test('listener: a host whose tools derive the compat way connects with tlsKeyDerivation "compat", not without', async () => {
  const attempt = async (derivation: string | undefined): Promise<boolean> => {
    const raw = { ...config(KEY, [{ port: 0, tls: 'required' }]), hosts: [{ nqn: HOSTNQN, tlsKey: KEY, ...(derivation ? { tlsKeyDerivation: derivation } : {}) }] };
    const cfg = normalizeConfig(raw, 'c.json');
    const l = new TcpListener(cfg.ports[0]!, makeContext(cfg));
    const { port } = await l.listen();
    const d = deriveTlsPsk(parseTlsKey(KEY), HOSTNQN, SUBNQN, 0, 'compat');
    const h = tls.connect({ host: '127.0.0.1', port, minVersion: 'TLSv1.3', ciphers: 'TLS_AES_128_GCM_SHA256', checkServerIdentity: () => undefined, pskCallback: () => ({ identity: d.identity, psk: d.psk }) });
    try {
      return await new Promise<boolean>((resolve) => {
        h.once('secureConnect', () => h.write(buildICReq({ hdgst: false, ddgst: false })));
        h.once('data', (b: Buffer) => resolve(b[CH.pduType] === PduType.ICResp));
        h.once('error', () => resolve(false));
        h.once('close', () => resolve(false));
      });
    } finally {
      h.destroy();
      await l.stopAccepting();
    }
  };
  assert.equal(await attempt('compat'), true, 'compat host refused with tlsKeyDerivation compat');
  assert.equal(await attempt(undefined), false, 'compat host accepted with the default rfc8446 derivation');
});
