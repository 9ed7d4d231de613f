import type { Deadline } from './deadline.js';
import { ActionFailure, messageOf } from './errors.js';
import { type HttpResponse, NoResponseError, sendRequest } from './http.js';
import type { LimitPeriod, ModelPrivacy } from './inputs.js';
import { type RetryableFailure, type RetryPolicy, withRetries } from './retry.js';

/**
 * The Venice API as this action uses it: create, verify, list and delete keys (swagger.yaml,
 * /api_keys). Each call builds its request here, retries through withRetries, and turns Venice's
 * answers into errors a person can act on. Nothing here logs a header or a create response.
 */
export type VeniceCall = 'create' | 'verify' | 'list' | 'delete';

export interface CreateKeyBody {
  apiKeyType: 'INFERENCE';
  description: string;
  expiresAt: string;
  consumptionLimit: { usd: number | null; diem: number | null };
  limitPeriod: LimitPeriod;
  modelPrivacy?: ModelPrivacy;
}

export interface MintedKey {
  id: string;
  apiKey: string;
  description: string;
  /** As Venice reports it, else as requested. */
  expiresAt: string;
}

export interface ListedKey {
  id: string;
  description: string;
  expiresAt: string | null;
  createdAt: string | null;
  apiKeyType: string;
}

export interface VeniceClientOptions {
  apiUrl: string;
  adminKey: string;
  deadline: Deadline;
  policy: RetryPolicy;
  log: (message: string) => void;
  /** Aborts waits and requests when the job is cancelled. */
  signal?: AbortSignal | undefined;
  /** Create and delete get a grace period to settle after a cancel (see index.ts), so no key is lost mid-flight. */
  settleSignal?: AbortSignal | undefined;
}

/** A failed Venice request: final (user-facing explanation) or retryable. */
export class VeniceError extends ActionFailure implements RetryableFailure {
  constructor(
    message: string,
    readonly call: VeniceCall,
    readonly status: number | undefined,
    readonly veniceText: string,
    readonly retryable: boolean,
    readonly summary: string,
    /** The create may have reached Venice although we never saw the key. */
    readonly ambiguous = false,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'VeniceError';
  }
}

const MAX_REQUEST_TIMEOUT_MS = 30_000;
const MIN_REQUEST_TIMEOUT_MS = 1_000;

export class VeniceClient {
  constructor(private readonly options: VeniceClientOptions) {}

  /** The same client with the deadline's reserve released: for deleting what failed work left. */
  forCleanup(): VeniceClient {
    return new VeniceClient({ ...this.options, deadline: this.options.deadline.forCleanup() });
  }

  /**
   * Creates a key. Creation is not idempotent: when a create may have reached Venice but its answer
   * was lost, `recover` runs before the next attempt to delete whatever that attempt made.
   */
  async createKey(body: CreateKeyBody, recover: () => Promise<void>): Promise<MintedKey> {
    let mayHaveMadeKey = false; // the last attempt failed in a way that may have left a key behind
    try {
      return await this.retrying(
        'create',
        async () => {
          try {
            return await this.createOnce(body);
          } catch (error) {
            mayHaveMadeKey = error instanceof VeniceError && error.ambiguous;
            throw error;
          }
        },
        async () => {
          if (mayHaveMadeKey) await recover();
          mayHaveMadeKey = false;
        },
      );
    } catch (error) {
      // Giving up right after an attempt that may have made a key: clean up once more before failing.
      if (mayHaveMadeKey) {
        await recover().catch((cleanupError: unknown) =>
          this.options.log(
            `Could not look for a key left by the failed create (${messageOf(cleanupError)}); the post step will look again.`,
          ),
        );
      }
      throw error;
    }
  }

  private async createOnce(body: CreateKeyBody): Promise<MintedKey> {
    const response = await this.send('create', 'POST', '/api_keys', this.options.adminKey, body, this.options.settleSignal);
    const data = (response.json as { data?: Partial<MintedKey> } | undefined)?.data;
    if (typeof data?.id !== 'string' || typeof data.apiKey !== 'string' || data.apiKey === '') {
      // Venice answered 2xx but without a usable key: one may exist that we cannot use.
      throw retryable('create', response.status, 'a response without the new key', true);
    }
    return {
      id: data.id,
      apiKey: data.apiKey,
      description: typeof data.description === 'string' ? data.description : body.description,
      expiresAt: typeof data.expiresAt === 'string' ? data.expiresAt : body.expiresAt,
    };
  }

  /** Asks Venice whether the new key may be used: GET /api_keys/rate_limits with that key. */
  async verifyKey(apiKey: string): Promise<boolean> {
    return this.retrying('verify', async () => {
      const response = await this.send('verify', 'GET', '/api_keys/rate_limits', apiKey);
      const data = (response.json as { data?: { accessPermitted?: unknown } } | undefined)?.data;
      if (typeof data?.accessPermitted !== 'boolean') {
        throw retryable('verify', response.status, 'a response without accessPermitted');
      }
      return data.accessPermitted;
    });
  }

  async listKeys(): Promise<ListedKey[]> {
    return this.retrying('list', async () => {
      const response = await this.send('list', 'GET', '/api_keys', this.options.adminKey);
      const data = (response.json as { data?: unknown } | undefined)?.data;
      if (!Array.isArray(data)) throw retryable('list', response.status, 'a response without a key list');
      return data
        .filter((key): key is ListedKey => typeof key === 'object' && key !== null && typeof key.id === 'string')
        .map((key) => ({
          id: key.id,
          description: typeof key.description === 'string' ? key.description : '',
          expiresAt: typeof key.expiresAt === 'string' ? key.expiresAt : null,
          createdAt: typeof key.createdAt === 'string' ? key.createdAt : null,
          apiKeyType: String(key.apiKeyType),
        }));
    });
  }

  /** Deletes a key; a key Venice cannot find (deleted or expired already) counts as gone. */
  async deleteKey(id: string): Promise<'deleted' | 'already-gone'> {
    return this.retrying('delete', async () => {
      try {
        await this.send(
          'delete',
          'DELETE',
          `/api_keys?id=${encodeURIComponent(id)}`,
          this.options.adminKey,
          undefined,
          this.options.settleSignal,
        );
        return 'deleted' as const;
      } catch (error) {
        if (error instanceof VeniceError && error.status === 400 && /not (be )?found/i.test(error.veniceText)) {
          return 'already-gone' as const;
        }
        throw error;
      }
    });
  }

  private retrying<T>(call: VeniceCall, attempt: () => Promise<T>, beforeRetry?: () => Promise<void>): Promise<T> {
    return withRetries(call, attempt, {
      policy: this.options.policy,
      deadline: this.options.deadline,
      log: this.options.log,
      signal: this.options.signal,
      beforeRetry,
    });
  }

  /** One request, classified: returns a 2xx with its JSON, or throws a VeniceError. */
  private async send(
    call: VeniceCall,
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    bearer: string,
    body?: unknown,
    signal: AbortSignal | undefined = this.options.signal,
  ): Promise<{ status: number; json: unknown }> {
    const remaining = this.options.deadline.remainingMs();
    if (remaining <= 0) throw this.options.deadline.exceeded(call);
    let response: HttpResponse;
    try {
      response = await sendRequest({
        method,
        url: new URL(this.options.apiUrl + path),
        headers: {
          authorization: `Bearer ${bearer}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        timeoutMs: Math.max(MIN_REQUEST_TIMEOUT_MS, Math.min(MAX_REQUEST_TIMEOUT_MS, this.options.deadline.totalMs / 4, remaining)),
        signal,
      });
    } catch (error) {
      if (error instanceof NoResponseError && error.reason === 'cancelled') throw new ActionFailure(`${describeCall(call)} was cancelled.`);
      // No answer: a create may still have reached Venice.
      throw retryable(call, undefined, messageOf(error), call === 'create');
    }

    const { status } = response;
    const json = parseJson(response.text);
    if (status >= 200 && status < 300) {
      if (json === undefined) throw retryable(call, status, 'an unreadable response', call === 'create');
      return { status, json };
    }
    const veniceText = errorText(json, response.text, [this.options.adminKey, bearer]);
    if (status === 429) {
      throw retryable(call, status, `HTTP 429 ${veniceText || 'Rate limit exceeded'}`, false, retryAfterMs(response.headers));
    }
    if (status >= 500) throw retryable(call, status, `HTTP ${status} ${veniceText}`.trim(), call === 'create');
    throw new VeniceError(explain(call, status, veniceText), call, status, veniceText, false, `HTTP ${status}`);
  }
}

function retryable(call: VeniceCall, status: number | undefined, summary: string, ambiguous = false, retryAfter?: number): VeniceError {
  return new VeniceError(`${describeCall(call)} failed: ${summary}.`, call, status, '', true, summary, ambiguous, retryAfter);
}

export function describeCall(call: VeniceCall): string {
  return { create: 'creating the key', verify: 'verifying the new key', list: 'listing keys', delete: 'deleting the key' }[call];
}

/** Errors from Venice, explained for the person reading the log. */
function explain(call: VeniceCall, status: number, veniceText: string): string {
  const said = veniceText ? ` Venice said: "${veniceText}".` : '';
  if (status === 401 && /admin api key required/i.test(veniceText)) {
    return (
      `Venice refused ${describeCall(call)} with 401 "Admin API key required": admin-key holds an inference key. ` +
      'Minting keys needs an admin key: create one in Venice (Settings → API keys, type Admin) and store it in the secret.'
    );
  }
  if (status === 401 && call === 'verify') {
    return `the new key did not work: Venice answered 401 when it was used.${said} Venice may not have activated it yet; re-run the job.`;
  }
  if (status === 401) {
    return `Venice refused the admin-key (401).${said} The key is wrong, expired or revoked: check the value stored in the secret.`;
  }
  if (status === 402) {
    return `Venice answered 402 Payment Required to ${describeCall(call)}: it received no usable key. Check that admin-key holds a Venice API key.`;
  }
  if (status === 403) return `Venice forbade ${describeCall(call)} (403).${said} Check the admin key's account and permissions.`;
  if (status === 400 && call === 'create') {
    return `Venice rejected the new key's settings (400).${said} Check expires-in, the limits and model-privacy; Venice also refuses new keys past 500 active keys per account.`;
  }
  return `${describeCall(call)} failed with HTTP ${status}.${said}`;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Venice's `error` text, shortened, with any secret blanked out in case it was echoed back. */
function errorText(json: unknown, raw: string, secrets: string[]): string {
  const error = (json as { error?: unknown } | undefined)?.error;
  let text = typeof error === 'string' ? error : json === undefined ? raw : '';
  for (const secret of secrets) if (secret) text = text.split(secret).join('***');
  text = text.replace(/\s+/g, ' ').trim();
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/**
 * How long the server asked us to wait. Retry-After is seconds or an HTTP date; Venice's
 * x-ratelimit-reset-* headers have unclear units, so a value is read as an epoch in ms or s when it is
 * that large, else as seconds from now. Anything odd is ignored (backoff applies).
 */
export function retryAfterMs(headers: HttpResponse['headers'], now = Date.now()): number | undefined {
  const first = (name: string): string | undefined => {
    const value = headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const retryAfter = first('retry-after');
  if (retryAfter !== undefined) {
    if (/^\d+(\.\d+)?$/.test(retryAfter.trim())) return Number(retryAfter) * 1000;
    const date = Date.parse(retryAfter);
    if (!Number.isNaN(date)) return Math.max(0, date - now);
  }
  for (const name of ['x-ratelimit-reset-requests', 'x-ratelimit-reset']) {
    const value = Number(first(name));
    if (!Number.isFinite(value) || value < 0) continue;
    if (value > 1e12) return Math.max(0, value - now);
    if (value > 1e9) return Math.max(0, value * 1000 - now);
    return value * 1000;
  }
  return undefined;
}
