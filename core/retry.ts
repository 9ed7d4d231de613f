/**
 * How failed requests are retried: capped exponential backoff with full jitter, never past the step's
 * deadline. Only failures marked retryable are retried: a 4xx other than 429 is final, both because
 * retrying cannot help and because Venice blocks a key after 50 failed requests in 30 s.
 *
 * A 429 is a wait, not a failure: it never uses up the attempt cap. It waits as long as the server
 * asked (Retry-After, x-ratelimit-reset-*), or, when the server did not say, for a random slice of
 * Venice's one-minute creation window, so a matrix of jobs neither returns in lockstep nor gives up
 * before the window opens again. It keeps waiting until only the clean-up reserve is left.
 */
import { setTimeout as sleepFor } from 'node:timers/promises';
import type { Deadline } from './deadline.js';
import { formatDuration } from './duration.js';
import { ActionFailure } from './errors.js';

export interface RetryPolicy {
  /** Attempts for failures other than 429. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Venice's creation limit resets over this window (20 per minute). */
  rateLimitWindowMs: number;
  random: () => number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export const defaultRetryPolicy: RetryPolicy = {
  maxAttempts: 8,
  baseDelayMs: 500,
  maxDelayMs: 15_000,
  rateLimitWindowMs: 60_000,
  random: Math.random,
  sleep: (ms, signal) => sleepFor(ms, undefined, { signal }),
};

/** What an attempt throws when it may succeed if tried again. */
export interface RetryableFailure {
  retryable: boolean;
  /** A 429: wait, without using up an attempt. */
  rateLimited?: boolean;
  retryAfterMs?: number | undefined;
  /** Short text for logs, e.g. "HTTP 503" or "connection reset". */
  summary: string;
  /** Why a wait is needed, as the failure's producer words it (e.g. "Venice is rate limiting"). */
  waitReason?: string;
}

export function isRetryable(error: unknown): error is Error & RetryableFailure {
  return error instanceof Error && (error as Partial<RetryableFailure>).retryable === true;
}

export interface RetryOptions {
  policy: RetryPolicy;
  deadline: Deadline;
  log: (message: string) => void;
  signal?: AbortSignal | undefined;
  /** Runs before each retry, e.g. to clean up after an ambiguous create. */
  beforeRetry?: (() => Promise<void>) | undefined;
}

export function backoffDelayMs(attempt: number, policy: RetryPolicy): number {
  return policy.random() * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
}

/**
 * How long to wait after a 429. With a server's figure: that long plus up to a tenth more (at most one
 * base delay), so jobs are back soon after the reset but not all at once. Without: between 1/16 and
 * 3/16 of the window, so a job polls about eight times a window and is back within an eighth of it.
 */
export function rateLimitDelayMs(policy: RetryPolicy, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined) return retryAfterMs + policy.random() * Math.min(policy.baseDelayMs, retryAfterMs / 10);
  return (policy.rateLimitWindowMs / 8) * (0.5 + policy.random());
}

export async function withRetries<T>(call: string, attempt: () => Promise<T>, options: RetryOptions): Promise<T> {
  const { policy, deadline, log } = options;
  let failures = 0;
  let waits = 0;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (!isRetryable(error)) throw error;
      if (options.signal?.aborted) throw error;
      let delay: number;
      if (error.rateLimited) {
        delay = rateLimitDelayMs(policy, error.retryAfterMs);
        waits++;
      } else {
        failures++;
        if (failures >= policy.maxAttempts) {
          throw new ActionFailure(`${call} failed ${failures} times in a row; the last attempt failed with: ${error.summary}.`);
        }
        delay = backoffDelayMs(failures, policy);
      }
      if (delay >= deadline.remainingMs()) throw deadline.exceeded(call, error.summary);
      // The first wait for a rate limit is said plainly; the rest would only fill the log.
      if (!error.rateLimited || waits === 1) {
        const what = error.rateLimited ? (error.waitReason ?? 'rate limited') : `attempt failed (${error.summary})`;
        log(`${call}: ${what}; retrying in ${formatDuration(delay)}${error.rateLimited ? ' (and again until it lets us through)' : ''}.`);
      }
      await policy.sleep(delay, options.signal);
      await options.beforeRetry?.();
    }
  }
}
