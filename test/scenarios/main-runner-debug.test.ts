import { expect, test } from 'vitest';
import { runJob } from '../support/runner.ts';
import { baseInputs, expectNoLeaks, useVeniceServer } from '../support/scenario.ts';

const ctx = useVeniceServer();
const debug = { env: { RUNNER_DEBUG: '1' } };

test('with RUNNER_DEBUG=1 a full run still prints neither key', async () => {
  const { server } = ctx;
  server.inject('create', { kind: 'reset-after' }); // exercise recovery, retries and their logs too
  const { main, post } = await runJob({ inputs: baseInputs(server, { 'export-env': 'VENICE_API_KEY' }), ...debug });
  expect(main.exitCode).toBe(0);
  expect(post.exitCode).toBe(0);
  expect(server.minted).toHaveLength(2);
  expectNoLeaks(server, [main, post]);
});

test('with RUNNER_DEBUG=1 a failing run prints neither key', async () => {
  const { server } = ctx;
  server.accessPermitted = false;
  server.inject('delete', { kind: 'status', status: 403 }, 5);
  const { main, post } = await runJob({ inputs: baseInputs(server), ...debug });
  expect(main.exitCode).toBe(1);
  expect(post.warnings.length + post.errors.length).toBeGreaterThan(0);
  expectNoLeaks(server, [main, post]);
});
