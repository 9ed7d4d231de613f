import { expect, test } from 'vitest';
import { runJob } from '../../fakes/runner.ts';
import { expectNotShown } from '../../testkit/leaks.ts';
import { useTestBed } from '../support/bed.ts';

const bed = useTestBed();

test('an inference key given as admin-key fails saying an admin key is needed', async () => {
  const server = bed.venice;
  const inference = server.addKey({ description: "someone else's inference key" });
  const { main, post } = await runJob({ inputs: bed.inputs({ 'admin-key': inference.apiKey }) });

  expect(main.exitCode).toBe(1);
  expect(main.errors).toHaveLength(1);
  expect(main.errors[0]).toContain('"Admin API key required"');
  expect(main.errors[0]).toContain('admin-key holds an inference key');
  expect(server.minted).toEqual([]);
  expect(post.exitCode).toBe(0);
  expectNotShown([inference.apiKey]);
});
