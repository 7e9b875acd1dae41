// The TLS server against GnuTLS's client (gnutls-cli), the library the Linux host's handshake agent
// (tlshd) is built on: a SHA-256 PSK completes with TLS_AES_128_GCM_SHA256, a SHA-384 PSK with
// TLS_AES_256_GCM_SHA384 is refused with one line that names the cause when the client binds the key
// with a SHA-256 binder (what GnuTLS does without gnutls_psk_allocate_client_credentials2, and so
// Debian 13's tlshd: the interop scenario tls-sha384 meets exactly this).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { acceptTls, type Accepted } from '../../../src/transport/tcp/tls.js';
import { hostPskLookup } from '../../../src/transport/tcp/tls-psk.js';
import { deriveTlsPsk, generateTlsKey } from '../../../src/keys/tls-key.js';
import { HashId } from '../../../src/keys/hash.js';
import type { Logger } from '../../../src/util/log.js';
import { haveTool } from '../needs-tool.js';
import { HOSTNQN, SUBNQN } from '../core/fakes.js';

const HOST384 = 'nqn.2014-08.org.nvmexpress:uuid:38438438-4384-3843-8438-438438438438';
const K256 = generateTlsKey(HashId.SHA256, Buffer.alloc(32, 0x31));
const K384 = generateTlsKey(HashId.SHA384, Buffer.alloc(48, 0x38));
const lookup = hostPskLookup([{ hostnqn: HOSTNQN, key: K256 }, { hostnqn: HOST384, key: K384 }], (n) => n === SUBNQN);

/** A TLS port (acceptTls, tls required) keeping warnings and what was accepted. */
async function serve(): Promise<{ port: number; warnings: string[]; accepted: { kind: Accepted['kind']; cipher: string | null }[]; close(): void }> {
  const warnings: string[] = [];
  const accepted: { kind: Accepted['kind']; cipher: string | null }[] = [];
  const quiet = (): void => undefined;
  const log = { trace: quiet, debug: quiet, info: quiet, warn: (_o: unknown, m?: string) => void warnings.push(m ?? String(_o)), error: (_o: unknown, m?: string) => void warnings.push(m ?? String(_o)), fatal: quiet, child: () => log } as unknown as Logger;
  const srv = net.createServer((socket) => acceptTls(socket, { mode: 'required', lookup, log, timeoutMs: 5000 }, (a) => accepted.push({ kind: a.kind, cipher: a.kind === 'tls' ? a.socket.cipher : null })));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as net.AddressInfo).port, warnings, accepted, close: () => srv.close() };
}

/** gnutls-cli as tlshd drives GnuTLS: TLS 1.3 only, PSK with (EC)DHE, no tickets; `aes256Only` as for a 48-byte key. */
function gnutls(port: number, identity: string, psk: Buffer, aes256Only: boolean): Promise<string> {
  const priority = `SECURE256:+SECURE128:-COMP-ALL:-VERS-ALL:+VERS-TLS1.3:%NO_TICKETS:+PSK:+DHE-PSK:+ECDHE-PSK${aes256Only ? ':-CIPHER-ALL:+AES-256-GCM' : ''}`;
  return new Promise((resolve) => {
    const c = spawn('gnutls-cli', ['--pskusername', identity, '--pskkey', psk.toString('hex'), '--priority', priority, '-p', String(port), '127.0.0.1'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const t = setTimeout(() => c.kill(), 10000);
    c.on('close', () => (clearTimeout(t), resolve(out)));
    c.stdin.end();
  });
}

test('tls-gnutls: GnuTLS with a SHA-256 PSK (as tlshd offers it) completes with TLS_AES_128_GCM_SHA256', async (t) => {
  if (!haveTool(t, 'gnutls-cli', 'gnutls-bin')) return;
  const s = await serve();
  try {
    const d = deriveTlsPsk(K256, HOSTNQN, SUBNQN, 0);
    const out = await gnutls(s.port, d.identity, d.psk, false);
    assert.match(out, /Handshake was completed/, out);
    assert.match(out, /AES-128-GCM/, out);
    assert.equal(s.accepted.length, 1, out);
    assert.deepEqual(s.accepted[0], { kind: 'tls', cipher: 'TLS_AES_128_GCM_SHA256' });
    assert.deepEqual(s.warnings, []);
  } finally {
    s.close();
  }
});

test('tls-gnutls: GnuTLS binding a SHA-384 PSK with a SHA-256 binder is refused with one line naming that', async (t) => {
  if (!haveTool(t, 'gnutls-cli', 'gnutls-bin')) return;
  const s = await serve();
  try {
    const d = deriveTlsPsk(K384, HOST384, SUBNQN, 0);
    assert.match(d.identity, /^NVMe0R02 /);
    const out = await gnutls(s.port, d.identity, d.psk, true);
    assert.doesNotMatch(out, /Handshake was completed/, out);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(s.warnings.length, 1, JSON.stringify(s.warnings));
    assert.match(s.warnings[0]!, /binds its SHA-384 PSK with a binder of another hash/);
    assert.equal(s.accepted.length, 0);
  } finally {
    s.close();
  }
});
