import { expect, test } from 'vitest';
import { runJob } from '../support/runner.ts';
import { baseInputs, expectNoLeaks, useVeniceServer } from '../support/scenario.ts';

const ctx = useVeniceServer();

test('a key Venice reports as not permitted fails the step and is deleted', async () => {
  const { server } = ctx;
  server.accessPermitted = false;
  const { main, post } = await runJob({ inputs: baseInputs(server) });

  expect(main.exitCode).toBe(1);
  expect(main.errors).toHaveLength(1);
  expect(main.errors[0]).toContain('accessPermitted: false');
  expect(main.errors[0]).toContain(server.minted[0]!.id);
  expect(post.exitCode).toBe(0);
  expect(server.liveKeys()).toEqual([]);
  expectNoLeaks(server, [main, post]);
});

test('verify: false sends no verification request', async () => {
  const { server } = ctx;
  const { main, post } = await runJob({ inputs: baseInputs(server, { verify: 'false' }) });
  expect(main.exitCode).toBe(0);
  expect(server.requests.map((r) => r.call)).toEqual(['create', 'delete']);
  expect(main.summary).toContain('not checked');
  expectNoLeaks(server, [main, post]);
});
