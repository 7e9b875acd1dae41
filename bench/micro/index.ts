// `npm run bench:micro`: the microbenchmarks (PDU parse/build, CRC32C, SharedArrayBuffer ring).
// Writes bench/results/micro.json as well as printing. MICRO_MAX_TIME (seconds per case) shortens it.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run as crc } from './crc32c.js';
import { run as pdu } from './pdu.js';
import { run as ring } from './ring.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const only = process.argv[2];
const suites = { pdu, crc, ring };
const results = Object.entries(suites)
  .filter(([name]) => only === undefined || name === only)
  .flatMap(([, fn]) => fn());
const out = path.join(root, 'bench', 'results', 'micro.json');
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), node: process.version, results }, null, 2) + '\n');
process.stdout.write(`\nwrote ${path.relative(root, out)}\n`);
