// The end-to-end CI job relies on .github/actions/assert-no-venice-keys failing when a key is left:
// run its post script (as the runner would, under Node 24) against the test server both ways.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { NODE24, REPO } from '../../fakes/runner.ts';
import { useTestBed } from '../support/bed.ts';

const bed = useTestBed();
const script = join(REPO, '.github', 'actions', 'assert-no-venice-keys', 'post.mjs');

function runPost(): Promise<{ status: number; stdout: string }> {
  const env = { PATH: process.env.PATH ?? '', 'INPUT_API-URL': bed.venice.apiUrl, 'INPUT_ADMIN-KEY': bed.venice.adminKey };
  return new Promise((done) => {
    execFile(NODE24, [script], { env, timeout: 20_000 }, (error, stdout) => done({ status: error ? Number(error.code) : 0, stdout }));
  });
}

test('passes when the server holds no key', async () => {
  expect(await runPost()).toEqual({ status: 0, stdout: expect.stringContaining('No Venice key left') });
});

test('fails the job, naming the key, when one is left', async () => {
  const left = bed.venice.addKey({ description: 'left behind' });
  const result = await runPost();
  expect(result.status).toBe(1);
  expect(result.stdout).toContain(`::error::1 Venice key(s) left after the job: ${left.id}`);
});
