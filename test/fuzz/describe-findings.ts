// Writes findings/<name>.json beside each reproducer of known.ts: the finding, the invariant and
// detail it shows now, the stack (paths made relative) and its PDUs.
//   npm run build && node dist/test/fuzz/describe-findings.js
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describePdu } from './describe.js';
import { decodeInput, reframe } from './input.js';
import { KNOWN_OPEN } from './known.js';
import { FINDINGS_DIR } from './paths.js';
import { ConnectionTarget } from './targets.js';

const target = await ConnectionTarget.create();
try {
  for (const k of KNOWN_OPEN) {
    for (const rep of k.reproducers) {
      const input = decodeInput(readFileSync(join(FINDINGS_DIR, rep.file)));
      const r = await target.run(input);
      const v = r.violation;
      const stack = v?.stack
        ?.split('\n')
        .filter((l) => !l.includes('/test/fuzz/'))
        .map((l) => l.replace(/file:\/\/\/.*?\/dist\//, 'dist/'))
        .slice(0, 7);
      const doc = {
        finding: k.id,
        invariant: v?.invariant ?? null,
        detail: v?.detail ?? 'no violation (fixed?)',
        stack: stack ?? null,
        pdus: reframe(input).map((p) => `conn ${p.conn}: ${describePdu(p.bytes)}`),
      };
      writeFileSync(join(FINDINGS_DIR, rep.file.replace(/\.bin$/, '.json')), JSON.stringify(doc, null, 2) + '\n');
      console.log(`${rep.file}: ${doc.invariant ?? 'no violation'}`);
    }
  }
} finally {
  target.dispose();
}
