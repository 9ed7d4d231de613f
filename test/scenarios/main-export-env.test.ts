import { expect, test } from 'vitest';
import { runJob } from '../support/runner.ts';
import { baseInputs, expectNoLeaks, useVeniceServer } from '../support/scenario.ts';

const ctx = useVeniceServer();

test('export-env puts the key in an environment variable for later steps', async () => {
  const { server } = ctx;
  const { main, post } = await runJob({ inputs: baseInputs(server, { 'export-env': 'VENICE_API_KEY' }) });

  expect(main.exitCode).toBe(0);
  expect(main.env.VENICE_API_KEY).toBe(server.minted[0]!.apiKey);
  expect(post.exitCode).toBe(0);
  expectNoLeaks(server, [main, post]);
});

test('without export-env no variable is exported', async () => {
  const { server } = ctx;
  const { main } = await runJob({ inputs: baseInputs(server) });
  expect(main.exitCode).toBe(0);
  expect(main.env).toEqual({});
});
