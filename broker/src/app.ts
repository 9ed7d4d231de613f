/**
 * The broker's HTTP interface (Hono). Every request to /v1 is checked in the same order: body size,
 * then the caller's token (401), then the body (400), then policy and ownership (403), then Venice.
 * Each decision is audited once, and every answer is JSON; answers that carry a key are not cacheable.
 *
 *   POST   /v1/keys         mint a key for the caller (the action's key inputs as JSON)
 *   DELETE /v1/keys/{id}    delete a key the caller's repository owns (job and run keys: same run only)
 *   POST   /v1/keys/unwrap  a run key's handle → the key, for a job of the same repository and run
 *   GET    /healthz         liveness, no token needed
 */
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { ActionFailure, messageOf } from '../../src/errors.js';
import { keyRequestFields } from '../../src/inputs.js';
import { safeText } from '../../src/safe-text.js';
import { isKeyId } from '../../src/venice-client.js';
import type { Audit, AuditRecord } from './audit.js';
import { type CallerClaims, CallerRefused, type VerifyCaller } from './caller-token.js';
import { deleteForCaller, mint, type OperationDeps, Refusal, unwrapForCaller } from './key-operations.js';

export interface AppDeps extends OperationDeps {
  verifyCaller: VerifyCaller;
  audit: Audit;
}

type Outcome = { status: 200 | 201; body: Record<string, unknown>; audit: Omit<AuditRecord, 'action' | 'status' | 'claims'> };
type Action = AuditRecord['action'];

export function brokerApp(deps: AppDeps): Hono {
  const app = new Hono();
  const limit = deps.config.limits.bodyBytes;
  app.use(
    '/v1/*',
    bodyLimit({
      maxSize: limit,
      onError: (c) => {
        const reason = `the body is larger than the broker's ${limit} bytes.`;
        deps.audit({ action: actionOf(c), outcome: 'refused', status: 413, reason });
        return c.json({ error: reason }, 413);
      },
    }),
  );
  app.get('/healthz', (c) => c.json({ ok: true }));

  app.post('/v1/keys', (c) =>
    decide(c, 'mint', async (claims, signal) => {
      const key = await mint(claims, await jsonBody(c), deps, signal);
      const clamped = key.clamped.length > 0;
      return {
        status: 201,
        body: {
          id: key.id,
          apiKey: key.apiKey,
          description: key.description,
          expiresAt: key.expiresAt,
          ...(key.handle ? { handle: key.handle } : {}),
          rule: key.rule,
          granted: keyRequestFields(key.granted),
          clamped: key.clamped,
        },
        audit: { outcome: clamped ? 'clamped' : 'granted', rule: key.rule, keyId: key.id, granted: key.granted, clamped: key.clamped },
      };
    }),
  );

  app.post('/v1/keys/unwrap', (c) =>
    decide(c, 'unwrap', async (claims) => {
      const key = unwrapForCaller(claims, await jsonBody(c), deps);
      return {
        status: 200,
        body: { id: key.keyId, apiKey: key.apiKey, description: key.description, expiresAt: key.expiresAt },
        audit: { outcome: 'granted', keyId: key.keyId },
      };
    }),
  );

  app.delete('/v1/keys/:id', (c) =>
    decide(c, 'delete', async (claims, signal) => {
      const id = c.req.param('id');
      if (!isKeyId(id)) throw new Refusal(400, 'the key id is not one Venice writes.');
      const deleted = await deleteForCaller(claims, id, deps, signal);
      return { status: 200, body: { ...deleted }, audit: { outcome: deleted.outcome, keyId: id } };
    }),
  );

  app.notFound((c) =>
    c.json(
      { error: 'no such endpoint; the broker serves POST /v1/keys, DELETE /v1/keys/{id}, POST /v1/keys/unwrap and GET /healthz.' },
      404,
    ),
  );
  app.onError((error, c) => {
    deps.log.warning(`unexpected error: ${safeText(messageOf(error))}`);
    return c.json({ error: 'the broker failed unexpectedly; its log says more.' }, 500);
  });

  /** Verify the caller, do the work, audit exactly once, answer. */
  async function decide(
    c: Context,
    action: Action,
    work: (claims: CallerClaims, signal: AbortSignal) => Promise<Outcome>,
  ): Promise<Response> {
    let claims: CallerClaims | undefined;
    try {
      claims = await deps.verifyCaller(c.req.header('authorization'));
      const outcome = await work(claims, c.req.raw.signal);
      deps.audit({ action, status: outcome.status, claims, ...outcome.audit });
      c.header('cache-control', 'no-store');
      return c.json(outcome.body, outcome.status);
    } catch (error) {
      const { status, reason, extra } = refusalOf(error);
      deps.audit({
        action,
        outcome: status >= 500 && status !== 503 ? 'failed' : 'refused',
        status,
        claims,
        reason,
        rule: extra.rule,
        keyId: extra.keyId,
      });
      if (extra.retryAfterMs !== undefined) c.header('retry-after', String(Math.ceil(extra.retryAfterMs / 1000)));
      return c.json({ error: reason, ...(extra.rule ? { rule: extra.rule } : {}) }, status);
    }
  }
  return app;
}

function actionOf(c: Context): Action {
  if (c.req.method === 'DELETE') return 'delete';
  return c.req.path.endsWith('/unwrap') ? 'unwrap' : 'mint';
}

/** The body as JSON; anything else is the caller's mistake (400), said without echoing the body. */
async function jsonBody(c: Context): Promise<unknown> {
  const text = await c.req.text();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Refusal(400, 'the body is not JSON; send Content-Type: application/json with a JSON object.');
  }
}

function refusalOf(error: unknown): { status: 400 | 401 | 403 | 404 | 429 | 502 | 503; reason: string; extra: Refusal['extra'] } {
  if (error instanceof CallerRefused) return { status: error.status, reason: error.message, extra: {} };
  if (error instanceof Refusal) return { status: error.status, reason: error.message, extra: error.extra };
  // Venice failed or refused: the broker's own admin key is never in these messages (the client blanks it).
  if (error instanceof ActionFailure) return { status: 502, reason: `Venice: ${error.message}`, extra: {} };
  throw error;
}
