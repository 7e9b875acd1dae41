// The control socket: a Unix socket answering one JSON request per line with one JSON line, for
// reading the running target's state (`nvmetd stats`, scripts, monitoring).
//   {"method":"stats"}        per-thread I/O counters and latency histograms, the queue-to-core map
//   {"method":"controllers"}  live controllers with their queues
//   {"method":"namespaces"}   per-namespace counters (commands, bytes, other opcodes, errors, latency)
import net from 'node:net';
import fs from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { TargetContext } from '../core/context.js';
import type { Logger } from '../util/log.js';
import { namespaceCounters } from './namespaces.js';

export type StatsSource = () => unknown;

export class ControlServer {
  readonly #server: net.Server;
  readonly #path: string;

  private constructor(server: net.Server, path: string) {
    this.#server = server;
    this.#path = path;
  }

  static async listen(path: string, ctx: TargetContext, stats: StatsSource, log: Logger): Promise<ControlServer> {
    const problem = controlPathProblem(path);
    if (problem) throw new Error(problem);
    // A stale socket file from a previous run is replaced; anything else at that path is an error.
    try {
      if (fs.statSync(path).isSocket()) fs.unlinkSync(path);
    } catch {
      // absent
    }
    const server = net.createServer((socket) => {
      let buf = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line) socket.write(`${JSON.stringify(answer(line, ctx, stats))}\n`);
        }
        if (buf.length > 65536) socket.destroy();
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((done, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        const dir = dirname(resolve(path));
        if (err.code === 'EACCES') reject(new Error(`control socket ${path}: no permission to create a socket in ${dir}`));
        else if (err.code === 'EADDRINUSE') reject(new Error(`control socket ${path}: in use by another process`));
        else reject(new Error(`control socket ${path}: ${err.message}`));
      };
      server.once('error', onError);
      server.listen(path, () => {
        server.off('error', onError);
        done();
      });
    });
    fs.chmodSync(path, 0o600);
    log.info({ path }, 'control socket listening');
    return new ControlServer(server, path);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => {
        try {
          fs.unlinkSync(this.#path);
        } catch {
          // already gone
        }
        resolve();
      });
    });
  }
}

/** Why a control socket cannot be created at `path` (missing directory, ...), or null. */
export function controlPathProblem(path: string): string | null {
  if (path.trim() === '') return 'control socket: empty path';
  const dir = dirname(resolve(path));
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `control socket ${path}: the directory ${dir} does not exist`;
    if (code === 'ENOTDIR') return `control socket ${path}: ${dir} is not a directory (a part of it is a file)`;
    if (code === 'EACCES') return `control socket ${path}: no permission to reach the directory ${dir}`;
    return `control socket ${path}: cannot use the directory ${dir} (${code ?? (err as Error).message})`;
  }
  if (!st.isDirectory()) return `control socket ${path}: ${dir} is not a directory`;
  return null;
}

function answer(line: string, ctx: TargetContext, stats: StatsSource): unknown {
  let req: { method?: unknown; id?: unknown };
  try {
    req = JSON.parse(line) as { method?: unknown; id?: unknown };
  } catch {
    return { error: 'request is not JSON' };
  }
  const id = req.id ?? null;
  switch (req.method) {
    case 'stats':
      return { id, result: stats() };
    case 'controllers':
      return { id, result: controllers(ctx) };
    case 'namespaces':
      return { id, result: namespaceCounters(ctx) };
    default:
      return { id, error: `unknown method ${JSON.stringify(req.method)}; known: stats, controllers, namespaces` };
  }
}

function controllers(ctx: TargetContext): unknown[] {
  const out: unknown[] = [];
  for (const s of ctx.subsystems.values()) {
    for (const c of s.controllers.values()) {
      out.push({
        subnqn: s.nqn,
        cntlid: c.cntlid,
        hostnqn: c.hostnqn,
        kato: c.kato,
        ready: c.ready,
        queues: [...c.queues.values()].map((q) => ({ qid: q.qid, peer: q.peer, entries: q.sqEntries, inflight: q.inflight })),
      });
    }
  }
  return out;
}
