import { setTimeout as sleepFor } from 'node:timers/promises';
import type { Deadline } from './deadline.js';
import { formatDuration } from './duration.js';
import { ActionFailure } from './errors.js';

/**
 * How failed requests are retried: capped exponential backoff with full jitter, at least as long as the
 * server asked (Retry-After), never past the step's deadline. Only failures marked retryable are retried:
 * a 4xx other than 429 is final, both because retrying cannot help and because Venice blocks a key after
 * 50 failed requests in 30 s.
 */
export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  random: () => number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export const defaultRetryPolicy: RetryPolicy = {
  maxAttempts: 8,
  baseDelayMs: 500,
  maxDelayMs: 15_000,
  random: Math.random,
  sleep: (ms, signal) => sleepFor(ms, undefined, { signal }),
};

/** What an attempt throws when it may succeed if tried again. */
export interface RetryableFailure {
  retryable: boolean;
  retryAfterMs?: number | undefined;
  /** Short text for logs, e.g. "HTTP 503" or "connection reset". */
  summary: string;
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

export function backoffDelayMs(attempt: number, policy: RetryPolicy, retryAfterMs?: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  const jitter = policy.random() * ceiling;
  // With Retry-After, wait that long plus up to a tenth more, so a matrix of jobs does not return in
  // lockstep, yet is back soon after the limit resets.
  return retryAfterMs === undefined ? jitter : retryAfterMs + policy.random() * Math.min(policy.baseDelayMs, retryAfterMs / 10);
}

export async function withRetries<T>(call: string, attempt: () => Promise<T>, options: RetryOptions): Promise<T> {
  const { policy, deadline, log } = options;
  for (let attemptNo = 1; ; attemptNo++) {
    try {
      return await attempt();
    } catch (error) {
      if (!isRetryable(error)) throw error;
      if (options.signal?.aborted) throw error;
      if (attemptNo >= policy.maxAttempts) {
        throw new ActionFailure(`${call} failed ${attemptNo} times; the last attempt failed with: ${error.summary}.`);
      }
      const delay = backoffDelayMs(attemptNo, policy, error.retryAfterMs);
      if (delay >= deadline.remainingMs()) throw deadline.exceeded(call, error.summary);
      log(`${call}: attempt ${attemptNo} failed (${error.summary}); retrying in ${formatDuration(delay)}.`);
      await policy.sleep(delay, options.signal);
      await options.beforeRetry?.();
    }
  }
}
