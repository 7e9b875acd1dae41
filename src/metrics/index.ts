// The metrics endpoint of a running target: a prom-client registry read on each scrape, served over HTTP.
import type { Logger } from '../util/log.js';
import { createMetricsRegistry } from './registry.js';
import { MetricsServer } from './server.js';
import type { MetricsSource } from './source.js';

export type { MetricsSource, ThreadSample } from './source.js';
export { MetricsServer } from './server.js';
export { createMetricsRegistry } from './registry.js';

export function startMetrics(address: string, source: MetricsSource, log: Logger): Promise<MetricsServer> {
  return MetricsServer.listen(address, createMetricsRegistry(source), log);
}
