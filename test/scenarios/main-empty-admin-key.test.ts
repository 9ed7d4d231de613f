import { expect, test } from 'vitest';
import { runJob } from '../../fakes/runner.ts';
import { useTestBed } from '../support/bed.ts';

const bed = useTestBed();

test('an empty admin key fails before any request and names forks and Dependabot as the likely cause', async () => {
  const server = bed.venice;
  const { main, post } = await runJob({ inputs: bed.inputs({ 'admin-key': '' }) });

  expect(main.exitCode).toBe(1);
  expect(main.errors).toHaveLength(1);
  expect(main.errors[0]).toContain("input 'admin-key': is empty");
  expect(main.errors[0]).toContain('secrets are not passed to workflows triggered from forks or by Dependabot');
  expect(server.requests).toEqual([]);
  expect(post.exitCode).toBe(0);
  expect(server.requests).toEqual([]);
});
