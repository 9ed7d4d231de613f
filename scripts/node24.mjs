// Runs a script under the runner's Node 24, which `npm ci` installs from the `node` npm package (the
// action runs on node24, so the tests, the demo and the benchmark use the same). Written to run on any
// Node 18+, so that when that Node 24 is missing (e.g. after `npm ci --ignore-scripts`) it can say so in
// one line instead of failing somewhere later.
//   node scripts/node24.mjs --check          only check
//   node scripts/node24.mjs script.ts [args] run script.ts under Node 24
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const node24 = join(dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', 'node', 'bin', 'node');
const version = existsSync(node24) ? spawnSync(node24, ['--version'], { encoding: 'utf8' }).stdout?.trim() : undefined;
if (!version?.startsWith('v24.')) {
  console.error(
    "The runner's Node 24 is not installed (npm ci --ignore-scripts skips the `node` package's install script): run `npm rebuild node`, or `npm ci` without --ignore-scripts.",
  );
  process.exit(1);
}
const [script, ...args] = process.argv.slice(2);
if (script === '--check' || script === undefined) process.exit(0);
const run = spawnSync(node24, [script, ...args], { stdio: 'inherit' });
process.exit(run.status ?? 1);
