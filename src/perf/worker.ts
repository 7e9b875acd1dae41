// Worker thread entry of `nvmetd perf --workers N`: one PerfJob (its own controller and connections)
// driven by messages from the main thread, which owns the clock:
//   main -> worker: start (begin I/O, warmup), measure (open the measured window), end (close it)
//   worker -> main: ready, progress (totals, twice a second), result, error
import { parentPort, workerData } from 'node:worker_threads';
import { PerfJob } from './job.js';
import type { PerfOptions } from './options.js';

export type ToWorker = { type: 'start' } | { type: 'measure' } | { type: 'end' };
export type FromWorker =
  | { type: 'ready'; ready: Awaited<ReturnType<PerfJob['connect']>> }
  | { type: 'progress'; ios: number; bytes: number; errors: number; dead: boolean }
  | { type: 'result'; result: ReturnType<PerfJob['result']> }
  | { type: 'error'; message: string };

export interface PerfWorkerData {
  options: PerfOptions;
  index: number;
}

const port = parentPort!;
const { options, index } = workerData as PerfWorkerData;
const job = new PerfJob(options, index);
const post = (m: FromWorker): void => port.postMessage(m);
let ticker: NodeJS.Timeout | null = null;

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'start':
      job.start();
      ticker = setInterval(() => post({ type: 'progress', ...job.progress() }), 500);
      return;
    case 'measure':
      job.measure();
      return;
    case 'end':
      if (ticker) clearInterval(ticker);
      job
        .end()
        .then(async (result) => {
          post({ type: 'result', result });
          await job.close();
          port.close();
        })
        .catch((e: Error) => post({ type: 'error', message: e.message }));
      return;
  }
});

job.connect().then(
  (ready) => post({ type: 'ready', ready }),
  (e: Error) => {
    post({ type: 'error', message: e.message });
    port.close();
  },
);
