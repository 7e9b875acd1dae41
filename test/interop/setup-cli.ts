// `node dist/test/interop/setup-cli.js [release]`: prepares (downloads and builds) the guest image only.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDirFor, ensureGuestImage, Release, RELEASES } from './setup.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const release = (process.argv[2] ?? process.env.NVMETD_INTEROP_RELEASE ?? 'bookworm') as Release;
if (!RELEASES.includes(release)) {
  console.error(`unknown release ${release}; one of ${RELEASES.join(', ')}`);
  process.exit(2);
}
const img = ensureGuestImage(release, cacheDirFor(repoRoot), (m) => console.log(`[setup] ${m}`));
console.log(JSON.stringify(img, null, 2));
