// The shortest timeout the action accepts, with a create slower than the step can wait: the create is
// never abandoned early and never sent twice, and whatever Venice makes late is found and deleted.
import { expect, test } from 'vitest';
import { runJob } from '../../fakes/runner.ts';
import { useTestBed } from '../support/bed.ts';

const bed = useTestBed();

test('timeout 10s and a 1.8 s create: one create, the key is handed out, post deletes it', async () => {
  bed.venice.inject('create', { kind: 'delay', ms: 1_800 });
  const { main, post } = await runJob({ inputs: bed.inputs({ timeout: '10s' }) });
  expect(main.exitCode).toBe(0);
  expect(bed.venice.count('create')).toBe(1);
  expect(post.exitCode).toBe(0);
  expect(bed.venice.liveKeys()).toEqual([]);
});

test('timeout 10s and a create Venice finishes after 9 s: one create, main fails, post deletes the late key', async () => {
  bed.venice.inject('create', { kind: 'act-late', ms: 9_000 });
  const { main, post } = await runJob({ inputs: bed.inputs({ timeout: '10s' }) });
  expect(main.exitCode).toBe(1);
  expect(main.errors).toEqual([expect.stringContaining("gave up after the step's timeout of 10s while waiting for creating the key")]);
  expect(main.outputs).toEqual({});
  expect(bed.venice.count('create')).toBe(1);
  expect(post.exitCode).toBe(0);
  expect(post.stdout).toContain('Deleted 1 key(s) left by main.');
  expect(bed.venice.minted).toHaveLength(1);
  expect(bed.venice.liveKeys()).toEqual([]);
}, 40_000);
