import { expect, test } from 'vitest';
import { runJob } from '../../fakes/runner.ts';
import { useTestBed } from '../support/bed.ts';

const bed = useTestBed();

test('custom expiry, limits, period, privacy and label reach Venice as written', async () => {
  const server = bed.venice;
  const before = Date.now();
  const { main, post } = await runJob({
    inputs: bed.inputs({
      'expires-in': '2h30m',
      'usd-limit': 'unlimited',
      'diem-limit': '0.5',
      'limit-period': 'month',
      'model-privacy': 'private_only',
      description: 'nightly evals',
    }),
  });

  expect(main.exitCode).toBe(0);
  const [key] = server.minted;
  expect(key!.consumptionLimit).toEqual({ usd: null, diem: 0.5 });
  expect(key!.limitPeriod).toBe('MONTH');
  expect(key!.modelPrivacy).toBe('PRIVATE_ONLY');
  expect(key!.description).toMatch(/^nightly evals vek:octo-org\/shop job r18234567890\.1 [0-9a-z]{6}$/);
  const lifetime = Date.parse(key!.expiresAt!) - before;
  expect(lifetime).toBeGreaterThanOrEqual(9_000_000 - 1_000);
  expect(lifetime).toBeLessThanOrEqual(9_000_000 + 60_000);
  expect(main.summary).toContain('unlimited');
  expect(main.summary).toContain('0.5 per month');
  expect(post.exitCode).toBe(0);
  expect(server.liveKeys()).toEqual([]);
});

test('a label too long for Venice is shortened; the tag is kept whole', async () => {
  const server = bed.venice;
  const label = 'a very long label that describes this preview deployment in far too much detail';
  const { main, post } = await runJob({ inputs: bed.inputs({ description: label }) });

  expect(main.exitCode).toBe(0);
  const description = server.minted[0]!.description;
  expect(description.length).toBeLessThanOrEqual(64);
  expect(description).toMatch(/^a very long label .* vek:octo-org\/shop job r18234567890\.1 [0-9a-z]{6}$/);
  expect(main.stdout).toContain('shortened');
  expect(post.exitCode).toBe(0);
});

test('model-privacy is left out of the request when not set', async () => {
  const server = bed.venice;
  const { main, post } = await runJob({ inputs: bed.inputs() });
  expect(main.exitCode).toBe(0);
  expect(post.exitCode).toBe(0);
  expect(server.requests[0]!.call).toBe('create');
  expect(server.createBodies[0]).not.toHaveProperty('modelPrivacy');
  expect(server.createBodies[0]).toMatchObject({ apiKeyType: 'INFERENCE', consumptionLimit: { usd: 1, diem: 1 }, limitPeriod: 'EPOCH' });
});
