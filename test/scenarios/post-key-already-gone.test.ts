import { expect, test } from 'vitest';
import { runStep } from '../support/runner.ts';
import { baseInputs, expectNoLeaks, useVeniceServer } from '../support/scenario.ts';

const ctx = useVeniceServer();

test('a key deleted before the post step counts as deleted: no warning, success', async () => {
  const { server } = ctx;
  const inputs = baseInputs(server);
  const main = await runStep('main', { inputs });
  expect(main.exitCode).toBe(0);
  server.keys.clear(); // someone deleted it in the dashboard

  const post = await runStep('post', { inputs, state: main.state });
  expect(post.exitCode).toBe(0);
  expect(post.warnings).toEqual([]);
  expect(post.stdout).toContain(`Key ${main.outputs['key-id']} was already gone.`);
  expectNoLeaks(server, [main, post]);
});

test('a key already past its expiry is not deleted again', async () => {
  const { server } = ctx;
  const inputs = baseInputs(server);
  const main = await runStep('main', { inputs });
  const expired = new Date(Date.now() - 1_000).toISOString();
  const post = await runStep('post', { inputs, state: { ...main.state, 'expires-at': expired } });
  expect(post.exitCode).toBe(0);
  expect(post.stdout).toContain(`expired at ${expired}; nothing to delete`);
  expect(server.count('delete')).toBe(0);
  expectNoLeaks(server, [main, post]);
});

test('post with no state (main failed before minting) does nothing', async () => {
  const { server } = ctx;
  const post = await runStep('post', { inputs: baseInputs(server) });
  expect(post.exitCode).toBe(0);
  expect(post.stdout).toContain('No key was minted in this job; nothing to delete.');
  expect(server.requests).toEqual([]);
});
