/**
 * Every plain setting of broker.yaml, declared once: its name, the field it fills, its kind, default,
 * bounds, an accepted example and what it is for. config.ts reads the file through these tables, and
 * config-schema.ts generates broker/config.schema.json from them (`npm run schema`; a test fails when the
 * committed file and the tables differ). What a table cannot say stays as code in config.ts: a rule's
 * match and the checks that keep a rule from failing open, checks across settings, and the metrics
 * listener's two shapes.
 *
 * Durations are written as the file writes them ("30s"), so the default, the bound and the example
 * shown in a message are the same text.
 */
import { LIMIT_PERIODS, MODEL_PRIVACIES, SCOPES } from '../../../core/key-request.js';

export const GITHUB_ISSUER = 'https://token.actions.githubusercontent.com';
export const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
/** What a rule lets its callers do: `use` opens a run key's handle; rotate, revoke and sweep are the preview lifecycle. */
export const OPERATIONS = ['mint', 'use', 'delete', 'rotate', 'revoke', 'sweep'] as const;

const HOST = /^[0-9A-Za-z.:-]+$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

interface Common {
  /** The field of the typed config this setting fills. */
  field: string;
  /** What the setting is for (the schema's description). */
  doc?: string;
  /** A name this setting had before; still read, with a notice to rename it. */
  formerly?: string;
}

export type Setting = Common &
  (
    | { kind: 'string'; pattern: RegExp; example: string; default?: string; optional?: true }
    | { kind: 'url'; default: string }
    | { kind: 'integer'; min: number; max: number; default: number }
    | { kind: 'duration'; default?: string; example?: string; min?: string; max?: string; why?: string; zero?: true }
    | { kind: 'boolean'; default: boolean }
    | { kind: 'choice'; values: readonly string[]; default?: string }
    | { kind: 'list'; values: readonly string[]; default?: readonly string[] }
    | { kind: 'limit' }
    | { kind: 'cidrs' }
  );

export type Settings = Record<string, Setting>;

export const LISTEN = {
  host: { kind: 'string', field: 'host', default: '127.0.0.1', pattern: HOST, example: '0.0.0.0' },
  port: { kind: 'integer', field: 'port', min: 0, max: 65_535, default: 8080 },
  'trusted-proxies': {
    kind: 'cidrs',
    field: 'trustedProxies',
    doc: "your proxies' CIDRs: X-Forwarded-For names the client only when the peer is one of them (at least /8 for IPv4, /16 for IPv6)",
  },
} as const satisfies Settings;

export const OIDC = {
  issuer: { kind: 'url', field: 'issuer', default: GITHUB_ISSUER },
  audience: { kind: 'string', field: 'audience', pattern: /^[\x21-\x7e]{1,200}$/, example: 'https://broker.example.org' },
  // {issuer} is the issuer read just before.
  'jwks-url': { kind: 'url', field: 'jwksUrl', default: '{issuer}/.well-known/jwks' },
  algorithms: { kind: 'list', field: 'algorithms', values: ALGORITHMS, default: ['RS256'] },
  'clock-tolerance': { kind: 'duration', field: 'clockToleranceMs', default: '30s' },
  'max-token-age': { kind: 'duration', field: 'maxTokenAgeMs', default: '10m' },
  'jwks-refresh': {
    kind: 'duration',
    field: 'jwksRefreshMs',
    default: '10m',
    doc: "how old the issuer's keys may get before they are fetched again",
  },
  'jwks-stale-for': {
    kind: 'duration',
    field: 'jwksStaleForMs',
    default: '6h',
    doc: "how long the issuer's keys are still used while refreshes fail",
  },
  'jwks-cooldown': {
    kind: 'duration',
    field: 'jwksCooldownMs',
    default: '30s',
    zero: true,
    doc: "at most one fetch of the issuer's keys in this time; 0s: no cooldown",
  },
} as const satisfies Settings;

export const VENICE = {
  'api-url': { kind: 'url', field: 'apiUrl', default: 'https://api.venice.ai/api/v1' },
  'admin-key-env': { kind: 'string', field: 'adminKeyEnv', default: 'VENICE_ADMIN_KEY', pattern: ENV_NAME, example: 'VENICE_ADMIN_KEY' },
} as const satisfies Settings;

export const LIMITS = {
  'creates-per-minute': {
    kind: 'integer',
    field: 'createsPerMinute',
    min: 1,
    max: 20,
    default: 20,
    doc: "Venice's limit for the whole account, per create-window",
  },
  'create-window': { kind: 'duration', field: 'createWindowMs', default: '1m', doc: "Venice's creation window" },
  'active-keys': { kind: 'integer', field: 'activeKeys', min: 1, max: 500, default: 500, doc: "Venice's limit per account" },
  'queue-timeout': {
    kind: 'duration',
    field: 'queueTimeoutMs',
    default: '2m',
    doc: 'a mint waits this long for a turn at most, then gets 429 with Retry-After',
  },
  'body-bytes': { kind: 'integer', field: 'bodyBytes', min: 256, max: 1_048_576, default: 16_384 },
  'request-timeout': {
    kind: 'duration',
    field: 'requestTimeoutMs',
    default: '10s',
    doc: 'a request must arrive whole within this',
  },
  'keep-alive-timeout': { kind: 'duration', field: 'keepAliveTimeoutMs', default: '5s' },
  'max-connections': { kind: 'integer', field: 'maxConnections', min: 8, max: 100_000, default: 512 },
  'refusals-per-address': {
    kind: 'integer',
    field: 'refusalsPerAddress',
    min: 1,
    max: 100_000,
    default: 60,
    doc: 'requests refused before a rule matched (401, 403, 413), per client address per minute',
  },
  'shutdown-timeout': {
    kind: 'duration',
    field: 'shutdownTimeoutMs',
    default: '20s',
    doc: 'on SIGTERM or SIGINT, how long creates in flight may take to finish',
  },
  'venice-timeout': {
    kind: 'duration',
    field: 'veniceTimeoutMs',
    default: '1m',
    doc: 'how long the broker works on one request against Venice (the queue wait comes on top)',
  },
  'orphan-scan-interval': {
    kind: 'duration',
    field: 'orphanScanIntervalMs',
    formerly: 'reconcile-interval',
    default: '30s',
    max: '30s',
    why: ", so a crashed mint's key is found within about two minutes",
    doc: "how often every replica (one at a time) looks for mints never handed out, retries failed deletions and reaps a dead replica's pool",
  },
} as const satisfies Settings;

export const STORE = {
  'redis-url-env': {
    kind: 'string',
    field: 'redisUrlEnv',
    optional: true,
    pattern: ENV_NAME,
    example: 'BROKER_REDIS_URL',
    doc: 'the environment variable holding the Redis URL; every replica shares the state through it',
  },
  'state-dir': {
    kind: 'string',
    field: 'stateDir',
    optional: true,
    pattern: /^\/[^\0]*$/,
    example: '/var/lib/venice-key-broker',
    doc: "one process's mint journal on disk (an absolute path)",
  },
  'allow-unauthenticated': {
    kind: 'boolean',
    field: 'allowUnauthenticated',
    default: false,
    doc: 'a Redis URL naming another host without a password is refused at start unless this is true',
  },
  'command-timeout': {
    kind: 'duration',
    field: 'commandTimeoutMs',
    default: '2s',
    min: '1s',
    max: '1m',
    why: ', so a Redis that stops answering is noticed',
    doc: 'how long one Redis command may take before the call counts as failed',
  },
} as const satisfies Settings;

/** metrics: `listener` and, for the internal listener only, host and port (config.ts holds the two shapes apart). */
export const METRICS = {
  listener: { kind: 'choice', field: 'listener', values: ['internal', 'api'], default: 'internal' },
  host: { kind: 'string', field: 'host', default: '127.0.0.1', pattern: HOST, example: '127.0.0.1' },
  port: { kind: 'integer', field: 'port', min: 0, max: 65_535, default: 9090 },
} as const satisfies Settings;

export const GITHUB_WEBHOOK = {
  'secret-env': {
    kind: 'string',
    field: 'secretEnv',
    default: 'GITHUB_WEBHOOK_SECRET',
    pattern: ENV_NAME,
    example: 'GITHUB_WEBHOOK_SECRET',
  },
  'delete-retry-max-wait': {
    kind: 'duration',
    field: 'deleteRetryMaxWaitMs',
    formerly: 'reconcile-interval',
    default: '10m',
    doc: 'the longest wait between retries of a failed deletion (they start at limits.orphan-scan-interval and double)',
  },
  'body-bytes': {
    kind: 'integer',
    field: 'bodyBytes',
    min: 1_024,
    max: 26_214_400,
    default: 262_144,
    doc: "the largest delivery body read (GitHub's payloads are tens of kB)",
  },
  'read-timeout': {
    kind: 'duration',
    field: 'readTimeoutMs',
    default: '2s',
    max: '10s',
    why: ' (GitHub sends a delivery whole at once and waits 10 s for the answer)',
    doc: 'how long an unverified body may take to arrive whole',
  },
  'max-unverified': {
    kind: 'integer',
    field: 'maxUnverified',
    min: 1,
    max: 4_096,
    default: 16,
    doc: 'unverified bodies read at once; a newer delivery takes the place of the read that began first',
  },
} as const satisfies Settings;

export const POOL = {
  size: { kind: 'integer', field: 'size', min: 1, max: 500, default: 20, doc: 'inert keys kept by each replica' },
  'max-age': {
    kind: 'duration',
    field: 'maxAgeMs',
    default: '30m',
    min: '5m',
    max: '1d',
    why: ', so a pool key is replaced before long and lives past a refill',
    doc: 'how long a pool key lives; it is replaced with a minute left',
  },
} as const satisfies Settings;

/** A rule's own scalars (its match, ceilings and rate limits are read beside them). */
export const RULE = {
  name: { kind: 'string', field: 'name', pattern: /^[A-Za-z0-9_.-]{1,64}$/, example: 'main-branch-ci', doc: 'named in the audit log' },
  'over-ceiling': {
    kind: 'choice',
    field: 'overCeiling',
    values: ['clamp', 'refuse'],
    default: 'refuse',
    doc: 'what a request above a ceiling gets: lowered to the ceiling, or refused',
  },
  'allow-skip-delete': {
    kind: 'boolean',
    field: 'allowSkipDelete',
    default: false,
    doc: "whether a job key may outlive its job (the action's skip-delete)",
  },
  operations: { kind: 'list', field: 'operations', values: OPERATIONS, default: ['mint', 'use', 'delete'] },
} as const satisfies Settings;

/** A rule's ceilings; usd, diem, max-expiry and live-keys are required in the rule or in defaults.ceilings. */
export const CEILINGS = {
  usd: { kind: 'limit', field: 'usd', doc: 'a number, or "unlimited"' },
  diem: { kind: 'limit', field: 'diem', doc: 'a number, or "unlimited"' },
  periods: { kind: 'list', field: 'periods', values: LIMIT_PERIODS },
  'max-expiry': { kind: 'duration', field: 'maxExpiryMs', example: '2h' },
  'privacy-floor': { kind: 'choice', field: 'privacyFloor', values: MODEL_PRIVACIES },
  scopes: { kind: 'list', field: 'scopes', values: SCOPES },
  'live-keys': { kind: 'integer', field: 'liveKeys', min: 0, max: 500, default: 20 },
} as const satisfies Settings;

/** Each required ceiling, with the example its "required" message gives. */
export const REQUIRED_CEILINGS = {
  usd: '5, or "unlimited" for no ceiling',
  diem: '5, or "unlimited" for no ceiling',
  'max-expiry': '1h',
  'live-keys': '10',
} as const;

/** Requests per repository per minute, for each endpoint. */
export const RATE_LIMITS = {
  mint: { kind: 'integer', field: 'mint', min: 1, max: 100_000, default: 60 },
  delete: { kind: 'integer', field: 'delete', min: 1, max: 100_000, default: 120 },
  unwrap: { kind: 'integer', field: 'unwrap', min: 1, max: 100_000, default: 120 },
} as const satisfies Settings;

/** The value a setting reads into. */
type ValueOf<S> = S extends { kind: 'string'; optional: true }
  ? string | undefined
  : S extends { kind: 'string' | 'url' }
    ? string
    : S extends { kind: 'integer' | 'duration' }
      ? number
      : S extends { kind: 'boolean' }
        ? boolean
        : S extends { kind: 'list'; values: readonly (infer V)[] }
          ? V[]
          : S extends { kind: 'choice'; values: readonly (infer V)[] }
            ? V
            : S extends { kind: 'cidrs' }
              ? string[]
              : S extends { kind: 'limit' }
                ? number | null
                : never;

/** The typed values of a table, keyed by field. */
export type SectionOf<T extends Settings> = { -readonly [K in keyof T as T[K]['field']]: ValueOf<T[K]> };
