// The check-dist CI job's own script: passes on the committed dist/ and broker/dist/, fails on either
// when it differs.
import { execFile } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { NODE24, REPO } from '../../fakes/runner.ts';

function checkDist(args: string[] = []): Promise<{ code: number; stdout: string }> {
  return new Promise((done) => {
    execFile(NODE24, [join(REPO, 'scripts', 'check-dist.ts'), ...args], { cwd: REPO, timeout: 120_000 }, (error, stdout) =>
      done({ code: error ? Number(error.code) : 0, stdout }),
    );
  });
}

test('the committed dist/ and broker/dist/ are exactly what `npm run bundle` builds from the source', async () => {
  const result = await checkDist();
  expect(result.stdout, 'dist/ is stale: run `npm run bundle` and commit dist/').toContain('dist/ and broker/dist/ match a fresh build');
  expect(result.code).toBe(0);
}, 120_000);

test.each([
  ['dist', 'index.js', '--dist'],
  ['broker/dist', 'server.js', '--broker-dist'],
])(
  'check-dist fails, naming the file, when %s differs by one byte',
  async (folder, file, option) => {
    const stale = join(mkdtempSync(join(tmpdir(), 'vek-stale-')), 'dist');
    cpSync(join(REPO, folder), stale, { recursive: true });
    appendFileSync(join(stale, file), ' ');
    const result = await checkDist([option, stale]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain("::error::dist/ or broker/dist/ does not match the source: run 'npm run bundle' and commit both.");
    expect(result.stdout).toContain(`${folder}/${file}: differs`);
  },
  120_000,
);
