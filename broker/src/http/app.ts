/**
 * The broker's HTTP interface (Hono). Every request to /v1 is decided in the same order, and nothing is
 * spent on a caller before the policy admits it:
 *   body size (413) → the caller's token (401; 503 while the issuer's keys are out of reach) → the
 *   caller's rule (403 when none matches) → the rule's rate limit for this repository (429) → the
 *   body (400) → policy and ownership (403) → the queue (429) → Venice (502 when it refuses, 503 while
 *   the broker is holding off).
 * Refusals before a rule matched are counted per client address and logged in aggregate (audit.ts);
 * every decision after it is audited once. Every answer is JSON; answers that carry a key are not
 * cacheable.
 *
 *   POST   /v1/keys         mint a key for the caller (the action's key inputs as JSON)
 *   DELETE /v1/keys/{id}    delete a key the caller's repository owns (job and run keys: same run only)
 *   POST   /v1/keys/unwrap  a run key's handle → the key, for a job of the same repository and run
 *   GET    /healthz         liveness: the process answers (no dependency is asked)
 *   GET    /readyz          readiness: the store answers, the issuer's keys are held, not draining
 *   GET    /metrics         Prometheus text (here unless `metrics:` gives it a listener of its own)
 */

import type { IncomingMessage } from 'node:http';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { DeleteAnswer, KeysAnswer, MintAnswer, RevokeAnswer, SweepAnswer, UnwrapAnswer } from '../../../core/broker-api.js';
import { ActionFailure, messageOf } from '../../../core/errors.js';
import { keyRequestFields } from '../../../core/key-request.js';
import { safeText } from '../../../core/safe-text.js';
import { UnusableKeyAnswer } from '../../../core/venice-errors.js';
import type { GitHubWebhook } from '../keys/github-webhook.js';
import { deleteForCaller, isVeniceRefusal, type OperationDeps, Refusal, unwrapForCaller } from '../keys/key-operations.js';
import { listForCaller, requireOperation, revokeForCaller, rotateAfterMint, sweepForCaller } from '../keys/lifecycle.js';
import { idempotencyKeyOf, mint } from '../keys/mint.js';
import type { Audit, AuditRecord, RefusalLog } from '../observe/audit.js';
import { type CallerClaims, CallerRefused, type VerifyCaller } from '../policy/caller-token.js';
import type { ClientAddress } from '../policy/client-address.js';
import type { Rule } from '../policy/config.js';
import { findRule, NO_RULE } from '../policy/policy.js';
import { type StoreProblem, StoreUnavailable } from '../state/shared-state.js';
import type { CallerLimits, Endpoint } from './caller-limits.js';
import type { ConnectionCap } from './connection-cap.js';

export interface AppDeps extends OperationDeps {
  /** GitHub's webhook deliveries, when the config has github-webhook. */
  webhook: GitHubWebhook | undefined;
  verifyCaller: VerifyCaller;
  audit: Audit;
  refusals: RefusalLog;
  limits: CallerLimits;
  health: AppHealth;
  /** The API listener's connections: a webhook body being read unverified may be closed to make room. */
  connections: ConnectionCap;
  /** The client a request came from (the peer, or the client its trusted proxies name). */
  clientAddress: ClientAddress;
}

export interface Readiness {
  ready: boolean;
  checks: Record<string, boolean>;
  /** Why the store check failed: out of reach, or full (refusing writes). */
  storeProblem?: StoreProblem;
}

export interface AppHealth {
  ready: () => Promise<Readiness>;
  metrics: () => Promise<{ type: string; text: string }>;
  /** Whether /metrics is served on this listener. */
  metricsHere: boolean;
}

/** /healthz, /readyz and (when here) /metrics: no token, no audit line, nothing a caller sends is read. */
export function addHealthRoutes(app: Hono, health: AppHealth): void {
  app.get('/healthz', (c) => c.json({ ok: true }));
  app.get('/readyz', async (c) => {
    const { ready, checks, storeProblem } = await health.ready();
    c.header('cache-control', 'no-store');
    return c.json({ ready, ...checks, ...(storeProblem ? { storeProblem } : {}) }, ready ? 200 : 503);
  });
  if (health.metricsHere) {
    app.get('/metrics', async (c) => {
      const { type, text } = await health.metrics();
      return c.body(text, 200, { 'content-type': type, 'cache-control': 'no-store' });
    });
  }
}

type Outcome = { status: 200 | 201; body: Record<string, unknown>; audit: Omit<AuditRecord, 'action' | 'status' | 'claims'> };

export function brokerApp(deps: AppDeps): Hono {
  const app = new Hono();
  const limit = deps.config.limits.bodyBytes;
  const sized = (maxSize: number) =>
    bodyLimit({
      maxSize,
      onError: async (c) => {
        const reason = `the body is larger than the broker's ${maxSize} bytes.`;
        return refuseBeforeRule(deps, c, endpointOf(c), { status: 413, reason, kind: 'body-too-large', claims: undefined });
      },
    });
  app.use('/v1/keys', sized(limit));
  app.use('/v1/keys/*', sized(limit));
  app.use('*', async (c, next) => {
    await next();
    // While draining, every answer closes its connection, so keep-alive callers reconnect elsewhere.
    if (deps.draining.aborted) c.header('connection', 'close');
  });
  addHealthRoutes(app, deps.health);
  const { webhook } = deps;
  if (webhook) {
    // Judged on its headers before a byte of the body is read; the body has its own size limit, read
    // deadline and count of concurrent readers (github-webhook.ts).
    app.post('/v1/github/webhook', (c) =>
      webhook.receive(c, {
        // A refused delivery's connection is closed too: an unverified sender keeps nothing open.
        refuse: (status, reason, kind) => {
          c.header('connection', 'close');
          return refuseBeforeRule(deps, c, 'webhook', { status, reason, kind, claims: undefined });
        },
        unverified: () => deps.connections.unverified(incomingOf(c)?.socket),
        incoming: incomingOf(c),
      }),
    );
  }

  addMintRoute(app, deps);
  addKeyRoutes(app, deps);
  app.notFound((c) =>
    c.json(
      {
        error:
          'no such endpoint; the broker serves POST /v1/keys, DELETE /v1/keys/{id}, POST /v1/keys/unwrap, POST /v1/keys/revoke, GET /v1/keys, POST /v1/keys/sweep, POST /v1/github/webhook, GET /healthz, GET /readyz and GET /metrics.',
      },
      404,
    ),
  );

  return app;
}

/** POST /v1/keys: a mint, and with `rotate` the older keys of its preview slot deleted after it. */
function addMintRoute(app: Hono, deps: AppDeps): void {
  app.post('/v1/keys', (c) =>
    decide(deps, c, 'mint', async (claims, rule, signal) => {
      requireOperation(rule, 'mint');
      const body = await jsonBody(c, rule);
      const rotate = (body as { rotate?: unknown } | null)?.rotate;
      const rotating = rotate === true || rotate === 'true';
      if (rotating) {
        requireOperation(rule, 'rotate');
        if ((body as { scope?: unknown }).scope !== 'pr') {
          throw new Refusal(400, 'rotate is only for preview keys: send "scope": "pr" with it.', { rule: rule.name });
        }
      }
      const idempotencyKey = idempotencyKeyOf(c.req.header('idempotency-key'), rule);
      const key = await mint(claims, rule, body, deps, { signal, idempotencyKey });
      // A replayed answer's mint rotated already.
      const rotated =
        rotating && !key.replayed
          ? await rotateAfterMint(claims, key, deps).catch((error: unknown) => {
              deps.log.warning(`could not rotate out the older keys of ${key.id}'s slot: ${safeText(messageOf(error))}`);
              return undefined;
            })
          : [];
      const clamped = key.clamped.length > 0;
      if (key.replayed) c.header('idempotent-replayed', 'true');
      return {
        status: 201,
        body: {
          id: key.id,
          apiKey: key.apiKey,
          description: key.description,
          expiresAt: key.expiresAt,
          ...(key.handle ? { handle: key.handle } : {}),
          rule: rule.name,
          granted: keyRequestFields(key.granted),
          clamped: key.clamped,
          ...(rotating ? { rotated: rotated ?? [], rotateFailed: rotated === undefined } : {}),
        } satisfies MintAnswer,
        audit: {
          outcome: clamped ? 'clamped' : 'granted',
          rule: rule.name,
          keyId: key.id,
          granted: key.granted,
          clamped: key.clamped,
          reason: key.replayed ? 'the same key again: a retry with its Idempotency-Key' : undefined,
        },
      };
    }),
  );
}

/** Unwrap, delete, revoke, list and sweep. */
function addKeyRoutes(app: Hono, deps: AppDeps): void {
  app.post('/v1/keys/unwrap', (c) =>
    decide(deps, c, 'unwrap', async (claims, rule) => {
      requireOperation(rule, 'use');
      const key = unwrapForCaller(claims, rule, await jsonBody(c, rule), deps);
      return {
        status: 200,
        body: { id: key.keyId, apiKey: key.apiKey, description: key.description, expiresAt: key.expiresAt } satisfies UnwrapAnswer,
        audit: { outcome: 'granted', rule: rule.name, keyId: key.keyId },
      };
    }),
  );

  app.delete('/v1/keys/:id', (c) =>
    decide(deps, c, 'delete', async (claims, rule) => {
      requireOperation(rule, 'delete');
      const { rule: leaseRule, leaseEnded, ...deleted } = await deleteForCaller(claims, rule, c.req.param('id'), deps);
      // The line of the lease's end (post): it names the rule that granted the key.
      return {
        status: 200,
        body: { ...deleted } satisfies DeleteAnswer,
        audit: {
          outcome: deleted.outcome,
          rule: leaseRule,
          keyId: deleted.keyId,
          reason: 'post',
          endsLease: leaseEnded ? 'post' : undefined,
        },
      };
    }),
  );

  app.post('/v1/keys/revoke', (c) =>
    decide(deps, c, 'revoke', async (claims, rule) => {
      requireOperation(rule, 'revoke');
      const result = await revokeForCaller(claims, rule, objectBody(await jsonBody(c, rule), rule), deps);
      return {
        status: 200,
        body: {
          pr: result.pr,
          dryRun: result.dryRun,
          keys: result.keys,
          deletedIds: result.deleted.ids,
          spent: result.deleted.spent,
          unread: result.deleted.unread,
        } satisfies RevokeAnswer,
        audit: { outcome: 'deleted', rule: rule.name, deleted: result.deleted.ids, reason: result.dryRun ? 'dry run' : undefined },
      };
    }),
  );

  app.get('/v1/keys', (c) =>
    decide(deps, c, 'list', async (claims, rule) => {
      requireOperation(rule, 'sweep');
      const keys = await listForCaller(claims, deps);
      return { status: 200, body: { keys } satisfies KeysAnswer, audit: { outcome: 'granted', rule: rule.name } };
    }),
  );

  app.post('/v1/keys/sweep', (c) =>
    decide(deps, c, 'sweep', async (claims, rule) => {
      requireOperation(rule, 'sweep');
      const result = await sweepForCaller(claims, rule, objectBody(await jsonBody(c, rule), rule), deps);
      return {
        status: 200,
        body: { dryRun: result.dryRun, keys: result.keys, deletedIds: result.deleted.ids, refused: result.refused } satisfies SweepAnswer,
        audit: { outcome: 'deleted', rule: rule.name, deleted: result.deleted.ids, reason: result.dryRun ? 'dry run' : undefined },
      };
    }),
  );
}

/** Verify the caller, find its rule, rate-limit, do the work, audit exactly once, answer. */
async function decide(
  deps: AppDeps,
  c: Context,
  endpoint: Endpoint,
  work: (claims: CallerClaims, rule: Rule, signal: AbortSignal) => Promise<Outcome>,
): Promise<Response> {
  let claims: CallerClaims | undefined;
  let rule: Rule | undefined;
  try {
    claims = await deps.verifyCaller(c.req.header('authorization'));
    rule = findRule(deps.config.rules, claims);
    if (!rule) return await refuseBeforeRule(deps, c, endpoint, { status: 403, reason: NO_RULE, kind: 'no-rule', claims });
    await deps.limits.admit(rule, endpoint, claims.repository_id);
    const outcome = await work(claims, rule, c.req.raw.signal);
    deps.audit({ action: endpoint, status: outcome.status, claims, ...outcome.audit });
    c.header('cache-control', 'no-store');
    return c.json(outcome.body, outcome.status);
  } catch (error) {
    if (error instanceof CallerRefused) {
      if (error.status === 503) {
        // Not the caller's fault (the issuer's keys are out of reach): not counted against its address.
        deps.refusals.record({ action: endpoint, outcome: 'refused', status: 503, reason: error.message }, error.kind, addressOf(c, deps));
        return answer(c, 503, error.message, error.retryAfterMs);
      }
      return refuseBeforeRule(deps, c, endpoint, { status: 401, reason: error.message, kind: error.kind, claims: undefined });
    }
    const { status, reason, extra } = refusalOf(error, c, deps.log);
    deps.audit({
      action: endpoint,
      outcome: status >= 500 && status !== 503 ? 'failed' : 'refused',
      status,
      claims,
      reason: extra.auditReason ?? reason,
      rule: rule?.name,
      keyId: extra.keyId,
    });
    return answer(c, status, reason, extra.retryAfterMs, rule?.name);
  }
}

/**
 * A refusal before any rule admitted the caller: counted against its address (past the limit the
 * answer is 429 and says only when to come back) and logged in aggregate.
 */
async function refuseBeforeRule(
  deps: Pick<AppDeps, 'limits' | 'refusals' | 'clientAddress'>,
  c: Context,
  endpoint: Endpoint | 'webhook',
  refusal: { status: 401 | 403 | 413; reason: string; kind: string; claims: CallerClaims | undefined },
): Promise<Response> {
  const address = addressOf(c, deps);
  const wait = await deps.limits.refused(address);
  const status = wait === undefined ? refusal.status : 429;
  const reason =
    wait === undefined
      ? refusal.reason
      : `too many refused requests from this address (limits.refusals-per-address); the last was: ${refusal.reason}`;
  deps.refusals.record(
    { action: endpoint, outcome: 'refused', status, claims: refusal.claims, reason },
    wait === undefined ? refusal.kind : 'address-limit',
    address,
  );
  return answer(c, status, reason, wait);
}

function answer(c: Context, status: number, reason: string, retryAfterMs?: number, rule?: string): Response {
  if (retryAfterMs !== undefined) c.header('retry-after', String(Math.ceil(retryAfterMs / 1000)));
  c.header('cache-control', 'no-store');
  return c.json({ error: reason, ...(rule ? { rule } : {}) }, status as 400);
}

function endpointOf(c: Context): Endpoint | 'webhook' {
  if (c.req.path.endsWith('/webhook')) return 'webhook';
  if (c.req.method === 'DELETE') return 'delete';
  if (c.req.method === 'GET') return 'list';
  const last = c.req.path.split('/').at(-1);
  return last === 'unwrap' || last === 'revoke' || last === 'sweep' ? last : 'mint';
}

function incomingOf(c: Context): IncomingMessage | undefined {
  return (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
}

/** The client's address: the socket's peer, or behind a trusted proxy the client it names (client-address.ts). */
function addressOf(c: Context, deps: Pick<AppDeps, 'clientAddress'>): string {
  return deps.clientAddress(incomingOf(c)?.socket.remoteAddress, c.req.header('x-forwarded-for'));
}

/** A body that must be a JSON object (the lifecycle endpoints' fields). */
function objectBody(body: unknown, rule: Rule): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new Refusal(400, 'the body must be a JSON object, e.g. {"dry-run": false}.', { rule: rule.name });
  }
  return body as Record<string, unknown>;
}

/** The body as JSON; anything else is the caller's mistake (400), said without echoing the body. */
async function jsonBody(c: Context, rule: Rule): Promise<unknown> {
  const text = await c.req.text();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Refusal(400, 'the body is not JSON; send Content-Type: application/json with a JSON object.', { rule: rule.name });
  }
}

/** A caller that went away mid-request (a cut or too slow body): not an unexpected error. */
function isAborted(error: unknown, c: Context): boolean {
  if (c.req.raw.signal.aborted) return true;
  const code = (error as { code?: unknown } | undefined)?.code;
  return error instanceof Error && (error.message === 'aborted' || code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE');
}

function refusalOf(error: unknown, c: Context, log: AppDeps['log']): { status: number; reason: string; extra: Refusal['extra'] } {
  if (error instanceof Refusal) return { status: error.status, reason: error.message, extra: error.extra };
  if (error instanceof StoreUnavailable) {
    log.warning(safeText(error.message));
    return {
      status: 503,
      reason:
        error.problem === 'full'
          ? "the broker's shared store is full (Redis refuses writes at its memory limit), so it cannot record the mint; nothing was created. Tell the broker's operator; retry after the wait given."
          : "the broker's shared store is out of reach, so it cannot count Venice's limit; nothing was created. Retry after the wait given.",
      extra: { retryAfterMs: 2_000 },
    };
  }
  // Venice refused (a 4xx), or answered with a key the broker will not hand out (no expiry, a later one,
  // a secret that is not a key; it was deleted): 502, final, since asking again gets the same answer.
  // Venice failed or was out of reach after the broker's own retries: 503 with a wait, which the action
  // retries. The admin key is never in these messages (the client blanks it).
  if (isVeniceRefusal(error)) return { status: 502, reason: `Venice refused: ${error.message}`, extra: {} };
  if (error instanceof UnusableKeyAnswer) return { status: 502, reason: `Venice's answer was not usable: ${error.message}`, extra: {} };
  if (error instanceof ActionFailure) return { status: 503, reason: `Venice: ${error.message}`, extra: { retryAfterMs: 5_000 } };
  if (isAborted(error, c)) {
    return { status: 408, reason: 'the request was not received whole (the client was too slow or went away).', extra: {} };
  }
  // Anything else is the broker's own failure: said in its log, answered and audited as a 500.
  log.warning(`unexpected error: ${safeText(messageOf(error))}`);
  return { status: 500, reason: 'the broker failed unexpectedly; its log says more.', extra: {} };
}
