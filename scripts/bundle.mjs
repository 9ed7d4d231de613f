// Builds dist/: one bundle of the action (dist/index.js) and two tiny entries, dist/main.js and
// dist/post.js, that import it, so main and post share one copy of the code. All three come from ncc.
// Then broker/dist/server.js, the key broker as one file (its container needs nothing else).
// Usage: node scripts/bundle.mjs [out-dir] [broker-out-dir]
//   (default dist and broker/dist; the dist-freshness test builds elsewhere)
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ncc = (args) =>
  execFileSync(process.execPath, ['node_modules/@vercel/ncc/dist/ncc/cli.js', 'build', ...args, '--quiet'], { stdio: 'inherit' });

const out = process.argv[2] ?? 'dist';
const brokerOut = process.argv[3] ?? 'broker/dist';
rmSync(out, { recursive: true, force: true });
rmSync(brokerOut, { recursive: true, force: true });
ncc(['src/index.ts', '-o', out, '--minify']);
const work = mkdtempSync(join(tmpdir(), 'vek-bundle-'));
try {
  for (const entry of ['main', 'post']) {
    // './index.js' stays an import: the entry loads the shared bundle next to it.
    ncc([`src/${entry}.ts`, '-o', join(work, entry), '--minify', '--external', './index.js']);
    copyFileSync(join(work, entry, 'index.js'), join(out, `${entry}.js`));
  }
  ncc(['broker/src/server.ts', '-o', join(work, 'broker'), '--minify']);
  mkdirSync(brokerOut, { recursive: true });
  copyFileSync(join(work, 'broker', 'index.js'), join(brokerOut, 'server.js'));
  // ncc marks its ES module output with a package.json; the broker's runs from a copied folder too.
  copyFileSync(join(work, 'broker', 'package.json'), join(brokerOut, 'package.json'));
} finally {
  rmSync(work, { recursive: true, force: true });
}

// Third-party licenses for every package the runtime dependencies bring, resolved through
// package-lock.json the way Node resolves them (a superset of what is bundled: ncc's own --license
// misses code loaded on demand, such as undici for proxies).
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')).packages;
const resolveFrom = (from, name) => {
  for (let dir = from; ; dir = dir.slice(0, Math.max(0, dir.lastIndexOf('/node_modules/')))) {
    const candidate = `${dir ? `${dir}/` : ''}node_modules/${name}`;
    if (lock[candidate]) return candidate;
    if (!dir) throw new Error(`${name} (needed by ${from || 'the project'}) is not in package-lock.json`);
  }
};
function writeLicenses(packagePath, file) {
  const runtime = new Set();
  const visit = (path) => {
    if (runtime.has(path)) return;
    runtime.add(path);
    for (const name of Object.keys(lock[path].dependencies ?? {})) visit(resolveFrom(path, name));
  };
  for (const name of Object.keys(lock[packagePath].dependencies ?? {})) visit(resolveFrom(packagePath, name));
  const notices = new Map();
  for (const path of runtime) {
    if (path === packagePath) continue;
    const manifest = JSON.parse(readFileSync(join(path, 'package.json'), 'utf8'));
    const license = readdirSync(path).find((name) => /^(licen[cs]e|copying)(\.|$)/i.test(name));
    const text =
      license && existsSync(join(path, license))
        ? readFileSync(join(path, license), 'utf8').trim()
        : `(no license file; package.json says ${manifest.license})`;
    notices.set(`${manifest.name}@${manifest.version}`, `${manifest.license}\n${text}`);
  }
  const ids = [...notices.keys()].sort();
  writeFileSync(file, `${ids.map((id) => `${id}\n${notices.get(id)}`).join('\n\n')}\n`);
}
writeLicenses('', join(out, 'licenses.txt'));
writeLicenses('broker', join(brokerOut, 'licenses.txt'));
