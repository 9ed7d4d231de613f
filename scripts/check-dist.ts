// The check-dist CI job: rebuild dist/ and broker/dist/ from the source into a scratch folder and fail,
// naming each file, if a committed one differs.
// Usage: node scripts/check-dist.ts [--dist DIR] [--broker-dist DIR] (default: dist, broker/dist)
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { distDifferences } from './dist-diff.ts';

const { values } = parseArgs({
  options: { dist: { type: 'string', default: 'dist' }, 'broker-dist': { type: 'string', default: 'broker/dist' } },
});
const scratch = mkdtempSync(join(tmpdir(), 'vek-check-dist-'));
const fresh = { action: join(scratch, 'dist'), broker: join(scratch, 'broker-dist') };
execFileSync(process.execPath, [resolve('scripts/bundle.mjs'), fresh.action, fresh.broker], { stdio: 'inherit' });
const differences = [
  ...distDifferences(fresh.action, resolve(values.dist)).map((line) => `dist/${line}`),
  ...distDifferences(fresh.broker, resolve(values['broker-dist'])).map((line) => `broker/dist/${line}`),
];
if (differences.length > 0) {
  console.log(`::error::dist/ or broker/dist/ does not match the source: run 'npm run bundle' and commit both.`);
  for (const difference of differences) console.log(`  ${difference}`);
  process.exit(1);
}
console.log('dist/ and broker/dist/ match a fresh build of the source.');
