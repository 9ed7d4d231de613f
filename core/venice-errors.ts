/**
 * What goes wrong with a Venice request, as kinds a program can act on (VeniceError: the call, the
 * status, whether to retry and when) and explanations in words that hold for whoever holds the admin key;
 * each program appends its own advice (VeniceProblem, through VeniceClientOptions.advise).
 */
import { ActionFailure } from './errors.js';
import type { HttpResponse } from './http.js';
import type { RetryableFailure } from './retry.js';
import { safeText } from './safe-text.js';
import { ROUTES, type VeniceCall } from './venice-api.js';

/** A failed Venice request: final (with an explanation) or retryable. */
export class VeniceError extends ActionFailure implements RetryableFailure {
  readonly call: VeniceCall;
  readonly status: number | undefined;
  /** Venice's own error text, neutralised and with secrets blanked; empty when there was none. */
  readonly veniceText: string;
  readonly retryable: boolean;
  readonly rateLimited: boolean;
  readonly summary: string;
  /** A create that may have reached Venice although we never saw the key. */
  readonly ambiguous: boolean;
  /** The request never reached Venice (connection refused, host not found). */
  readonly neverSent: boolean;
  readonly retryAfterMs: number | undefined;
  readonly waitReason = 'Venice is rate limiting';

  constructor(
    message: string,
    details: {
      call: VeniceCall;
      status?: number | undefined;
      veniceText?: string;
      retryable?: boolean;
      rateLimited?: boolean;
      summary: string;
      ambiguous?: boolean;
      neverSent?: boolean;
      retryAfterMs?: number | undefined;
    },
  ) {
    super(message);
    this.name = 'VeniceError';
    this.call = details.call;
    this.status = details.status;
    this.veniceText = details.veniceText ?? '';
    this.retryable = details.retryable ?? false;
    this.rateLimited = details.rateLimited ?? false;
    this.summary = details.summary;
    this.ambiguous = details.ambiguous ?? false;
    this.neverSent = details.neverSent ?? false;
    this.retryAfterMs = details.retryAfterMs;
  }
}

/** A create that Venice answered, with a key that must not be handed out (it was deleted at once). */
export class UnusableKeyAnswer extends ActionFailure {
  constructor(
    message: string,
    /** Whether the key was deleted (if not, it is left for the post step). */
    readonly deleted: boolean,
  ) {
    super(message);
    this.name = 'UnusableKeyAnswer';
  }
}

/** A failure worth another attempt, said as what the call was doing. */
export function retryable(
  call: VeniceCall,
  status: number | undefined,
  summary: string,
  extra: { ambiguous?: boolean; neverSent?: boolean } = {},
): VeniceError {
  return new VeniceError(`${ROUTES[call].doing} failed: ${summary}.`, { call, status, retryable: true, summary, ...extra });
}

/**
 * Venice's answer for an id it does not have: a 400 saying "API key could not be found" (or "API key not
 * found"). A 404 "Not found" is not that: it means api-url points somewhere else, and must not pass as gone.
 */
export function isNotFound(error: unknown): boolean {
  return (
    error instanceof VeniceError &&
    (error.status === 400 || error.status === 404) &&
    /api key (could )?not (be )?found/i.test(error.veniceText)
  );
}

/**
 * What went wrong with the admin key or the request, in words that hold for whoever holds the key. Each
 * program adds its own advice (VeniceClientOptions.advise): the action speaks to the workflow that
 * holds admin-key, the broker to its callers, who hold no key at all.
 */
export type VeniceProblem = 'inference-key' | 'refused-key' | 'no-key' | 'forbidden' | 'bad-settings' | 'not-venice' | 'unreachable';

/** Errors from Venice, explained for the person reading the log. */
export function explain(call: VeniceCall, status: number, veniceText: string, advise: (problem: VeniceProblem) => string): string {
  const doing = ROUTES[call].doing;
  const said = veniceText ? ` Venice said: "${veniceText}".` : '';
  if (status === 401 && /admin api key required/i.test(veniceText)) {
    return `Venice refused ${doing} with 401 "Admin API key required": the admin key is an inference key.${advise('inference-key')}`;
  }
  if (status === 401 && call === 'verify') {
    return `the key did not work: Venice answered 401 when it was used.${said} It may have been deleted or have expired.`;
  }
  if (status === 401) return `Venice refused the admin key (401).${said}${advise('refused-key')}`;
  if (status === 402) {
    return `Venice answered 402 (payment required) while ${doing}: it received no usable key.${advise('no-key')}`;
  }
  if (status === 403) return `Venice forbade ${doing} (403).${said}${advise('forbidden')}`;
  if (status === 400 && call === 'create') return `Venice rejected the new key's settings (400).${said}${advise('bad-settings')}`;
  if (status === 404 || status === 405) {
    return `${doing} failed with HTTP ${status}: the address does not look like Venice's API.${said}${advise('not-venice')}`;
  }
  return `${doing} failed with HTTP ${status}.${said}`;
}

/** Venice's `error` text, neutralised for the log, shortened, with any secret blanked out in case it was echoed. */
export function errorText(json: unknown, raw: string, secrets: string[]): string {
  const error = (json as { error?: unknown } | undefined)?.error;
  let text = typeof error === 'string' ? error : json === undefined ? raw.slice(0, 1000) : '';
  for (const secret of secrets) if (secret) text = text.split(secret).join('***');
  text = text.replace(/\s+/g, ' ').trim();
  return safeText(text.length > 200 ? `${text.slice(0, 200)}…` : text);
}

/**
 * How long the server asked us to wait. Retry-After is seconds or an HTTP date; Venice's
 * x-ratelimit-reset-* headers have unclear units, so a value is read as an epoch in ms or s when it is
 * that large, else as seconds from now. Anything odd is ignored (the window-sized wait applies).
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
    if (!Number.isFinite(value) || value < 0 || first(name) === undefined) continue;
    if (value > 1e12) return Math.max(0, value - now);
    if (value > 1e9) return Math.max(0, value * 1000 - now);
    return value * 1000;
  }
  return undefined;
}
