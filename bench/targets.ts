// The targets a benchmark run drives, each a child process on its own loopback port: nvmetd with a
// RAM namespace, nvmetd with a file namespace, and the C null target (the floor), built here with cc:
// as is (data discarded, reads from a static buffer) and with -m (floor-mem: its namespace is memory
// that holds the data, like nvmetd's RAM namespace).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isFloor } from './report.js';

/** Repository root (this file runs from dist/bench/). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BUILD_DIR = path.join(ROOT, 'bench', '.build');
/** The nvmetd CLI the bench runs: the repository's, or a snapshot of it (see snapshotBuild). */
export const paths = { nvmetd: path.join(ROOT, 'bin', 'nvmetd.js') };

/**
 * Copies the built CLI (bin, dist, the addon, package.json) to bench/.build/snap and points the bench
 * at the copy, so a rebuild in the working tree during the run (tsc, node-gyp) cannot break it
 * halfway. node_modules still resolve from the repository (the snapshot lives inside it).
 */
export function snapshotBuild(): void {
  const snap = path.join(BUILD_DIR, 'snap');
  fs.rmSync(snap, { recursive: true, force: true });
  fs.mkdirSync(path.join(snap, 'build', 'Release'), { recursive: true });
  fs.cpSync(path.join(ROOT, 'bin'), path.join(snap, 'bin'), { recursive: true });
  fs.cpSync(path.join(ROOT, 'dist'), path.join(snap, 'dist'), { recursive: true, filter: (src) => !src.endsWith('.map') });
  fs.copyFileSync(path.join(ROOT, 'build', 'Release', 'nvmetd_native.node'), path.join(snap, 'build', 'Release', 'nvmetd_native.node'));
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(snap, 'package.json'));
  paths.nvmetd = path.join(snap, 'bin', 'nvmetd.js');
}
export const NQN = 'nqn.2026-11.io.nvmetd:default';

export interface TargetSpec {
  /** Short name used in tables: ram, file (buffered, page cache), file-direct (O_DIRECT), floor, floor-mem (the floor with -m). */
  name: string;
  label: string;
  /** CPU profile directory when profiling (nvmetd only). */
  profileDir?: string;
}

export interface RunningTarget {
  spec: TargetSpec;
  port: number;
  pid: number;
  /** CPU seconds (user + system) used so far, from /proc; NaN where /proc is missing. */
  cpuSeconds(): number;
  /** The same per thread (/proc/PID/task/TID/stat). */
  threadCpu(): Map<number, ThreadCpu>;
  stop(): Promise<void>;
}

/** A free loopback port (bound and released; the child binds it a moment later). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Compiles bench/null-target/null_target.c with cc -O2; returns the binary path. */
export function buildFloor(): string {
  fs.mkdirSync(BUILD_DIR, { recursive: true });
  const src = path.join(ROOT, 'bench', 'null-target', 'null_target.c');
  const out = path.join(BUILD_DIR, 'null_target');
  const cc = process.env.CC ?? 'cc';
  const r = spawnSync(cc, ['-O2', '-Wall', '-o', out, src], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cc} failed to build the null target:\n${r.stderr || r.error?.message}`);
  return out;
}

/**
 * Compiles the C load generator (every .c file of bench/gen) with cc -O2; returns the binary path.
 * Rebuilt only when a source is newer than the binary.
 */
export function buildGen(): string {
  fs.mkdirSync(BUILD_DIR, { recursive: true });
  const dir = path.join(ROOT, 'bench', 'gen');
  const srcs = fs.readdirSync(dir).filter((f) => f.endsWith('.c') || f.endsWith('.h')).map((f) => path.join(dir, f));
  const out = path.join(BUILD_DIR, 'nvme_tcp_gen');
  const built = fs.existsSync(out) ? fs.statSync(out).mtimeMs : 0;
  if (srcs.every((f) => fs.statSync(f).mtimeMs < built)) return out;
  const cc = process.env.CC ?? 'cc';
  const r = spawnSync(cc, ['-O2', '-Wall', '-pthread', '-o', out, ...srcs.filter((f) => f.endsWith('.c')), '-lm'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cc} failed to build the load generator:\n${r.stderr || r.error?.message}`);
  return out;
}

/** A file of `size` bytes of non-zero data, so reads come from real page-cache pages, not holes. */
export function makeBackingFile(size: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvmetd-bench-'));
  const file = path.join(dir, 'ns1.img');
  const fd = fs.openSync(file, 'w');
  const chunk = Buffer.alloc(4 * 1024 * 1024, 0x5a);
  for (let at = 0; at < size; at += chunk.length) fs.writeSync(fd, chunk, 0, Math.min(chunk.length, size - at), at);
  fs.closeSync(fd);
  return file;
}

export function procCpuSeconds(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(f[11]) + Number(f[12]); // utime, stime (fields 14, 15)
    return ticks / 100; // USER_HZ is 100 on Linux
  } catch {
    return NaN;
  }
}

/** CPU seconds (user + system) of each thread of a process, by thread id, with its name (/proc/PID/task). */
export interface ThreadCpu {
  name: string;
  sec: number;
  /** Seconds it waited on a run queue, runnable but not running (schedstat; 0 where missing). */
  waitSec: number;
}

export function procThreadCpu(pid: number): Map<number, ThreadCpu> {
  const m = new Map<number, ThreadCpu>();
  let tids: string[];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return m;
  }
  for (const tid of tids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      let waitSec = 0;
      try {
        waitSec = Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[1]) / 1e9 || 0;
      } catch {
        // No schedstat in this kernel.
      }
      m.set(Number(tid), { name, sec: (Number(f[11]) + Number(f[12])) / 100, waitSec });
    } catch {
      // The thread ended between readdir and read.
    }
  }
  return m;
}

/** The busiest thread between two procThreadCpu samples: its name and CPU seconds. */
export function busiestThread(before: Map<number, ThreadCpu>, after: Map<number, ThreadCpu>): { name: string; sec: number } {
  let best = { name: '-', sec: 0 };
  for (const [tid, a] of after) {
    const d = a.sec - (before.get(tid)?.sec ?? 0);
    if (d > best.sec) best = { name: a.name, sec: d };
  }
  return best;
}

/** Seconds all threads together waited for a CPU between two procThreadCpu samples. */
export function runQueueWait(before: Map<number, ThreadCpu>, after: Map<number, ThreadCpu>): number {
  let w = 0;
  for (const [tid, a] of after) w += a.waitSec - (before.get(tid)?.waitSec ?? 0);
  return w;
}

export async function waitForPort(port: number, child: ChildProcess, what: string, timeoutMs = 15000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode} before listening`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`${what} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 10000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGINT');
  });
}

export async function startTarget(spec: TargetSpec, args: { size: number; file?: string; floorBin?: string; floorPoll?: boolean }): Promise<RunningTarget> {
  const port = await freePort();
  let child: ChildProcess;
  const stderr: string[] = [];
  if (isFloor(spec.name)) {
    const poll = args.floorPoll ? ['-P'] : [];
    const mem = spec.name === 'floor-mem' ? ['-m'] : [];
    child = spawn(args.floorBin!, ['-a', '127.0.0.1', '-p', String(port), '-s', String(args.size), '-n', NQN, ...poll, ...mem], { stdio: ['ignore', 'ignore', 'pipe'] });
  } else {
    const node = spec.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${spec.profileDir}`] : [];
    let how: string[];
    if (spec.name === 'ram') {
      how = ['--ram', String(args.size), '--listen', `127.0.0.1:${port}`];
    } else {
      // A config file: zero-config has no switch for buffered I/O.
      const config = {
        logLevel: 'warn',
        subsystems: [{ nqn: NQN, allowAnyHost: true, namespaces: [{ backing: { type: 'file', path: args.file!, buffered: spec.name === 'file' } }] }],
        ports: [{ address: '127.0.0.1', port, subsystems: [NQN] }],
      };
      const cfg = path.join(path.dirname(args.file!), `${spec.name}-${port}.json`);
      fs.writeFileSync(cfg, JSON.stringify(config));
      how = ['--config', cfg];
    }
    child = spawn(process.execPath, [...node, paths.nvmetd, 'serve', ...how, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
  }
  child.stderr!.on('data', (d: Buffer) => stderr.push(d.toString()));
  try {
    await waitForPort(port, child, spec.label);
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${(e as Error).message}\n${stderr.join('')}`);
  }
  return {
    spec,
    port,
    pid: child.pid!,
    cpuSeconds: () => procCpuSeconds(child.pid!),
    threadCpu: () => procThreadCpu(child.pid!),
    stop: () => stopChild(child),
  };
}

/**
 * Runs a load generator (`nvme_tcp_gen` or `nvmetd perf`, with --json) as a child process and returns
 * its JSON report. `onWindow` runs when it opens and closes its measured window (markers on its stderr,
 * NVMETD_PERF_MARKERS); it is killed `timeoutSec` after it started.
 */
export function runLoad<R extends { errors: number }>(cmd: string, argv: string[], what: string, timeoutSec: number, onWindow: (edge: 'start' | 'end') => void): Promise<R> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NVMETD_PERF_MARKERS: '1' } });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => {
      const s = d.toString();
      if (s.includes('@window-start')) onWindow('start');
      if (s.includes('@window-end')) onWindow('end');
      err += s.replace(/@window-(start|end)\n/g, '');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutSec * 1000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      try {
        const r = JSON.parse(out) as R;
        if (code !== 0 && r.errors === 0) throw new Error(`exit code ${code}`);
        resolve(r);
      } catch (e) {
        reject(new Error(`${what} failed (exit ${code}): ${briefError(err) || (e as Error).message}`));
      }
    });
  });
}

/** The line of a child's stderr that says what went wrong (not the whole stack trace). */
export function briefError(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const line = lines.find((l) => /^(\w*Error\b|nvmetd:|nvme_tcp_gen:)/.test(l)) ?? lines[0] ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}...` : line;
}
