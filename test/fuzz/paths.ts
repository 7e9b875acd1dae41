// Where the fuzzer's files live in the repository (the compiled code runs from dist/test/fuzz/).
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const CORPUS_DIR = `${ROOT}test/fuzz/corpus`;
export const CRASH_DIR = `${ROOT}test/fuzz/crashes`;
/** Reproducers of findings: open ones (known.ts KNOWN_OPEN) and fixed ones kept as regression inputs (FIXED). */
export const FINDINGS_DIR = `${ROOT}test/fuzz/regressions`;
