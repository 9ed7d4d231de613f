// The contributor loop CONTRIBUTING documents works as written: `npm run test:file -- <path>` runs one
// file without the coverage gate (plain `npx vitest run <file>` fails on the global threshold), and
// `npm run try` runs the committed dist/ with the given inputs against the Venice test server, printing
// the log as GitHub shows it. Both are started the way a contributor starts them, through npm.
import { spawnSync } from 'node:child_process';
import { expect, test } from 'vitest';
import { REPO } from '../../fakes/runner.ts';

const npm = (args: string[]) =>
  spawnSync('npm', ['run', '--silent', ...args], {
    cwd: REPO,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, CI: '', NO_COLOR: '1', FORCE_COLOR: '0' },
  });

test('npm run test:file runs one test file and passes without the coverage gate', () => {
  const run = npm(['test:file', '--', 'test/unit/duration.test.ts']);
  expect(run.status, run.stdout + run.stderr).toBe(0);
  expect(run.stdout).toMatch(/Test Files +1 passed \(1\)/);
  expect(run.stdout).not.toMatch(/Coverage|threshold/i);
});

test('npm run try mints with the given inputs, shows the log masked, and its post step deletes the key', () => {
  const run = npm(['try', '--', '--input', 'expires-in=2h', '--input', 'usd-limit=1', '--input', 'description=tried by hand']);
  expect(run.status, run.stdout + run.stderr).toBe(0);
  expect(run.stdout).toContain('(masked the admin key: from here on GitHub shows it as ***)');
  expect(run.stdout).toMatch(/\| ▸ Create the inference key/);
  expect(run.stdout).toMatch(/api-key = <\d+ characters, masked>/);
  expect(run.stdout).toMatch(/"tried by hand vek:octo-org\/shop job /);
  expect(run.stdout).toContain("Venice's keys after post: 0");
  expect(run.stdout).not.toContain('::add-mask::');
  const bad = npm(['try', '--', '--input', 'usd-limit']);
  expect(bad.status).toBe(2);
  expect(bad.stderr).toContain('--input usd-limit: write NAME=VALUE');
});
