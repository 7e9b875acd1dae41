// Interop suite runner: the real Linux NVMe/TCP host (kernel nvme-tcp, nvme-cli, fio) in a QEMU guest
// (TCG, user-mode networking) against nvmetd on this machine's loopback, or, with --reference, against
// the kernel's own nvmet-tcp inside the guest. See test/interop/README.md.
//
//   npm run test:interop [-- --reference] [-- --release trixie] [-- --only "discover connect-plain"]
import { appendFileSync, closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CpioEntry, CpioWriter, withParents } from './cpio.js';
import { checkIdentify, compareWithReference, HostCheck, InteropConfig } from './checks.js';
import { cacheDirFor, ensureGuestImage, GuestImage, Release, RELEASES } from './setup.js';
import { killAll, killGroup, portOpen, spawnGroup, Target, waitExit } from './processes.js';
import { RbdGateways } from './gateways.js';
import { extraKeysFor, gatewayPorts, guestEnv, interopConfig, nvmetdConfigJson, PERF_DELAY_US, PERF_QD, PERF_SECONDS, runState, type Options } from './target-config.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..', '..');
const srcDir = join(repoRoot, 'test', 'interop');


function parseArgs(argv: string[]): Options {
  const o: Options = {
    reference: ['1', 'true', 'yes'].includes((process.env.NVMETD_INTEROP_REFERENCE ?? '').toLowerCase()),
    release: (process.env.NVMETD_INTEROP_RELEASE ?? 'bookworm') as Release,
    only: process.env.NVMETD_INTEROP_ONLY ?? '',
    timeoutSec: Number(process.env.NVMETD_INTEROP_TIMEOUT ?? 2700),
    memory: process.env.NVMETD_INTEROP_MEMORY ?? '2G',
    cpus: Number(process.env.NVMETD_INTEROP_CPUS ?? 2),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--reference') o.reference = true;
    else if (a === '--release') o.release = argv[++i] as Release;
    else if (a.startsWith('--release=')) o.release = a.slice(10) as Release;
    else if (a === '--only') o.only = argv[++i];
    else if (a.startsWith('--only=')) o.only = a.slice(7);
    else if (a === '--timeout') o.timeoutSec = Number(argv[++i]);
    else if (a === '--help' || a === '-h') {
      console.log('usage: node dist/test/interop/run.js [--reference] [--release bookworm|trixie] [--only "names"] [--timeout sec]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!RELEASES.includes(o.release)) throw new Error(`unknown release ${o.release}; one of ${RELEASES.join(', ')}`);
  return o;
}

// ---------------------------------------------------------------------------------------------------
// Every way out stops the child processes (processes.ts) and removes the run's temporary folders.
/** Folders of this run outside the run dir (the RPC socket's), removed on every way out. */
const tempDirs: string[] = [];
process.on('exit', () => {
  killAll();
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    console.log(`\ninterrupted (${sig}): stopping QEMU and targets`);
    killAll();
    process.exit(130);
  });
}
process.on('uncaughtException', (e) => {
  console.error(e);
  killAll();
  process.exit(1);
});

function openCloseCreate(path: string): string {
  closeSync(openSync(path, 'a'));
  return path;
}

// ---------------------------------------------------------------------------------------------------

let delayConfigPath = '';

/** Runs `nvmetd perf` against the delay target like the guest's fio job; returns "iops=N lat_us=N". */
async function perfAgainstDelayTarget(c: InteropConfig): Promise<string> {
  const args = [join(repoRoot, 'bin', 'nvmetd.js'), 'perf', '-a', '127.0.0.1', '-s', String(c.hostPort), '-n', c.subnqn,
    '--hostnqn', c.hosts[0].nqn, '--nsid', '1', '-w', 'randread', '-o', '4k', '-q', String(PERF_QD), '-t', String(PERF_SECONDS),
    '--warmup', '1', '--json'];
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawnGroup(process.execPath, args, { cwd: repoRoot });
    let text = '';
    p.stdout!.on('data', (d: Buffer) => (text += d.toString()));
    p.once('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`nvmetd perf exited ${code}`))));
  });
  const r = JSON.parse(out) as { iops: number; latencyUs: { avg: number } };
  return `iops=${Math.round(r.iops)} lat_us=${Math.round(r.latencyUs.avg)}`;
}

function buildRunInitrd(img: GuestImage, c: InteropConfig, o: Options, runDir: string): string {
  const overlay = join(runDir, 'overlay.cpio');
  const w = new CpioWriter(overlay);
  const g = (f: string) => readFileSync(join(srcDir, 'guest', f));
  const entries: CpioEntry[] = [
    { kind: 'file', path: 'init', data: g('init.sh'), mode: 0o755 },
    { kind: 'file', path: 'interop/lib.sh', data: g('lib.sh') },
    { kind: 'file', path: 'interop/scenarios.sh', data: g('scenarios.sh'), mode: 0o755 },
    { kind: 'file', path: 'interop/live.sh', data: g('live.sh') },
    { kind: 'file', path: 'interop/ha.sh', data: g('ha.sh') },
    { kind: 'file', path: 'interop/auth.sh', data: g('auth.sh') },
    { kind: 'file', path: 'interop/ceph.sh', data: g('ceph.sh') },
    { kind: 'file', path: 'interop/tls.sh', data: g('tls.sh') },
    { kind: 'file', path: 'interop/reference-target.sh', data: g('reference-target.sh') },
    { kind: 'file', path: 'interop/env.sh', data: Buffer.from(guestEnv(c, o)) },
  ];
  for (const e of withParents(entries)) w.add(e);
  w.close();
  const initrd = join(runDir, 'initrd.cpio');
  copyFileSync(img.initrd, initrd);
  appendFileSync(initrd, readFileSync(overlay));
  return initrd;
}

/**
 * auth-log HOSTNQN: how many times nvmetd logged that host as authenticated, and the hash and DH group
 * of the last time ("n=N hash=H dhgroup=G"): what the guest cannot see of a transaction.
 */
function authLogSummary(logPath: string, hostnqn: string): string {
  let n = 0;
  let last = { hash: '-', dhgroup: '-' };
  // An I/O worker's lines name the queue's connection (peer), not the host: the queue's Connect, logged
  // with both on the main thread, says whose it is (a peer address is unique among live connections).
  const owner = new Map<string, string>();
  for (const line of readFileSync(logPath, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const r = JSON.parse(line) as { msg?: string; peer?: string; hostnqn?: string; hash?: string; dhgroup?: string };
      if (r.peer !== undefined && r.hostnqn !== undefined) owner.set(r.peer, r.hostnqn);
      if (!/^authentication: host (and controller )?authenticated/.test(r.msg ?? '')) continue;
      if ((r.hostnqn ?? (r.peer !== undefined ? owner.get(r.peer) : undefined)) !== hostnqn) continue;
      n++;
      last = { hash: r.hash ?? '-', dhgroup: r.dhgroup ?? '-' };
    } catch { /* not a log record */ }
  }
  return `n=${n} hash=${last.hash} dhgroup=${last.dhgroup}`;
}

// ---------------------------------------------------------------------------------------------------
interface Result {
  name: string;
  status: 'PASS' | 'FAIL' | 'SKIP';
  detail: string;
  log: string[];
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const cache = cacheDirFor(repoRoot);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const runDir = join(cache, 'runs', `${stamp}-${o.reference ? 'reference' : 'nvmetd'}-${o.release}`);
  mkdirSync(join(runDir, 'artifacts'), { recursive: true });
  const say = (s: string) => console.log(s);
  say(`# interop: mode=${o.reference ? 'reference (kernel nvmet-tcp in the guest)' : 'nvmetd'} release=${o.release} run dir ${runDir}`);

  let img: GuestImage;
  try {
    img = ensureGuestImage(o.release, cache, (m) => say(`# setup: ${m}`));
  } catch (e) {
    say(`FAIL setup: ${(e as Error).message}`);
    if (o.release !== 'bookworm') say(`# the ${o.release} guest could not be prepared; bookworm is the default and supported release`);
    say('0 passed, 1 failed');
    return 1;
  }
  say(`# guest: kernel ${img.kernelVersion}, nvme-cli ${img.nvmeCliVersion}, fio ${img.fioVersion}` +
    `${img.ktlsUtilsVersion ? `, ktls-utils ${img.ktlsUtilsVersion}` : ''} (setup ${((Date.now() - t0) / 1000).toFixed(0)}s)`);
  runState.guestNvmeCli = img.nvmeCliVersion;

  const cfg = interopConfig(o, runDir);
  const results: Result[] = [];
  const report = (r: Result) => {
    results.push(r);
    say(`${r.status} ${r.name}${r.detail ? (r.status === 'PASS' ? ` ${r.detail}` : `: ${r.detail}`) : ''}`);
    for (const l of r.log) say(`    ${l}`);
  };

  let target: Target | undefined;
  let rpcDir: string | undefined;
  // rbd-failover's two gateways and Ceph cluster: made on the guest's first gw-up request.
  let gateways: RbdGateways | undefined;
  if (!o.reference) {
    const configPath = join(runDir, 'nvmetd.json');
    writeFileSync(configPath, nvmetdConfigJson(cfg));
    delayConfigPath = join(runDir, 'nvmetd-delay.json');
    writeFileSync(delayConfigPath, nvmetdConfigJson(cfg, PERF_DELAY_US));
    // dhchap-reauth's new secret: a key file as keyring_file_add_key wants it (absolute, 0600, ours).
    runState.reauthKeyFile = join(runDir, 'reauth.dhchap');
    writeFileSync(runState.reauthKeyFile, extraKeysFor(cfg).reauthNew + '\n', { mode: 0o600 });
    // The file namespace's backing file is created here (sparse), as an administrator would.
    for (const n of cfg.namespaces) if (n.path && !existsSync(n.path)) truncateSync(openCloseCreate(n.path), n.size);
    // The RPC socket lives in a short private folder (a Unix socket path is limited to 107 bytes).
    rpcDir = mkdtempSync(join(tmpdir(), 'nvmetd-interop-'));
    tempDirs.push(rpcDir);
    target = new Target(configPath, join(runDir, 'nvmetd.log'), '127.0.0.1', cfg.hostPort, join(rpcDir, 'rpc.sock'));
    if (!existsSync(join(repoRoot, 'dist', 'src', 'cli', 'main.js'))) {
      report({ name: 'target-start', status: 'FAIL', detail: 'dist/src/cli/main.js missing: run npm run build', log: [] });
      say('0 passed, 1 failed');
      return 1;
    }
    if (await portOpen('127.0.0.1', cfg.hostPort)) {
      report({ name: 'target-start', status: 'FAIL', detail: `127.0.0.1:${cfg.hostPort} is already in use; stop that listener or set NVMETD_INTEROP_PORT`, log: [] });
      say('0 passed, 1 failed');
      return 1;
    }
    try {
      await target.start();
      say(`# nvmetd listening on 127.0.0.1:${cfg.hostPort} (log ${join(runDir, 'nvmetd.log')})`);
    } catch (e) {
      report({ name: 'target-start', status: 'FAIL', detail: (e as Error).message, log: [] });
      say('0 passed, 1 failed');
      return 1;
    }
  }

  const initrd = buildRunInitrd(img, cfg, o, runDir);
  const qemuArgs = [
    '-accel', 'tcg', '-machine', 'q35', '-cpu', 'max', '-smp', String(o.cpus), '-m', o.memory,
    '-kernel', img.kernel, '-initrd', initrd,
    '-append', 'console=ttyS0,115200 panic=1 oops=panic loglevel=4 rdinit=/init net.ifnames=0 biosdevname=0 tsc=unstable',
    '-display', 'none', '-vga', 'none', '-no-reboot', '-monitor', 'none',
    '-chardev', 'stdio,id=con0,signal=off', '-serial', 'chardev:con0',
    '-netdev', 'user,id=n0,ipv6=off', '-device', 'virtio-net-pci,netdev=n0',
  ];
  writeFileSync(join(runDir, 'qemu-cmdline.txt'), ['qemu-system-x86_64', ...qemuArgs].join(' ') + '\n');
  const consoleLog = join(runDir, 'console.log');
  const qemu = spawnGroup('qemu-system-x86_64', qemuArgs, { stdin: 'pipe' });
  say(`# QEMU started (pid ${qemu.pid}); console log ${consoleLog}`);

  let plan: string[] = [];
  const logs = new Map<string, string[]>();
  let booted = false;
  let done = false;
  const files = new Map<string, string[]>();
  let curFile: string | undefined;
  let pending = '';
  let requestChain: Promise<void> = Promise.resolve();

  const ack = (id: string, text: string) => {
    if (qemu.stdin && !qemu.stdin.destroyed) qemu.stdin.write(`ACK ${id} ${text}\n`);
  };
  const handleRequest = (id: string, action: string, args: string) => {
    requestChain = requestChain.then(async () => {
      say(`# guest request ${id}: ${action}${args ? ` ${args}` : ''}`);
      try {
        if (!target) throw new Error('no host target in reference mode');
        let answer = '';
        if (action === 'rpc') {
          // rpc METHOD [JSON params]: one call on the target's RPC socket; the result comes back as JSON.
          const m = args.match(/^(\S+)\s*(.*)$/);
          if (!m) throw new Error('rpc: no method');
          let params: unknown;
          if (m[2]) {
            try { params = JSON.parse(m[2]); } catch (e) { throw new Error(`rpc ${m[1]}: the params are not JSON: ${(e as Error).message}`); }
          }
          answer = await target.rpc(m[1]!, params);
        } else if (action === 'restart-target') { await target.stop('SIGTERM'); await target.start(); }
        else if (action === 'kill-target') await target.stop('SIGKILL');
        else if (action === 'start-target') await target.start();
        else if (action === 'start-delay-target') { await target.stop('SIGTERM'); await target.start(delayConfigPath); }
        else if (action === 'perf-delay-target') answer = await perfAgainstDelayTarget(cfg);
        else if (action === 'auth-log') answer = authLogSummary(join(runDir, 'nvmetd.log'), args.trim());
        else if (action.startsWith('gw-')) {
          gateways ??= new RbdGateways(runDir, gatewayPorts(cfg), '10.0.2.2');
          answer = await gateways.handle(action, args);
        }
        else throw new Error(`unknown action ${action}`);
        say(`# ${action} done${answer ? `: ${answer}` : ''}`);
        ack(id, answer ? `ok ${answer}` : 'ok');
      } catch (e) {
        const msg = (e as Error).message.replace(/\s+/g, ' ').slice(0, 300);
        say(`# ${action} failed: ${msg}`);
        ack(id, `error ${msg}`);
      }
    });
  };

  const onLine = (raw: string) => {
    const line = raw.replace(/\r/g, '');
    const m = line.match(/INTEROP (\S+)\s?(.*)$/);
    if (!m) return;
    const [, kind, rest] = m;
    switch (kind) {
      case 'BOOTED':
        booted = true;
        say(`# guest booted (${rest}) after ${((Date.now() - t0) / 1000).toFixed(0)}s`);
        break;
      case 'PLAN':
        plan = rest.split(/\s+/).filter(Boolean);
        break;
      case 'INFO':
        say(`# guest: ${rest}`);
        break;
      case 'LOG': {
        const sp = rest.indexOf(' ');
        const name = rest.slice(0, sp);
        const list = logs.get(name) ?? [];
        list.push(rest.slice(sp + 1));
        logs.set(name, list);
        break;
      }
      case 'PASS': case 'FAIL': case 'SKIP': {
        const mm = rest.match(/^([^\s:]+):?\s*(.*)$/)!;
        const name = mm[1];
        const detail = mm[2].replace(/^:\s*/, '');
        const log = kind === 'FAIL' ? [...(logs.get(name) ?? [])] : [];
        if (kind === 'FAIL' && target) {
          log.push('nvmetd log (tail):');
          for (const l of target.tail(20).split('\n')) log.push(`  ${l}`);
        }
        report({ name, status: kind, detail, log });
        break;
      }
      case 'FILE-BEGIN':
        curFile = rest.trim();
        files.set(curFile, []);
        break;
      case 'B64':
        if (curFile) files.get(curFile)!.push(rest.trim());
        break;
      case 'FILE-END': {
        const [name, bytes] = rest.trim().split(/\s+/);
        const data = Buffer.from((files.get(name) ?? []).join(''), 'base64');
        if (String(data.length) !== bytes) say(`# artifact ${name}: got ${data.length} bytes, guest said ${bytes}`);
        writeFileSync(join(runDir, 'artifacts', name), data);
        curFile = undefined;
        break;
      }
      case 'REQUEST': {
        const m = rest.trim().match(/^(\S+)\s+(\S+)\s*(.*)$/);
        if (m) handleRequest(m[1]!, m[2]!, m[3]!);
        break;
      }
      case 'DONE':
        done = true;
        break;
      default:
        break;
    }
  };
  qemu.stdout!.on('data', (d: Buffer) => {
    appendFileSync(consoleLog, d);
    pending += d.toString('latin1');
    let i;
    while ((i = pending.indexOf('\n')) >= 0) {
      onLine(pending.slice(0, i));
      pending = pending.slice(i + 1);
    }
  });
  qemu.stderr!.on('data', (d: Buffer) => appendFileSync(join(runDir, 'qemu-stderr.log'), d));

  const finished = await waitExit(qemu, o.timeoutSec * 1000);
  if (!finished) say(`# timeout after ${o.timeoutSec}s: killing QEMU`);
  killGroup(qemu);
  await waitExit(qemu, 5000);
  if (pending) onLine(pending);
  await requestChain;
  if (target) await target.stop('SIGTERM');
  await gateways?.close();
  if (rpcDir) rmSync(rpcDir, { recursive: true, force: true });

  if (!booted) {
    const tail = existsSync(consoleLog) ? readFileSync(consoleLog, 'latin1').trimEnd().split('\n').slice(-25) : [];
    report({ name: 'boot', status: 'FAIL', detail: 'the guest never reached /init', log: tail });
  }
  const reported = new Set(results.map((r) => r.name));
  for (const p of plan) {
    if (!reported.has(p)) {
      report({ name: p, status: 'FAIL', detail: `not reported by the guest (${done ? 'skipped' : finished ? 'guest stopped early' : 'suite timed out'})`, log: [] });
    }
  }
  if (booted && plan.length === 0) report({ name: 'plan', status: 'FAIL', detail: 'the guest printed no scenario plan', log: [] });

  // Host-side checks of what nvme-cli printed.
  const art = join(runDir, 'artifacts');
  if (existsSync(join(art, 'id-ctrl.json'))) {
    const checks: HostCheck[] = checkIdentify(cfg, art);
    const refDir = join(srcDir, 'reference', o.release);
    if (!o.reference) {
      const extraIgnore = cfg.tport === 4420 ? [] : ['trsvcid']; // the reference target listened on 4420
      checks.push(...compareWithReference(art, refDir, join(srcDir, 'expected-differences.md'), extraIgnore));
    }
    for (const c of checks) report({ name: c.name, status: c.skip ? 'SKIP' : c.ok ? 'PASS' : 'FAIL', detail: c.detail, log: c.log ?? [] });
    if (o.reference) saveReference(art, refDir, say);
  } else if (!o.only || /collect-identify/.test(o.only)) {
    report({ name: 'identify-checks', status: 'FAIL', detail: 'no identify data was collected from the guest', log: [] });
  }

  const passed = results.filter((r) => r.status === 'PASS').length;
  const failed = results.filter((r) => r.status === 'FAIL').length;
  const skipped = results.filter((r) => r.status === 'SKIP').length;
  say(`# total ${((Date.now() - t0) / 1000).toFixed(0)}s; artifacts in ${runDir}`);
  say(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  return failed > 0 ? 1 : 0;
}

const REFERENCE_FILES = [
  'discover.json', 'discover.txt', 'id-ctrl.json', 'id-ctrl.txt', 'id-ctrl.bin',
  'id-ns-1.json', 'id-ns-1.txt', 'id-ns-1.bin', 'id-ns-2.json', 'id-ns-2.txt', 'id-ns-2.bin',
  'ns-descs-1.json', 'ns-descs-1.txt', 'ns-descs-2.json', 'ns-descs-2.txt',
  'nvme-list.json', 'nvme-list.txt', 'nvmet-configfs.txt', 'versions.txt', 'block-sysfs.txt',
];

function saveReference(art: string, refDir: string, say: (s: string) => void): void {
  mkdirSync(refDir, { recursive: true });
  let n = 0;
  for (const f of REFERENCE_FILES) {
    if (existsSync(join(art, f))) { copyFileSync(join(art, f), join(refDir, f)); n++; }
  }
  say(`# saved ${n} reference files to ${refDir}`);
}

main().then((code) => {
  killAll();
  process.exit(code);
}, (e) => {
  console.error(e);
  killAll();
  console.log('0 passed, 1 failed');
  process.exit(1);
});
