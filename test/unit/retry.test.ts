import { expect, test } from 'vitest';
import { BROKER_VENICE_DEADLINE } from '../../broker/src/keys/venice-advice.ts';
import { Deadline } from '../../core/deadline.ts';
import { ActionFailure } from '../../core/errors.ts';
import { backoffDelayMs, defaultRetryPolicy, type RetryPolicy, rateLimitDelayMs, withRetries } from '../../core/retry.ts';
import { VENICE_STEP_DEADLINE } from '../../src/runner/venice-advice.ts';

const policy: RetryPolicy = { ...defaultRetryPolicy, random: () => 1, sleep: async () => {} };

function retryable(summary: string, extra: { rateLimited?: boolean; retryAfterMs?: number; waitReason?: string } = {}): Error {
  return Object.assign(new Error(summary), { retryable: true, summary, ...extra });
}

test('backoff doubles up to its cap; full jitter scales it by a random factor', () => {
  expect([1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelayMs(n, policy))).toEqual([500, 1_000, 2_000, 4_000, 8_000, 15_000, 15_000]);
  expect(backoffDelayMs(3, { ...policy, random: () => 0.25 })).toBe(500);
  expect(backoffDelayMs(3, { ...policy, random: () => 0 })).toBe(0);
});

test('after a 429, Retry-After sets the wait, with up to a tenth (at most one base delay) of jitter on top', () => {
  expect(rateLimitDelayMs({ ...policy, random: () => 0 }, 3_000)).toBe(3_000);
  expect(rateLimitDelayMs(policy, 3_000)).toBe(3_300);
  expect(rateLimitDelayMs(policy, 60_000)).toBe(60_500);
  expect(rateLimitDelayMs(policy, 0)).toBe(0);
});

test('after a 429 without headers, the wait is a random 1/16 to 3/16 of the one-minute window', () => {
  expect(rateLimitDelayMs({ ...policy, random: () => 0 })).toBe(3_750);
  expect(rateLimitDelayMs({ ...policy, random: () => 1 })).toBe(11_250);
});

test('429s never use up the attempt cap: they are waited out until only the clean-up reserve is left', async () => {
  let calls = 0;
  let now = 0;
  const clock = {
    ...policy,
    random: () => 0.5,
    sleep: async (ms: number) => {
      now += ms;
    },
  };
  const value = await withRetries(
    'creating the key',
    async () => {
      if (++calls <= 20) throw retryable('HTTP 429', { rateLimited: true });
      return 'minted';
    },
    { policy: clock, deadline: Deadline.forStep(300_000, () => now), log: () => {} },
  );
  expect(value).toBe('minted');
  expect(calls).toBe(21); // far past maxAttempts (8)
  const log: string[] = [];
  calls = 0;
  now = 0;
  const gaveUp = await withRetries(
    'creating the key',
    async () => {
      calls++;
      throw retryable('HTTP 429 Rate limit exceeded', { rateLimited: true, waitReason: 'Venice is rate limiting' });
    },
    { policy: clock, deadline: Deadline.forStep(60_000, () => now, VENICE_STEP_DEADLINE), log: (m) => log.push(m) },
  ).catch((e: unknown) => e);
  expect((gaveUp as Error).message).toMatch(/gave up after the step's timeout of 1m while waiting for creating the key\. .*HTTP 429/);
  expect(now).toBeLessThanOrEqual(48_000); // a fifth (12 s) was kept for clean-up
  expect(log).toEqual(['creating the key: Venice is rate limiting; retrying in 7.5s (and again until it lets us through).']);
});

test('only retryable failures are retried', async () => {
  let calls = 0;
  const final = new ActionFailure('final');
  await expect(
    withRetries(
      'x',
      async () => {
        calls++;
        throw final;
      },
      { policy, deadline: new Deadline(60_000), log: () => {} },
    ),
  ).rejects.toBe(final);
  expect(calls).toBe(1);
});

test('a cancelled step does not retry', async () => {
  const controller = new AbortController();
  controller.abort();
  let calls = 0;
  const error = retryable('HTTP 503');
  await expect(
    withRetries(
      'x',
      async () => {
        calls++;
        throw error;
      },
      { policy, deadline: new Deadline(60_000), log: () => {}, signal: controller.signal },
    ),
  ).rejects.toBe(error);
  expect(calls).toBe(1);
});

test('success after retries returns the value and logs each retry', async () => {
  const log: string[] = [];
  let calls = 0;
  const value = await withRetries(
    'list',
    async () => {
      if (++calls < 3) throw retryable('connection reset');
      return 'done';
    },
    { policy, deadline: new Deadline(60_000), log: (m) => log.push(m) },
  );
  expect(value).toBe('done');
  expect(log).toEqual([
    'list: attempt failed (connection reset); retrying in 0.5s.',
    'list: attempt failed (connection reset); retrying in 1s.',
  ]);
});

test('the production sleep really waits, and stops when aborted', async () => {
  await defaultRetryPolicy.sleep(1);
  const controller = new AbortController();
  const sleeping = defaultRetryPolicy.sleep(60_000, controller.signal);
  controller.abort();
  await expect(sleeping).rejects.toThrow(/abort/i);
});

test('deadline: remaining time, and the message when exceeded worded by the program that set it', () => {
  let now = 1_000;
  const deadline = new Deadline(90_000, () => now);
  expect(deadline.remainingMs()).toBe(90_000);
  now += 100_000;
  expect(deadline.remainingMs()).toBe(0);
  // core/ speaks to no one in particular; each program says whose budget it was and what to change.
  expect(deadline.exceeded('create').message).toBe('gave up after the time budget of 1m 30s while waiting for create.');
  expect(Deadline.forStep(90_000, () => now, VENICE_STEP_DEADLINE).exceeded('create', 'HTTP 503').message).toBe(
    "gave up after the step's timeout of 1m 30s while waiting for create. The last attempt failed with: HTTP 503. Raise the `timeout` input if Venice is slow or many jobs mint at once.",
  );
  expect(
    Deadline.forStep(60_000, () => now, BROKER_VENICE_DEADLINE)
      .forCleanup()
      .exceeded('create').message,
  ).toBe(
    "gave up after the broker's venice-timeout of 1m while waiting for create. Venice was slow or failing; retry later, and tell the broker's operator if it lasts (limits.venice-timeout).",
  );
  expect(Deadline.forStep(60_000, () => now, BROKER_VENICE_DEADLINE).exceeded('create').message).not.toMatch(/`timeout`/);
});
