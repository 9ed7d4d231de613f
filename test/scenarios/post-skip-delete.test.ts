import { expect, test } from 'vitest';
import { runJob } from '../../fakes/runner.ts';
import { useTestBed } from '../support/bed.ts';

const bed = useTestBed();

test('skip-delete leaves the key alive after the job, and post says so', async () => {
  const server = bed.venice;
  const { main, post } = await runJob({ inputs: bed.inputs({ 'skip-delete': 'true', 'expires-in': '7d' }) });

  expect(main.exitCode).toBe(0);
  expect(post.exitCode).toBe(0);
  const id = main.outputs['key-id']!;
  expect(post.stdout).toContain(`skip-delete is true: key ${id} stays usable until it expires at ${main.outputs['expires-at']}`);
  expect(server.liveKeys().map((key) => key.id)).toEqual([id]);
  expect(server.count('delete')).toBe(0);
});
