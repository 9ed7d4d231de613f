import { expect, test } from 'vitest';
import { runJob } from '../../fakes/runner.ts';
import { useTestBed } from '../support/bed.ts';

const bed = useTestBed();

test('an empty admin key fails before any request and lists the likely causes', async () => {
  const server = bed.venice;
  const { main, post } = await runJob({ inputs: bed.inputs({ 'admin-key': '' }) });

  expect(main.exitCode).toBe(1);
  expect(main.errors).toHaveLength(1);
  expect(main.errors[0]).toContain("input 'admin-key': is empty");
  for (const cause of [
    'misspelt',
    'environment secret and the job has no `environment:`',
    'fork or Dependabot',
    '`broker-url` is missing',
  ]) {
    expect(main.errors[0]).toContain(cause);
  }
  expect(server.requests).toEqual([]);
  expect(post.exitCode).toBe(0);
  expect(server.requests).toEqual([]);
});
