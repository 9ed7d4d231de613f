/**
 * A mint, in three steps: admit (the policy, then one store step: Venice's hold, the Idempotency-Key,
 * `live-keys` counted from the leases and the mints in progress, a place in the fair queue, the intent),
 * create (the turn, then Venice; or, with a warm pool, a pool key re-shaped by one PATCH and no place in
 * the queue, falling back to a place and a create if that fails), hand over (the lease, signed, recorded with the mint's end in one store
 * step). A key whose lease cannot be recorded is deleted and never handed out: the caller gets 503.
 *
 * With Redis that is at most 4 round trips to the store: the rate limit, the admission, the turn (one
 * look when the window has room) and the hand-out.
 *
 * Idempotent mints (the IETF Idempotency-Key draft): the action sends one Idempotency-Key per step
 * invocation, the same on its retries. The broker remembers it per repository for 10 minutes: a repeat
 * of a finished mint gets the same key again (its answer kept only sealed with a key derived from the
 * admin key, for those 10 minutes or until the key is deleted), a repeat while the first is in progress
 * 409, the same key with another body 422.
 */
import { createHash, randomUUID } from 'node:crypto';
import { deleteInvocationKeys } from '../../../core/delete-keys.js';
import { buildDescription, formatTag, type KeyTag, newInvocationToken, parseTag, tagForRequest } from '../../../core/description-tag.js';
import { messageOf } from '../../../core/errors.js';
import { sealHandle } from '../../../core/key-handle.js';
import type { KeyRequest } from '../../../core/key-request.js';
import { prFromRef } from '../../../core/ownership.js';
import { createKeyBody, type MintedKey } from '../../../core/venice-api.js';
import type { CallerClaims } from '../policy/caller-token.js';
import type { Rule } from '../policy/config.js';
import { decide } from '../policy/policy.js';
import { LeftQueue } from '../state/fair-queue.js';
import type { Ticket } from '../state/shared-state.js';
import {
  checkActiveKeys,
  type Granted,
  isVeniceRefusal,
  type OperationDeps,
  parseMintRequest,
  Refusal,
  refuseWhileDraining,
} from './key-operations.js';
import type { Lease } from './leases.js';
import type { PoolKey } from './pool.js';
import { openAnswer, sealAnswer, signRecord } from './sealed-records.js';

/** For what is tried once on the way out (giving a mark back, ending a lease): a store out of reach is said elsewhere. */
const ignore = (): undefined => undefined;

/** How long a finished mint's Idempotency-Key is remembered (at most; never past its key's deletion). */
export const IDEMPOTENCY_MS = 600_000;
/** How long past the create's own deadline (a part of it) an intent waits before its key counts as an orphan: 10 s of 60. */
const JOURNAL_SLACK = 1 / 6;

/** The Idempotency-Key header as the action (and the draft) writes it: a UUID, or any 8 to 64 plain characters. */
export function idempotencyKeyOf(header: string | undefined, rule: Rule): string | undefined {
  if (header === undefined) return undefined;
  if (!/^[A-Za-z0-9_-]{8,64}$/.test(header)) {
    throw new Refusal(400, 'the Idempotency-Key header must be 8 to 64 letters, digits, - or _ (the action sends a UUID).', {
      rule: rule.name,
    });
  }
  return header;
}

interface Minting {
  claims: CallerClaims;
  rule: Rule;
  request: KeyRequest;
  granted: KeyRequest;
  clamped: string[];
  pr: number | undefined;
  tag: KeyTag;
  mintId: string;
  idempotency: { key: string; bodyHash: string } | undefined;
}

export async function mint(
  claims: CallerClaims,
  rule: Rule,
  body: unknown,
  deps: OperationDeps,
  context: { signal: AbortSignal; idempotencyKey: string | undefined },
): Promise<Granted> {
  const minting = prepare(claims, rule, body, context.idempotencyKey);
  refuseWhileDraining(deps, rule);
  const started = deps.now();
  // A warm-pool key first (pool.ts): taken before admission, so a mint it serves holds no place in the queue.
  const pooled = deps.pool?.take();
  const ticket = await admit(minting, deps, pooled === undefined).catch((error: unknown) => {
    if (pooled) deps.pool?.giveBack(pooled);
    throw error;
  });
  if ('replayed' in ticket) {
    if (pooled) deps.pool?.giveBack(pooled);
    return ticket.replayed;
  }
  try {
    const reshaped = pooled && (await reshape(minting, pooled, deps));
    const key = reshaped || (await createFresh(minting, pooled ? await joinQueue(minting, deps) : ticket, deps, context.signal));
    const granted = await handOver(minting, key, deps, context.signal);
    deps.metrics.mintSeconds.labels(reshaped ? 'pool' : 'create').observe((deps.now() - started) / 1_000);
    return granted;
  } catch (error) {
    if (!(error instanceof HandedOver)) await abandon(minting, deps, error);
    throw error instanceof HandedOver ? error.cause : error;
  }
}

/** A key created for the mint: Venice's active keys, a turn in the window, the create. */
async function createFresh(minting: Minting, ticket: Ticket, deps: OperationDeps, signal: AbortSignal): Promise<MintedKey> {
  // Venice's own active keys, from the shared listing: after admission, so a held broker asks Venice nothing.
  await checkActiveKeys(minting.rule, deps).catch((error: unknown) => {
    ticket.leave();
    throw error;
  });
  await takeTurn(minting, ticket, deps, signal);
  return create(minting, deps, signal);
}

/**
 * A pool key re-shaped into exactly the granted key (its tag, expiry, caps, period and privacy) with one
 * PATCH, its answer checked field by field; undefined, the pool key deleted, when anything is off: a
 * pool problem costs time (the mint creates instead), never a wrong key.
 */
async function reshape(minting: Minting, pooled: PoolKey, deps: OperationDeps): Promise<MintedKey | undefined> {
  const { description } = buildDescription(minting.granted.label, minting.tag);
  try {
    const { expiresAt } = await deps.venice().updateKey(pooled.id, createKeyBody(minting.granted, description, deps.now()));
    return { id: pooled.id, apiKey: pooled.apiKey, description, expiresAt };
  } catch (error) {
    deps.log.warning(`pool key ${pooled.id} could not be re-shaped (${messageOf(error)}); it is deleted and this mint creates a key.`);
    await deps.pool?.discard(pooled, 'its re-shape failed');
    return undefined;
  } finally {
    deps.listing.changed();
  }
}

/** A place in the queue for a mint whose pool key failed, judged as admission judges one. */
async function joinQueue(minting: Minting, deps: OperationDeps): Promise<Ticket> {
  const placed = await deps.state.queue.join(minting.claims.repository_id, { mintId: minting.mintId, withinMs: intentWithinMs(deps) });
  if ('leave' in placed) return placed;
  return queueFull(minting.rule, placed.retryAfterMs);
}

function queueFull(rule: Rule, retryAfterMs: number): never {
  throw new Refusal(
    429,
    "the broker is creating keys at Venice's limit and this request would wait longer than its queue timeout; retry later.",
    { rule: rule.name, retryAfterMs: Math.max(1_000, retryAfterMs) },
  );
}

/** How long past the create's own deadline (a part of it) an intent waits before its key counts as an orphan. */
function intentWithinMs(deps: OperationDeps): number {
  return deps.config.limits.veniceTimeoutMs * (1 + JOURNAL_SLACK);
}

/** The request judged by the policy, and the mint's identity (its tag, its id), before anything is spent. */
function prepare(claims: CallerClaims, rule: Rule, body: unknown, idempotencyKey: string | undefined): Minting {
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
  const tag = tagForRequest(claims.repository, request, {
    pr,
    runId: claims.run_id,
    runAttempt: claims.run_attempt,
    token: newInvocationToken(),
  });
  const idempotency = idempotencyKey ? { key: idempotencyKey, bodyHash: bodyHash(body) } : undefined;
  return { claims, rule, request, granted: decision.granted, clamped: decision.clamped, pr, tag, mintId: randomUUID(), idempotency };
}

/** The same request, however its fields are ordered: the Idempotency-Key's body check. */
function bodyHash(body: unknown): string {
  const canonical = (value: unknown): unknown =>
    Array.isArray(value)
      ? value.map(canonical)
      : typeof value === 'object' && value !== null
        ? Object.fromEntries(
            Object.keys(value)
              .sort()
              .map((name) => [name, canonical((value as Record<string, unknown>)[name])]),
          )
        : value;
  return createHash('sha256')
    .update(JSON.stringify(canonical(body)))
    .digest('hex');
}

/** The store's admission, or a refusal saying why; a finished mint with the same Idempotency-Key is replayed. */
async function admit(minting: Minting, deps: OperationDeps, queued: boolean): Promise<Ticket | { replayed: Granted }> {
  const { claims, rule, mintId, idempotency } = minting;
  const { queueTimeoutMs } = deps.config.limits;
  const withinMs = intentWithinMs(deps);
  const admission = await deps.state.mints.admit({
    mintId,
    repositoryId: claims.repository_id,
    liveKeys: rule.ceilings.liveKeys,
    // Counted until handed out or given up, or until the mint's longest possible life has passed.
    inFlightMs: queueTimeoutMs + withinMs,
    intent: signRecord(deps.records, 'intent', {
      id: mintId,
      tag: formatTag(minting.tag),
      repository: claims.repository,
      runId: claims.run_id,
    }),
    intentWithinMs: withinMs,
    idempotency: idempotency && { ...idempotency, ttlMs: IDEMPOTENCY_MS },
    queued,
  });
  const extra = { rule: rule.name };
  switch (admission.outcome) {
    case 'admitted':
      return admission.ticket;
    case 'replay':
      return { replayed: replay(minting, admission.sealedAnswer, deps) };
    case 'held':
      throw new Refusal(503, 'Venice asked the broker to slow down; it sends Venice nothing until then. Retry after the wait given.', {
        ...extra,
        retryAfterMs: admission.retryAfterMs,
      });
    case 'queue-full':
      return queueFull(rule, admission.retryAfterMs);
    case 'in-progress':
      throw new Refusal(409, 'a mint with this Idempotency-Key is still in progress; retry after the wait given.', {
        ...extra,
        retryAfterMs: 2_000,
      });
    case 'mismatch':
      throw new Refusal(422, 'this Idempotency-Key was used with another request body; send a new key for a new request.', extra);
    default:
      return liveKeysRefusal(minting, admission.live, admission.inFlight);
  }
}

function liveKeysRefusal(minting: Minting, live: number, inFlight: number): never {
  const { rule, claims } = minting;
  const allowed = `rule "${rule.name}" allows ${claims.repository} ${rule.ceilings.liveKeys} live key(s)`;
  if (live >= rule.ceilings.liveKeys) {
    throw new Refusal(403, `${allowed}, and it holds ${live}; delete some or wait for them to expire.`, { rule: rule.name });
  }
  throw new Refusal(429, `${allowed}, and it holds ${live} with ${inFlight} mint(s) in progress; retry when they are done.`, {
    rule: rule.name,
    retryAfterMs: 10_000,
  });
}

/** A finished mint's answer again: the same key, opened from its sealed answer. */
function replay(minting: Minting, sealed: string, deps: OperationDeps): Granted {
  const answer = openAnswer(deps.records, sealed, answerBinding(minting));
  const key = answer as (Granted & { tag?: unknown }) | undefined;
  if (!key || typeof key.id !== 'string' || typeof key.apiKey !== 'string') {
    throw new Refusal(409, 'a mint with this Idempotency-Key finished, but its answer cannot be given again; send a new key.', {
      rule: minting.rule.name,
    });
  }
  // The key's own tag (its description's), not this retry's: a replay hands out the first mint's key.
  return { ...key, tag: parseTag(key.description) ?? minting.tag, replayed: true };
}

function answerBinding(minting: Minting): string {
  return `${minting.claims.repository_id}|${minting.idempotency?.key ?? ''}`;
}

async function takeTurn(minting: Minting, ticket: Ticket, deps: OperationDeps, signal: AbortSignal): Promise<void> {
  const queuedAt = deps.now();
  try {
    await deps.state.queue.take(ticket, AbortSignal.any([signal, deps.draining]));
  } catch (error) {
    if (!(error instanceof LeftQueue)) throw error;
    refuseWhileDraining(deps, minting.rule);
    // The caller hung up while waiting, which gave its turn back.
    throw new Refusal(408, 'the caller closed the connection while waiting for its turn; nothing was created.', {
      rule: minting.rule.name,
    });
  } finally {
    deps.metrics.queueWait.observe((deps.now() - queuedAt) / 1_000);
  }
}

/** The create at Venice (its intent is in the journal already, so a crash's key is found and deleted). */
async function create(minting: Minting, deps: OperationDeps, signal: AbortSignal): Promise<MintedKey> {
  const { description } = buildDescription(minting.granted.label, minting.tag);
  // A client made after the queue: its time budget starts when the create may be sent. Clean-up gets
  // its own client, not stopped by the caller hanging up: that is when it matters most.
  const cleanup = { io: deps.log, client: deps.venice().forCleanup(), repository: minting.claims.repository };
  deps.metrics.createsInFlight.inc();
  try {
    return await deps.venice(signal).createKey(createKeyBody(minting.granted, description, deps.now()), {
      recover: async () => void (await deleteInvocationKeys(minting.tag, cleanup, { why: 'its create answer was lost' })),
    });
  } finally {
    deps.metrics.createsInFlight.dec();
    deps.listing.changed();
  }
}

/** Thrown once a key exists and its mint has been ended (lease recorded or not): nothing is left to abandon. */
class HandedOver extends Error {
  constructor(override readonly cause: unknown) {
    super('handed over');
  }
}

/** The lease, recorded with the mint's end; then the answer. A key without a lease is deleted, never handed out. */
async function handOver(minting: Minting, key: MintedKey, deps: OperationDeps, signal: AbortSignal): Promise<Granted> {
  const { claims, rule, request, tag } = minting;
  if (signal.aborted) return deleteUnheld(minting, key, deps, 'caller went away');
  const handle =
    request.scope === 'run'
      ? sealHandle(
          { apiKey: key.apiKey, keyId: key.id, expiresAt: key.expiresAt, description: key.description },
          { adminKey: deps.adminKey, repository: claims.repository, runId: claims.run_id },
        )
      : undefined;
  const granted: Granted = { ...key, tag, handle, granted: minting.granted, clamped: minting.clamped, replayed: false };
  const lease: Lease = {
    keyId: key.id,
    repositoryId: claims.repository_id,
    repository: claims.repository,
    scope: tag.scope,
    pr: tag.pr,
    slot: tag.slot,
    runId: tag.runId,
    runAttempt: tag.runAttempt,
    description: key.description,
    handedOutAt: deps.now(),
    expiresAt: Date.parse(key.expiresAt),
    rule: rule.name,
    idempotencyKey: minting.idempotency?.key,
    state: 'live',
  };
  const answer = { ...granted, tag: undefined };
  const recorded = await deps.state.mints
    .handOut({
      mintId: minting.mintId,
      repositoryId: claims.repository_id,
      keyId: key.id,
      expiresAt: lease.expiresAt,
      signedLease: deps.leases.sign(lease),
      idempotency: minting.idempotency && {
        ...minting.idempotency,
        sealedAnswer: sealAnswer(deps.records, answer, answerBinding(minting)),
        ttlMs: Math.max(1, Math.min(IDEMPOTENCY_MS, lease.expiresAt - deps.now())),
      },
    })
    .catch((error: unknown) => {
      deps.log.warning(`could not record the lease of ${key.id} (${messageOf(error)}); it is deleted, not handed out.`);
      return false;
    });
  if (!recorded) {
    // Its lease may have been written all the same (an answer lost on the way back): end it too.
    await deps.leases.end(lease).catch(ignore);
    return deleteUnheld(minting, key, deps, 'lease could not be recorded');
  }
  deps.log.info(`minted ${key.id} (${formatTag(tag)}) under rule ${rule.name}`);
  return granted;
}

/** A key nobody may hold (its caller went away, or its lease could not be recorded): deleted now, and a refusal. */
async function deleteUnheld(minting: Minting, key: MintedKey, deps: OperationDeps, whose: string): Promise<never> {
  const cleanup = { io: deps.log, client: deps.venice().forCleanup(), repository: minting.claims.repository };
  const gone = await deleteInvocationKeys(minting.tag, cleanup, { why: `its ${whose}` }).catch((error: unknown) => {
    // The intent stays: the reconciler finds the key by its tag and deletes it.
    deps.log.warning(
      `could not delete key ${key.id}, whose ${whose} (${messageOf(error)}); it expires at ${key.expiresAt}, and the reconciler looks for it again.`,
    );
    return 0;
  });
  const extra = { rule: minting.rule.name, keyId: key.id };
  await deps.state.mints
    .abandon({
      mintId: minting.mintId,
      repositoryId: minting.claims.repository_id,
      idempotencyKey: minting.idempotency?.key,
      dropIntent: gone > 0,
    })
    .catch(ignore);
  if (whose === 'caller went away') {
    throw new HandedOver(
      new Refusal(
        408,
        `the caller closed the connection before the key was handed over; ${gone > 0 ? 'it was deleted' : `it expires at ${key.expiresAt}`}.`,
        extra,
      ),
    );
  }
  throw new HandedOver(
    new Refusal(
      503,
      "the broker could not record the key's lease in its store, so the key was deleted and not handed out; retry after the wait given.",
      {
        ...extra,
        retryAfterMs: 2_000,
      },
    ),
  );
}

/** A mint that failed before a key was handed over: its mark and Idempotency-Key go; its intent too when no key can exist. */
async function abandon(minting: Minting, deps: OperationDeps, error: unknown): Promise<void> {
  await deps.state.mints
    .abandon({
      mintId: minting.mintId,
      repositoryId: minting.claims.repository_id,
      idempotencyKey: minting.idempotency?.key,
      // Venice refused outright (a 4xx), or the caller left the queue: no key exists. Otherwise (a lost
      // answer, a timeout) one may, and the reconciler looks for it after the deadline.
      dropIntent: isVeniceRefusal(error) || error instanceof Refusal,
    })
    .catch(ignore);
}
