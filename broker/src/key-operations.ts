/**
 * What the broker does with Venice for a caller its policy admits: mint, delete, unwrap. The caller's
 * rule has been found before any of these runs (app.ts); each returns what to answer and what to
 * audit, or throws a Refusal. The tag, the key handle, the request's validation and every delete are
 * the action's own modules (../../src), so the broker and the action cannot disagree about who owns a key.
 *
 * Ownership is read from the key's tag in Venice's listing, never from the request: the tag is built
 * from the token's claims (repository, run, attempt, and the pull request its ref names).
 * Nothing here sends Venice a request about an id before the shared listing shows that id is this
 * repository's key.
 */
import { randomUUID } from 'node:crypto';
import { deleteInvocationKeys, deleteTaggedKey, ownedKeys, ownerTag, type Spent } from '../../core/delete-keys.js';
import { buildDescription, formatTag, type KeyTag, newInvocationToken, tagForRequest } from '../../core/description-tag.js';
import type { InputErrors } from '../../core/errors.js';
import { messageOf } from '../../core/errors.js';
import { isKeyHandle, openRunKey, sealHandle } from '../../core/key-handle.js';
import { KEY_REQUEST_DEFAULTS, type KeyRequest, type KeyRequestField, readKeyRequest } from '../../core/key-request.js';
import { createKeyBody, type VeniceClient, VeniceError } from '../../core/venice-client.js';
import type { CallerClaims } from './caller-token.js';
import type { BrokerConfig, Rule } from './config.js';
import { LeftQueue, QueueFull } from './fair-queue.js';
import type { KeyListing } from './key-listing.js';
import type { BrokerMetrics } from './metrics.js';
import { decide } from './policy.js';
import type { SharedState, Ticket } from './shared-state.js';
import type { VeniceGuard } from './venice-guard.js';

/** An answer other than success: its status, a reason for the caller, and one for the audit log. */
export class Refusal extends Error {
  constructor(
    readonly status: 400 | 403 | 404 | 408 | 413 | 429 | 502 | 503,
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
  listing: KeyListing;
  guard: VeniceGuard;
  metrics: BrokerMetrics;
  now: () => number;
  /** Aborts when the broker starts draining (SIGTERM): queued callers are answered 503 at once. */
  draining: AbortSignal;
  /** Server-side log lines (never a secret): deletes and recoveries. */
  log: { info: (message: string) => void; warning: (message: string) => void };
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
}

/** Venice's key ids are UUIDs: anything else is refused before a listing is even looked at. */
const VENICE_KEY_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isVeniceKeyId(id: string): boolean {
  return VENICE_KEY_ID.test(id);
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

export async function mint(claims: CallerClaims, rule: Rule, body: unknown, deps: OperationDeps, signal: AbortSignal): Promise<Granted> {
  const request = parseMintRequest(body, rule);
  const pr = prFromRef(claims.ref);
  if (request.prNumber !== undefined && request.prNumber !== pr) {
    throw new Refusal(
      403,
      `pr-number ${request.prNumber} is not the pull request this job's token names (${pr === undefined ? 'none' : `#${pr}`}): the broker takes the PR from the token's ref (refs/pull/<n>/merge). Leave pr-number empty.`,
      { rule: rule.name, auditReason: "field pr-number differs from the pull request the token's ref names." },
    );
  }
  if (request.scope === 'pr' && pr === undefined) {
    throw new Refusal(
      403,
      "scope pr needs the token of a pull_request run, whose ref (refs/pull/<n>/merge) names the PR; this token's event proves no PR (pull_request_target, issue_comment and merged-PR runs carry a branch). Mint preview keys in a workflow on: pull_request.",
      { rule: rule.name },
    );
  }
  const decision = decide(rule, request);
  if (decision.outcome === 'refused') throw new Refusal(403, decision.reason, { rule: rule.name });
  const { granted } = decision;
  const repository = claims.repository;
  const repositoryKey = claims.repository_id;
  refuseWhileDraining(deps, rule);
  const mintId = randomUUID();
  // Counted until released, or until the mint's longest possible life has passed (a crashed replica's).
  const until = deps.now() + deps.config.limits.queueTimeoutMs + 2 * deps.config.limits.veniceTimeoutMs;
  const inFlight = await deps.state.inFlight.claim(repositoryKey, mintId, rule.ceilings.liveKeys, until);
  if (inFlight !== undefined) {
    throw new Refusal(
      429,
      `rule "${rule.name}" allows ${repository} ${rule.ceilings.liveKeys} live key(s), and it has ${inFlight} mint(s) in progress; retry when they are done.`,
      { rule: rule.name, retryAfterMs: 10_000 },
    );
  }
  try {
    await checkVeniceGuard(deps, rule);
    let ticket: Ticket;
    try {
      ticket = await deps.state.queue.admit(repositoryKey);
    } catch (error) {
      if (!(error instanceof QueueFull)) throw error;
      throw new Refusal(
        429,
        "the broker is creating keys at Venice's limit and this request would wait longer than its queue timeout; retry later.",
        { rule: rule.name, retryAfterMs: Math.max(1_000, error.retryAfterMs) },
      );
    }
    try {
      await checkLiveKeys(claims, rule, deps);
    } catch (error) {
      ticket.leave();
      throw error;
    }
    const queuedAt = deps.now();
    try {
      await deps.state.queue.take(ticket, AbortSignal.any([signal, deps.draining]));
    } catch (error) {
      if (!(error instanceof LeftQueue)) throw error;
      refuseWhileDraining(deps, rule);
      // The caller hung up while waiting, which gave its turn back.
      throw new Refusal(408, 'the caller closed the connection while waiting for its turn; nothing was created.', { rule: rule.name });
    } finally {
      deps.metrics.queueWait.observe((deps.now() - queuedAt) / 1_000);
    }
    const tag = tagForRequest(repository, request, {
      pr,
      runId: claims.run_id,
      runAttempt: claims.run_attempt,
      token: newInvocationToken(),
    });
    const { description } = buildDescription(granted.label, tag);
    // A client made after the queue: its time budget starts when the create may be sent. Clean-up gets
    // its own client, not stopped by the caller hanging up: that is when it matters most.
    const creator = deps.venice(signal);
    const cleanup = { io: deps.log, client: deps.venice().forCleanup(), repository };
    // Written down before the create is sent: if this process dies before the caller has its answer,
    // whichever replica reconciles next finds the key by its tag and deletes it (reconciler.ts).
    await deps.state.journal.intend(
      { id: mintId, tag: formatTag(tag), repository, runId: claims.run_id },
      deps.config.limits.veniceTimeoutMs * (1 + JOURNAL_SLACK),
    );
    let key: Awaited<ReturnType<VeniceClient['createKey']>>;
    deps.metrics.createsInFlight.inc();
    try {
      key = await creator.createKey(createKeyBody(granted, description, deps.now()), {
        recover: async () => void (await deleteInvocationKeys(tag, cleanup, { why: 'its create answer was lost' })),
      });
    } catch (error) {
      // Nothing was handed out. When Venice refused outright (a 4xx) no key exists and the intent goes;
      // otherwise (a lost answer, a timeout) one may, and the reconciler looks for it after the deadline.
      if (isVeniceRefusal(error)) {
        await deps.state.journal.handedOut(mintId).catch(() => undefined);
      }
      throw error;
    } finally {
      deps.metrics.createsInFlight.dec();
      deps.listing.changed();
    }
    if (signal.aborted) {
      // The caller hung up before it could receive the key: nobody can use it or delete it, so it goes now.
      const gone = await deleteInvocationKeys(tag, cleanup, { why: 'the caller went away before the answer' }).catch((error: unknown) => {
        deps.log.warning(`could not delete key ${key.id}, whose caller went away (${messageOf(error)}); it expires at ${key.expiresAt}.`);
        return 0;
      });
      if (gone > 0) await deps.state.journal.handedOut(mintId).catch(() => undefined);
      throw new Refusal(
        408,
        `the caller closed the connection before the key was handed over; ${gone > 0 ? 'it was deleted' : `it expires at ${key.expiresAt}`}.`,
        { rule: rule.name, keyId: key.id },
      );
    }
    const handle =
      request.scope === 'run'
        ? sealHandle(
            { apiKey: key.apiKey, keyId: key.id, expiresAt: key.expiresAt, description: key.description },
            { adminKey: deps.adminKey, repository, runId: claims.run_id },
          )
        : undefined;
    // Handed out: the answer is written next. A store out of reach now leaves the intent, and the
    // reconciler would delete a key its caller holds: so this one is retried, and logged if it fails.
    await deps.state.journal.handedOut(mintId).catch(async () => {
      await new Promise((done) => setTimeout(done, 200));
      await deps.state.journal.handedOut(mintId).catch(() => {
        deps.log.warning(`could not mark ${key.id} handed out in the mint journal; reconciliation may delete it after its deadline.`);
      });
    });
    deps.log.info(`minted ${key.id} (${formatTag(tag)}) under rule ${rule.name}`);
    return { ...key, tag, handle, granted, clamped: decision.clamped };
  } finally {
    await deps.state.inFlight.release(repositoryKey, mintId).catch(() => undefined);
  }
}

/** Venice refused the request outright (a 4xx other than 429): final, and nothing was made. */
export function isVeniceRefusal(error: unknown): error is VeniceError {
  return error instanceof VeniceError && error.status !== undefined && error.status >= 400 && error.status < 500 && error.status !== 429;
}

/** How long past the create's own deadline (a part of it) an intent waits before its key counts as an orphan: 10 s of 60. */
const JOURNAL_SLACK = 1 / 6;

/** A broker that is draining takes no new mints and answers its queued callers: try another replica. */
function refuseWhileDraining(deps: OperationDeps, rule: Rule): void {
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
function parseMintRequest(body: unknown, rule: Rule): KeyRequest {
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
    throw new Refusal(400, errors.map((e) => e.message.replace(/^input /, 'field ')).join(' '), {
      rule: rule.name,
      auditReason: `field(s) not accepted: ${errors.map((e) => e.input).join(', ')}; the answer shows accepted values.`,
    });
  }
}

/** `refs/pull/7/merge` (a pull_request event's ref) → 7. */
export function prFromRef(ref: string | undefined): number | undefined {
  const match = /^refs\/pull\/([1-9]\d{0,8})\/(merge|head)$/.exec(ref ?? '');
  return match ? Number(match[1]) : undefined;
}

/** The rule's live-keys ceiling for this repository, and Venice's own 500 active keys per account. */
async function checkLiveKeys(claims: CallerClaims, rule: Rule, deps: OperationDeps): Promise<void> {
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
  // Live keys, plus the other mints of this repository in progress (this one is counted there too).
  const held = ownedKeys(live, claims.repository).length + (await deps.state.inFlight.count(claims.repository_id)) - 1;
  if (held >= rule.ceilings.liveKeys) {
    throw new Refusal(
      403,
      `rule "${rule.name}" allows ${claims.repository} ${rule.ceilings.liveKeys} live key(s), and it holds ${held}; delete some or wait for them to expire.`,
      { rule: rule.name },
    );
  }
}

export interface Deleted {
  keyId: string;
  outcome: 'deleted' | 'already-gone';
  spent: Spent | undefined;
}

/**
 * Deletes a key for its owner: only a key carrying this repository's tag (an INFERENCE key with an
 * expiry), and a job or run key only from the run that minted it. A preview key may be deleted from any
 * run of its repository: the PR outlives its runs. The decision is made from the shared listing: an id
 * the listing does not show is gone (or never was) and costs Venice nothing.
 */
export async function deleteForCaller(claims: CallerClaims, rule: Rule, keyId: string, deps: OperationDeps): Promise<Deleted> {
  if (!isVeniceKeyId(keyId)) throw new Refusal(400, 'the key id is not one Venice writes (a UUID).', { rule: rule.name });
  await checkVeniceGuard(deps, rule);
  const listed = (await deps.listing.keys()).find((key) => key.id === keyId);
  if (!listed) return { keyId, outcome: 'already-gone', spent: undefined };
  const tag = ownerTag(listed, claims.repository);
  if (!tag) {
    throw new Refusal(403, `key ${keyId} is not a key of ${claims.repository} (it lacks this repository's tag); it was not deleted.`, {
      rule: rule.name,
      keyId,
    });
  }
  if (tag.scope !== 'pr' && tag.runId !== claims.run_id) {
    throw new Refusal(
      403,
      `key ${keyId} belongs to run ${tag.runId}, and a ${tag.scope} key may only be deleted from the run that minted it.`,
      { rule: rule.name, keyId },
    );
  }
  // Read (for the spend, and to see the tag again) and delete, with a client the caller cannot stop.
  const client = deps.venice().forCleanup();
  const result = await deleteTaggedKey({ id: keyId, tag }, { io: deps.log, client, repository: claims.repository }).finally(() =>
    deps.listing.changed(),
  );
  if (result.outcome === 'not-ours') {
    throw new Refusal(403, `key ${keyId} no longer carries this repository's tag; it was not deleted.`, { rule: rule.name, keyId });
  }
  return { keyId, outcome: result.outcome, spent: result.spent };
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
    return openRunKey(handle, { adminKey: deps.adminKey, repository: claims.repository, runId: claims.run_id }, () => undefined);
  } catch (error) {
    throw new Refusal(403, messageOf(error), { rule: rule.name, auditReason: 'the handle does not open for this repository and run.' });
  }
}
