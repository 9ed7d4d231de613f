// The post step in-process, for the cases that need no runner: what it says and when it asks Venice.
import { expect, test } from 'vitest';
import { formatTag, newTag } from '../../core/description-tag.ts';
import { addOwnedKey, REPOSITORY } from '../../testkit/seed-keys.ts';
import { useTestBed } from '../support/bed.ts';
import { mainInProcess, postInProcess } from '../support/in-process.ts';

const bed = useTestBed();
const inputs = () => bed.inputs({ timeout: '10s' });
const jobTag = newTag(REPOSITORY, { pr: undefined, scope: 'job', slot: undefined, runId: '18234567890', runAttempt: '1', token: 'abc123' });
const tag = formatTag(jobTag);

test('no state: nothing to delete, no request, inputs not even read', async () => {
  const post = await postInProcess({ inputs: { 'admin-key': '' } });
  expect(post.exitCode).toBe(0);
  expect(post.stdout).toContain('No key was minted in this job; nothing to delete.');
  expect(bed.venice.requests).toEqual([]);
});

test('a tag but no key id and nothing left under it: one list, no delete', async () => {
  addOwnedKey(bed.venice, { runId: '18234567890' }); // same run, another invocation's token
  const post = await postInProcess({ inputs: inputs(), state: { 'invocation-tag': tag, 'key-id': '' } });
  expect(post.stdout).toContain('No key from this job is left; nothing to delete.');
  expect(bed.venice.requests.map((r) => r.call)).toEqual(['list']);
  expect(bed.venice.liveKeys()).toHaveLength(1);
});

test('a tag but no key id: keys carrying exactly the tag are deleted, others kept', async () => {
  const ours = bed.venice.addKey({ description: `label ${tag}` });
  const other = bed.venice.addKey({ description: 'untagged' });
  const post = await postInProcess({ inputs: inputs(), state: { 'invocation-tag': tag } });
  expect(post.stdout).toContain(`Deleted key ${ours.id} "label ${tag}": main did not hand it out.`);
  expect(bed.venice.liveKeys().map((k) => k.id)).toEqual([other.id]);
});

test('a key whose reported expiry has passed is still deleted: the clock and the answer are not trusted', async () => {
  const key = bed.venice.addKey({ description: `label ${tag}` });
  const post = await postInProcess({
    inputs: inputs(),
    state: { 'invocation-tag': tag, 'key-id': key.id, 'expires-at': '2020-01-01T00:00:00.000Z' },
  });
  expect(post.stdout).toContain(`Deleted key ${key.id}.`);
  expect(bed.venice.requests.map((r) => r.call)).toEqual(['get', 'delete']);
  expect(bed.venice.liveKeys()).toEqual([]);
});

test('post reports what GET /api_keys/{id} says the key spent, in the log and the summary', async () => {
  const key = bed.venice.addKey({ description: `label ${tag}`, usage: { usd: 0.42, diem: 1.5 } });
  const post = await postInProcess({ inputs: inputs(), state: { 'invocation-tag': tag, 'key-id': key.id } });
  expect(post.stdout).toContain(`Deleted key ${key.id}. It spent 0.42 USD and 1.5 DIEM (trailing seven days).`);
  expect(post.summary).toContain('| Spent (trailing seven days) | 0.42 USD, 1.5 DIEM |');
});

test('an id whose description lacks the tag is never deleted', async () => {
  const someoneElses = bed.venice.addKey({ description: 'production key' });
  const post = await postInProcess({ inputs: inputs(), state: { 'invocation-tag': tag, 'key-id': someoneElses.id } });
  expect(post.warnings).toEqual([expect.stringContaining(`key ${someoneElses.id} was not deleted: Venice shows it as "production key"`)]);
  expect(bed.venice.requests.map((r) => r.call)).toEqual(['get']);
  expect(bed.venice.liveKeys()).toHaveLength(1);
});

test('a failed read is a warning, never a reason to keep the key', async () => {
  const key = bed.venice.addKey({ description: `label ${tag}` });
  bed.venice.inject('get', { kind: 'status', status: 403 });
  const post = await postInProcess({ inputs: inputs(), state: { 'invocation-tag': tag, 'key-id': key.id } });
  expect(post.warnings).toEqual([expect.stringContaining(`could not read key ${key.id} before deleting it`)]);
  expect(bed.venice.liveKeys()).toEqual([]);
});

test('state from another run, repository or attempt (a stray STATE_ variable) is ignored', async () => {
  const key = bed.venice.addKey({ description: `label ${tag}` });
  const strays: Record<string, string>[] = [{ GITHUB_RUN_ID: '999' }, { GITHUB_REPOSITORY: 'octo-org/other' }, { GITHUB_RUN_ATTEMPT: '2' }];
  for (const env of strays) {
    const post = await postInProcess({ inputs: inputs(), state: { 'invocation-tag': tag, 'key-id': key.id }, env });
    expect(post.warnings).toEqual([expect.stringContaining('the saved state does not belong to this job')]);
  }
  expect(bed.venice.requests).toEqual([]);
});

test('skip-delete after a successful main: nothing is deleted, and post says until when', async () => {
  const main = await mainInProcess({ inputs: { ...inputs(), 'skip-delete': 'true' } });
  const post = await postInProcess({ inputs: { ...inputs(), 'skip-delete': 'true' }, state: main.state });
  expect(post.stdout).toContain(
    `skip-delete is true: key ${main.outputs['key-id']} stays usable until it expires at ${main.outputs['expires-at']}.`,
  );
  expect(bed.venice.liveKeys()).toHaveLength(1);
  expect(bed.venice.liveKeys()[0]!.description).toMatch(/ kept r18234567890\.1 /);
});

test('skip-delete after a failed main whose own delete failed: post deletes the orphan anyway', async () => {
  bed.venice.accessPermitted = false;
  bed.venice.inject('delete', { kind: 'status', status: 403 });
  const main = await mainInProcess({ inputs: { ...inputs(), 'skip-delete': 'true' } });
  expect(main.exitCode).toBe(1);
  expect(bed.venice.liveKeys()).toHaveLength(1);
  const post = await postInProcess({ inputs: { ...inputs(), 'skip-delete': 'true' }, state: main.state });
  expect(post.exitCode).toBe(0);
  expect(bed.venice.liveKeys()).toEqual([]);
});

test('Venice unreachable: a warning naming the key and the network problem, never empty', async () => {
  const key = bed.venice.addKey({ description: `label ${tag}` });
  const post = await postInProcess({
    inputs: { ...inputs(), 'api-url': 'http://127.0.0.1:9/api/v1' },
    state: { 'invocation-tag': tag, 'key-id': key.id, 'expires-at': '2999-01-01T00:00:00.000Z' },
  });
  expect(post.exitCode).toBe(0);
  expect(post.warnings.at(-1)).toMatch(
    new RegExp(
      `^venice-ephemeral-key: could not delete key ${key.id}\\. .*connection refused.* It stays usable until it expires at 2999-01-01T00:00:00\\.000Z;`,
    ),
  );
});

test('cleanup by tag failing is a warning about the keys this job created', async () => {
  bed.venice.inject('list', { kind: 'status', status: 403 });
  const post = await postInProcess({ inputs: inputs(), state: { 'invocation-tag': tag } });
  expect(post.warnings[0]).toMatch(
    /could not delete the keys this job created\. HTTP 403 "An unknown error occurred": .* It stays usable until it expires;/,
  );
});

test('fail-on-cleanup-error: the same message fails the step instead', async () => {
  const key = bed.venice.addKey({ description: `label ${tag}` });
  bed.venice.inject('delete', { kind: 'status', status: 403 });
  const post = await postInProcess({
    inputs: { ...inputs(), 'fail-on-cleanup-error': 'true' },
    state: { 'invocation-tag': tag, 'key-id': key.id },
  });
  expect(post.exitCode).toBe(1);
  expect(post.warnings).toEqual([]);
  expect(post.errors[0]).toMatch(
    new RegExp(`^venice-ephemeral-key: could not delete key ${key.id}\\. HTTP 403 "An unknown error occurred"`),
  );
});

test('invalid inputs in post with a key to delete fail the step, naming the input', async () => {
  const post = await postInProcess({ inputs: { ...inputs(), 'skip-delete': 'maybe' }, state: { 'invocation-tag': tag, 'key-id': 'k1' } });
  expect(post.exitCode).toBe(1);
  expect(post.errors[0]).toContain("input 'skip-delete'");
});

test('after a main that deleted its own key, post has nothing to do and asks nothing', async () => {
  bed.venice.accessPermitted = false;
  const main = await mainInProcess({ inputs: inputs() });
  expect(main.exitCode).toBe(1);
  expect(main.state['key-id']).toBe('');
  const requests = bed.venice.requests.length;
  const post = await postInProcess({ inputs: inputs(), state: main.state });
  expect(post.stdout).toContain('No key was minted in this job; nothing to delete.');
  expect(bed.venice.requests).toHaveLength(requests);
});

test('a create main never saw answered: post watches for the late key, and deletes it when it lands', async () => {
  const pending = { 'invocation-tag': tag, 'create-pending-until': String(Date.now() + 30_000) };
  let polls = 0;
  const late = setTimeout(() => bed.venice.addKey({ description: `late ${tag}` }), 150);
  const post = await postInProcess({ inputs: inputs(), state: pending, maxSleepMs: 50 });
  clearTimeout(late);
  polls = bed.venice.count('list');
  expect(polls).toBeGreaterThan(1);
  expect(post.stdout).toContain('watching for a late key');
  expect(post.stdout).toContain('Deleted 1 key(s) left by main.');
  expect(bed.venice.liveKeys()).toEqual([]);
});

test('the watch for a late key is bounded: post gives up and says so', async () => {
  const now = { value: Date.now() };
  const post = await postInProcess({
    inputs: inputs(),
    state: { 'invocation-tag': tag, 'create-pending-until': String(now.value + 5_000) },
    now: () => now.value,
    policy: {
      maxAttempts: 8,
      baseDelayMs: 500,
      maxDelayMs: 15_000,
      rateLimitWindowMs: 60_000,
      random: Math.random,
      sleep: async (ms) => {
        now.value += ms;
      },
    },
  });
  expect(post.stdout).toContain('No late key appeared; nothing to delete.');
  expect(bed.venice.count('list')).toBe(4); // at 0, 2, 4 and 6 s of a 5 s watch
});

test('an unanswered create attempt before one that worked: post keeps the run key and deletes the late one', async () => {
  bed.venice.inject('create', { kind: 'reset-before' }); // the first attempt gets no answer
  const main = await mainInProcess({ inputs: bed.inputs({ scope: 'run' }) });
  expect(main.exitCode).toBe(0);
  expect(Number(main.state['create-pending-until'])).toBeGreaterThan(0);
  const runKey = main.outputs['key-id']!;
  const late = bed.venice.addKey({ description: main.outputs.description! }); // Venice finishes the first one late
  const post = await postInProcess({ inputs: bed.inputs({ scope: 'run' }), state: main.state });
  expect(post.stdout).toContain(`Deleted key ${late.id}`);
  expect(bed.venice.liveKeys().map((key) => key.id)).toEqual([runKey]);
});

test('the watch for a late key is bounded in count as well: fast sleeps do not turn it into a flood', async () => {
  const post = await postInProcess({
    inputs: inputs(),
    state: { 'invocation-tag': tag, 'create-pending-until': String(Date.now() + 20_000) },
  });
  expect(post.stdout).toContain('No late key appeared');
  expect(bed.venice.count('list')).toBeLessThanOrEqual(11); // one per 2 s of a 20 s watch, plus the first
});
