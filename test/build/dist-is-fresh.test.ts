import { execFileSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { distDifferences } from '../support/dist-diff.ts';
import { REPO } from '../support/runner.ts';

test('the committed dist/ is exactly what `npm run bundle` builds from src/', () => {
  const fresh = join(mkdtempSync(join(tmpdir(), 'vek-dist-')), 'dist');
  execFileSync(process.execPath, [join(REPO, 'scripts', 'bundle.mjs'), fresh], { cwd: REPO, stdio: 'pipe' });
  expect(distDifferences(fresh, join(REPO, 'dist')), 'dist/ is stale: run `npm run bundle` and commit dist/').toEqual([]);

  // The comparison itself notices a one-byte change.
  const changed = join(mkdtempSync(join(tmpdir(), 'vek-dist-')), 'dist');
  cpSync(fresh, changed, { recursive: true });
  appendFileSync(join(changed, 'index.js'), ' ');
  expect(distDifferences(fresh, changed)).toEqual(['index.js: differs']);
}, 120_000);
