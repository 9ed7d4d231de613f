// The check-dist CI job's own script: passes on the committed dist/, fails on a dist/ that differs.
import { execFile } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { NODE24, REPO } from '../support/runner.ts';

function checkDist(args: string[] = []): Promise<{ code: number; stdout: string }> {
  return new Promise((done) => {
    execFile(NODE24, [join(REPO, 'scripts', 'check-dist.ts'), ...args], { cwd: REPO, timeout: 120_000 }, (error, stdout) =>
      done({ code: error ? Number(error.code) : 0, stdout }),
    );
  });
}

test('the committed dist/ is exactly what `npm run bundle` builds from src/', async () => {
  const result = await checkDist();
  expect(result.stdout, 'dist/ is stale: run `npm run bundle` and commit dist/').toContain('dist/ matches a fresh build');
  expect(result.code).toBe(0);
}, 120_000);

test('check-dist fails, naming the file, when dist/ differs by one byte', async () => {
  const stale = join(mkdtempSync(join(tmpdir(), 'vek-stale-')), 'dist');
  cpSync(join(REPO, 'dist'), stale, { recursive: true });
  appendFileSync(join(stale, 'index.js'), ' ');
  const result = await checkDist(['--dist', stale]);
  expect(result.code).toBe(1);
  expect(result.stdout).toContain("::error::dist/ does not match the source: run 'npm run bundle' and commit dist/.");
  expect(result.stdout).toContain('index.js: differs');
}, 120_000);
