import { expect, test } from 'vitest';
import { runStep } from '../../fakes/runner.ts';
import { useTestBed } from '../support/bed.ts';

const bed = useTestBed();

test('a key deleted before the post step counts as deleted: no warning, success', async () => {
  const server = bed.venice;
  const inputs = bed.inputs();
  const main = await runStep('main', { inputs });
  expect(main.exitCode).toBe(0);
  server.keys.clear(); // someone deleted it in the dashboard

  const post = await runStep('post', { inputs, state: main.state });
  expect(post.exitCode).toBe(0);
  expect(post.warnings).toEqual([]);
  expect(post.stdout).toContain(`Key ${main.outputs['key-id']} was already gone.`);
});

test('a key whose saved expiry has passed is still deleted: neither the clock nor the answer is trusted', async () => {
  const server = bed.venice;
  const inputs = bed.inputs();
  const main = await runStep('main', { inputs });
  const expired = new Date(Date.now() - 1_000).toISOString();
  const post = await runStep('post', { inputs, state: { ...main.state, 'expires-at': expired } });
  expect(post.exitCode).toBe(0);
  expect(post.stdout).toContain(`Deleted key ${main.outputs['key-id']}.`);
  expect(server.count('delete')).toBe(1);
  expect(server.liveKeys()).toEqual([]);
});

test('post with no state (main failed before minting) does nothing', async () => {
  const server = bed.venice;
  const post = await runStep('post', { inputs: bed.inputs() });
  expect(post.exitCode).toBe(0);
  expect(post.stdout).toContain('No key was minted in this job; nothing to delete.');
  expect(server.requests).toEqual([]);
});
