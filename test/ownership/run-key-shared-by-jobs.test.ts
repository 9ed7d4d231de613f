// scope: run, as the README's run-key recipe wires it: a mint job, jobs that `use` its key-handle, and a
// last `if: always()` job that revokes it. One create in all; the minting job's post leaves the key.
import { expect, test } from 'vitest';
import { runJob, runStep } from '../../fakes/runner.ts';
import { expectNotShown } from '../../testkit/leaks.ts';
import { addKeysThatMustSurvive } from '../../testkit/seed-keys.ts';
import { useTestBed } from '../support/bed.ts';

const bed = useTestBed();

test('one run key: minted once, used by three jobs, kept by the minting post, revoked by the last job with its spend', async () => {
  const survivors = addKeysThatMustSurvive(bed.venice);
  const mint = await runJob({ inputs: bed.inputs({ scope: 'run', 'usd-limit': '3' }), env: { GITHUB_JOB: 'mint' } });
  expect(mint.main.exitCode).toBe(0);
  const handle = mint.main.outputs['key-handle']!;
  expect(handle).toMatch(/^vek1\.18234567890\.[0-9a-f]{8}\.[A-Za-z0-9_-]+$/);
  const [key] = bed.venice.minted;
  expect(key!.description).toMatch(/ run r18234567890\.1 [0-9a-z]{6}$/);
  expect(handle).not.toContain(key!.apiKey);
  expect(mint.post.stdout).toContain(`Key ${key!.id} is the run's key: it stays for the run's other jobs`);
  expect(mint.main.summary).toContain('| Most it can spend |');

  for (const job of ['test-a', 'test-b', 'test-c']) {
    const use = await runJob({
      inputs: bed.inputs({ mode: 'use', 'key-handle': handle, 'export-env': 'VENICE_API_KEY' }),
      env: { GITHUB_JOB: job },
    });
    expect(use.main.exitCode, use.main.stdout).toBe(0);
    expect(use.main.outputs).toMatchObject({
      'api-key': key!.apiKey,
      'key-id': key!.id,
      'expires-at': key!.expiresAt,
      description: key!.description,
    });
    expect(use.main.env.VENICE_API_KEY).toBe(key!.apiKey);
    // The key is masked before anything else the step prints about it.
    expect(use.main.stdout.indexOf(`::add-mask::${key!.apiKey}`)).toBeLessThan(use.main.stdout.indexOf(key!.id));
    expect(use.post.stdout).toContain('No key was minted in this job; nothing to delete.');
  }
  expect(bed.venice.count('create')).toBe(1);
  expect(bed.venice.liveKeys().map((k) => k.id)).toContain(key!.id);

  bed.venice.keys.get(key!.id)!.usage = { usd: 1.2345, diem: 0.5 };
  const revoke = await runStep('main', { inputs: bed.inputs({ mode: 'revoke', 'key-handle': handle }), env: { GITHUB_JOB: 'cleanup' } });
  expect(revoke.exitCode, revoke.stdout).toBe(0);
  expect(revoke.outputs).toEqual({ 'deleted-count': '1', 'deleted-ids': key!.id, 'spent-usd': '1.2345', 'spent-diem': '0.5' });
  expect(revoke.stdout).toContain(`Deleted the run's key ${key!.id}. It spent 1.2345 USD and 0.5 DIEM (trailing seven days).`);
  expect(revoke.summary).toContain('1.2345 USD and 0.5 DIEM');
  expect(
    bed.venice
      .liveKeys()
      .map((k) => k.id)
      .sort(),
  ).toEqual(survivors.map((k) => k.id).sort());

  // A "re-run failed jobs" attempt after the revoke: the use job fails at once and says what to do.
  const rerun = await runStep('main', { inputs: bed.inputs({ mode: 'use', 'key-handle': handle }), env: { GITHUB_RUN_ATTEMPT: '2' } });
  expect(rerun.exitCode).toBe(1);
  expect(rerun.errors).toEqual([expect.stringContaining(`the run's key ${key!.id} no longer works: it was deleted or has expired.`)]);
  expect(rerun.errors[0]).toContain('Re-run all jobs');
  expect(rerun.outputs).toEqual({});
});

test('a handle from another run, another repository, altered by one character, or opened with another admin key fails clearly', async () => {
  const mint = await runStep('main', { inputs: bed.inputs({ scope: 'run' }) });
  const handle = mint.outputs['key-handle']!;
  const lastChar = handle.at(-2) === 'A' ? 'B' : 'A';
  const altered = `${handle.slice(0, -2)}${lastChar}${handle.at(-1)}`;
  const cases: [string, { inputs?: Record<string, string>; env?: Record<string, string> }, RegExp][] = [
    ['another run', { env: { GITHUB_RUN_ID: '18234567999' } }, /key-handle was made in run 18234567890, and this is run 18234567999\./],
    [
      'another repository',
      { env: { GITHUB_REPOSITORY: 'octo-org/other' } },
      /key-handle was made in another repository, not octo-org\/other\./,
    ],
    [
      'altered',
      { inputs: { 'key-handle': altered } },
      /key-handle could not be opened: either it was altered .*or admin-key is not the admin key/,
    ],
    ['cut short', { inputs: { 'key-handle': handle.slice(0, 30) } }, /key-handle is cut short or altered/],
    ['another admin key', { inputs: { 'admin-key': 'VENICE_ADMIN_KEY_another_one_entirely_000' } }, /key-handle could not be opened/],
  ];
  for (const [, given, error] of cases) {
    for (const mode of ['use', 'revoke']) {
      const step = await runStep('main', {
        inputs: bed.inputs({ mode, 'key-handle': handle, ...given.inputs }),
        ...(given.env ? { env: given.env } : {}),
      });
      expect(step.exitCode).toBe(1);
      expect(step.errors).toEqual([expect.stringMatching(error)]);
      expect(step.outputs).toEqual({});
    }
  }
  expect(bed.venice.count('verify')).toBe(1); // only the mint's own check: no refused handle reached Venice
  expect(bed.venice.count('delete')).toBe(0);
  expect(bed.venice.liveKeys()).toHaveLength(1);
  expectNotShown(['VENICE_ADMIN_KEY_another_one_entirely_000']);
});
