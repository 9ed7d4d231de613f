/**
 * What the broker does with Venice for a caller its policy admits, beside the mint (mint.ts): delete
 * and unwrap, and what they share with the mint (the error type, the dependencies, the request's
 * parsing, the account's active-keys check). The caller's rule has been found before any of these runs
 * (app.ts); each returns what to answer and what to audit, or throws a Refusal.
 *
 * Who owns a key is read from the broker's lease for it (leases.ts), never from the request or from a
 * description in Venice's listing: a key the broker did not hand out is not a caller's to delete.
 */
import type { Spent } from '../../../core/delete-keys.js';
import type { KeyTag } from '../../../core/description-tag.js';
import type { InputErrors } from '../../../core/errors.js';
import { messageOf } from '../../../core/errors.js';
import { isKeyHandle, openRunKey } from '../../../core/key-handle.js';
import { KEY_REQUEST_DEFAULTS, type KeyRequest, type KeyRequestField, readKeyRequest } from '../../../core/key-request.js';
import { isKeyId, mayDeleteFromRun } from '../../../core/ownership.js';
import type { VeniceClient } from '../../../core/venice-client.js';
import { VeniceError } from '../../../core/venice-errors.js';
import type { Audit } from '../observe/audit.js';
import type { BrokerMetrics } from '../observe/metrics.js';
import type { CallerClaims } from '../policy/caller-token.js';
import type { BrokerConfig, Rule } from '../policy/config.js';
import type { SharedState } from '../state/shared-state.js';
import { handleAdviceForCaller } from './handle-advice.js';
import type { KeyListing } from './key-listing.js';
import type { LeaseBook } from './lease-book.js';
import { endLeasedKey, leaseEndDeps } from './lease-ends.js';
import { leaseFacts } from './leases.js';
import type { WarmPool } from './pool.js';
import type { RecordKeys } from './sealed-records.js';
import type { VeniceGuard } from './venice-guard.js';

/** An answer other than success: its status, a reason for the caller, and one for the audit log. */
export class Refusal extends Error {
  constructor(
    readonly status: 400 | 403 | 404 | 408 | 409 | 413 | 422 | 429 | 502 | 503,
    reason: string,
    readonly extra: {
      rule?: string | undefined;
      retryAfterMs?: number;
      keyId?: string;
      /** The audit log's reason when the caller's may quote what it sent (the audit never does). */
      auditReason?: string;
    } = {},
  ) {
    super(reason);
    this.name = 'Refusal';
  }
}

export interface OperationDeps {
  config: BrokerConfig;
  adminKey: string;
  /** A Venice client for one request, its waits ended when the caller hangs up (none for clean-up). */
  venice: (signal?: AbortSignal) => VeniceClient;
  /**
   * What replicas share (shared-state.ts): the create queue, the mints in progress per repository (so
   * concurrent mints cannot all slip under a rule's live-keys ceiling: Venice's list cannot show a key
   * still being made), Venice's hold and the mint journal.
   */
  state: SharedState;
  /** The leases: who holds each key this broker handed out (verified as they are read). */
  leases: LeaseBook;
  /** The keys the broker's records are signed and sealed with (derived from the admin key). */
  records: RecordKeys;
  /** The audit log, for the lines a lease's end writes. */
  audit: Audit;
  listing: KeyListing;
  guard: VeniceGuard;
  metrics: BrokerMetrics;
  now: () => number;
  /** Aborts when the broker starts draining (SIGTERM): queued callers are answered 503 at once. */
  draining: AbortSignal;
  /** Server-side log lines (never a secret): deletes and recoveries. */
  log: { info: (message: string) => void; warning: (message: string) => void };
  /** The warm pool, when `pool:` is configured: a mint takes a key from it first. */
  pool?: WarmPool | undefined;
}

export interface Granted {
  tag: KeyTag;
  id: string;
  apiKey: string;
  description: string;
  expiresAt: string;
  handle: string | undefined;
  granted: KeyRequest;
  clamped: string[];
  /** The answer of an earlier mint with the same Idempotency-Key, given again. */
  replayed: boolean;
}

/** Refuses with 503 while the broker has stopped calling Venice (see venice-guard.ts). */
async function checkVeniceGuard(deps: OperationDeps, rule: Rule): Promise<void> {
  const blocked = await deps.guard.blockedForMs();
  if (blocked > 0) {
    throw new Refusal(503, 'Venice asked the broker to slow down; it sends Venice nothing until then. Retry after the wait given.', {
      rule: rule.name,
      retryAfterMs: blocked,
    });
  }
}

/** Venice refused the request outright (a 4xx other than 429): final, and nothing was made. */
export function isVeniceRefusal(error: unknown): error is VeniceError {
  return error instanceof VeniceError && error.status !== undefined && error.status >= 400 && error.status < 500 && error.status !== 429;
}

/** A broker that is draining takes no new mints and answers its queued callers: try another replica. */
export function refuseWhileDraining(deps: OperationDeps, rule: Rule): void {
  if (deps.draining.aborted) {
    throw new Refusal(503, 'the broker is shutting down (a deploy or a restart); retry, and another replica will answer.', {
      rule: rule.name,
      retryAfterMs: 1_000,
      auditReason: 'shutting down: the caller was answered before its turn.',
    });
  }
}

/**
 * The request, parsed by the action's own input rules; missing fields take the action's defaults.
 * The caller is shown what it sent and an accepted value; the audit log gets the field names only.
 */
export function parseMintRequest(body: unknown, rule: Rule): KeyRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new Refusal(400, 'the body must be a JSON object of the action\'s key inputs, e.g. {"expires-in":"1h","usd-limit":"1"}.', {
      rule: rule.name,
    });
  }
  const fields = body as Record<string, unknown>;
  try {
    return readKeyRequest((name: KeyRequestField) => {
      const value = fields[name];
      if (value === undefined) return KEY_REQUEST_DEFAULTS[name];
      // Numbers and booleans as the inputs would write them; anything else is shown back, and refused.
      return typeof value === 'string'
        ? value
        : typeof value === 'number' || typeof value === 'boolean'
          ? String(value)
          : JSON.stringify(value).slice(0, 40);
    });
  } catch (error) {
    // readKeyRequest throws only InputErrors: every mistake in the request, each naming its field.
    const { errors } = error as InputErrors;
    throw new Refusal(400, errors.map((e) => `field '${e.input}': ${e.detail}`).join(' '), {
      rule: rule.name,
      auditReason: `field(s) not accepted: ${errors.map((e) => e.input).join(', ')}; the answer shows accepted values.`,
    });
  }
}

/**
 * Venice's own 500 active keys per account, from its listing (briefly cached; it counts every key,
 * the direct path's too). A rule's live-keys is counted from the leases, in the store's admission.
 */
export async function checkActiveKeys(rule: Rule, deps: OperationDeps): Promise<void> {
  const keys = await deps.listing.keys();
  const now = deps.now();
  const live = keys.filter((key) => key.expiresAt === null || Date.parse(key.expiresAt) > now);
  if (live.length >= deps.config.limits.activeKeys) {
    throw new Refusal(
      503,
      `the Venice account holds ${live.length} active keys, the most the broker may make (limits.active-keys); retry once some expire.`,
      { rule: rule.name, retryAfterMs: 60_000 },
    );
  }
}

export interface Deleted {
  keyId: string;
  outcome: 'deleted' | 'already-gone';
  spent: Spent | undefined;
  /** The rule the audit line names: the lease's own. */
  rule: string;
  /** Whether a lease ended (false for an id that had none and is gone). */
  leaseEnded: boolean;
}

/**
 * Deletes a key for its owner (post's delete): only a key this broker handed out to this repository (its
 * lease), and a job or run key only from the run that minted it; a preview key from any run of its
 * repository (the PR outlives its runs). An id without a lease that Venice's listing does not show is
 * gone (or never was); one it shows was not handed out by this broker and is not the caller's to delete.
 */
export async function deleteForCaller(claims: CallerClaims, rule: Rule, keyId: string, deps: OperationDeps): Promise<Deleted> {
  if (!isKeyId(keyId)) throw new Refusal(400, 'the key id is not one Venice writes.', { rule: rule.name });
  await checkVeniceGuard(deps, rule);
  const lease = await deps.leases.get(keyId);
  if (!lease || lease.repositoryId !== claims.repository_id) {
    const listed = (await deps.listing.keys()).some((key) => key.id === keyId);
    if (!listed) return { keyId, outcome: 'already-gone', spent: undefined, rule: lease?.rule ?? rule.name, leaseEnded: false };
    throw new Refusal(
      403,
      `key ${keyId} was not handed out to ${claims.repository} by this broker (it has no lease); it was not deleted.`,
      {
        rule: rule.name,
        keyId,
      },
    );
  }
  if (!mayDeleteFromRun(leaseFacts(lease), claims.run_id)) {
    throw new Refusal(
      403,
      `key ${keyId} belongs to run ${lease.runId}, and a ${lease.scope} key may only be deleted from the run that minted it.`,
      { rule: rule.name, keyId },
    );
  }
  const ended = await endLeasedKey(lease, { why: 'post', action: 'delete', reason: 'post', audit: false }, leaseEndDeps(deps));
  if (ended.outcome === 'not-ours') {
    throw new Refusal(403, `key ${keyId} no longer carries this repository's tag; it was not deleted.`, { rule: lease.rule, keyId });
  }
  return { keyId, outcome: ended.outcome, spent: ended.spent, rule: lease.rule, leaseEnded: true };
}

/** A run key's handle → the key, for a job of the same repository and run whose rule allows run keys. */
export function unwrapForCaller(claims: CallerClaims, rule: Rule, body: unknown, deps: OperationDeps): ReturnType<typeof openRunKey> {
  if (rule.ceilings.scopes && !rule.ceilings.scopes.includes('run')) {
    throw new Refusal(403, `rule "${rule.name}" does not allow run keys, so this job may not open one.`, { rule: rule.name });
  }
  const handle = (body as { handle?: unknown } | null)?.handle;
  if (!isKeyHandle(handle)) {
    throw new Refusal(400, 'the body must be {"handle": "vek1.…"}: the minting job\'s key-handle output, unchanged.', { rule: rule.name });
  }
  try {
    const binding = { adminKey: deps.adminKey, repository: claims.repository, runId: claims.run_id };
    return openRunKey(handle, binding, () => undefined, handleAdviceForCaller);
  } catch (error) {
    throw new Refusal(403, messageOf(error), { rule: rule.name, auditReason: 'the handle does not open for this repository and run.' });
  }
}
