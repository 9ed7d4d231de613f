import { expect, test } from 'vitest';
import { useTestBed } from '../support/bed.ts';
import { runJob } from '../support/runner.ts';

const bed = useTestBed();
const debug = { env: { RUNNER_DEBUG: '1' } };

test('with RUNNER_DEBUG=1 a full run still prints neither key', async () => {
  const server = bed.venice;
  server.inject('create', { kind: 'reset-after' }); // exercise recovery, retries and their logs too
  const { main, post } = await runJob({ inputs: bed.inputs({ 'export-env': 'VENICE_API_KEY' }), ...debug });
  expect(main.exitCode).toBe(0);
  expect(post.exitCode).toBe(0);
  expect(server.minted).toHaveLength(2);
});

test('with RUNNER_DEBUG=1 a failing run prints neither key', async () => {
  const server = bed.venice;
  server.accessPermitted = false;
  server.inject('delete', { kind: 'status', status: 403 }, 5);
  const { main, post } = await runJob({ inputs: bed.inputs(), ...debug });
  expect(main.exitCode).toBe(1);
  expect(post.warnings.length + post.errors.length).toBeGreaterThan(0);
});
