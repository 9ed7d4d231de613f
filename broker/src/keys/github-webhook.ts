/**
 * GitHub's organisation webhook: when a workflow run completes or a pull request closes, the broker
 * deletes the keys that belong to it, so no key outlives its owner even when the runner died before
 * its post step and nobody runs a sweep.
 *
 *   POST /v1/github/webhook   X-Hub-Signature-256 (HMAC-SHA256 of the raw body with the secret),
 *                             X-GitHub-Event, X-GitHub-Delivery
 *
 * - A delivery is judged on its headers before any of its body is read (a stranger's bytes cost
 *   nothing); the body is read within github-webhook.read-timeout by at most max-unverified deliveries
 *   at once, then the signature is checked on the raw bytes, in constant time (node:crypto rather than a
 *   library: the check is a few lines, and it must see the exact bytes). No or a wrong signature: 401,
 *   counted with the other refusals before a rule.
 * - A delivery id is acted on once: remembered only after its signature verified (a forged delivery
 *   cannot use up a real id), for a day, in the store (with Redis, on every replica); a redelivery gets
 *   200 and does nothing.
 * - `ping`: 200. `workflow_run` `completed` (run R, attempt N): the job and run keys leased to run R
 *   with attempt at most N go (never a re-run's, never `kept` keys). `pull_request` `closed` at T: the
 *   PR's keys handed out before T go (a reopened PR's new keys stay). The selection is core's
 *   (core/ownership.ts), over the leases of the payload's repository. That repository must be admitted
 *   by a rule, matched by the same ids and names as a token's; anything else is ignored with an audit line.
 * - The answer is 202 at once; the work is done in the background, one delivery at a time, each deletion
 *   through the one delete (lease-ends.ts) and audited with its delivery. A deletion that fails marks its
 *   lease ending; the reconciler tries again with backoff until the key expires. A late or repeated
 *   delivery still touches only what it owns.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { PullRequestClosedEvent, WorkflowRunCompletedEvent } from '@octokit/webhooks-types';
import type { Context } from 'hono';
import { messageOf } from '../../../core/errors.js';
import { endsWithPullRequest, endsWithRun, prNumberOf } from '../../../core/ownership.js';
import { safeText } from '../../../core/safe-text.js';
import type { Audit } from '../observe/audit.js';
import type { Rule, WebhookConfig } from '../policy/config.js';
import type { OperationDeps } from './key-operations.js';
import { endLeasedKey, leaseEndDeps } from './lease-ends.js';
import { leaseFacts } from './leases.js';

const DELIVERY_MEMORY_MS = 86_400_000;
const IDENTITY_CLAIMS = new Set(['repository_owner_id', 'repository_id', 'repository_owner', 'repository']);

export interface WebhookDeps extends OperationDeps {
  secret: string;
  audit: Audit;
  webhook: WebhookConfig;
}

/** What the HTTP layer lends a delivery: the refusal counted against the address, and the connection's mark. */
export interface WebhookDoor {
  refuse: (status: 401, reason: string, kind: string) => Promise<Response>;
  /** Marks the connection as reading an unverified body (it may be closed to make room); returns the unmark. */
  unverified: () => () => void;
  /** Node's request, whose body is read directly (undefined outside Node: nothing can be read). */
  incoming: IncomingMessage | undefined;
}

/** The events the broker acts on; any other is answered 202 without its body being read. */
const ACTED_ON = new Set(['ping', 'workflow_run', 'pull_request']);

/** An answer that closes its connection: an unread or unverified body is not worth keeping a connection for. */
function closing(c: Context, status: number, reason?: string, retryAfterMs?: number, body: Record<string, unknown> = {}): Response {
  c.header('connection', 'close');
  if (retryAfterMs !== undefined) c.header('retry-after', String(Math.ceil(retryAfterMs / 1_000)));
  return c.json(reason === undefined ? body : { error: reason, ...body }, status as 400);
}

/**
 * The body, at most `maxBytes`, within `ms`: 'timeout' when it is too slow, 'cut' when it breaks off or
 * runs over, 'gave-way' when `signal` aborts (a newer delivery took its place). Read from Node's own
 * request stream (no web stream is made for a body that may never be verified: a flood costs less).
 */
function readWithin(
  incoming: IncomingMessage | undefined,
  maxBytes: number,
  ms: number,
  signal: AbortSignal,
): Promise<Buffer | 'timeout' | 'cut' | 'gave-way'> {
  if (!incoming) return Promise.resolve('cut');
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (result: Buffer | 'timeout' | 'cut' | 'gave-way'): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', gaveWay);
      incoming.off('data', onData).off('end', onEnd).off('error', onCut).off('close', onCut);
      if (typeof result === 'string') incoming.pause();
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) finish('cut');
      else chunks.push(chunk);
    };
    const onEnd = (): void => finish(Buffer.concat(chunks));
    const onCut = (): void => finish('cut');
    const gaveWay = (): void => finish('gave-way');
    const timer = setTimeout(() => finish('timeout'), ms);
    signal.addEventListener('abort', gaveWay, { once: true });
    incoming.on('data', onData).on('end', onEnd).on('error', onCut).on('close', onCut);
  });
}

export function signatureMatches(secret: string, body: Buffer, header: string | undefined): boolean {
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`);
  const given = Buffer.from(header ?? '');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Whether a rule admits this repository by the ids and names a token would carry. */
export function admitsRepository(rules: Rule[], repository: Record<string, string>): Rule | undefined {
  return rules.find((rule) => {
    const identity = rule.matcher.filter(([claim]) => IDENTITY_CLAIMS.has(claim));
    return (
      identity.length > 0 && identity.every(([claim, test]) => typeof repository[claim] === 'string' && test(repository[claim] as string))
    );
  });
}

export class GitHubWebhook {
  /** Unverified bodies being read now, the oldest first; each can be told to give way. */
  private readonly readers: AbortController[] = [];
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly deps: WebhookDeps) {}

  close(): Promise<void> {
    return this.queue;
  }

  /**
   * One delivery: judged on its headers first (nothing of the body is read for a malformed or missing
   * signature, an event the broker does not act on, or a size it will not take), then its body is read
   * within github-webhook.read-timeout, by at most github-webhook.max-unverified deliveries at once, and
   * verified; the deletions follow in the background.
   */
  async receive(c: Context, door: WebhookDoor): Promise<Response> {
    const early = this.judgeHeaders(c);
    if (early) return early.status === 401 ? door.refuse(401, early.reason, 'webhook-signature') : early.answer(c);
    const settings = this.deps.webhook;
    // At most max-unverified bodies are read at once. A newcomer takes the place of the read that began
    // first (it gives way, 503): GitHub sends a delivery whole at once, so a slow body flood cannot keep
    // a real delivery out, only bump itself.
    if (this.readers.length >= settings.maxUnverified) this.readers.shift()?.abort();
    const reader = new AbortController();
    this.readers.push(reader);
    const settled = door.unverified();
    let body: Buffer | 'timeout' | 'cut' | 'gave-way';
    try {
      body = await readWithin(door.incoming, settings.bodyBytes, settings.readTimeoutMs, reader.signal);
    } finally {
      this.readers.splice(this.readers.indexOf(reader) >>> 0, 1);
      settled();
    }
    if (body === 'gave-way') {
      return closing(
        c,
        503,
        'too many webhook deliveries were being read at once, and this one was the slowest; retry after the wait given.',
        1_000,
      );
    }
    if (body === 'timeout') return closing(c, 408, 'the body did not arrive whole within github-webhook.read-timeout.');
    if (body === 'cut') return closing(c, 400, 'the body did not arrive whole (the connection closed or it was longer than declared).');
    if (!signatureMatches(this.deps.secret, body, c.req.header('x-hub-signature-256'))) {
      return door.refuse(401, 'the X-Hub-Signature-256 header does not match the body with the webhook secret.', 'webhook-signature');
    }
    return this.act(c, body);
  }

  /** A verified delivery: acted on once (whichever replica it reaches), its clean-up in the background. */
  private async act(c: Context, body: Buffer): Promise<Response> {
    const delivery = c.req.header('x-github-delivery') as string;
    const event = c.req.header('x-github-event') as string;
    // Remembered in the store, so a redelivery is a duplicate whichever replica it reaches. A store out of
    // reach counts it as new: acting twice on a delivery deletes nothing the second time.
    const first = await this.deps.state.firstTime(`delivery:${delivery}`, DELIVERY_MEMORY_MS).catch(() => true);
    if (!first) return c.json({ ok: true, duplicate: true }, 200);
    if (event === 'ping') return c.json({ ok: true }, 200);
    let payload: Delivered;
    try {
      payload = JSON.parse(body.toString('utf8')) as Delivered;
    } catch {
      return c.json({ error: 'the body is not JSON.' }, 400);
    }
    const job = jobOf(event, payload, this.deps.now());
    if (!job) return c.json({ ok: true, ignored: true }, 202);
    if (!admitsRepository(this.deps.config.rules, job.identity)) {
      this.deps.audit({
        action: 'webhook',
        status: 202,
        delivery,
        event,
        repository: job.identity.repository,
        outcome: 'refused',
        reason: "no rule of the policy admits the payload's repository; nothing deleted.",
      });
      return c.json({ ok: true, ignored: true }, 202);
    }
    void this.enqueue(() => this.clean(job, { delivery, event }));
    return c.json({ ok: true, accepted: true }, 202);
  }

  /**
   * The answer a delivery gets from its headers alone, or undefined when its body is worth reading:
   * a signature that is missing or not `sha256=<64 hex>` is 401; delivery and event not as GitHub
   * writes them, 400; an event the broker does not act on, 202 (nothing is read); no Content-Length,
   * 411; one above github-webhook.body-bytes, 413.
   */
  private judgeHeaders(c: Context): { status: number; reason: string; answer: (c: Context) => Response } | undefined {
    const refuse = (status: number, reason: string, extra: Record<string, unknown> = {}) => ({
      status,
      reason,
      answer: (ctx: Context) => closing(ctx, status, reason, undefined, extra),
    });
    if (!/^sha256=[0-9a-f]{64}$/.test(c.req.header('x-hub-signature-256') ?? '')) {
      return refuse(401, 'the X-Hub-Signature-256 header is missing or not sha256=<64 hex digits>; nothing was read.');
    }
    const delivery = c.req.header('x-github-delivery') ?? '';
    const event = c.req.header('x-github-event') ?? '';
    if (!/^[0-9A-Za-z-]{1,64}$/.test(delivery) || !/^[a-z_]{1,64}$/.test(event)) {
      return refuse(400, 'X-GitHub-Delivery and X-GitHub-Event must be as GitHub writes them.');
    }
    if (!ACTED_ON.has(event)) {
      return { status: 202, reason: '', answer: (ctx) => closing(ctx, 202, undefined, undefined, { ok: true, ignored: true }) };
    }
    const length = c.req.header('content-length');
    if (length === undefined || !/^\d{1,12}$/.test(length)) {
      return refuse(411, 'a webhook delivery needs a Content-Length (GitHub always sends one).');
    }
    if (Number(length) > this.deps.webhook.bodyBytes) {
      return refuse(413, `the body is larger than github-webhook.body-bytes (${this.deps.webhook.bodyBytes} bytes).`);
    }
    return undefined;
  }

  /**
   * The keys a delivery ends, from the leases of its repository: a run attempt's job and run keys (attempt
   * N ends attempts up to N, never a re-run's), or a PR's keys handed out before it closed. Each is deleted
   * through the one delete (lease-ends.ts); a deletion that fails marks its lease ending, and the
   * reconciler tries again with backoff until the key expires.
   */
  private async clean(job: Job, context: { delivery: string; event: string }): Promise<void> {
    const leases = await this.deps.leases.list(job.identity.repository_id).catch((error: unknown) => {
      this.deps.log.warning(
        `could not read the leases of ${job.identity.repository} for delivery ${context.delivery} (${safeText(messageOf(error))}).`,
      );
      return [];
    });
    const ending = leases.filter((lease) =>
      job.kind === 'run' ? endsWithRun(leaseFacts(lease), job.run) : endsWithPullRequest(leaseFacts(lease), job.pr),
    );
    const reason = job.kind === 'run' ? `run ${job.run.runId} attempt ${job.run.attempt} completed` : `PR #${job.pr.number} closed`;
    const end = { why: 'webhook' as const, action: 'webhook' as const, reason, ...context };
    for (const lease of ending) {
      await endLeasedKey(lease, end, leaseEndDeps(this.deps)).catch(async (error: unknown) => {
        this.deps.log.warning(`could not delete ${lease.keyId} (${reason}: ${safeText(messageOf(error))}); the reconciler tries again.`);
        await this.deps.leases.failedToEnd(lease, reason, context.delivery, this.deps.now()).catch(() => undefined);
      });
    }
  }

  private enqueue(work: () => Promise<void>): Promise<void> {
    this.queue = this.queue.then(work, work);
    return this.queue;
  }
}

/** What a delivery says is over, and the repository's identity; undefined when it says nothing the broker acts on. */
type Job = { identity: Record<string, string> } & (
  | { kind: 'run'; run: { runId: string; attempt: number } }
  | { kind: 'pr'; pr: { number: number; closedAt: number } }
);

/**
 * A delivery's payload as GitHub's own event types name its fields (@octokit/webhooks-types, types only),
 * every value still unknown until checked here: signed by GitHub, but data all the same.
 */
type Untrusted<T> = { [K in keyof T]?: T[K] extends object ? Untrusted<T[K]> : unknown };
type Delivered = Untrusted<WorkflowRunCompletedEvent> & Untrusted<PullRequestClosedEvent>;

function jobOf(event: string, payload: Delivered, now: number): Job | undefined {
  const { repository } = payload;
  const identity = {
    repository_id: String(repository?.id ?? ''),
    repository_owner_id: String(repository?.owner?.id ?? ''),
    repository: typeof repository?.full_name === 'string' ? repository.full_name : '',
    repository_owner: typeof repository?.owner?.login === 'string' ? repository.owner.login : '',
  };
  if (!/^[1-9]\d{0,15}$/.test(identity.repository_id) || !/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(identity.repository)) return undefined;
  if (event === 'workflow_run' && payload.action === 'completed') {
    const run = payload.workflow_run;
    const runId = String(run?.id ?? '');
    const attempt =
      typeof run?.run_attempt === 'number' && Number.isSafeInteger(run.run_attempt) && run.run_attempt > 0 ? run.run_attempt : 1;
    return /^[1-9]\d{0,12}$/.test(runId) ? { identity, kind: 'run', run: { runId, attempt } } : undefined;
  }
  if (event === 'pull_request' && payload.action === 'closed') {
    const number = prNumberOf(payload.number);
    // When it closed (GitHub's closed_at); a delivery without one is taken as closed now.
    const closedText = payload.pull_request?.closed_at;
    const closedAt = typeof closedText === 'string' && !Number.isNaN(Date.parse(closedText)) ? Date.parse(closedText) : now;
    return number === undefined ? undefined : { identity, kind: 'pr', pr: { number, closedAt } };
  }
  return undefined;
}
