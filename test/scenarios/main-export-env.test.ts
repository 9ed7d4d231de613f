import { expect, test } from 'vitest';
import { runJob } from '../../fakes/runner.ts';
import { useTestBed } from '../support/bed.ts';

const bed = useTestBed();

test('export-env puts the key in an environment variable for later steps', async () => {
  const server = bed.venice;
  const { main, post } = await runJob({ inputs: bed.inputs({ 'export-env': 'VENICE_API_KEY' }) });

  expect(main.exitCode).toBe(0);
  expect(main.env.VENICE_API_KEY).toBe(server.minted[0]!.apiKey);
  expect(post.exitCode).toBe(0);
});

test('without export-env no variable is exported', async () => {
  const { main } = await runJob({ inputs: bed.inputs() });
  expect(main.exitCode).toBe(0);
  expect(main.env).toEqual({});
});
