// Every key expires: when Venice answers a create without an expiry, or with a later one than asked,
// the step deletes the key at once and fails saying so; post then has nothing to watch for.
import { expect, test } from 'vitest';
import { runJob } from '../../fakes/runner.ts';
import { useTestBed } from '../support/bed.ts';

const bed = useTestBed();

test.each([
  ['no expiry', { expiresAt: null }, /answered without the expiry asked for/],
  [
    'an expiry a year later than asked',
    { expiresAt: new Date(Date.now() + 366 * 86_400_000).toISOString() },
    /later than the .* asked for/,
  ],
])('a create answered with %s leaves no key, and the step says why', async (_, data, reason) => {
  bed.venice.inject('create', { kind: 'patch-data', data });
  const { main, post } = await runJob({ inputs: bed.inputs({ 'expires-in': '1h' }) });
  expect(main.exitCode).toBe(1);
  expect(main.errors).toHaveLength(1);
  expect(main.errors[0]).toMatch(reason);
  expect(main.errors[0]).toMatch(/The key was deleted\./);
  expect(bed.venice.liveKeys()).toEqual([]);
  expect(bed.venice.count('create')).toBe(1);
  // The create was answered: post lists nothing and watches for no late key.
  expect(post.exitCode).toBe(0);
  expect(bed.venice.count('list')).toBe(0);
});
