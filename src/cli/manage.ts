// Friendly subcommands for a running target, over its JSON-RPC socket (serve --rpc-socket PATH):
//   nvmetd subsystem create|delete|list, nvmetd ns add|remove|resize, nvmetd host add|remove,
//   nvmetd listener add|remove, nvmetd config save|reload|show.
// Each is a thin wrapper over the RPC methods (SPDK's names, or nvmetd_* where SPDK has none):
// what they print on success is one line (or a listing); an error answer is one line on stderr and
// exit status 1; bad arguments exit 2.
import { randomUUID } from 'node:crypto';
import { basename } from 'node:path';
import type { Command } from 'commander';
import type { Json } from '../rpc/json-value.js';
import { UsageError } from '../util/exit.js';
import { action, intArg, listenAddress, print, rpc, sizeArg, withSocket, type SocketOption } from './manage-client.js';

type Obj = { [k: string]: Json };

const EXAMPLES = (lines: string[]): string => `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;
const SOCK = '-s /run/nvmetd/rpc.sock';
const NQN = 'nqn.2026-11.io.example:vol1';

interface SubsystemInfo {
  nqn: string;
  subtype?: string;
  serial_number?: string;
  model_number?: string;
  allow_any_host?: boolean;
  hosts?: { nqn: string }[];
  listen_addresses?: { traddr: string; trsvcid: string; adrfam?: string }[];
  namespaces?: { nsid: number; bdev_name: string; uuid?: string }[];
}

async function subsystemInfo(o: SocketOption, nqn: string): Promise<SubsystemInfo> {
  const list = (await rpc(o, 'nvmf_get_subsystems', { nqn })) as unknown as SubsystemInfo[];
  return list[0]!;
}

function registerSubsystem(program: Command): void {
  const sub = program.command('subsystem').description('create, delete and list the subsystems of a running target (JSON-RPC socket)');
  withSocket(sub.command('create <nqn>'))
    .description('create an NVM subsystem (no namespaces, no listener yet: see `ns add`, `listener add`)')
    .option('--serial <text>', 'serial number (default: derived from the NQN)')
    .option('--model <text>', 'model number (default "SPDK bdev Controller", as SPDK)')
    .option('--max-namespaces <n>', 'largest nsid (default 32, as SPDK; 0: no limit)')
    .option('--allow-any-host', 'admit any host (default: only hosts added with `host add`)')
    .addHelpText('after', EXAMPLES([`nvmetd subsystem create ${NQN} --allow-any-host ${SOCK}`]))
    .action(action(async (nqn: string, o: SocketOption & { serial?: string; model?: string; maxNamespaces?: string; allowAnyHost?: boolean }) => {
      const p: Obj = { nqn, allow_any_host: o.allowAnyHost === true };
      if (o.serial !== undefined) p.serial_number = o.serial;
      if (o.model !== undefined) p.model_number = o.model;
      if (o.maxNamespaces !== undefined) p.max_namespaces = intArg('--max-namespaces', o.maxNamespaces, 0, 0xffffffff);
      await rpc(o, 'nvmf_create_subsystem', p);
      print(`subsystem ${nqn} created`);
    }));
  withSocket(sub.command('delete <nqn>'))
    .description('delete a subsystem: every host connected to it is disconnected')
    .action(action(async (nqn: string, o: SocketOption) => {
      await rpc(o, 'nvmf_delete_subsystem', { nqn });
      print(`subsystem ${nqn} deleted`);
    }));
  withSocket(sub.command('list'))
    .description('list the subsystems with their listeners, hosts and namespaces')
    .option('--json', 'print the raw nvmf_get_subsystems answer')
    .action(action(async (o: SocketOption & { json?: boolean }) => {
      const list = (await rpc(o, 'nvmf_get_subsystems')) as unknown as SubsystemInfo[];
      if (o.json) {
        print(JSON.stringify(list, null, 2));
        return;
      }
      for (const s of list) {
        if (s.subtype === 'Discovery') continue;
        print(s.nqn);
        const at = (l: { traddr: string; trsvcid: string; adrfam?: string }): string => (l.traddr.includes(':') ? `[${l.traddr}]:${l.trsvcid}` : `${l.traddr}:${l.trsvcid}`);
        print(`  listeners:  ${(s.listen_addresses ?? []).map(at).join(', ') || '(none)'}`);
        print(`  hosts:      ${s.allow_any_host ? 'any' : (s.hosts ?? []).map((h) => h.nqn).join(', ') || '(none)'}`);
        const ns = s.namespaces ?? [];
        print(`  namespaces: ${ns.length === 0 ? '(none)' : ''}`);
        for (const n of ns) print(`    ${n.nsid}  ${n.bdev_name}${n.uuid ? `  uuid ${n.uuid}` : ''}`);
      }
    }));
}

function registerNamespace(program: Command): void {
  const ns = program.command('ns').description('add, remove and resize namespaces of a running target (JSON-RPC socket)');
  withSocket(ns.command('add <nqn>'))
    .description('add a namespace backed by RAM (--ram SIZE) or by a file or block device (--file PATH); prints its nsid')
    .option('--ram <size>', 'a RAM namespace of this size, e.g. 1GiB')
    .option('--file <path>', 'a file or block device')
    .option('--nsid <n>', 'namespace id (default: the lowest free one)')
    .option('--block-size <bytes>', '512 or 4096 (default 512)')
    .option('--read-only', 'file namespaces: read only')
    .option('--uuid <uuid>', 'namespace UUID (default: a new random one)')
    .option('--nguid <hex>', 'NGUID, 32 hex digits (default: derived from the NQN and nsid)')
    .option('--eui64 <hex>', 'EUI-64, 16 hex digits (default: derived from the NQN and nsid)')
    .option('--ana-group <n>', 'ANA group id (default 1)')
    .addHelpText('after', EXAMPLES([`nvmetd ns add ${NQN} --ram 1GiB ${SOCK}`, `nvmetd ns add ${NQN} --file /srv/vol1.img --nsid 2 --block-size 4096 ${SOCK}`]))
    .action(action(nsAdd));
  withSocket(ns.command('remove <nqn> <nsid>'))
    .description('remove a namespace (connected hosts are told; commands to it fail with Invalid Namespace from then on)')
    .option('--keep-bdev', 'keep its block device (bdev) for a later `nvmetd rpc nvmf_subsystem_add_ns`')
    .action(action(async (nqn: string, nsidText: string, o: SocketOption & { keepBdev?: boolean }) => {
      const nsid = intArg('nsid', nsidText, 1, 0xfffffffe);
      const bdev = (await subsystemInfo(o, nqn)).namespaces?.find((n) => n.nsid === nsid)?.bdev_name;
      await rpc(o, 'nvmf_subsystem_remove_ns', { nqn, nsid });
      if (bdev !== undefined && !o.keepBdev) await deleteBdev(o, bdev);
      print(`namespace ${nsid} removed from ${nqn}`);
    }));
  withSocket(ns.command('resize <nqn> <nsid> <size>'))
    .description('resize a RAM namespace (connected hosts see the new size); a file namespace: grow the file, then `nvmetd rpc bdev_aio_rescan --name BDEV`')
    .option('--force', 'shrink even when data is written past the new end (it is lost)')
    .addHelpText('after', EXAMPLES([`nvmetd ns resize ${NQN} 1 2GiB ${SOCK}`]))
    .action(action(async (nqn: string, nsidText: string, sizeText: string, o: SocketOption & { force?: boolean }) => {
      const nsid = intArg('nsid', nsidText, 1, 0xfffffffe);
      const size = sizeArg('size', sizeText);
      await rpc(o, 'nvmetd_namespace_resize', { nqn, nsid, size, ...(o.force ? { force: true } : {}) });
      print(`namespace ${nsid} of ${nqn} resized to ${size} bytes`);
    }));
}

interface NsAddOptions extends SocketOption {
  ram?: string;
  file?: string;
  nsid?: string;
  blockSize?: string;
  readOnly?: boolean;
  uuid?: string;
  nguid?: string;
  eui64?: string;
  anaGroup?: string;
}

/** A bdev over the RAM or the file, then the namespace over it (the bdev is deleted again if that fails). */
async function nsAdd(nqn: string, o: NsAddOptions): Promise<void> {
  if ((o.ram === undefined) === (o.file === undefined)) throw new UsageError('ns add: give one of --ram SIZE or --file PATH');
  const blockSize = o.blockSize === undefined ? 512 : Number(o.blockSize);
  if (blockSize !== 512 && blockSize !== 4096) throw new UsageError(`--block-size: 512 or 4096, got "${o.blockSize}"`);
  const nsid = o.nsid === undefined ? undefined : intArg('--nsid', o.nsid, 1, 0xfffffffe);
  let bdev: string;
  if (o.ram !== undefined) {
    const size = sizeArg('--ram', o.ram);
    if (size === 0 || size % blockSize !== 0) throw new UsageError(`--ram: a positive multiple of the block size (${blockSize})`);
    bdev = (await rpc(o, 'bdev_malloc_create', { num_blocks: size / blockSize, block_size: blockSize, ...(o.uuid ? { uuid: o.uuid } : {}) })) as string;
  } else {
    const name = `${basename(o.file!)}-${randomUUID().slice(0, 8)}`;
    const p: Obj = { name, filename: o.file!, block_size: blockSize, ...(o.uuid ? { uuid: o.uuid } : {}) };
    if (o.readOnly) p.readonly = true;
    bdev = (await rpc(o, 'bdev_aio_create', p)) as string;
  }
  const namespace: Obj = { bdev_name: bdev };
  if (nsid !== undefined) namespace.nsid = nsid;
  if (o.uuid !== undefined) namespace.uuid = o.uuid;
  if (o.nguid !== undefined) namespace.nguid = o.nguid;
  if (o.eui64 !== undefined) namespace.eui64 = o.eui64;
  if (o.anaGroup !== undefined) namespace.anagrpid = intArg('--ana-group', o.anaGroup, 1, 128);
  let added: Json;
  try {
    added = await rpc(o, 'nvmf_subsystem_add_ns', { nqn, namespace });
  } catch (err) {
    await deleteBdev(o, bdev).catch(() => undefined);
    throw err;
  }
  print(`namespace ${String(added)} added to ${nqn}`);
}

async function deleteBdev(o: SocketOption, name: string): Promise<void> {
  const [b] = (await rpc(o, 'bdev_get_bdevs', { name })) as unknown as { product_name: string }[];
  const method = b?.product_name === 'Malloc disk' ? 'bdev_malloc_delete' : b?.product_name === 'URING bdev' ? 'bdev_uring_delete' : 'bdev_aio_delete';
  await rpc(o, method, { name });
}

function registerAccess(program: Command): void {
  const host = program.command('host').description('allow or remove hosts of a subsystem on a running target (JSON-RPC socket)');
  withSocket(host.command('add <nqn> <hostnqn>'))
    .description('allow a host NQN to connect to the subsystem')
    .action(action(async (nqn: string, hostnqn: string, o: SocketOption) => {
      await rpc(o, 'nvmf_subsystem_add_host', { nqn, host: hostnqn });
      print(`host ${hostnqn} allowed on ${nqn}`);
    }));
  withSocket(host.command('remove <nqn> <hostnqn>'))
    .description('remove a host from the allowed list: its controllers on the subsystem are disconnected')
    .action(action(async (nqn: string, hostnqn: string, o: SocketOption) => {
      await rpc(o, 'nvmf_subsystem_remove_host', { nqn, host: hostnqn });
      print(`host ${hostnqn} removed from ${nqn}`);
    }));
  const listener = program.command('listener').description('add or remove the listeners (TCP addresses) of a subsystem on a running target (JSON-RPC socket)');
  withSocket(listener.command('add <nqn> <address>'))
    .description('serve the subsystem on ADDR:PORT ([IPV6]:PORT), listening there if nothing does yet')
    .addHelpText('after', EXAMPLES([`nvmetd listener add ${NQN} 0.0.0.0:4421 ${SOCK}`]))
    .action(action(async (nqn: string, address: string, o: SocketOption) => {
      await rpc(o, 'nvmf_subsystem_add_listener', { nqn, listen_address: listenAddress(address) });
      print(`${nqn} listening on ${address}`);
    }));
  withSocket(listener.command('remove <nqn> <address>'))
    .description('stop serving the subsystem on ADDR:PORT: controllers that came through it are disconnected')
    .action(action(async (nqn: string, address: string, o: SocketOption) => {
      await rpc(o, 'nvmf_subsystem_remove_listener', { nqn, listen_address: listenAddress(address) });
      print(`${nqn} no longer listening on ${address}`);
    }));
}

/** `config save|reload|show` under the existing `config` command. */
function registerConfig(config: Command): void {
  withSocket(config.command('save [path]'))
    .description('write the running configuration (every live change included) as a config file, atomically; default path: the file the target was started from')
    .action(action(async (path: string | undefined, o: SocketOption) => {
      const r = (await rpc(o, 'nvmetd_save_config', path === undefined ? undefined : { path })) as { path: string; warnings: string[] };
      for (const w of r.warnings) process.stderr.write(`nvmetd: warning: ${w}\n`);
      print(`configuration saved to ${r.path}`);
    }));
  withSocket(config.command('reload'))
    .description('read the config file again and apply the difference live (as SIGHUP does); a bad file changes nothing')
    .action(action(async (o: SocketOption) => {
      const r = (await rpc(o, 'nvmetd_reload')) as { path: string; applied: string[]; warnings: string[]; failed: string[] };
      for (const line of r.applied) print(`applied: ${line}`);
      for (const w of r.warnings) process.stderr.write(`nvmetd: warning: ${w}\n`);
      for (const f of r.failed) process.stderr.write(`nvmetd: not applied: ${f}\n`);
      print(r.applied.length === 0 ? `${r.path}: nothing to change` : `${r.path}: ${r.applied.length} change(s) applied`);
      if (r.failed.length > 0) process.exitCode = 1;
    }));
  withSocket(config.command('show'))
    .description('print the running configuration in the config file format')
    .action(action(async (o: SocketOption) => {
      print(JSON.stringify(await rpc(o, 'nvmetd_get_config'), null, 2));
    }));
}

/** Registers subsystem, ns, host and listener on `program`, and save/reload/show under `config`. */
export function registerManage(program: Command, config: Command): void {
  registerSubsystem(program);
  registerNamespace(program);
  registerAccess(program);
  config.description('config file tools; save, reload and show a running target\'s configuration');
  registerConfig(config);
}
