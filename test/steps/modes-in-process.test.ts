// use, revoke and sweep in-process (so coverage sees them), with the error paths the scenario tests in
// test/ownership do not reach; and the mint summary's spend ceiling on a chosen clock.
import { expect, test } from 'vitest';
import { addOwnedKey, REPOSITORY } from '../../testkit/seed-keys.ts';
import { useTestBed } from '../support/bed.ts';
import { mainInProcess, postInProcess } from '../support/in-process.ts';

const bed = useTestBed({ github: true });

async function runKeyHandle(): Promise<string> {
  const mint = await mainInProcess({ inputs: bed.inputs({ scope: 'run' }) });
  expect(mint.exitCode).toBe(0);
  return mint.outputs['key-handle']!;
}

test('use: verify false skips the check; a key Venice no longer permits, or that expired, fails clearly', async () => {
  const handle = await runKeyHandle();
  const plain = await mainInProcess({ inputs: bed.inputs({ mode: 'use', 'key-handle': handle, verify: 'false' }) });
  expect(plain.exitCode).toBe(0);
  expect(plain.summary).toContain('not checked (verify: false)');
  bed.venice.accessPermitted = false;
  const refused = await mainInProcess({ inputs: bed.inputs({ mode: 'use', 'key-handle': handle }) });
  expect(refused.errors).toEqual([expect.stringContaining('exists but Venice reports accessPermitted: false')]);
  const later = await mainInProcess({ inputs: bed.inputs({ mode: 'use', 'key-handle': handle }), now: () => Date.now() + 2 * 3_600_000 });
  expect(later.errors).toEqual([expect.stringMatching(/the run's key .* expired at .*Mint it with a longer expires-in/)]);
  bed.venice.inject('verify', { kind: 'status', status: 403 });
  bed.venice.accessPermitted = true;
  const forbidden = await mainInProcess({ inputs: bed.inputs({ mode: 'use', 'key-handle': handle }) });
  expect(forbidden.errors).toEqual([expect.stringContaining('Venice forbade checking the new key works (403)')]);
  const post = await postInProcess({ inputs: bed.inputs({ mode: 'use', 'key-handle': handle }), state: plain.state });
  expect(post.stdout).toContain('nothing to delete');
});

test('a handle whose key is not a run key of this run is refused by use and revoke', async () => {
  const job = await mainInProcess({ inputs: bed.inputs() });
  const { sealHandle } = await import('../../core/key-handle.ts');
  const forged = sealHandle(
    {
      apiKey: job.outputs['api-key']!,
      keyId: job.outputs['key-id']!,
      expiresAt: job.outputs['expires-at']!,
      description: job.outputs.description!,
    },
    { adminKey: bed.venice.adminKey, repository: REPOSITORY, runId: '18234567890' },
  );
  for (const mode of ['use', 'revoke']) {
    const step = await mainInProcess({ inputs: bed.inputs({ mode, 'key-handle': forged }) });
    expect(step.errors).toEqual([expect.stringContaining("key-handle does not hold this run's key")]);
  }
  expect(bed.venice.liveKeys()).toHaveLength(1);
});

test('revoke by handle: a key already gone, or no longer carrying the run tag, is reported and not deleted', async () => {
  const handle = await runKeyHandle();
  const key = bed.venice.minted[0]!;
  bed.venice.keys.get(key.id)!.description = 'renamed in the dashboard';
  const edited = await mainInProcess({ inputs: bed.inputs({ mode: 'revoke', 'key-handle': handle }) });
  expect(edited.errors).toEqual([expect.stringContaining(`key ${key.id} was not deleted: Venice shows it as "renamed in the dashboard"`)]);
  expect(bed.venice.keys.has(key.id)).toBe(true);
  bed.venice.keys.delete(key.id);
  const gone = await mainInProcess({ inputs: bed.inputs({ mode: 'revoke', 'key-handle': handle }) });
  expect(gone.exitCode).toBe(0);
  expect(gone.stdout).toContain(`The run's key ${key.id} was already gone.`);
  expect(gone.outputs['deleted-count']).toBe('0');
});

test('revoke for a PR: a key renamed between list and read is kept with a warning', async () => {
  const renamed = addOwnedKey(bed.venice, { pr: 7, scope: 'pr' });
  bed.venice.inject('get', { kind: 'patch-data', data: { description: 'mine now' } });
  const revoke = await mainInProcess({ inputs: bed.inputs({ mode: 'revoke', 'pr-number': '7' }) });
  expect(revoke.exitCode).toBe(0);
  expect(revoke.warnings).toEqual([expect.stringContaining(`kept key ${renamed.id}`)]);
  expect(revoke.outputs['deleted-count']).toBe('0');
  expect(bed.venice.keys.has(renamed.id)).toBe(true);
});

test('revoke for a PR: one failed delete names the key and fails the step after trying the rest', async () => {
  const [a, b] = [addOwnedKey(bed.venice, { pr: 7, scope: 'pr' }), addOwnedKey(bed.venice, { pr: 7, scope: 'pr', slot: 'api' })];
  bed.venice.inject('delete', { kind: 'status', status: 403 });
  const revoke = await mainInProcess({ inputs: bed.inputs({ mode: 'revoke', 'pr-number': '7' }) });
  expect(revoke.exitCode).toBe(1);
  expect(revoke.errors[0]).toMatch(/deleted 1 of 2 key\(s\); could not delete .*Venice forbade deleting the key \(403\)/);
  expect(bed.venice.liveKeys().filter((key) => key.id === a.id || key.id === b.id)).toHaveLength(1);
});

test('revoke for a PR: a read that fails is counted as unread in the summary, and the key is deleted', async () => {
  addOwnedKey(bed.venice, { pr: 7, scope: 'pr' });
  bed.venice.inject('get', { kind: 'status', status: 403 });
  const revoke = await mainInProcess({ inputs: bed.inputs({ mode: 'revoke', 'pr-number': '7' }) });
  expect(revoke.exitCode).toBe(0);
  expect(revoke.outputs['deleted-count']).toBe('1');
  expect(revoke.summary).toContain('1 key(s) could not be read; not counted');
});

test('sweep with an empty github-token says what to pass', async () => {
  addOwnedKey(bed.venice, { pr: 7, scope: 'pr' });
  const sweep = await mainInProcess({ inputs: bed.inputs({ mode: 'sweep', 'github-token': '' }), env: bed.env });
  expect(sweep.warnings[0]).toContain('github-token is empty');
  expect(bed.venice.liveKeys()).toHaveLength(1);
});

test.each([
  [401, 'github-token was refused (401)'],
  [500, 'GitHub answered 500'],
  ['no-state', 'GitHub answered without a state'],
] as const)('sweep when GitHub answers %s keeps the keys and says why', async (failure, says) => {
  addOwnedKey(bed.venice, { pr: 7, scope: 'pr' });
  bed.github.failWith = failure;
  const sweep = await mainInProcess({ inputs: bed.inputs({ mode: 'sweep' }), env: bed.env });
  expect(sweep.warnings[0]).toContain(says);
  expect(bed.venice.liveKeys()).toHaveLength(1);
});

test('sweep: a run GitHub answers without a status is kept', async () => {
  addOwnedKey(bed.venice, { scope: 'run', runId: '77' });
  bed.github.failWith = 'no-state';
  const sweep = await mainInProcess({ inputs: bed.inputs({ mode: 'sweep' }), env: bed.env });
  expect(sweep.warnings[0]).toContain('GitHub answered without a status for octo-org/shop run 77');
});

test('a preview mint when GitHub cannot be asked mints anyway, with a warning', async () => {
  bed.github.failWith = 500;
  const mint = await mainInProcess({ inputs: bed.inputs({ scope: 'pr', 'pr-number': '7' }), env: bed.env });
  expect(mint.exitCode).toBe(0);
  expect(mint.warnings).toEqual([expect.stringContaining('Minting the key anyway')]);
});

test('rotate that cannot list is a warning; the new key stands', async () => {
  bed.github.setPull(REPOSITORY, 7, 'open');
  bed.venice.inject('list', { kind: 'status', status: 403 });
  const mint = await mainInProcess({ inputs: bed.inputs({ scope: 'pr', 'pr-number': '7', rotate: 'true' }), env: bed.env });
  expect(mint.exitCode).toBe(0);
  expect(mint.warnings).toEqual([expect.stringContaining('could not delete the older keys of PR #7 slot build')]);
  expect(mint.summary).toContain('| Rotated out | no older key |');
});

test('rotate falls back to run order when Venice gives no creation dates', async () => {
  bed.github.setPull(REPOSITORY, 7, 'open');
  const older = addOwnedKey(bed.venice, { pr: 7, scope: 'pr', slot: 'build', runId: '1' });
  const newer = addOwnedKey(bed.venice, { pr: 7, scope: 'pr', slot: 'build', runId: '99999999999' });
  for (const key of [older, newer]) bed.venice.keys.get(key.id)!.createdAt = null as unknown as string;
  bed.venice.inject('list', { kind: 'patch-data', data: {} }, 0);
  const mint = await mainInProcess({ inputs: bed.inputs({ scope: 'pr', 'pr-number': '7', rotate: 'true' }), env: bed.env });
  expect(mint.exitCode).toBe(0);
  const live = bed.venice.liveKeys().map((k) => k.id);
  expect(live).not.toContain(older.id);
  expect(live).toContain(newer.id);
});

test.each([
  // Future dates: the test server expires keys by its own clock.
  ['EPOCH', '2030-06-14T23:30:00Z', '1h', '2 USD (1 per UTC day; its life touches 2 UTC days)'],
  ['EPOCH', '2030-06-14T10:00:00Z', '1h', '1 USD (1 per UTC day; its life touches 1 UTC day)'],
  ['MONTH', '2030-06-30T23:30:00Z', '1h', '2 USD (1 per calendar month (UTC); its life touches 2 calendar months (UTC))'],
  ['LIFETIME', '2030-06-14T23:30:00Z', '7d', '1 USD (a lifetime cap)'],
] as const)('the summary states the spend ceiling: %s from %s for %s', async (period, at, expiresIn, ceiling) => {
  const now = Date.parse(at);
  const mint = await mainInProcess({ inputs: bed.inputs({ 'limit-period': period, 'expires-in': expiresIn }), now: () => now });
  expect(mint.exitCode).toBe(0);
  expect(mint.summary).toContain(`| Most it can spend | ${ceiling};`);
});

test('post after a run or preview mint keeps the key and says who deletes it', async () => {
  const run = await mainInProcess({ inputs: bed.inputs({ scope: 'run' }) });
  const runPost = await postInProcess({ inputs: bed.inputs({ scope: 'run' }), state: run.state });
  expect(runPost.stdout).toContain("is the run's key: it stays for the run's other jobs until it expires at");
  bed.github.setPull(REPOSITORY, 7, 'open');
  const preview = await mainInProcess({ inputs: bed.inputs({ scope: 'pr', 'pr-number': '7' }), env: bed.env });
  const previewPost = await postInProcess({ inputs: bed.inputs({ scope: 'pr' }), state: preview.state });
  expect(previewPost.stdout).toContain("is PR #7's preview key: it stays until it expires at");
  expect(bed.venice.liveKeys()).toHaveLength(2);
});

test('preview mint for a closed PR: no key, and the summary says why', async () => {
  bed.github.setPull(REPOSITORY, 8, 'closed');
  const mint = await mainInProcess({ inputs: bed.inputs({ scope: 'pr', 'pr-number': '8' }), env: bed.env });
  expect(mint.exitCode).toBe(0);
  expect(mint.summary).toContain('PR #8 is already closed.');
  expect(bed.venice.requests).toEqual([]);
});

test('scope pr and revoke without a pull request are refused before any request', async () => {
  const mint = await mainInProcess({ inputs: bed.inputs({ scope: 'pr' }) });
  expect(mint.errors).toEqual([expect.stringContaining("input 'scope': is pr, but this run event has no pull request")]);
  const revoke = await mainInProcess({ inputs: bed.inputs({ mode: 'revoke' }) });
  expect(revoke.errors).toEqual([expect.stringContaining('mode: revoke needs a key-handle or a pull request')]);
  expect(bed.venice.requests).toEqual([]);
});

test('sweep in-process: every kind of key, a dry run, and GitHub out of reach', async () => {
  bed.github.setPull(REPOSITORY, 1, 'closed');
  bed.github.setRun(REPOSITORY, '501', 'completed');
  const closedPr = addOwnedKey(bed.venice, { pr: 1, scope: 'pr' });
  const doneRun = addOwnedKey(bed.venice, { scope: 'job', runId: '501' });
  const kept = addOwnedKey(bed.venice, { scope: 'kept', runId: '501' });
  const dry = await mainInProcess({ inputs: bed.inputs({ mode: 'sweep', 'dry-run': 'true' }), env: bed.env });
  expect(dry.stdout).toContain(`Would delete key ${closedPr.id}`);
  expect(dry.stdout).toContain('Dry run: nothing was deleted.');
  const sweep = await mainInProcess({ inputs: bed.inputs({ mode: 'sweep' }), env: bed.env });
  expect(sweep.outputs['deleted-ids']!.split(',').sort()).toEqual([closedPr.id, doneRun.id].sort());
  expect(sweep.summary).toContain('kept: minted with skip-delete');
  expect(bed.venice.liveKeys().map((key) => key.id)).toEqual([kept.id]);
  addOwnedKey(bed.venice, { pr: 2, scope: 'pr' });
  const unreachable = await mainInProcess({ inputs: bed.inputs({ mode: 'sweep' }) }); // GITHUB_API_URL: a closed port
  expect(unreachable.warnings[0]).toMatch(/could not ask GitHub about octo-org\/shop PR #2: .*\./);
});

test('use: a key deleted since the mint fails with the re-run advice', async () => {
  const handle = await runKeyHandle();
  bed.venice.keys.clear();
  const use = await mainInProcess({ inputs: bed.inputs({ mode: 'use', 'key-handle': handle }) });
  expect(use.errors).toEqual([expect.stringContaining('no longer works: it was deleted or has expired')]);
  expect(use.errors[0]).toContain('Re-run all jobs');
});

test('a created key with an unusable secret whose delete also fails: main fails, post deletes it by its tag', async () => {
  bed.venice.inject('create', { kind: 'patch-data', data: { apiKey: ' ' } });
  bed.venice.inject('delete', { kind: 'status', status: 403 });
  const main = await mainInProcess({ inputs: bed.inputs() });
  expect(main.errors).toEqual([expect.stringContaining('answered with a secret that does not look like a Venice key')]);
  expect(bed.venice.liveKeys()).toHaveLength(1);
  const post = await postInProcess({ inputs: bed.inputs(), state: main.state });
  expect(post.stdout).toContain('Deleted 1 key(s) left by main.');
  expect(bed.venice.liveKeys()).toEqual([]);
});

test('revoke by handle in-process: with its spend, and without when the read fails', async () => {
  const first = await runKeyHandle();
  bed.venice.keys.get(bed.venice.minted[0]!.id)!.usage = { usd: 0.1, diem: 0 };
  const revoked = await mainInProcess({ inputs: bed.inputs({ mode: 'revoke', 'key-handle': first }) });
  expect(revoked.outputs).toMatchObject({ 'deleted-count': '1', 'spent-usd': '0.1', 'spent-diem': '0' });
  const second = await runKeyHandle();
  bed.venice.inject('get', { kind: 'status', status: 500 }, 99);
  const unread = await mainInProcess({ inputs: bed.inputs({ mode: 'revoke', 'key-handle': second, timeout: '10s' }) });
  expect(unread.outputs['deleted-count']).toBe('1');
  expect(unread.summary).toContain('1 key(s) could not be read; not counted');
});

test('revoke for a PR, dry run in-process: the summary says nothing was revoked', async () => {
  addOwnedKey(bed.venice, { pr: 7, scope: 'pr' });
  const dry = await mainInProcess({ inputs: bed.inputs({ mode: 'revoke', 'pr-number': '7', 'dry-run': 'true' }) });
  expect(dry.summary).toContain('that would be revoked (dry run)');
  expect(bed.venice.liveKeys()).toHaveLength(1);
});

test('use exports the key when asked', async () => {
  const handle = await runKeyHandle();
  const use = await mainInProcess({ inputs: bed.inputs({ mode: 'use', 'key-handle': handle, 'export-env': 'VENICE_API_KEY' }) });
  expect(use.env.VENICE_API_KEY).toBe(bed.venice.minted[0]!.apiKey);
});

test('sweep keeps the keys of runs still going; with fail-on-cleanup-error, what GitHub could not answer fails the step', async () => {
  bed.github.setRun(REPOSITORY, '601', 'in_progress');
  addOwnedKey(bed.venice, { scope: 'run', runId: '601' });
  addOwnedKey(bed.venice, { scope: 'job', runId: '602' }); // GitHub does not know run 602: 404
  const sweep = await mainInProcess({ inputs: bed.inputs({ mode: 'sweep', 'fail-on-cleanup-error': 'true' }), env: bed.env });
  expect(sweep.stdout).toContain('run 601: run 601 is still going');
  expect(sweep.errors).toEqual([expect.stringContaining('could not ask GitHub about octo-org/shop run 602: GitHub answered 404')]);
  expect(bed.venice.liveKeys()).toHaveLength(2);
});

test('a preview slot falls back to "default" when the runner gives no job id', async () => {
  bed.github.setPull(REPOSITORY, 7, 'open');
  const mint = await mainInProcess({ inputs: bed.inputs({ scope: 'pr', 'pr-number': '7' }), env: { ...bed.env, GITHUB_JOB: '' } });
  expect(mint.outputs.description).toMatch(/ pr:default r/);
});

test('post of a kept key without a saved expiry still says it stays', async () => {
  const run = await mainInProcess({ inputs: bed.inputs({ 'skip-delete': 'true' }) });
  const post = await postInProcess({ inputs: bed.inputs(), state: { ...run.state, 'expires-at': '' } });
  expect(post.stdout).toContain(`skip-delete is true: key ${run.outputs['key-id']} stays usable.`);
});
