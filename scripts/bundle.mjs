// Builds dist/: one bundle of the action (dist/index.js) and two tiny entries, dist/main.js and
// dist/post.js, that import it, so main and post share one copy of the code. All three come from ncc.
// Usage: node scripts/bundle.mjs [out-dir]   (default dist; the dist-freshness test builds elsewhere)
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ncc = (args) =>
  execFileSync(process.execPath, ['node_modules/@vercel/ncc/dist/ncc/cli.js', 'build', ...args, '--quiet'], { stdio: 'inherit' });

const out = process.argv[2] ?? 'dist';
rmSync(out, { recursive: true, force: true });
ncc(['src/index.ts', '-o', out, '--minify']);
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

// Third-party licenses for everything the runtime dependencies bring (a superset of what is bundled:
// ncc's own --license misses code imported by path, such as @actions/core's command modules).
const packages = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { encoding: 'utf8' })
  .split('\n')
  .filter((dir) => dir.includes('node_modules'))
  .map((dir) => ({ dir, manifest: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) }))
  .sort((a, b) => `${a.manifest.name}@${a.manifest.version}`.localeCompare(`${b.manifest.name}@${b.manifest.version}`));
const seen = new Set();
const notices = [];
for (const { dir, manifest } of packages) {
  const id = `${manifest.name}@${manifest.version}`;
  if (seen.has(id)) continue;
  seen.add(id);
  const file = readdirSync(dir).find((name) => /^(licen[cs]e|copying)(\.|$)/i.test(name));
  const text =
    file && existsSync(join(dir, file))
      ? readFileSync(join(dir, file), 'utf8').trim()
      : `(no license file; package.json says ${manifest.license})`;
  notices.push(`${id}\n${manifest.license}\n${text}`);
}
writeFileSync(join(out, 'licenses.txt'), `${notices.join('\n\n')}\n`);
