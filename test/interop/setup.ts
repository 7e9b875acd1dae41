// Setup for the interop suite: host tools (qemu-system-x86, ...), then a Debian kernel, nvme-cli, fio and
// busybox fetched with `apt-get download` through a private apt configuration (the machine's own sources
// and package state are never touched), unpacked with `dpkg-deb -x` and packed into a small initramfs.
// Everything is cached under test/interop/.cache/<release>/ and rebuilt only when inputs change.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { join, posix } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { CpioEntry, CpioWriter, withParents } from './cpio.js';
import { readDynamic, readModinfo } from './elf.js';

/** Bump when the image layout changes so cached initramfs files are rebuilt. */
const IMAGE_FORMAT = 5;

export const RELEASES = ['bookworm', 'trixie'] as const;
export type Release = (typeof RELEASES)[number];

export interface GuestImage {
  release: Release;
  kernelVersion: string;
  kernel: string;
  /** Base initramfs (newc cpio, uncompressed); a per-run archive is appended to it. */
  initrd: string;
  /** Kernel modules in load order, as paths inside the guest. */
  modules: string[];
  nvmeCliVersion: string;
  fioVersion: string;
  /** ktls-utils (tlshd, the TLS handshake agent of the kernel's NVMe/TCP host), where the release has it. */
  ktlsUtilsVersion?: string;
}

type Log = (msg: string) => void;

function run(cmd: string, args: string[], opts: { cwd?: string; log?: Log; allowFail?: boolean } = {}): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  const out = (r.stdout ?? '') + (r.stderr ?? '');
  const ok = r.status === 0 && !r.error;
  if (!ok && !opts.allowFail) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.error?.message ?? 'exit ' + r.status}):\n${out.split('\n').slice(-30).join('\n')}`);
  }
  return { ok, out };
}

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

let aptUpdated = false;

/** Installs the host tools the suite needs (as root, with the machine's apt) when they are missing. */
export function ensureHostTools(log: Log, needZstd = false): void {
  const want: [string, string][] = [
    ['qemu-system-x86_64', 'qemu-system-x86'],
    ['dpkg-deb', 'dpkg'],
    ['apt-get', 'apt'],
    ['xz', 'xz-utils'],
  ];
  if (needZstd) want.push(['zstd', 'zstd']);
  const missing = want.filter(([cmd]) => !which(cmd)).map(([, pkg]) => pkg);
  if (missing.length === 0) return;
  if (process.getuid && process.getuid() !== 0) {
    throw new Error(`missing host packages ${missing.join(' ')}; install them (as root: apt-get install ${missing.join(' ')})`);
  }
  log(`installing host packages: ${missing.join(' ')}`);
  const install = () => run('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { allowFail: true });
  let r = install();
  if (!r.ok && !aptUpdated) {
    log('apt-get install failed; running apt-get update once and retrying');
    run('apt-get', ['update'], { allowFail: true });
    aptUpdated = true;
    r = install();
  }
  if (!r.ok) throw new Error(`apt-get install ${missing.join(' ')} failed:\n${r.out.split('\n').slice(-20).join('\n')}`);
}

interface Mirrors {
  archive: string;
  security?: string;
  keyring: string;
}

/**
 * The Debian mirrors this machine's own apt is configured with (deb822 .sources or one-line .list),
 * so that the private configuration uses the same package sources. Overridable by environment.
 */
export function hostMirrors(): Mirrors {
  const entries: { uri: string; suites: string[]; signedBy?: string }[] = [];
  const files: string[] = [];
  if (existsSync('/etc/apt/sources.list')) files.push('/etc/apt/sources.list');
  if (existsSync('/etc/apt/sources.list.d')) {
    for (const f of readdirSync('/etc/apt/sources.list.d')) files.push(join('/etc/apt/sources.list.d', f));
  }
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    if (f.endsWith('.sources')) {
      for (const para of text.split(/\n\s*\n/)) {
        const field = (k: string) => para.match(new RegExp(`^${k}:\\s*(.*)$`, 'mi'))?.[1]?.trim();
        const types = field('Types') ?? '';
        if (!types.split(/\s+/).includes('deb')) continue;
        const uris = (field('URIs') ?? '').split(/\s+/).filter(Boolean);
        const suites = (field('Suites') ?? '').split(/\s+/).filter(Boolean);
        for (const uri of uris) entries.push({ uri, suites, signedBy: field('Signed-By') });
      }
    } else if (f.endsWith('.list')) {
      for (const line of text.split('\n')) {
        const m = line.trim().match(/^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)/);
        if (!m) continue;
        const signedBy = m[1]?.match(/signed-by=(\S+)/)?.[1];
        entries.push({ uri: m[2], suites: [m[3]], signedBy });
      }
    }
  }
  const codename = readFileSync('/etc/os-release', 'utf8').match(/^VERSION_CODENAME=(.*)$/m)?.[1]?.trim() ?? 'bookworm';
  const archive = process.env.NVMETD_INTEROP_MIRROR ?? entries.find((e) => e.suites.includes(codename))?.uri;
  const security = process.env.NVMETD_INTEROP_SECURITY_MIRROR ?? entries.find((e) => e.suites.includes(`${codename}-security`))?.uri;
  if (!archive) {
    throw new Error(`no Debian archive for "${codename}" in this machine's apt sources; set NVMETD_INTEROP_MIRROR to a Debian mirror URI`);
  }
  const keyring = '/usr/share/keyrings/debian-archive-keyring.gpg';
  return { archive, security, keyring };
}

/** apt-get / apt-cache options that point every path at a private tree under dir. */
function aptOpts(dir: string): string[] {
  return [
    '-o', `Dir::Etc::SourceList=${join(dir, 'sources.list')}`,
    '-o', `Dir::Etc::SourceParts=${join(dir, 'sources.list.d')}`,
    '-o', `Dir::Etc::Preferences=${join(dir, 'preferences')}`,
    '-o', `Dir::Etc::PreferencesParts=${join(dir, 'preferences.d')}`,
    '-o', `Dir::State=${join(dir, 'state')}`,
    '-o', `Dir::State::status=${join(dir, 'status')}`,
    '-o', `Dir::Cache=${join(dir, 'cache')}`,
    '-o', 'APT::Architecture=amd64',
    '-o', 'APT::Architectures::=amd64',
    '-o', 'Acquire::Languages=none',
    '-o', 'APT::Sandbox::User=root',
    '-o', 'APT::Install-Recommends=false',
    '-o', 'Debug::NoLocking=true',
  ];
}

function setupPrivateApt(release: Release, dir: string, log: Log): string[] {
  const m = hostMirrors();
  for (const d of ['sources.list.d', 'preferences.d', 'state/lists/partial', 'cache/archives/partial']) mkdirSync(join(dir, d), { recursive: true });
  if (!existsSync(join(dir, 'status'))) writeFileSync(join(dir, 'status'), '');
  if (!existsSync(join(dir, 'preferences'))) writeFileSync(join(dir, 'preferences'), '');
  const sb = `[signed-by=${m.keyring}]`;
  const lines = [`deb ${sb} ${m.archive} ${release} main`, `deb ${sb} ${m.archive} ${release}-updates main`];
  if (m.security) lines.push(`deb ${sb} ${m.security} ${release}-security main`);
  const sources = lines.join('\n') + '\n';
  const opts = aptOpts(dir);
  const stamp = join(dir, 'updated.stamp');
  const fresh = existsSync(stamp) && readFileSync(stamp, 'utf8') === sources &&
    Date.now() - statSync(stamp).mtimeMs < 7 * 24 * 3600 * 1000;
  writeFileSync(join(dir, 'sources.list'), sources);
  if (!fresh) {
    log(`apt-get update (private configuration for ${release})`);
    const r = run('apt-get', [...opts, 'update'], { allowFail: true });
    if (!r.ok || /^(E:|Err:)/m.test(r.out)) {
      throw new Error(`cannot fetch the package lists of Debian ${release} through the private apt configuration in ${dir}:\n` +
        r.out.split('\n').filter((l) => /^(E:|W:|Err)/.test(l)).slice(0, 12).join('\n'));
    }
    writeFileSync(stamp, sources);
  }
  return opts;
}

/** The packages (name=version) `apt-get install` would unpack for these names on an empty system. */
function resolveClosure(opts: string[], names: string[]): string[] {
  const r = run('apt-get', [...opts, '-s', '-y', 'install', '--no-install-recommends', ...names]);
  const out: string[] = [];
  for (const line of r.out.split('\n')) {
    const m = line.match(/^Inst (\S+) \((\S+)/);
    if (m) out.push(`${m[1]}=${m[2]}`);
  }
  if (out.length === 0) throw new Error(`apt-get resolved nothing for ${names.join(' ')}:\n${r.out.slice(-2000)}`);
  return out.sort();
}

function kernelPackage(opts: string[]): string {
  const r = run('apt-cache', [...opts, 'depends', 'linux-image-amd64']);
  const m = r.out.match(/Depends: (linux-image-[0-9][^\s]*-amd64)\b/);
  if (!m) throw new Error(`cannot find the kernel package behind linux-image-amd64:\n${r.out}`);
  return m[1];
}

function download(opts: string[], debDir: string, pkgs: string[], log: Log): void {
  mkdirSync(debDir, { recursive: true });
  const have = new Set(readdirSync(debDir).filter((f) => f.endsWith('.deb')));
  const need = pkgs.filter((p) => {
    const [name, version] = p.split('=');
    const v = version ? version.replace(/:/g, '%3a') : '';
    return ![...have].some((f) => f.startsWith(`${name}_${v}`));
  });
  if (need.length === 0) return;
  log(`apt-get download ${need.length} package(s)`);
  run('apt-get', [...opts, 'download', ...need], { cwd: debDir });
}

function debFile(debDir: string, pkg: string): string {
  const [name, version] = pkg.split('=');
  const v = version ? version.replace(/:/g, '%3a') : '';
  const f = readdirSync(debDir).find((x) => x.endsWith('.deb') && (v ? x.startsWith(`${name}_${v}_`) : x.startsWith(`${name}_`)));
  if (!f) throw new Error(`downloaded package ${pkg} not found in ${debDir}`);
  return join(debDir, f);
}

/** Follows symlinks inside an unpacked tree (absolute links are relative to the tree's root). */
function resolveInRoot(root: string, rel: string): string | undefined {
  const alternatives = (p: string): string[] => {
    const out = [p];
    for (const top of ['lib/', 'lib64/', 'bin/', 'sbin/']) {
      if (p.startsWith(top)) out.push('usr/' + p);
      if (p.startsWith('usr/' + top)) out.push(p.slice(4));
    }
    return out;
  };
  for (const start of alternatives(posix.normalize(rel.replace(/^\/+/, '')))) {
    let cur = start;
    for (let hops = 0; hops < 40; hops++) {
      const abs = join(root, cur);
      let st;
      try {
        st = lstatSync(abs);
      } catch {
        break;
      }
      if (!st.isSymbolicLink()) return cur;
      const t = readlinkSync(abs);
      cur = t.startsWith('/') ? posix.normalize(t.slice(1)) : posix.normalize(posix.join(posix.dirname(cur), t));
    }
  }
  return undefined;
}

const LIB_DIRS = ['lib/x86_64-linux-gnu', 'usr/lib/x86_64-linux-gnu', 'lib', 'usr/lib', 'lib64', 'usr/lib64'];

/** Files (guest path -> host file) for binaries and every shared library they need. */
function collectBinaries(root: string, bins: string[], extraLibs: string[]): Map<string, string> {
  const files = new Map<string, string>();
  const queue: string[] = [];
  const addObj = (guestPath: string, rootRel: string) => {
    if (files.has(guestPath)) return;
    files.set(guestPath, join(root, rootRel));
    queue.push(guestPath);
  };
  for (const b of bins) {
    const real = resolveInRoot(root, b);
    if (!real) throw new Error(`${b} not found in the unpacked packages`);
    addObj(b, real);
  }
  const findLib = (name: string, from: string, runpath: string[]): string | undefined => {
    const dirs = [
      ...runpath.map((d) => d.replace('$ORIGIN', '/' + posix.dirname(from)).replace(/^\/+/, '')),
      ...LIB_DIRS,
    ];
    for (const d of dirs) {
      const rel = posix.join(d, name);
      const real = resolveInRoot(root, rel);
      if (real) {
        addObj(rel, real);
        return rel;
      }
    }
    return undefined;
  };
  for (const l of extraLibs) {
    if (!findLib(l, 'usr/bin/x', [])) throw new Error(`library ${l} not found in the unpacked packages`);
  }
  const missing: string[] = [];
  while (queue.length) {
    const g = queue.shift()!;
    const info = readDynamic(files.get(g)!);
    if (info.interp) {
      const real = resolveInRoot(root, info.interp);
      if (!real) missing.push(`${info.interp} (interpreter of ${g})`);
      else addObj(info.interp.replace(/^\/+/, ''), real);
    }
    for (const n of info.needed) {
      if (!findLib(n, g, info.runpath)) missing.push(`${n} (needed by ${g})`);
    }
  }
  if (missing.length) throw new Error(`shared libraries not found in the unpacked packages: ${missing.join(', ')}`);
  return files;
}

function walk(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...walk(dir, r));
    else out.push(r);
  }
  return out;
}

/** Modules the guest needs; names use underscores. Missing ones that are built in are fine. */
const WANTED_MODULES = [
  'configfs', 'crc32c_generic', 'crc32c_intel', 'libcrc32c',
  'virtio', 'virtio_ring', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_pci', 'failover', 'net_failover', 'virtio_net',
  'nvme_core', 'nvme_fabrics', 'nvme_tcp',
  'nvmet', 'nvmet_tcp', 'null_blk', 'brd', 'loop',
  // In-band authentication (DH-HMAC-CHAP), where the kernel has it (CONFIG_NVME_AUTH: trixie, not bookworm).
  'nvme_auth', 'kpp', 'dh_generic', 'hmac', 'sha256_generic', 'sha512_generic',
  // NVMe/TCP over TLS: kernel TLS (the record layer once tlshd has done the handshake) and the PSK keyring.
  'tls', 'nvme_keyring',
  // AES-GCM for kernel TLS, loaded here: the guest has no modprobe at the kernel's /sbin/modprobe, so the
  // kernel cannot load them on demand when tlshd hands the session keys over.
  'gf128mul', 'ghash_generic', 'ghash_clmulni_intel', 'gcm', 'seqiv', 'cryptd', 'crypto_simd', 'aesni_intel',
];

interface ModuleSet {
  /** guest path (lib/modules/KVER/...) -> uncompressed module bytes */
  files: Map<string, Buffer>;
  order: string[];
  depLines: string[];
  notFound: string[];
}

function decompressModule(path: string): Buffer {
  if (path.endsWith('.xz')) return execFileSync('xz', ['-dc', path], { maxBuffer: 512 * 1024 * 1024 });
  if (path.endsWith('.zst')) return execFileSync('zstd', ['-dcq', path], { maxBuffer: 512 * 1024 * 1024 });
  if (path.endsWith('.gz')) return gunzipSync(readFileSync(path));
  return readFileSync(path);
}

function collectModules(modDir: string, kver: string): ModuleSet {
  const norm = (n: string) => n.replace(/-/g, '_');
  const index = new Map<string, string>(); // name -> path relative to modDir
  for (const rel of walk(join(modDir, 'kernel'), '')) {
    const m = rel.match(/([^/]+)\.ko(\.xz|\.zst|\.gz)?$/);
    if (m) index.set(norm(m[1]), 'kernel/' + rel);
  }
  const builtin = new Set<string>();
  if (existsSync(join(modDir, 'modules.builtin'))) {
    for (const l of readFileSync(join(modDir, 'modules.builtin'), 'utf8').split('\n')) {
      const m = l.match(/([^/]+)\.ko$/);
      if (m) builtin.add(norm(m[1]));
    }
  }
  const loaded = new Map<string, { rel: string; data: Buffer; deps: string[] }>();
  const order: string[] = [];
  const notFound: string[] = [];
  const visit = (name: string, stack: string[]) => {
    const n = norm(name);
    if (loaded.has(n) || stack.includes(n)) return;
    const rel = index.get(n);
    if (!rel) {
      if (!builtin.has(n)) notFound.push(n);
      return;
    }
    const data = decompressModule(join(modDir, rel));
    const deps = (readModinfo(data, rel).get('depends')?.[0] ?? '').split(',').filter(Boolean).map(norm);
    for (const d of deps) visit(d, [...stack, n]);
    loaded.set(n, { rel: rel.replace(/\.(xz|zst|gz)$/, ''), data, deps });
    order.push(n);
  };
  for (const w of WANTED_MODULES) visit(w, []);
  const files = new Map<string, Buffer>();
  const depLines: string[] = [];
  const transitive = (n: string, acc: string[] = []): string[] => {
    for (const d of loaded.get(n)?.deps ?? []) {
      if (!acc.includes(d) && loaded.has(d)) {
        acc.push(d);
        transitive(d, acc);
      }
    }
    return acc;
  };
  for (const n of order) {
    const m = loaded.get(n)!;
    files.set(`lib/modules/${kver}/${m.rel}`, m.data);
    depLines.push(`${m.rel}:${transitive(n).map((d) => ' ' + loaded.get(d)!.rel).join('')}`);
  }
  return { files, order: order.map((n) => `/lib/modules/${kver}/${loaded.get(n)!.rel}`), depLines, notFound };
}

function hashOf(...parts: string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex').slice(0, 16);
}

/** Makes sure the kernel and base initramfs for a release exist in the cache; returns their paths. */
export function ensureGuestImage(release: Release, cacheRoot: string, log: Log): GuestImage {
  ensureHostTools(log, release !== 'bookworm');
  const base = join(cacheRoot, release);
  mkdirSync(base, { recursive: true });
  const manifestPath = join(base, 'image.json');
  const opts = setupPrivateApt(release, join(base, 'apt'), log);

  // tlshd (ktls-utils) does the TLS handshakes of the kernel's NVMe/TCP host; bookworm's kernel has no
  // NVMe/TCP TLS, so only later releases carry it.
  const userPkgs = resolveClosure(opts, ['nvme-cli', 'fio', 'busybox-static', ...(release === 'bookworm' ? [] : ['ktls-utils'])]);
  const kpkgName = kernelPackage(opts);
  const kpkg = resolveClosure(opts, [kpkgName]).find((p) => p.startsWith(kpkgName + '='));
  if (!kpkg) throw new Error(`cannot resolve ${kpkgName}`);
  const inputsKey = hashOf(String(IMAGE_FORMAT), kpkg, ...userPkgs, readFileSync(new URL(import.meta.url)).toString('utf8'));
  if (existsSync(manifestPath)) {
    try {
      const m = JSON.parse(readFileSync(manifestPath, 'utf8')) as GuestImage & { key: string };
      if (m.key === inputsKey && existsSync(m.kernel) && existsSync(m.initrd)) return m;
    } catch {
      // rebuild
    }
  }

  const debDir = join(base, 'debs');
  download(opts, debDir, [kpkg, ...userPkgs], log);

  // Unpack (fresh each time the inputs change).
  const root = join(base, 'root');
  const kroot = join(base, 'kroot');
  rmSync(root, { recursive: true, force: true });
  rmSync(kroot, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  mkdirSync(kroot, { recursive: true });
  log(`unpacking ${userPkgs.length} packages and ${kpkgName}`);
  for (const p of userPkgs) run('dpkg-deb', ['-x', debFile(debDir, p), root]);
  run('dpkg-deb', ['-x', debFile(debDir, kpkg), kroot]);

  // Kernel and modules.
  const modBase = existsSync(join(kroot, 'lib/modules')) ? join(kroot, 'lib/modules') : join(kroot, 'usr/lib/modules');
  const kver = readdirSync(modBase)[0];
  const vmlinuz = [join(kroot, 'boot', `vmlinuz-${kver}`), join(kroot, 'usr/lib/linux', `vmlinuz-${kver}`)].find(existsSync);
  if (!vmlinuz) throw new Error(`no vmlinuz-${kver} in ${kpkgName}`);
  const mods = collectModules(join(modBase, kver), kver);
  for (const must of ['nvme_tcp', 'nvme_fabrics', 'nvmet_tcp']) {
    if (mods.notFound.includes(must)) throw new Error(`kernel ${kver} has no ${must} module`);
  }
  if (mods.notFound.length) log(`modules neither found nor built in (skipped): ${mods.notFound.join(' ')}`);

  // User space: busybox (static), nvme-cli, fio and the libraries they need.
  const bbRel = resolveInRoot(root, 'bin/busybox');
  if (!bbRel) throw new Error('busybox not found in busybox-static');
  const applets = run(join(root, bbRel), ['--list']).out.split('\n').map((s) => s.trim()).filter(Boolean);
  const nvmeRel = ['usr/sbin/nvme', 'sbin/nvme', 'usr/bin/nvme'].find((p) => resolveInRoot(root, p));
  const fioRel = ['usr/bin/fio', 'bin/fio'].find((p) => resolveInRoot(root, p));
  if (!nvmeRel || !fioRel) throw new Error('nvme or fio binary not found in the unpacked packages');
  const tlshdRel = release === 'bookworm' ? undefined : ['usr/sbin/tlshd', 'sbin/tlshd'].find((p) => resolveInRoot(root, p));
  if (release !== 'bookworm' && !tlshdRel) throw new Error('tlshd not found in ktls-utils');
  const execs = [nvmeRel, fioRel, ...(tlshdRel ? [tlshdRel] : [])];
  const bins = collectBinaries(root, execs, ['libgcc_s.so.1']);

  const entries: CpioEntry[] = [];
  for (const d of ['proc', 'sys', 'dev', 'tmp', 'run', 'mnt', 'root', 'var/tmp', 'etc/nvme', 'usr/sbin', 'usr/bin', 'sbin']) {
    entries.push({ kind: 'dir', path: d });
  }
  entries.push({ kind: 'chardev', path: 'dev/console', major: 5, minor: 1 });
  entries.push({ kind: 'chardev', path: 'dev/null', major: 1, minor: 3, mode: 0o666 });
  entries.push({ kind: 'chardev', path: 'dev/ttyS0', major: 4, minor: 64 });
  entries.push({ kind: 'file', path: 'bin/busybox', data: readFileSync(join(root, bbRel)), mode: 0o755 });
  for (const a of applets) {
    if (a === 'busybox') continue;
    entries.push({ kind: 'symlink', path: `bin/${a}`, target: 'busybox' });
  }
  for (const [g, host] of bins) {
    const mode = execs.includes(g) ? 0o755 : 0o644;
    entries.push({ kind: 'file', path: g, data: readFileSync(host), mode: g.includes('ld-linux') ? 0o755 : mode });
  }
  for (const [g, data] of mods.files) entries.push({ kind: 'file', path: g, data });
  entries.push({ kind: 'file', path: `lib/modules/${kver}/modules.dep`, data: Buffer.from(mods.depLines.join('\n') + '\n') });
  for (const f of ['modules.builtin', 'modules.order']) {
    const p = join(modBase, kver, f);
    if (existsSync(p)) entries.push({ kind: 'file', path: `lib/modules/${kver}/${f}`, data: readFileSync(p) });
  }
  entries.push({ kind: 'file', path: 'etc/interop/modules.load', data: Buffer.from(mods.order.join('\n') + '\n') });
  entries.push({ kind: 'file', path: 'etc/passwd', data: Buffer.from('root:x:0:0:root:/root:/bin/sh\n') });
  entries.push({ kind: 'file', path: 'etc/group', data: Buffer.from('root:x:0:\n') });
  const pkgVersion = (name: string) => userPkgs.find((p) => p.startsWith(name + '='))?.split('=')[1] ?? '?';
  entries.push({
    kind: 'file', path: 'etc/interop/versions',
    data: Buffer.from(`kernel ${kver}\nnvme-cli ${pkgVersion('nvme-cli')}\nfio ${pkgVersion('fio')}\nbusybox ${pkgVersion('busybox-static')}\n` +
      (tlshdRel ? `ktls-utils ${pkgVersion('ktls-utils')}\nlibnvme ${pkgVersion('libnvme1t64')}\n` : '')),
  });

  const initrd = join(base, 'base-initrd.cpio');
  const w = new CpioWriter(initrd + '.tmp');
  for (const e of withParents(entries)) w.add(e);
  w.close();
  run('mv', ['-f', initrd + '.tmp', initrd]);
  const kernel = join(base, `vmlinuz-${kver}`);
  run('cp', ['-f', vmlinuz, kernel]);
  rmSync(root, { recursive: true, force: true });
  rmSync(kroot, { recursive: true, force: true });

  const image: GuestImage & { key: string } = {
    key: inputsKey, release, kernelVersion: kver, kernel, initrd, modules: mods.order,
    nvmeCliVersion: pkgVersion('nvme-cli'), fioVersion: pkgVersion('fio'),
    ...(tlshdRel ? { ktlsUtilsVersion: pkgVersion('ktls-utils') } : {}),
  };
  writeFileSync(manifestPath, JSON.stringify(image, null, 2) + '\n');
  log(`guest image for ${release}: kernel ${kver}, initramfs ${(statSync(initrd).size / 1048576).toFixed(1)} MiB, ${mods.order.length} modules`);
  return image;
}

export function cacheDirFor(repoRoot: string): string {
  return process.env.NVMETD_INTEROP_CACHE ?? join(repoRoot, 'test', 'interop', '.cache');
}


