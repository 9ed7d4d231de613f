/**
 * Rate limits per caller, through rate-limiter-flexible, in the broker's store (shared-state.ts: in
 * memory for one process, in Redis for replicas, so N replicas do not allow N times the limit):
 * - each rule's `rate-limits`: requests per repository (by id) per minute, for each endpoint;
 * - `limits.refusals-per-address`: requests refused before a rule matched, per client address per
 *   minute. Past it, such a refusal is answered 429 with Retry-After instead of its reason. Only
 *   refusals count, never admitted requests: GitHub's hosted runners share addresses between
 *   customers, and a stranger's flood must not lock out a repository the policy admits.
 * A store out of reach: an admitted caller's request is answered 503 (StoreUnavailable), never let
 * through uncounted; a refusal is answered with its own reason, uncounted (it costs nothing).
 */
import { type RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import { Refusal } from '../keys/key-operations.js';
import type { Rule } from '../policy/config.js';
import type { SharedState } from '../state/shared-state.js';

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
  private readonly perRule = new Map<string, RateLimiterAbstract>();
  private readonly refusals: RateLimiterAbstract;

  constructor(
    rules: Rule[],
    refusalsPerAddress: number,
    private readonly state: Pick<SharedState, 'limiter' | 'failure'>,
    private readonly onStoreError: (error: unknown) => void = () => undefined,
  ) {
    for (const rule of rules) {
      for (const endpoint of ['mint', 'delete', 'unwrap'] as const) {
        this.perRule.set(`${rule.name}/${endpoint}`, state.limiter(rule.rateLimits[endpoint], 60, `rule:${rule.name}:${endpoint}`));
      }
    }
    this.refusals = state.limiter(refusalsPerAddress, 60, 'refusals');
  }

  /** Throws a 429 Refusal when this repository has used its rule's requests for this endpoint. */
  async admit(rule: Rule, endpoint: Endpoint, repositoryId: string): Promise<void> {
    const limited = LIMITED[endpoint];
    const limiter = this.perRule.get(`${rule.name}/${limited}`) as RateLimiterAbstract;
    try {
      await limiter.consume(repositoryId);
    } catch (result) {
      if (!(result instanceof RateLimiterRes)) {
        this.onStoreError(result);
        throw this.state.failure(result);
      }
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
      if (!(result instanceof RateLimiterRes)) {
        this.onStoreError(result);
        return undefined;
      }
      return msBeforeNext(result);
    }
  }
}

/** The memory store rejects with a RateLimiterRes: how long until the window lets the caller in again. */
function msBeforeNext(result: unknown): number {
  return Math.max(1_000, (result as RateLimiterRes).msBeforeNext);
}
