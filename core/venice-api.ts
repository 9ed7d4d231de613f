/**
 * Venice's API keys as the action and the broker see them (swagger.yaml, /api_keys): the routes, the
 * request bodies sent, and the shapes of the answers with the checks every answer passes before anything
 * uses it (an id, a date or a secret that does not look like Venice's is not trusted).
 */
import type { KeyRequest, LimitPeriod, ModelPrivacy } from './key-request.js';
import { isKeyId } from './ownership.js';

export type VeniceCall = 'create' | 'verify' | 'list' | 'get' | 'delete' | 'update';

export interface Route {
  method: 'GET' | 'POST' | 'DELETE' | 'PATCH';
  path: (id: string) => string;
  /** Said in messages: "… failed while creating the key". */
  doing: string;
  /** Sent with the admin key; verify uses the new key itself. */
  admin: boolean;
  /** A create or delete in flight is let to settle for a moment after a cancel (see index.ts). */
  settles: boolean;
}

export const ROUTES: Record<VeniceCall, Route> = {
  create: { method: 'POST', path: () => '/api_keys', doing: 'creating the key', admin: true, settles: true },
  verify: { method: 'GET', path: () => '/api_keys/rate_limits', doing: 'checking the new key works', admin: false, settles: false },
  list: { method: 'GET', path: () => '/api_keys', doing: 'listing keys', admin: true, settles: false },
  get: { method: 'GET', path: (id) => `/api_keys/${encodeURIComponent(id)}`, doing: 'reading the key', admin: true, settles: false },
  update: { method: 'PATCH', path: () => '/api_keys', doing: 'updating the key', admin: true, settles: true },
  delete: {
    method: 'DELETE',
    path: (id) => `/api_keys?id=${encodeURIComponent(id)}`,
    doing: 'deleting the key',
    admin: true,
    settles: true,
  },
};

export interface CreateKeyBody {
  apiKeyType: 'INFERENCE';
  description: string;
  expiresAt: string;
  consumptionLimit: { usd: number | null; diem: number | null };
  limitPeriod: LimitPeriod;
  modelPrivacy?: ModelPrivacy;
}

/** The request body for POST /api_keys. Always an inference key; nothing else is ever sent. */
export function createKeyBody(
  config: Pick<KeyRequest, 'expiresInMs' | 'usdLimit' | 'diemLimit' | 'limitPeriod' | 'modelPrivacy'>,
  description: string,
  now: number,
): CreateKeyBody {
  return {
    apiKeyType: 'INFERENCE',
    description,
    expiresAt: new Date(now + config.expiresInMs).toISOString(),
    consumptionLimit: { usd: config.usdLimit, diem: config.diemLimit },
    limitPeriod: config.limitPeriod,
    ...(config.modelPrivacy ? { modelPrivacy: config.modelPrivacy } : {}),
  };
}

export interface MintedKey {
  id: string;
  apiKey: string;
  description: string;
  /** ISO 8601 UTC, as Venice reports it (a key without one is never handed out). */
  expiresAt: string;
}

export interface ListedKey {
  id: string;
  description: string;
  /** ISO 8601 UTC, or null for a key that never expires. */
  expiresAt: string | null;
  createdAt: string | null;
  apiKeyType: string;
  /** What it spent over the trailing seven days, when the listing says (usage figures as strings). */
  spent?: { usd: number; diem: number } | undefined;
  /** What it spent in its current limit period (Venice says only for keys with a consumption limit). */
  currentPeriod?: { usd: number; diem: number } | undefined;
}

/** GET /api_keys/{id}: the key as Venice has it now, with what it spent. */
export interface KeyDetails extends ListedKey {
  spent: { usd: number; diem: number };
  /** Only for keys with a consumption limit. */
  currentPeriod: { usd: number; diem: number } | undefined;
}

/** Venice may write an expiry in whole seconds: a key may expire up to this much after the time asked. */
export const EXPIRY_SLACK_MS = 1_000;
/** Venice's key ids are UUIDs; anything with room for other text is not trusted. */
/** Venice's secrets are `VENICE_INFERENCE_KEY_` and base64url-like characters: long, no spaces. */
const API_KEY = /^[A-Za-z0-9_-]{32,512}$/;

/** Whether a value looks like a Venice secret (so it is safe to mask: never a short or spaced string). */
export function isApiKey(value: unknown): value is string {
  return typeof value === 'string' && API_KEY.test(value);
}

/** An ISO 8601 date as Venice writes them, normalised to UTC with milliseconds; undefined otherwise. */
export function isoDate(value: unknown): string | undefined {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) {
    return undefined;
  }
  const time = Date.parse(value);
  return Number.isNaN(time) ? undefined : new Date(time).toISOString();
}

/** A key of Venice's listing, read value by value; undefined for an entry that is not a key we could own. */
export function listedKey(entry: unknown): ListedKey | undefined {
  if (typeof entry !== 'object' || entry === null) return undefined;
  const key = entry as Record<string, unknown>;
  if (!isKeyId(key.id)) return undefined;
  const expiresAt = key.expiresAt === null || key.expiresAt === undefined ? null : isoDate(key.expiresAt);
  if (expiresAt === undefined) return undefined; // a date we cannot read: not a key we could own
  return {
    id: key.id,
    description: typeof key.description === 'string' ? key.description : '',
    expiresAt,
    createdAt: isoDate(key.createdAt) ?? null,
    apiKeyType: typeof key.apiKeyType === 'string' ? key.apiKeyType : '',
    ...spentOf(key.usage, key.currentPeriodUsage),
  };
}

function spentOf(usage: unknown, period: unknown): Pick<ListedKey, 'spent' | 'currentPeriod'> {
  const week = (usage as { trailingSevenDays?: Record<string, unknown> } | undefined)?.trailingSevenDays;
  const current = period as Record<string, unknown> | undefined;
  return {
    ...(week ? { spent: { usd: amount(week.usd), diem: amount(week.diem) } } : {}),
    ...(current && typeof current === 'object' ? { currentPeriod: { usd: amount(current.usd), diem: amount(current.diem) } } : {}),
  };
}

/** Venice writes usage as strings ("0.4200"); anything else counts as nothing spent. */
export function amount(value: unknown): number {
  const number = typeof value === 'string' && /^\d+(\.\d+)?$/.test(value) ? Number(value) : typeof value === 'number' ? value : 0;
  return Number.isFinite(number) && number >= 0 ? number : 0;
}
