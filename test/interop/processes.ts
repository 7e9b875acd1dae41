// Child processes of the interop runner (nvmetd, QEMU, nvmetd perf): each in its own process group,
// always killed on the way out; and nvmetd on the host as the suite starts, stops and calls it.
import { ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { call as rpcCall } from '../../src/cli/rpc.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

const children = new Set<ChildProcess>();
export function killGroup(p: ChildProcess | undefined, sig: NodeJS.Signals = 'SIGKILL'): void {
  if (!p || p.pid === undefined || p.exitCode !== null || p.signalCode !== null) return;
  try {
    process.kill(-p.pid, sig);
  } catch {
    try { p.kill(sig); } catch { /* gone */ }
  }
}
export function killAll(): void {
  for (const c of children) killGroup(c);
}

export function spawnGroup(cmd: string, args: string[], opts: { cwd?: string; stdin?: 'pipe' | 'ignore' }): ChildProcess {
  const p = spawn(cmd, args, { cwd: opts.cwd, detached: true, stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'] });
  children.add(p);
  p.on('exit', () => children.delete(p));
  return p;
}

export function waitExit(p: ChildProcess, ms: number): Promise<boolean> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    p.once('exit', () => { clearTimeout(t); resolve(true); });
  });
}

export function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect({ host, port });
    const done = (ok: boolean) => { s.destroy(); resolve(ok); };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(1000, () => done(false));
  });
}

// nvmetd on the host.
export class Target {
  proc?: ChildProcess;
  starts = 0;
  constructor(private configPath: string, private logPath: string, private host: string, private port: number, readonly rpcSocket: string) {}

  async start(configPath = this.configPath): Promise<void> {
    this.starts++;
    appendFileSync(this.logPath, `\n=== interop: start #${this.starts} (${configPath}) at ${new Date().toISOString()} ===\n`);
    const p = spawnGroup(process.execPath, [join(repoRoot, 'bin', 'nvmetd.js'), 'serve', '--config', configPath, '--rpc-socket', this.rpcSocket], { cwd: repoRoot });
    this.proc = p;
    p.stdout!.on('data', (d: Buffer) => appendFileSync(this.logPath, d));
    p.stderr!.on('data', (d: Buffer) => appendFileSync(this.logPath, d));
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (p.exitCode !== null || p.signalCode !== null) {
        throw new Error(`nvmetd exited (${p.exitCode ?? p.signalCode}) before listening:\n${this.tail(15)}`);
      }
      // Listening, and its RPC socket there (the socket comes up after the listeners).
      if (await portOpen(this.host, this.port) && existsSync(this.rpcSocket)) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`nvmetd did not listen on ${this.host}:${this.port} within 30s:\n${this.tail(15)}`);
  }

  /** One JSON-RPC call on the target's socket: the result as one line of JSON; throws the error. */
  async rpc(method: string, params: unknown): Promise<string> {
    const answer = await rpcCall(this.rpcSocket, method, params as never, 30_000);
    if (answer.error) throw new Error(`${method}: ${answer.error.code} ${answer.error.message}${answer.error.data ? ` (${answer.error.data})` : ''}`);
    return JSON.stringify(answer.result ?? null);
  }

  async stop(sig: NodeJS.Signals): Promise<void> {
    const p = this.proc;
    if (!p) return;
    appendFileSync(this.logPath, `\n=== interop: ${sig} at ${new Date().toISOString()} ===\n`);
    killGroup(p, sig);
    if (!(await waitExit(p, 10_000))) {
      killGroup(p, 'SIGKILL');
      await waitExit(p, 5_000);
    }
    this.proc = undefined;
  }

  tail(n: number): string {
    if (!existsSync(this.logPath)) return '(no target log)';
    const lines = readFileSync(this.logPath, 'utf8').trimEnd().split('\n');
    return lines.slice(-n).join('\n');
  }
}
