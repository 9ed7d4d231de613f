// A retry policy for tests of either program: the production numbers, real sleeps capped.
import { defaultRetryPolicy, type RetryPolicy } from '../core/retry.ts';

/**
 * The production policy's numbers (the same attempts, backoff and one-minute window), with real sleeps
 * capped so tests do not wait for Retry-After or the window in full. Every delay asked for is recorded.
 */
export function fastPolicy(delays: number[] = [], maxSleepMs = 20): RetryPolicy {
  return {
    ...defaultRetryPolicy,
    random: () => 0.5, // deterministic: the middle of every jitter range
    sleep: async (ms, signal) => {
      delays.push(ms);
      signal?.throwIfAborted();
      await new Promise((done) => setTimeout(done, Math.min(ms, maxSleepMs)));
    },
  };
}
