/**
 * The Venice API as the action and the broker use it (swagger.yaml, /api_keys): create, verify, list, read and
 * delete keys. Each request is built from one routing table (ROUTES, venice-api.ts), sent through the
 * step's one transport, retried through withRetries, and its answer validated (venice-api.ts's checks)
 * before anything uses it. Errors are explained for a person (venice-errors.ts). Nothing here logs a
 * header or a create response.
 */
import type { Deadline } from './deadline.js';
import { ActionFailure, messageOf } from './errors.js';
import { type HttpResponse, type HttpTransport, NoResponseError } from './http.js';
import { isKeyId } from './ownership.js';
import { type RetryPolicy, withRetries } from './retry.js';
import {
  amount,
  type CreateKeyBody,
  EXPIRY_SLACK_MS,
  isApiKey,
  isoDate,
  type KeyDetails,
  type ListedKey,
  listedKey,
  type MintedKey,
  ROUTES,
  type VeniceCall,
} from './venice-api.js';
import {
  errorText,
  explain,
  isNotFound,
  retryAfterMs,
  retryable,
  UnusableKeyAnswer,
  VeniceError,
  type VeniceProblem,
} from './venice-errors.js';

export interface VeniceClientOptions {
  apiUrl: string;
  adminKey: string;
  transport: HttpTransport;
  deadline: Deadline;
  policy: RetryPolicy;
  log: (message: string) => void;
  /** Aborts waits and requests when the job is cancelled. */
  signal?: AbortSignal | undefined;
  /** Create and delete get a grace period to settle after a cancel (see index.ts), so no key is lost mid-flight. */
  settleSignal?: AbortSignal | undefined;
  /** The program's advice for a problem with the admin key or a request (appended to the explanation). */
  advise?: ((problem: VeniceProblem) => string) | undefined;
}

const MAX_REQUEST_TIMEOUT_MS = 30_000;
const MIN_REQUEST_TIMEOUT_MS = 1_000;

export class VeniceClient {
  /** Connections refused in a row (see unreachableFor). */
  private refusedInARow = 0;

  constructor(private readonly options: VeniceClientOptions) {}

  /** The same client with the deadline's reserve released: for deleting what failed work left. */
  forCleanup(): VeniceClient {
    return new VeniceClient({ ...this.options, deadline: this.options.deadline.forCleanup() });
  }

  /**
   * Creates a key. Creation is not idempotent: when a create may have reached Venice but its answer
   * was lost, `recover` runs before the next attempt to delete whatever that attempt made.
   * `nothingCanLand` is called once every attempt so far got an answer from Venice: until then, a key
   * could still appear later (a request that timed out or was cut may yet be processed).
   */
  async createKey(
    body: CreateKeyBody,
    hooks: {
      recover: () => Promise<void>;
      nothingCanLand?: () => void;
      /**
       * Called when the create fails and no key of it can exist: every attempt was answered, and any
       * key an attempt made was deleted. Nothing is then left for anyone to look for.
       */
      nothingLeft?: () => void;
    },
  ): Promise<MintedKey> {
    let mayHaveMadeKey = false; // the last attempt failed in a way that may have left a key behind
    let unanswered = false; // some attempt got no answer at all
    const answered = (): void => {
      if (!unanswered) hooks.nothingCanLand?.();
    };
    try {
      return await this.retrying(
        'create',
        async () => {
          try {
            const key = await this.createOnce(body);
            answered();
            return key;
          } catch (error) {
            mayHaveMadeKey = error instanceof VeniceError && error.ambiguous;
            // An HTTP status is an answer, and so is a request that never left (nothing can come of it); a
            // timeout, a cut connection or a cancel is not.
            if ((error instanceof VeniceError && (error.status !== undefined || error.neverSent)) || error instanceof UnusableKeyAnswer)
              answered();
            else unanswered = true;
            throw error;
          }
        },
        async () => {
          if (mayHaveMadeKey) await hooks.recover();
          mayHaveMadeKey = false;
        },
      );
    } catch (error) {
      // Giving up right after an attempt that may have made a key: clean up once more before failing.
      if (mayHaveMadeKey) {
        await hooks
          .recover()
          .then(() => {
            mayHaveMadeKey = false;
          })
          .catch((cleanupError: unknown) =>
            this.options.log(
              `Could not look for a key left by the failed create (${messageOf(cleanupError)}); the post step will look again.`,
            ),
          );
      }
      const undeleted = error instanceof UnusableKeyAnswer && !error.deleted;
      if (!unanswered && !mayHaveMadeKey && !undeleted) hooks.nothingLeft?.();
      throw error;
    }
  }

  private async createOnce(body: CreateKeyBody): Promise<MintedKey> {
    const response = await this.send('create', { body });
    const data = (response.json as { data?: Record<string, unknown> } | undefined)?.data ?? {};
    if (!isKeyId(data.id)) throw retryable('create', response.status, 'an answer without a usable key id', { ambiguous: true });
    if (!isApiKey(data.apiKey)) {
      // A key exists that we cannot use (and must not mask: "a" would hide every a in the log).
      throw await this.unusable(
        data.id,
        'answered with a secret that does not look like a Venice key. This is not expected from Venice; if api-url points at a proxy or gateway, check what it does to the answer.',
      );
    }
    // Every key made here expires: one without an expiry, or expiring later than asked, goes at once.
    const expiresAt = isoDate(data.expiresAt);
    if (expiresAt === undefined || Date.parse(expiresAt) > Date.parse(body.expiresAt) + EXPIRY_SLACK_MS) {
      throw await this.unusable(
        data.id,
        expiresAt === undefined
          ? `answered without the expiry asked for (${body.expiresAt}); a key that may never expire is not handed out.`
          : `set it to expire at ${expiresAt}, later than the ${body.expiresAt} asked for; a key that outlives its ceiling is not handed out.`,
      );
    }
    return {
      id: data.id,
      apiKey: data.apiKey,
      description: typeof data.description === 'string' ? data.description : body.description,
      expiresAt,
    };
  }

  /** A created key that must not be handed out: deleted now, and the error that says so. */
  private async unusable(id: string, why: string): Promise<UnusableKeyAnswer> {
    const deleted = await this.forCleanup()
      .deleteKey(id)
      .then(() => true)
      .catch(() => false);
    return new UnusableKeyAnswer(
      `Venice created key ${id} but ${why} ${deleted ? 'The key was deleted.' : 'Deleting it failed; the post step tries again.'}`,
      deleted,
    );
  }

  /**
   * Re-shapes an existing key into `body` (PATCH /api_keys: its description, expiry, caps, period and
   * privacy), once, without retries: the broker's warm pool falls back to a create on any failure. The
   * answer is checked field by field (the id, an inference key, the expiry no later than asked, both caps,
   * the period, the privacy, and the description when Venice shows it); a key not as asked is an error.
   */
  async updateKey(id: string, body: CreateKeyBody): Promise<{ expiresAt: string }> {
    const { apiKeyType: _type, ...fields } = body;
    const response = await this.send('update', { body: { id, ...fields } });
    const data = (response.json as { data?: Record<string, unknown> } | undefined)?.data ?? {};
    const limits = (data.consumptionLimits ?? {}) as Record<string, unknown>;
    const expiresAt = isoDate(data.expiresAt);
    const wrong = [
      data.id === id ? undefined : 'id',
      data.apiKeyType === 'INFERENCE' ? undefined : 'apiKeyType',
      expiresAt !== undefined && Date.parse(expiresAt) <= Date.parse(body.expiresAt) + EXPIRY_SLACK_MS ? undefined : 'expiresAt',
      limits.usd === body.consumptionLimit.usd ? undefined : 'consumptionLimits.usd',
      limits.diem === body.consumptionLimit.diem ? undefined : 'consumptionLimits.diem',
      data.limitPeriod === body.limitPeriod ? undefined : 'limitPeriod',
      data.modelPrivacy === (body.modelPrivacy ?? 'ALL') ? undefined : 'modelPrivacy',
      data.description === undefined || data.description === body.description ? undefined : 'description',
    ].filter((field) => field !== undefined);
    if (wrong.length > 0 || expiresAt === undefined) {
      throw new VeniceError(`updating the key failed: the answer is not the key asked for (${wrong.join(', ')}).`, {
        call: 'update',
        status: response.status,
        retryable: false,
        summary: 'an answer not as asked',
      });
    }
    return { expiresAt };
  }

  /** Asks Venice whether a key may be used: GET /api_keys/rate_limits with that key. */
  async verifyKey(apiKey: string): Promise<boolean> {
    return this.retrying('verify', async () => {
      const response = await this.send('verify', { bearer: apiKey });
      const data = (response.json as { data?: { accessPermitted?: unknown } } | undefined)?.data;
      if (typeof data?.accessPermitted !== 'boolean') throw retryable('verify', response.status, 'an answer without accessPermitted');
      return data.accessPermitted;
    });
  }

  /** Every key of the account; entries whose id or dates are not what Venice writes are left out. */
  async listKeys(): Promise<ListedKey[]> {
    return this.retrying('list', async () => {
      const response = await this.send('list');
      const data = (response.json as { data?: unknown } | undefined)?.data;
      if (!Array.isArray(data)) throw retryable('list', response.status, 'an answer without a key list');
      return data.flatMap((entry) => {
        const key = listedKey(entry);
        return key ? [key] : [];
      });
    });
  }

  /** GET /api_keys/{id}; undefined when Venice no longer has the key. */
  async getKey(id: string): Promise<KeyDetails | undefined> {
    return this.retrying('get', async () => {
      let response: { status: number; json: unknown };
      try {
        response = await this.send('get', { id });
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
      const data = (response.json as { data?: Record<string, unknown> } | undefined)?.data;
      const key = listedKey(data);
      if (!key || key.id !== id) throw retryable('get', response.status, 'an answer that is not the key asked for');
      const usage = (data?.usage as { trailingSevenDays?: Record<string, unknown> } | undefined)?.trailingSevenDays;
      const period = data?.currentPeriodUsage as Record<string, unknown> | undefined;
      return {
        ...key,
        spent: { usd: amount(usage?.usd), diem: amount(usage?.diem) },
        currentPeriod: period ? { usd: amount(period.usd), diem: amount(period.diem) } : undefined,
      };
    });
  }

  /**
   * Deletes a key; a key Venice cannot find (deleted or expired already) counts as gone. A 200 that says
   * `success: false` did not delete anything: it is retried like a 5xx.
   */
  async deleteKey(id: string): Promise<'deleted' | 'already-gone'> {
    return this.retrying('delete', async () => {
      let response: { status: number; json: unknown };
      try {
        response = await this.send('delete', { id });
      } catch (error) {
        if (isNotFound(error)) return 'already-gone' as const;
        throw error;
      }
      if ((response.json as { success?: unknown }).success !== true) {
        throw retryable('delete', response.status, 'an answer that does not say success: true');
      }
      return 'deleted' as const;
    });
  }

  private retrying<T>(call: VeniceCall, attempt: () => Promise<T>, beforeRetry?: () => Promise<void>): Promise<T> {
    return withRetries(ROUTES[call].doing, attempt, {
      policy: this.options.policy,
      deadline: this.options.deadline,
      log: this.options.log,
      signal: this.options.signal,
      beforeRetry,
    });
  }

  /** The program's advice for a problem (none by default). */
  /**
   * A request that never left: a host that does not resolve is final at once, and a refused connection
   * is final the second time in a row (Venice is never down that way for long; a wrong api-url is).
   * Retrying either for the whole budget only hides the mistake (8 attempts took 33 s).
   */
  private unreachableFor(call: VeniceCall, error: NoResponseError): void {
    const notFound = error.failure === 'host not found';
    if (!notFound && ++this.refusedInARow < 2) return;
    throw new VeniceError(`${ROUTES[call].doing} failed: ${error.message}.${this.advise('unreachable')}`, {
      call,
      status: undefined,
      summary: error.message,
      neverSent: true,
    });
  }

  private advise(problem: VeniceProblem): string {
    return this.options.advise?.(problem) ?? '';
  }

  /** One request, classified: returns a 2xx with its JSON, or throws a VeniceError. */
  private async send(
    call: VeniceCall,
    request: { id?: string; body?: unknown; bearer?: string } = {},
  ): Promise<{ status: number; json: unknown }> {
    const route = ROUTES[call];
    const { deadline } = this.options;
    const remaining = deadline.remainingMs();
    if (remaining <= 0) throw deadline.exceeded(route.doing);
    const bearer = route.admin ? this.options.adminKey : (request.bearer ?? '');
    let response: HttpResponse;
    try {
      response = await this.options.transport.send({
        method: route.method,
        url: new URL(this.options.apiUrl + route.path(request.id ?? '')),
        headers: {
          authorization: `Bearer ${bearer}`,
          accept: 'application/json',
          ...(request.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: request.body === undefined ? undefined : JSON.stringify(request.body),
        // A create is never abandoned early (a second one could then land beside it): it may use all the
        // time left before the clean-up reserve. Other calls are cheap to repeat.
        timeoutMs:
          call === 'create'
            ? Math.max(MIN_REQUEST_TIMEOUT_MS, remaining)
            : Math.max(MIN_REQUEST_TIMEOUT_MS, Math.min(MAX_REQUEST_TIMEOUT_MS, deadline.totalMs / 4, remaining)),
        signal: route.settles ? this.options.settleSignal : this.options.signal,
      });
    } catch (error) {
      if (error instanceof NoResponseError && error.reason === 'cancelled') throw new ActionFailure(`${route.doing} was cancelled.`);
      const neverSent = error instanceof NoResponseError && error.neverSent;
      if (neverSent) this.unreachableFor(call, error);
      // No answer: a create may still have reached Venice, unless the request never left.
      throw retryable(call, undefined, messageOf(error), { ambiguous: call === 'create' && !neverSent, neverSent });
    }
    this.refusedInARow = 0;

    const { status } = response;
    const json = parseJson(response.text);
    if (status >= 200 && status < 300) {
      if (typeof json !== 'object' || json === null) {
        if (/^\s*</.test(response.text)) {
          // A web page where Venice's JSON should be: the address is wrong, and asking again will not help.
          throw new VeniceError(
            `${route.doing} got an HTML page, not Venice's JSON: the address does not look like Venice's API.${this.advise('not-venice')}`,
            {
              call,
              status,
              summary: `HTTP ${status} HTML`,
            },
          );
        }
        throw retryable(call, status, 'an unreadable answer', { ambiguous: call === 'create' });
      }
      return { status, json };
    }
    const veniceText = errorText(json, response.text, [this.options.adminKey, bearer]);
    if (status === 429) {
      throw new VeniceError(`${route.doing} was rate limited.`, {
        call,
        status,
        retryable: true,
        rateLimited: true,
        summary: `HTTP 429 ${veniceText || 'Rate limit exceeded'}`,
        retryAfterMs: retryAfterMs(response.headers),
      });
    }
    if (status >= 500) throw retryable(call, status, `HTTP ${status} ${veniceText}`.trim(), { ambiguous: call === 'create' });
    throw new VeniceError(
      explain(call, status, veniceText, (problem) => this.advise(problem)),
      { call, status, veniceText, summary: `HTTP ${status}` },
    );
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
