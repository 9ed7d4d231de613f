import { expect, test } from 'vitest';
import { runJob } from '../../fakes/runner.ts';
import { useTestBed } from '../support/bed.ts';

const bed = useTestBed();

test('mints a masked inference key with the default settings, verifies it, and post deletes it', async () => {
  const server = bed.venice;
  const before = Date.now();
  const { main, post } = await runJob({ inputs: bed.inputs() });

  expect(main.exitCode).toBe(0);
  expect(main.errors).toEqual([]);
  const [minted] = server.minted;
  expect(server.minted).toHaveLength(1);
  expect(minted!.apiKeyType).toBe('INFERENCE');
  expect(minted!.consumptionLimit).toEqual({ usd: 1, diem: 1 });
  expect(minted!.limitPeriod).toBe('EPOCH');
  const lifetime = Date.parse(minted!.expiresAt!) - before;
  expect(lifetime).toBeGreaterThan(3_590_000);
  expect(lifetime).toBeLessThanOrEqual(3_600_000 + 60_000);

  expect(main.outputs['api-key']).toBe(minted!.apiKey);
  expect(main.outputs['key-id']).toBe(minted!.id);
  expect(main.outputs['expires-at']).toBe(minted!.expiresAt);
  expect(main.outputs.description).toBe(minted!.description);
  expect(minted!.description).toMatch(/^vek:octo-org\/shop job r18234567890\.1 [0-9a-z]{6}$/);
  expect(main.stdout).toContain(`::add-mask::${minted!.apiKey}`);
  expect(main.stdout).toContain(`::add-mask::${server.adminKey}`);
  expect(main.summary).toContain(minted!.id);
  expect(main.state['key-id']).toBe(minted!.id);

  // Each phase is a foldable group in the log.
  expect(main.commands.filter((c) => c.command === 'group').map((c) => c.data)).toEqual(['Create the inference key', 'Verify the new key']);
  expect(main.commands.filter((c) => c.command === 'endgroup')).toHaveLength(2);
  expect(post.commands.filter((c) => c.command === 'group').map((c) => c.data)).toEqual(['Delete the key']);

  // Exactly create + verify in main, one delete in post.
  expect(server.requests.map((r) => r.call)).toEqual(['create', 'verify', 'get', 'delete']);
  expect(post.exitCode).toBe(0);
  expect(post.warnings).toEqual([]);
  expect(post.stdout).toContain(`Deleted key ${minted!.id}`);
  expect(server.liveKeys()).toEqual([]);
});
