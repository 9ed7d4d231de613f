import { expect, test } from 'vitest';
import { runJob } from '../../fakes/runner.ts';
import { useTestBed } from '../support/bed.ts';

const bed = useTestBed();

test('a key Venice reports as not permitted fails the step and is deleted', async () => {
  const server = bed.venice;
  server.accessPermitted = false;
  const { main, post } = await runJob({ inputs: bed.inputs() });

  expect(main.exitCode).toBe(1);
  expect(main.errors).toHaveLength(1);
  expect(main.errors[0]).toContain('accessPermitted: false');
  expect(main.errors[0]).toContain(server.minted[0]!.id);
  expect(post.exitCode).toBe(0);
  expect(server.liveKeys()).toEqual([]);
});

test('verify: false sends no verification request', async () => {
  const server = bed.venice;
  const { main, post } = await runJob({ inputs: bed.inputs({ verify: 'false' }) });
  expect(main.exitCode).toBe(0);
  expect(post.exitCode).toBe(0);
  expect(server.requests.map((r) => r.call)).toEqual(['create', 'get', 'delete']);
  expect(main.summary).toContain('not checked');
});
