/**
 * The issuer's signing keys (its JWKS), held for token verification. Written here rather than with
 * jose's createRemoteJWKSet, whose cache drops keys after its max age and fetches again on every
 * failing request: an issuer outage would then refuse every caller after ten minutes, and each junk
 * token would cost an outbound fetch. Here:
 * - keys are fetched at start (so readiness can be known before the first token), and again when they
 *   are older than `refreshMs` or a token names a key id they lack;
 * - fetches are single-flight and at most one per `cooldownMs`, whether the last one worked or not;
 * - after failed refreshes the last good keys are used for `staleForMs` (stale-if-error);
 * - with no usable keys, verification fails with KeysUnavailable, which the broker answers 503 with
 *   Retry-After (the caller is not at fault).
 * jose's createLocalJWKSet does the key selection (kid, alg, use) from the held set.
 */

import { createLocalJWKSet, errors, type FlattenedJWSInput, type JSONWebKeySet, type JWSHeaderParameters } from 'jose';
import { messageOf } from '../../../core/errors.js';

export class KeysUnavailable extends Error {
  constructor(readonly retryAfterMs: number) {
    super("the issuer's keys could not be fetched");
    this.name = 'KeysUnavailable';
  }
}

export interface IssuerKeysOptions {
  url: string;
  refreshMs: number;
  staleForMs: number;
  cooldownMs: number;
  now: () => number;
  /** Told each fetch's result (metrics, logs). */
  onFetch?: (result: 'ok' | 'failed', detail: string) => void;
}

const FETCH_TIMEOUT_MS = 5_000;
const MAX_JWKS_BYTES = 1_048_576;

type KeyLookup = ReturnType<typeof createLocalJWKSet>;

export class IssuerKeys {
  private local: KeyLookup | undefined;
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private attemptedAt = Number.NEGATIVE_INFINITY;
  private pending: Promise<void> | undefined;
  private readonly options: IssuerKeysOptions;

  constructor(options: IssuerKeysOptions) {
    this.options = options;
  }

  /** The first fetch; a failure is only reported (the next request tries again after the cooldown). */
  start(): Promise<void> {
    return this.refresh();
  }

  /** The key for a token's header, for jose's jwtVerify. */
  readonly getKey = async (header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<Awaited<ReturnType<KeyLookup>>> => {
    const { now, refreshMs } = this.options;
    if (this.local === undefined || now() - this.fetchedAt > refreshMs) await this.refresh();
    const local = this.usable();
    try {
      return await local(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      // A key id we do not hold: the issuer may have rotated its keys. Ask again (within the cooldown).
      const before = this.fetchedAt;
      await this.refresh();
      if (this.fetchedAt === before) throw error;
      return this.usable()(header, token);
    }
  };

  /** Whether usable keys are held now (for /readyz): fetched, and not older than jwks-stale-for. */
  held(): boolean {
    return this.local !== undefined && this.options.now() - this.fetchedAt <= this.options.staleForMs;
  }

  private usable(): KeyLookup {
    const { now, staleForMs, cooldownMs } = this.options;
    if (this.local === undefined || now() - this.fetchedAt > staleForMs) {
      throw new KeysUnavailable(Math.max(1_000, this.attemptedAt + cooldownMs - now()));
    }
    return this.local;
  }

  private refresh(): Promise<void> {
    if (this.pending) return this.pending;
    const { now, cooldownMs } = this.options;
    if (now() - this.attemptedAt < cooldownMs) return Promise.resolve();
    this.attemptedAt = now();
    this.pending = this.fetchKeys()
      .then((jwks) => {
        this.local = createLocalJWKSet(jwks);
        this.fetchedAt = now();
        this.options.onFetch?.('ok', `${jwks.keys.length} key(s)`);
      })
      .catch((error: unknown) => this.options.onFetch?.('failed', messageOf(error)))
      .finally(() => {
        this.pending = undefined;
      });
    return this.pending;
  }

  private async fetchKeys(): Promise<JSONWebKeySet> {
    const response = await fetch(this.options.url, {
      headers: { accept: 'application/json' },
      redirect: 'error',
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
    const text = await response.text();
    if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
    if (text.length > MAX_JWKS_BYTES) throw new Error('the key set is larger than 1 MiB');
    const jwks = JSON.parse(text) as JSONWebKeySet;
    if (!Array.isArray(jwks?.keys)) throw new Error('not a JSON Web Key Set');
    createLocalJWKSet(jwks); // throws on a set jose cannot use
    return jwks;
  }
}
