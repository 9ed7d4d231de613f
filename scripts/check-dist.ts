// The check-dist CI job: rebuild dist/ from the source into a scratch folder and fail, naming each file,
// if the committed dist/ differs. Usage: node scripts/check-dist.ts [--dist DIR] (default: dist)
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { distDifferences } from './dist-diff.ts';

const { values } = parseArgs({ options: { dist: { type: 'string', default: 'dist' } } });
const fresh = join(mkdtempSync(join(tmpdir(), 'vek-check-dist-')), 'dist');
execFileSync(process.execPath, [resolve('scripts/bundle.mjs'), fresh], { stdio: 'inherit' });
const differences = distDifferences(fresh, resolve(values.dist));
if (differences.length > 0) {
  console.log(`::error::dist/ does not match the source: run 'npm run bundle' and commit dist/.`);
  for (const difference of differences) console.log(`  ${difference}`);
  process.exit(1);
}
console.log('dist/ matches a fresh build of the source.');
