// Builds dist/: one bundle of the action (dist/index.js) and two tiny entries, dist/main.js and
// dist/post.js, that import it, so main and post share one copy of the code. All three come from ncc.
// Usage: node scripts/bundle.mjs [out-dir]   (default dist; the dist-freshness test builds elsewhere)
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ncc = (args) =>
  execFileSync(process.execPath, ['node_modules/@vercel/ncc/dist/ncc/cli.js', 'build', ...args, '--quiet'], { stdio: 'inherit' });

const out = process.argv[2] ?? 'dist';
rmSync(out, { recursive: true, force: true });
ncc(['src/index.ts', '-o', out, '--minify', '--license', 'licenses.txt']);
const work = mkdtempSync(join(tmpdir(), 'vek-bundle-'));
try {
  for (const entry of ['main', 'post']) {
    // './index.js' stays an import: the entry loads the shared bundle next to it.
    ncc([`src/${entry}.ts`, '-o', join(work, entry), '--minify', '--external', './index.js']);
    copyFileSync(join(work, entry, 'index.js'), join(out, `${entry}.js`));
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
