/**
 * Rate limits per caller, through rate-limiter-flexible (in memory: one broker process):
 * - each rule's `rate-limits`: requests per repository (by id) per minute, for each endpoint;
 * - `limits.refusals-per-address`: requests refused before a rule matched, per client address per
 *   minute. Past it, such a refusal is answered 429 with Retry-After instead of its reason. Only
 *   refusals count, never admitted requests: GitHub's hosted runners share addresses between
 *   customers, and a stranger's flood must not lock out a repository the policy admits.
 */
import { RateLimiterMemory, type RateLimiterRes } from 'rate-limiter-flexible';
import type { Rule } from './config.js';
import { Refusal } from './key-operations.js';

export type Endpoint = 'mint' | 'delete' | 'unwrap' | 'revoke' | 'list' | 'sweep';
type Limited = keyof Rule['rateLimits'];
/** Revoke, list and sweep share the delete limit: they are the lifecycle's deletes. */
const LIMITED: Record<Endpoint, Limited> = {
  mint: 'mint',
  delete: 'delete',
  unwrap: 'unwrap',
  revoke: 'delete',
  list: 'delete',
  sweep: 'delete',
};

export class CallerLimits {
  private readonly perRule = new Map<string, RateLimiterMemory>();
  private readonly refusals: RateLimiterMemory;

  constructor(rules: Rule[], refusalsPerAddress: number) {
    for (const rule of rules) {
      for (const endpoint of ['mint', 'delete', 'unwrap'] as const) {
        this.perRule.set(`${rule.name}/${endpoint}`, new RateLimiterMemory({ points: rule.rateLimits[endpoint], duration: 60 }));
      }
    }
    this.refusals = new RateLimiterMemory({ points: refusalsPerAddress, duration: 60 });
  }

  /** Throws a 429 Refusal when this repository has used its rule's requests for this endpoint. */
  async admit(rule: Rule, endpoint: Endpoint, repositoryId: string): Promise<void> {
    const limited = LIMITED[endpoint];
    const limiter = this.perRule.get(`${rule.name}/${limited}`) as RateLimiterMemory;
    try {
      await limiter.consume(repositoryId);
    } catch (result) {
      throw new Refusal(
        429,
        `rule "${rule.name}" allows ${rule.rateLimits[limited]} ${limited} request(s) per minute per repository; retry after the wait given.`,
        { rule: rule.name, retryAfterMs: msBeforeNext(result) },
      );
    }
  }

  /** Counts one refusal for `address`; the wait before the next, when the address is over its limit. */
  async refused(address: string): Promise<number | undefined> {
    try {
      await this.refusals.consume(address);
      return undefined;
    } catch (result) {
      return msBeforeNext(result);
    }
  }
}

/** The memory store rejects with a RateLimiterRes: how long until the window lets the caller in again. */
function msBeforeNext(result: unknown): number {
  return Math.max(1_000, (result as RateLimiterRes).msBeforeNext);
}
