// Every validation rule: a bad config is refused with one line naming the source, the JSON pointer
// and the reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeConfig } from '../../src/config/normalize.js';
import { ConfigError } from '../../src/config/errors.js';

const NQN = 'nqn.2026-11.io.nvmetd:test';
const HOST = 'nqn.2014-08.org.nvmexpress:uuid:2f1c8a52-7d0e-4b8e-9a51-3c0d5e6f7a81';
const ram = (size: unknown = 4096, extra: Record<string, unknown> = {}) => ({ backing: { type: 'ram', size }, ...extra });
const sub = (extra: Record<string, unknown> = {}) => ({ nqn: NQN, namespaces: [ram()], ...extra });

const cases: [string, unknown, string][] = [
  // shape (JSON Schema)
  ['not an object', [], '/: must be an object'],
  ['missing subsystems', {}, '/subsystems: is required'],
  ['unknown top-level field', { subsystems: [], logLvl: 'info' }, '/logLvl: is not a known field (did you mean "logLevel"?); known fields: $schema, logLevel, logFormat, icreqTimeout, mdts, memoryBudget, controlSocket, rpcSocket, metrics, shard, hosts, ports, subsystems'],
  ['wrong type', { subsystems: [sub({ allowAnyHost: 'yes' })] }, '/subsystems/0/allowAnyHost: must be true or false'],
  ['bad log level', { subsystems: [], logLevel: 'loud' }, '/logLevel: must be one of "fatal", "error", "warn", "info", "debug" or "trace"'],
  ['icreqTimeout 0', { subsystems: [], icreqTimeout: 0 }, '/icreqTimeout: must be a number greater than 0 and at most 3600'],
  ['memoryBudget too small for MDTS', { subsystems: [], memoryBudget: '4MiB' }, '/memoryBudget: must be 0 (no limit) or at least 8 x MDTS = 8MiB, so that commands of the largest size can be served (got 4MiB)'],
  ['empty ports', { subsystems: [], ports: [] }, '/ports: must have at least 1 item'],
  ['metrics without a port', { subsystems: [], metrics: '127.0.0.1' }, '/metrics: "127.0.0.1" is not an address of the form HOST:PORT (an IPv4 address, or an IPv6 address in brackets)'],
  ['metrics with a host name', { subsystems: [], metrics: 'localhost:9464' }, '/metrics: "localhost:9464" is not an address of the form HOST:PORT (an IPv4 address, or an IPv6 address in brackets)'],
  ['metrics port out of range', { subsystems: [], metrics: '127.0.0.1:65536' }, '/metrics: port 65536 is out of range (0-65535)'],
  ['metrics bad IPv4', { subsystems: [], metrics: '300.1.1.1:9464' }, '/metrics: "300.1.1.1" is not an IPv4 or IPv6 address'],
  ['block size', { subsystems: [sub({ namespaces: [ram(), ram(4096, { blockSize: 1024 })] })] }, '/subsystems/0/namespaces/1/blockSize: must be 512 or 4096'],
  ['backing type', { subsystems: [sub({ namespaces: [{ backing: { type: 'nbd' } }] })] }, '/subsystems/0/namespaces/0/backing/type: must be one of "ram", "file", "block" or "rbd"'],
  ['ram without size', { subsystems: [sub({ namespaces: [{ backing: { type: 'ram' } }] })] }, '/subsystems/0/namespaces/0/backing/size: is required'],
  ['file field on ram', { subsystems: [sub({ namespaces: [{ backing: { type: 'ram', size: 4096, path: '/x' } }] })] }, '/subsystems/0/namespaces/0/backing/path: is not a known field; known fields: type, size, delayUs, overcommit'],
  ['missing backing', { subsystems: [sub({ namespaces: [{ nsid: 1 }] })] }, '/subsystems/0/namespaces/0/backing: is required'],
  ['bad size string', { subsystems: [sub({ namespaces: [ram('12 parsecs')] })] }, '/subsystems/0/namespaces/0/backing/size: must be a number of bytes or a size such as "512MiB", "1G" or "100MB"'],
  ['negative size', { subsystems: [sub({ namespaces: [ram(-4096)] })] }, '/subsystems/0/namespaces/0/backing/size: must be at least 0'],
  ['fractional bytes', { subsystems: [sub({ namespaces: [ram('1.3')] })] }, '/subsystems/0/namespaces/0/backing/size: "1.3" is not a whole number of bytes'],
  ['serial too long', { subsystems: [sub({ serial: 'x'.repeat(21) })] }, '/subsystems/0/serial: must be at most 20 characters long'],
  ['serial not ASCII', { subsystems: [sub({ serial: 'séria' })] }, '/subsystems/0/serial: must contain printable ASCII characters only'],
  ['firmware too long', { subsystems: [sub({ firmware: '123456789' })] }, '/subsystems/0/firmware: must be at most 8 characters long'],
  ['empty model', { subsystems: [sub({ model: '' })] }, '/subsystems/0/model: must not be empty'],
  ['bad uuid', { subsystems: [sub({ namespaces: [ram(4096, { uuid: 'abc' })] })] }, '/subsystems/0/namespaces/0/uuid: must be a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)'],
  ['bad nguid', { subsystems: [sub({ namespaces: [ram(4096, { nguid: '12' })] })] }, '/subsystems/0/namespaces/0/nguid: must be 32 hex digits (dashes as in a UUID allowed)'],
  ['bad eui64', { subsystems: [sub({ namespaces: [ram(4096, { eui64: 'zz' })] })] }, '/subsystems/0/namespaces/0/eui64: must be 16 hex digits (optionally in pairs separated by ":" or "-")'],
  // NQNs
  ['empty subsystem name', { subsystems: [sub({ nqn: '' })] }, '/subsystems/0/nqn: must not be empty'],
  ['NUL in a subsystem name', { subsystems: [sub({ nqn: 'test\u0000nqn' })] }, '/subsystems/0/nqn: must not contain a NUL character'],
  ['NQN longer than 223 bytes', { subsystems: [sub({ nqn: `nqn.2026-11.io.nvmetd:${'é'.repeat(110)}` })] }, '/subsystems/0/nqn: NQN is 242 bytes long, the limit is 223'],
  ['discovery NQN', { subsystems: [sub({ nqn: 'nqn.2014-08.org.nvmexpress.discovery' })] }, '/subsystems/0/nqn: is the discovery NQN, which nvmetd serves by itself'],
  ['duplicate subsystem NQN', { subsystems: [sub({ nqn: 'nqn.2014-08.org.nvmexpress:x' }), sub({ nqn: 'nqn.2014-08.org.nvmexpress:x' })] }, '/subsystems/1/nqn: duplicate subsystem NQN (also at /subsystems/0/nqn)'],
  ['empty allowed host name', { subsystems: [sub({ allowedHosts: [HOST, ''] })] }, '/subsystems/0/allowedHosts/1: must not be empty'],
  ['duplicate allowed host', { subsystems: [sub({ allowedHosts: [HOST, HOST] })] }, `/subsystems/0/allowedHosts/1: duplicate host NQN (also at /subsystems/0/allowedHosts/0)`],
  ['host name over 223 bytes', { hosts: [{ nqn: `h${'x'.repeat(223)}` }], subsystems: [] }, '/hosts/0/nqn: must be at most 223 characters long'],
  ['host name over 223 bytes of UTF-8', { hosts: [{ nqn: 'é'.repeat(112) }], subsystems: [] }, '/hosts/0/nqn: NQN is 224 bytes long, the limit is 223'],
  ['duplicate host', { hosts: [{ nqn: HOST }, { nqn: HOST }], subsystems: [] }, '/hosts/1/nqn: duplicate host NQN (also at /hosts/0/nqn)'],
  ['allowAnyHost with hosts', { subsystems: [sub({ allowAnyHost: true, allowedHosts: [HOST] })] }, '/subsystems/0/allowAnyHost: cannot be true while allowedHosts lists hosts (remove one of the two)'],
  // namespaces
  ['nsid 0', { subsystems: [sub({ namespaces: [ram(4096, { nsid: 0 })] })] }, '/subsystems/0/namespaces/0/nsid: must be an integer from 1 to 4294967294'],
  ['nsid 0xFFFFFFFF', { subsystems: [sub({ namespaces: [ram(4096, { nsid: 0xffffffff })] })] }, '/subsystems/0/namespaces/0/nsid: must be an integer from 1 to 4294967294'],
  ['nsid above maxNamespaces', { subsystems: [sub({ maxNamespaces: 4, namespaces: [ram(4096, { nsid: 5 })] })] }, '/subsystems/0/namespaces/0/nsid: must be at most maxNamespaces (4)'],
  ['no free nsid', { subsystems: [sub({ maxNamespaces: 1, namespaces: [ram(), ram()] })] }, '/subsystems/0/namespaces/1: no free nsid: maxNamespaces is 1'],
  ['duplicate nsid', { subsystems: [sub({ namespaces: [ram(4096, { nsid: 2 }), ram(4096, { nsid: 2 })] })] }, '/subsystems/0/namespaces/1/nsid: duplicate nsid (also at /subsystems/0/namespaces/0/nsid)'],
  ['ram size not a multiple', { subsystems: [sub({ namespaces: [ram(4096 + 512, { blockSize: 4096 })] })] }, '/subsystems/0/namespaces/0/backing/size: 4608 is not a multiple of the block size 4096'],
  ['ram size 0', { subsystems: [sub({ namespaces: [ram(0)] })] }, '/subsystems/0/namespaces/0/backing/size: must be greater than 0'],
  ['file size not a multiple', { subsystems: [sub({ namespaces: [{ backing: { type: 'file', path: '/x.img', size: '1000' } }] })] }, '/subsystems/0/namespaces/0/backing/size: 1000 is not a multiple of the block size 512'],
  ['empty file path', { subsystems: [sub({ namespaces: [{ backing: { type: 'file', path: '' } }] })] }, '/subsystems/0/namespaces/0/backing/path: must not be empty'],
  ['blank block path', { subsystems: [sub({ namespaces: [{ backing: { type: 'block', path: '  ' } }] })] }, '/subsystems/0/namespaces/0/backing/path: must not be empty'],
  ['same file twice', { subsystems: [sub({ namespaces: [{ backing: { type: 'file', path: '/a.img' } }, { backing: { type: 'file', path: '/a.img' } }] })] }, '/subsystems/0/namespaces/1/backing/path: duplicate backing path: two namespaces on one file or device (share one namespace instead) (also at /subsystems/0/namespaces/0/backing/path)'],
  ['duplicate uuid', { subsystems: [sub({ namespaces: [ram(4096, { uuid: '6c6f6f70-6e76-6d65-7472-656630303031' }), ram(4096, { uuid: '6C6F6F70-6E76-6D65-7472-656630303031' })] })] }, '/subsystems/0/namespaces/1/uuid: duplicate UUID (also at /subsystems/0/namespaces/0/uuid)'],
  ['zero nguid', { subsystems: [sub({ namespaces: [ram(4096, { nguid: '0'.repeat(32) })] })] }, '/subsystems/0/namespaces/0/nguid: must not be all zeroes (leave it out to get a stable derived one)'],
  // subsystem limits
  ['cntlid range', { subsystems: [sub({ cntlidMin: 100, cntlidMax: 10 })] }, '/subsystems/0/cntlidMax: cntlidMin (100) must not exceed cntlidMax (10)'],
  ['cntlidMax beyond 0xFFEF', { subsystems: [sub({ cntlidMax: 0xfff0 })] }, '/subsystems/0/cntlidMax: must be an integer from 1 to 65519'],
  ['maxNamespaces 0', { subsystems: [sub({ maxNamespaces: 0 })] }, '/subsystems/0/maxNamespaces: must be an integer from 1 to 4294967294'],
  // ports
  ['port references unknown subsystem', { subsystems: [sub()], ports: [{ subsystems: ['nqn.2026-11.io.nvmetd:other'] }] }, '/ports/0/subsystems/0: no subsystem has the NQN "nqn.2026-11.io.nvmetd:other"'],
  ['duplicate port id', { subsystems: [], ports: [{ id: 3 }, { id: 3, port: 4421 }] }, '/ports/1/id: duplicate port id (also at /ports/0/id)'],
  ['same address and port', { subsystems: [], ports: [{ address: '10.0.0.1' }, { address: '10.0.0.1', id: 9 }] }, '/ports/1/port: 10.0.0.1:4420 overlaps 10.0.0.1:4420 of /ports/0'],
  ['wildcard overlaps', { subsystems: [], ports: [{ address: '10.0.0.1' }, { address: '0.0.0.0' }] }, '/ports/1/port: 0.0.0.0:4420 overlaps 10.0.0.1:4420 of /ports/0'],
  ['not an IP', { subsystems: [], ports: [{ address: 'localhost' }] }, '/ports/0/address: "localhost" is not an IPv4 or IPv6 address'],
  ['family mismatch', { subsystems: [], ports: [{ address: '::1', family: 'ipv4' }] }, '/ports/0/family: is "ipv4" but the address ::1 is IPv6'],
  ['port out of range', { subsystems: [], ports: [{ port: 70000 }] }, '/ports/0/port: must be an integer from 0 to 65535'],
  ['inline data not a multiple of 16', { subsystems: [], ports: [{ inlineDataSize: 1000 }] }, '/ports/0/inlineDataSize: must be a multiple of 16 from 0 to 1MiB (got 1000)'],
  ['inline data above 1MiB', { subsystems: [], ports: [{ inlineDataSize: '2MiB' }] }, '/ports/0/inlineDataSize: must be a multiple of 16 from 0 to 1MiB (got 2097152)'],
  ['maxH2CData too small', { subsystems: [], ports: [{ maxH2CData: 1024 }] }, '/ports/0/maxH2CData: must be a multiple of 4 from 4096 to 1GiB (got 1024)'],
  ['maxQueueSize too small', { subsystems: [], ports: [{ maxQueueSize: 16 }] }, '/ports/0/maxQueueSize: must be an integer from 32 to 65536'],
  ['referral address', { subsystems: [], ports: [{ referrals: [{ address: 'peer' }] }] }, '/ports/0/referrals/0/address: "peer" is not an IPv4 or IPv6 address'],
  ['referral without address', { subsystems: [], ports: [{ referrals: [{ port: 4420 }] }] }, '/ports/0/referrals/0/address: is required'],
  ['advertise address', { subsystems: [], ports: [{ advertiseAddress: 'my.host' }] }, '/ports/0/advertiseAddress: "my.host" is not an IPv4 or IPv6 address'],
  // mdts
  ['mdts not a power of two', { subsystems: [], mdts: 3 * 4096 }, '/mdts: must be a power of two from 4096 to 1GiB (got 12KiB)'],
  ['mdts too small', { subsystems: [], mdts: 2048 }, '/mdts: must be a power of two from 4096 to 1GiB (got 2KiB)'],
];

for (const [name, raw, expected] of cases) {
  test(`refused: ${name}`, () => {
    assert.throws(() => normalizeConfig(raw, 'config.json'), (err: unknown) => {
      assert.ok(err instanceof ConfigError, `not a ConfigError: ${String(err)}`);
      assert.equal(err.message, `config.json: ${expected}`);
      assert.ok(!err.message.includes('\n'), 'one line');
      assert.equal(err.source, 'config.json');
      return true;
    });
  });
}
