/**
 * The broker's own brake on its use of the admin key. Venice answers 429 past its limits, and blocks
 * a key for 30 s after more than 50 failed requests in 30 s (../shared/venice/README.md, abuse guard):
 * a blocked admin key stops every repository's mints and deletes, and the direct path's too. So every
 * Venice answer the broker gets is observed here, and:
 * - after a 429, the broker sends Venice nothing new until the wait it was given is over, or, without
 *   one, until the oldest create of the window it counted ages out (never a fresh minute per 429);
 * - after `streak` failed answers in a row (4xx other than 429), it sends nothing for the abuse guard's
 *   30 s, long before Venice's 50 could be reached.
 * Meanwhile requests that would need Venice are answered 503 with Retry-After. Work already under way
 * (a create waiting out its own 429) carries on through its client's retry policy.
 *
 * The hold lives in the shared state (shared-state.ts): with Redis, one replica's 429 holds every
 * replica off for that wait. The failure streak is counted per replica (5 each: still far below 50).
 */
import type { HttpRequest, HttpResponse, HttpTransport } from '../../../core/http.js';
import type { VeniceBrake } from '../state/shared-state.js';

export const FAILED_STREAK = 5;
const ABUSE_WINDOW_MS = 30_000;

export class VeniceGuard {
  private failures = 0;
  /**
   * @param windowFreesInMs when the oldest create of the current window ages out (0: none known), for a
   *   429 that names no wait: the hold lasts until then (or a whole window when nothing is known), and a
   *   later 429 within it does not re-arm it. Re-arming a minute per 429 stacked waits (112 s for 61).
   */
  constructor(
    private readonly windowMs: number,
    private readonly brake: VeniceBrake,
    private readonly retryAfterOf: (response: HttpResponse) => number | undefined,
    private readonly windowFreesInMs: () => Promise<number> = async () => 0,
  ) {}

  /** Milliseconds until the broker may call Venice again; 0 when it may now (StoreUnavailable: unknown). */
  blockedForMs(): Promise<number> {
    return this.brake.heldForMs();
  }

  /** Notes one answer; resolves once a hold it calls for is in the shared state (or could not be). */
  observe(response: HttpResponse): Promise<void> {
    const { status } = response;
    if (status === 429) {
      const retryAfter = this.retryAfterOf(response);
      return retryAfter === undefined ? this.holdForWindow() : this.block(retryAfter);
    }
    if (status >= 400 && status < 500) {
      this.failures++;
      if (this.failures >= FAILED_STREAK) {
        this.failures = 0;
        return this.block(ABUSE_WINDOW_MS);
      }
    } else if (status < 400) {
      this.failures = 0;
    }
    return Promise.resolve();
  }

  /** A transport that reports every answer to this guard. */
  watch(transport: HttpTransport): HttpTransport {
    return {
      send: async (request: HttpRequest) => {
        const response = await transport.send(request);
        await this.observe(response);
        return response;
      },
    };
  }

  private async holdForWindow(): Promise<void> {
    const freesIn = await this.windowFreesInMs().catch(() => 0);
    await this.brake.holdUnlessHeld(freesIn > 0 ? freesIn : this.windowMs).catch(() => undefined);
  }

  /** A store out of reach loses the hold (counted as a store error); the create queue is then 503 anyway. */
  private block(ms: number): Promise<void> {
    return this.brake.holdFor(ms).catch(() => undefined);
  }
}
