// Writes the seed corpus (test/fuzz/corpus/<session>.bin, one PDU per record) from the sessions in
// sessions.ts, after running each through the connection target: a "clean" session must get only
// successful completions and no C2HTermReq (so a mispredicted transfer tag or a wrong field is
// caught here, not left in the corpus). A violation the target shows on a valid session is printed
// (it is a finding about the target, not about the session) and the session is kept.
//   npm run fuzz:corpus
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeInput } from './input.js';
import { CORPUS_DIR } from './paths.js';
import { buildSession, SESSIONS } from './sessions.js';
import { ConnectionTarget } from './targets.js';

async function main(): Promise<void> {
  const target = await ConnectionTarget.create();
  let bad = 0;
  mkdirSync(CORPUS_DIR, { recursive: true });
  for (const n of readdirSync(CORPUS_DIR)) if (n.endsWith('.bin')) rmSync(join(CORPUS_DIR, n));
  for (const s of SESSIONS) {
    const input = buildSession(s.build);
    const r = await target.run(input);
    const sum = r.summary!;
    const problems: string[] = [];
    if (s.clean && sum.failed > 0) problems.push(`${sum.failed} failed completion(s)`);
    if (s.clean && sum.termReqs > 0) problems.push('a C2HTermReq');
    const bin = encodeInput(input);
    console.log(`${s.name}: ${input.length} PDUs, ${bin.length} bytes; ${sum.completions} completions (${sum.failed} failed), ${sum.r2t} R2T, ${sum.c2hData} C2HData, ${sum.termReqs} TermReq${problems.length ? `  PROBLEM: ${problems.join('; ')}` : ''}`);
    if (r.violation) console.log(`  finding on this valid session: ${r.violation.invariant}: ${r.violation.detail}`);
    if (problems.length) bad++;
    else writeFileSync(join(CORPUS_DIR, `${s.name}.bin`), bin);
  }
  target.dispose();
  if (bad) {
    console.error(`${bad} session(s) not written`);
    process.exitCode = 1;
  }
}

await main();
