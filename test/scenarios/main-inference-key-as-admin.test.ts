import { expect, test } from 'vitest';
import { runJob } from '../support/runner.ts';
import { baseInputs, expectNoLeaks, useVeniceServer } from '../support/scenario.ts';

const ctx = useVeniceServer();

test('an inference key given as admin-key fails saying an admin key is needed', async () => {
  const { server } = ctx;
  const inference = server.addKey({ description: "someone else's inference key" });
  const { main, post } = await runJob({ inputs: baseInputs(server, { 'admin-key': inference.apiKey }) });

  expect(main.exitCode).toBe(1);
  expect(main.errors).toHaveLength(1);
  expect(main.errors[0]).toContain('"Admin API key required"');
  expect(main.errors[0]).toContain('admin-key holds an inference key');
  expect(server.minted).toEqual([]);
  expect(post.exitCode).toBe(0);
  expectNoLeaks(server, [main, post], [inference.apiKey]);
});
