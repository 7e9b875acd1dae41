// A client framed the way SPDK's Python client frames (json.dumps objects written back to back with no
// delimiter, or pretty-printed ones joined by newlines; answers read with JSONDecoder.raw_decode after
// stripping leading whitespace), against the real target's socket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { SUBNQN } from './helpers.js';
import { withRpcTarget } from './rpc-helpers.js';

const CLIENT = String.raw`
import json, socket, sys

sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect(sys.argv[1])
buf = ""

def recv_one():
    global buf
    while True:
        s = buf.lstrip()
        try:
            obj, idx = json.JSONDecoder().raw_decode(s)
            buf = s[idx:]
            return obj
        except ValueError:
            pass
        data = sock.recv(7)  # small reads: answers arrive in pieces
        if not data:
            raise SystemExit("connection closed with partial response: " + buf)
        buf += data.decode("utf-8")

reqs = [
    {"jsonrpc": "2.0", "method": "spdk_get_version", "id": 1},
    {"jsonrpc": "2.0", "method": "nvmf_get_subsystems", "id": 2, "params": {"nqn": sys.argv[2]}},
    {"jsonrpc": "2.0", "method": "bdev_malloc_create", "id": 3, "params": {"block_size": 512, "num_blocks": 64, "name": "Py0"}},
]
# Objects concatenated, no newline, one sendall.
sock.sendall("".join(json.dumps(r) for r in reqs).encode("utf-8"))
out = [recv_one() for _ in reqs]
# The client's own flush: indent=2, joined by newlines.
more = [
    {"jsonrpc": "2.0", "method": "bdev_get_bdevs", "id": 4, "params": {"name": "Py0"}},
    {"jsonrpc": "2.0", "method": "nvmf_subsystem_add_ns", "id": 5, "params": {"nqn": "nqn.2026-11.io.none:x", "namespace": {"bdev_name": "Py0"}}},
]
sock.sendall("\n".join(json.dumps(r, indent=2) for r in more).encode("utf-8"))
out += [recv_one() for _ in more]
# Batch mode: one array.
sock.sendall(json.dumps([{"jsonrpc": "2.0", "method": "bdev_malloc_delete", "id": 6, "params": {"name": "Py0"}},
                         {"jsonrpc": "2.0", "method": "rpc_get_methods", "id": 7, "params": {"current": True}}], indent=2).encode("utf-8"))
out.append(recv_one())
sock.shutdown(socket.SHUT_RDWR)
sock.close()
print(json.dumps(out))
`;

test('rpc: a Python client framed like SPDK\'s client.py (concatenated objects, pretty-printed ones, a batch)', () =>
  withRpcTarget(undefined, async (t) => {
    const { stdout } = await promisify(execFile)('python3', ['-c', CLIENT, t.sock, SUBNQN], { timeout: 20_000 });
    const out = JSON.parse(stdout) as { id: number; result?: unknown; error?: { code: number; message: string } }[] | unknown[];
    const [ver, subs, created, bdevs, addNs, batch] = out as [
      { id: number; result: { version: string } },
      { id: number; result: { nqn: string }[] },
      { id: number; result: string },
      { id: number; result: { name: string; num_blocks: number }[] },
      { id: number; error: { code: number; message: string } },
      { id: number; result?: unknown }[],
    ];
    assert.equal(ver.id, 1);
    assert.match(ver.result.version, /^nvmetd v/);
    assert.equal(subs.id, 2);
    assert.equal(subs.result[0]!.nqn, SUBNQN);
    assert.deepEqual(created, { jsonrpc: '2.0', id: 3, result: 'Py0' });
    assert.equal(bdevs.result[0]!.name, 'Py0');
    assert.equal(bdevs.result[0]!.num_blocks, 64);
    assert.deepEqual(addNs, { jsonrpc: '2.0', id: 5, error: { code: -32602, message: "Subsystem with NQN 'nqn.2026-11.io.none:x' not found" } });
    assert.equal(batch.length, 2);
    assert.deepEqual(batch[0], { jsonrpc: '2.0', id: 6, result: true });
    assert.equal(batch[1]!.id, 7);
    assert.ok((batch[1]!.result as string[]).includes('nvmf_subsystem_add_ns'));
  }));
