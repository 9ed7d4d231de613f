// The post step in-process, for the cases that need no runner: what it says and when it asks Venice.
import { expect, test } from 'vitest';
import { formatTag } from '../../src/description-tag.ts';
import { mainInProcess, postInProcess } from '../support/in-process.ts';
import { VeniceServer } from '../support/venice-server.ts';
import { useInProcessBed } from './in-process-bed.ts';

const bed = useInProcessBed();

const tag = formatTag({ repo: 'octo-org/shop', pr: undefined, runId: '18234567890', runAttempt: '1', token: 'abc123' });

test('no state: nothing to delete, no request, inputs not even read', async () => {
  const post = await postInProcess({ inputs: { 'admin-key': '' } });
  expect(post.exitCode).toBe(0);
  expect(post.stdout).toContain('No key was minted in this job; nothing to delete.');
  expect(bed.server.requests).toEqual([]);
});

test('a tag but no key id and nothing left under it: one list, no delete', async () => {
  bed.server.addKey({
    description: `someone else ${formatTag({ repo: 'octo-org/shop', pr: undefined, runId: '1', runAttempt: '1', token: 'zzzzzz' })}`,
  });
  const post = await postInProcess({ inputs: bed.inputs, state: { 'invocation-tag': tag, 'key-id': '' } });
  expect(post.stdout).toContain('No key from this job is left; nothing to delete.');
  expect(bed.server.requests.map((r) => r.call)).toEqual(['list']);
  expect(bed.server.liveKeys()).toHaveLength(1);
});

test('a tag but no key id: keys carrying the tag are deleted, others kept', async () => {
  const ours = bed.server.addKey({ description: `label ${tag}` });
  const other = bed.server.addKey({ description: 'untagged' });
  const post = await postInProcess({ inputs: bed.inputs, state: { 'invocation-tag': tag } });
  expect(post.stdout).toContain(`Deleted key ${ours.id} from this step: main did not finish with it.`);
  expect(bed.server.liveKeys().map((k) => k.id)).toEqual([other.id]);
});

test('a key past its expiry is left alone', async () => {
  const post = await postInProcess({
    inputs: bed.inputs,
    state: { 'invocation-tag': tag, 'key-id': 'k1', 'expires-at': '2020-01-01T00:00:00.000Z' },
  });
  expect(post.stdout).toContain('Key k1 expired at 2020-01-01T00:00:00.000Z; nothing to delete.');
  expect(bed.server.requests).toEqual([]);
});

test('skip-delete with a key id: nothing is deleted', async () => {
  const post = await postInProcess({ inputs: { ...bed.inputs, 'skip-delete': 'true' }, state: { 'invocation-tag': tag, 'key-id': 'k1' } });
  expect(post.stdout).toContain('skip-delete is true: key k1 stays usable until it expires at its expiry.');
  expect(bed.server.requests).toEqual([]);
});

test('Venice unreachable: a warning naming the key and the network problem, never empty', async () => {
  const url = bed.server.apiUrl;
  await bed.server.stop();
  const post = await postInProcess({
    inputs: { ...bed.inputs, 'api-url': url, timeout: '2s' },
    state: { 'invocation-tag': tag, 'key-id': 'k1', 'expires-at': '2999-01-01T00:00:00.000Z' },
  });
  expect(post.exitCode).toBe(0);
  expect(post.warnings).toHaveLength(1);
  expect(post.warnings[0]).toMatch(
    /^venice-ephemeral-key: could not delete key k1\. .*connection refused.* It stays usable until it expires at 2999-01-01T00:00:00\.000Z;/,
  );
  bed.server = await new VeniceServer().start();
});

test('cleanup by tag failing is a warning about the keys this job created', async () => {
  bed.server.inject('list', { kind: 'status', status: 403 });
  const post = await postInProcess({ inputs: bed.inputs, state: { 'invocation-tag': tag } });
  expect(post.warnings[0]).toMatch(
    /could not delete the keys this job created\. HTTP 403 "An unknown error occurred": .* It stays usable until it expires;/,
  );
});

test('fail-on-cleanup-error: the same message fails the step instead', async () => {
  bed.server.inject('delete', { kind: 'status', status: 403 });
  const post = await postInProcess({
    inputs: { ...bed.inputs, 'fail-on-cleanup-error': 'true' },
    state: { 'invocation-tag': tag, 'key-id': 'k1' },
  });
  expect(post.exitCode).toBe(1);
  expect(post.warnings).toEqual([]);
  expect(post.errors[0]).toMatch(/^venice-ephemeral-key: could not delete key k1\. HTTP 403 "An unknown error occurred"/);
});

test('invalid inputs in post with a key to delete fail the step, naming the input', async () => {
  const post = await postInProcess({ inputs: { ...bed.inputs, 'skip-delete': 'maybe' }, state: { 'invocation-tag': tag, 'key-id': 'k1' } });
  expect(post.exitCode).toBe(1);
  expect(post.errors[0]).toContain("input 'skip-delete'");
});

test('after a main that deleted its own key, post only checks the tag', async () => {
  bed.server.accessPermitted = false;
  const main = await mainInProcess({ inputs: bed.inputs });
  expect(main.exitCode).toBe(1);
  expect(main.state['key-id']).toBe('');
  const post = await postInProcess({ inputs: bed.inputs, state: main.state });
  expect(post.stdout).toContain('No key from this job is left');
});
