/**
 * What the broker does with Venice for a verified caller: mint, delete, unwrap. Each returns what to
 * answer and what to audit, or throws a Refusal. The tag, the key handle, the request's validation and
 * every delete are the action's own modules (../../src), so the broker and the action cannot disagree
 * about who owns a key.
 *
 * The broker keeps no state about keys: ownership is read from the key's tag in Venice, so any number
 * of instances can serve the same callers. The tag is built from the token's claims (repository, run,
 * attempt), never from the request.
 */
import { deleteInvocationKeys, deleteKeyOfRepository, ownedKeys, type Spent } from '../../src/delete-keys.js';
import { buildDescription, formatTag, newInvocationToken, newTag, slotToken } from '../../src/description-tag.js';
import type { InputErrors } from '../../src/errors.js';
import { messageOf } from '../../src/errors.js';
import { KEY_REQUEST_DEFAULTS, type KeyRequest, type KeyRequestField, readKeyRequest } from '../../src/inputs.js';
import { isKeyHandle, openRunKey, sealHandle } from '../../src/key-handle.js';
import { createKeyBody, type VeniceClient } from '../../src/venice-client.js';
import type { CallerClaims } from './caller-token.js';
import type { BrokerConfig } from './config.js';
import { type CreateQueue, QueueFull } from './create-queue.js';
import { decide } from './policy.js';

/** An answer other than success: its status, and a reason for the caller and the audit log. */
export class Refusal extends Error {
  constructor(
    readonly status: 400 | 403 | 404 | 429 | 502 | 503,
    reason: string,
    readonly extra: { rule?: string | undefined; retryAfterMs?: number; keyId?: string } = {},
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
  queue: CreateQueue;
  now: () => number;
  /**
   * This instance's mints in flight, per repository, so concurrent mints cannot all slip under a rule's
   * live-keys ceiling (Venice's list cannot show a key still being made).
   */
  mintsInFlight: Map<string, number>;
  /** Server-side log lines (never a secret): deletes and recoveries. */
  log: { info: (message: string) => void; warning: (message: string) => void };
}

export interface Granted {
  id: string;
  apiKey: string;
  description: string;
  expiresAt: string;
  handle: string | undefined;
  rule: string;
  granted: KeyRequest;
  clamped: string[];
}

export async function mint(claims: CallerClaims, body: unknown, deps: OperationDeps, signal: AbortSignal): Promise<Granted> {
  const request = parseMintRequest(body);
  const pr = request.scope === 'pr' ? (request.prNumber ?? prFromRef(claims.ref)) : request.prNumber;
  if (request.scope === 'pr' && pr === undefined) {
    throw new Refusal(400, 'scope pr needs a pull request: the token\'s ref is not refs/pull/<n>/merge, so send "pr-number".');
  }
  const decision = decide(deps.config.rules, claims, request);
  if (decision.outcome === 'refused') throw new Refusal(403, decision.reason, { rule: decision.rule?.name });
  const { rule, granted } = decision;
  const repository = claims.repository;
  const client = deps.venice(signal);

  deps.mintsInFlight.set(repository, (deps.mintsInFlight.get(repository) ?? 0) + 1);
  try {
    await checkLiveKeys(client, repository, rule.ceilings.liveKeys, rule.name, deps);
    try {
      await deps.queue.take(signal);
    } catch (error) {
      if (error instanceof QueueFull) {
        throw new Refusal(
          429,
          "the broker is creating keys at Venice's limit and this request would wait longer than its queue timeout; retry later.",
          {
            rule: rule.name,
            retryAfterMs: Math.max(1_000, error.retryAfterMs),
          },
        );
      }
      // The only other way out of the queue: the caller hung up, which ended its wait.
      throw new Refusal(400, 'the caller closed the connection while waiting for its turn; nothing was created.', { rule: rule.name });
    }
    const tag = newTag(repository, {
      pr,
      scope: request.scope === 'job' && request.skipDelete ? 'kept' : request.scope,
      slot: request.scope === 'pr' ? slotToken(request.slot || 'default') : undefined,
      runId: claims.run_id,
      runAttempt: claims.run_attempt,
      token: newInvocationToken(),
    });
    const { description } = buildDescription(granted.label, tag);
    // A client made after the queue: its time budget starts when the create may be sent. Clean-up gets
    // its own client, not stopped by the caller hanging up: that is when it matters most.
    const creator = deps.venice(signal);
    const cleanup = { io: deps.log, client: deps.venice().forCleanup(), repository };
    const key = await creator.createKey(createKeyBody(granted, description, deps.now()), {
      recover: async () => void (await deleteInvocationKeys(tag, cleanup, { why: 'its create answer was lost' })),
    });
    if (signal.aborted) {
      // The caller hung up before it could receive the key: nobody can use it or delete it, so it goes now.
      const gone = await deleteInvocationKeys(tag, cleanup, { why: 'the caller went away before the answer' }).catch((error: unknown) => {
        deps.log.warning(`could not delete key ${key.id}, whose caller went away (${messageOf(error)}); it expires at ${key.expiresAt}.`);
        return 0;
      });
      throw new Refusal(
        400,
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
    deps.log.info(`minted ${key.id} (${formatTag(tag)}) under rule ${rule.name}`);
    return { ...key, handle, rule: rule.name, granted, clamped: decision.clamped };
  } finally {
    deps.mintsInFlight.set(repository, (deps.mintsInFlight.get(repository) as number) - 1);
  }
}

/** The request, parsed by the action's own input rules; missing fields take the action's defaults. */
function parseMintRequest(body: unknown): KeyRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new Refusal(400, 'the body must be a JSON object of the action\'s key inputs, e.g. {"expires-in":"1h","usd-limit":"1"}.');
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
    throw new Refusal(400, (error as InputErrors).errors.map((e) => e.message.replace(/^input /, 'field ')).join(' '));
  }
}

/** `refs/pull/7/merge` (a pull_request event's ref) → 7. */
function prFromRef(ref: string | undefined): number | undefined {
  const match = /^refs\/pull\/([1-9]\d{0,8})\/(merge|head)$/.exec(ref ?? '');
  return match ? Number(match[1]) : undefined;
}

/** The rule's live-keys ceiling for this repository, and Venice's own 500 active keys per account. */
async function checkLiveKeys(
  client: VeniceClient,
  repository: string,
  ceiling: number | undefined,
  ruleName: string,
  deps: OperationDeps,
): Promise<void> {
  const keys = await client.listKeys();
  const now = deps.now();
  const live = keys.filter((key) => key.expiresAt === null || Date.parse(key.expiresAt) > now);
  if (live.length >= deps.config.limits.activeKeys) {
    throw new Refusal(
      503,
      `the Venice account holds ${live.length} active keys, the most the broker may make (limits.active-keys); retry once some expire.`,
      {
        rule: ruleName,
        retryAfterMs: 60_000,
      },
    );
  }
  if (ceiling === undefined) return;
  // Live keys, plus the other mints of this repository in flight (this one is counted in the map too).
  const held = ownedKeys(live, repository).length + (deps.mintsInFlight.get(repository) as number) - 1;
  if (held >= ceiling) {
    throw new Refusal(
      403,
      `rule "${ruleName}" allows ${repository} ${ceiling} live key(s), and it holds ${held}; delete some or wait for them to expire.`,
      {
        rule: ruleName,
      },
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
 * run of its repository: the PR outlives its runs.
 */
export async function deleteForCaller(claims: CallerClaims, keyId: string, deps: OperationDeps, signal: AbortSignal): Promise<Deleted> {
  const result = await deleteKeyOfRepository(keyId, { client: deps.venice(signal), repository: claims.repository }, (tag) =>
    tag.scope !== 'pr' && tag.runId !== claims.run_id
      ? `key ${keyId} belongs to run ${tag.runId}, and a ${tag.scope} key may only be deleted from the run that minted it.`
      : undefined,
  );
  if (result.outcome === 'refused') throw new Refusal(403, result.reason, { keyId });
  return { keyId, outcome: result.outcome, spent: result.spent };
}

/** A run key's handle → the key, for a job of the same repository and run (the handle says which). */
export function unwrapForCaller(claims: CallerClaims, body: unknown, deps: OperationDeps): ReturnType<typeof openRunKey> {
  const handle = (body as { handle?: unknown } | null)?.handle;
  if (!isKeyHandle(handle)) {
    throw new Refusal(400, 'the body must be {"handle": "vek1.…"}: the minting job\'s key-handle output, unchanged.');
  }
  try {
    return openRunKey(handle, { adminKey: deps.adminKey, repository: claims.repository, runId: claims.run_id }, () => undefined);
  } catch (error) {
    throw new Refusal(403, messageOf(error));
  }
}
