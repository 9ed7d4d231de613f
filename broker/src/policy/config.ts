/**
 * broker.yaml, read into one typed, validated BrokerConfig. Unknown keys are refused (a typo such as
 * `max_expiry` must not silently drop a ceiling), and every mistake is reported with its path in the
 * file and an accepted value. The admin key is never in this file: only the name of the variable that
 * holds it.
 *
 * A policy must not be able to admit more than its author meant, so a rule that could fails to load,
 * naming the rule and the fix (see checkRuleCannotFailOpen):
 * - every rule pins an owner exactly (repository_owner_id, repository_id, repository_owner without a
 *   wildcard, or a repository whose owner part has none): anyone can get a token, from any owner;
 * - `ref` needs `event_name` beside it: pull_request_target, issue_comment, workflow_run and schedule
 *   runs carry the default branch as their ref while running code a stranger may have written;
 * - `environment` needs the exact repository (or its id): environments are protected per repository;
 * - usd, diem, max-expiry and live-keys are required (in the rule or in `defaults:`); no limit only
 *   when written as `unlimited`;
 * - patterns use only `*`, `**` and `?`; the rest of GitHub's filter syntax is refused, naming it.
 */
import { parse } from 'yaml';
import { parseDuration } from '../../../core/duration.js';
import { isLoopbackHost } from '../../../core/http.js';
import {
  type KeyScope,
  LIMIT_PERIODS,
  type LimitPeriod,
  MAX_LIMIT,
  MODEL_PRIVACIES,
  type ModelPrivacy,
  SCOPES,
} from '../../../core/key-request.js';
import { parseCidr } from './client-address.js';
import {
  type CompiledMatch,
  compileMatch,
  hasWildcard,
  ID_CLAIMS,
  MATCHABLE_CLAIMS,
  type MatchableClaim,
  unsupportedCharacter,
} from './glob.js';

export const GITHUB_ISSUER = 'https://token.actions.githubusercontent.com';

export interface Ceilings {
  /** null: no ceiling (written as "unlimited"). */
  usd: number | null;
  diem: number | null;
  periods: LimitPeriod[] | undefined;
  maxExpiryMs: number;
  privacyFloor: ModelPrivacy | undefined;
  scopes: KeyScope[] | undefined;
  liveKeys: number;
}

/** Requests per repository per minute, for each endpoint. */
export interface RateLimits {
  mint: number;
  delete: number;
  unwrap: number;
}

export const DEFAULT_RATE_LIMITS: RateLimits = { mint: 60, delete: 120, unwrap: 120 };

/** What a rule lets its callers do: `use` opens a run key's handle; rotate, revoke and sweep are the preview lifecycle. */
export const OPERATIONS = ['mint', 'use', 'delete', 'rotate', 'revoke', 'sweep'] as const;
export type Operation = (typeof OPERATIONS)[number];
export const DEFAULT_OPERATIONS: Operation[] = ['mint', 'use', 'delete'];

export interface Rule {
  name: string;
  match: Partial<Record<MatchableClaim, string>>;
  /** The match, compiled at load. */
  matcher: CompiledMatch;
  /** What a request above a ceiling gets: lowered to the ceiling, or refused. */
  overCeiling: 'clamp' | 'refuse';
  /** Whether a job key may outlive its job (the action's skip-delete: a `kept` key). Default: no. */
  allowSkipDelete: boolean;
  ceilings: Ceilings;
  rateLimits: RateLimits;
  operations: Operation[];
}

export interface BrokerConfig {
  listen: {
    host: string;
    port: number;
    /** Proxies whose X-Forwarded-For names the client (CIDRs); empty: the header is ignored. */
    trustedProxies: string[];
  };
  oidc: {
    issuer: string;
    audience: string;
    jwksUrl: string;
    algorithms: string[];
    clockToleranceMs: number;
    maxTokenAgeMs: number;
    /** How old the issuer's keys may get before they are fetched again. */
    jwksRefreshMs: number;
    /** How long keys are still used after refreshes fail (the issuer is down). */
    jwksStaleForMs: number;
    /** At most one fetch of the issuer's keys in this time, whether the last one worked or not. */
    jwksCooldownMs: number;
  };
  venice: { apiUrl: string; adminKeyEnv: string };
  limits: {
    createsPerMinute: number;
    /** Venice's creation window (a minute): the count above is per this window. */
    createWindowMs: number;
    activeKeys: number;
    queueTimeoutMs: number;
    bodyBytes: number;
    requestTimeoutMs: number;
    keepAliveTimeoutMs: number;
    maxConnections: number;
    /** Requests refused before a rule matched (401, 403, 413), per client address per minute. */
    refusalsPerAddress: number;
    /** On SIGTERM/SIGINT, how long creates in flight may take to finish before the process exits. */
    shutdownTimeoutMs: number;
    /** How long the broker works on one request against Venice (the queue wait comes on top). */
    veniceTimeoutMs: number;
    /** How often every replica looks for mints that were never handed out (at most 30 s). */
    reconcileIntervalMs: number;
  };
  /**
   * Where the state shared by replicas lives. Absent: in this process (one instance), the mint journal
   * in `stateDir` when set. With Redis: the creation window, the fair queue, mints in flight, the
   * per-caller limits, Venice's back-off and the journal, for every replica.
   */
  store: {
    redisUrlEnv: string | undefined;
    stateDir: string | undefined;
    /** A Redis on another host without a password is refused at start unless this is true. */
    allowUnauthenticated: boolean;
    /** How long one Redis command may take before the call counts as failed. */
    commandTimeoutMs: number;
  };
  /**
   * Where /metrics is served. `internal` (the default): a listener of its own (127.0.0.1:9090 unless
   * set), with copies of /readyz and /healthz; the API listener, which runners and GitHub must reach,
   * keeps only /healthz and /readyz. `api`: on the API listener too (an explicit choice).
   */
  metrics: { listener: 'internal'; host: string; port: number } | { listener: 'api' };
  /** GitHub's webhook deliveries (workflow runs completed, pull requests closed): absent, no webhook endpoint. */
  githubWebhook: WebhookConfig | undefined;
  /**
   * The warm pool (pool.ts): each replica keeps up to `size` inert keys (caps 0, LIFETIME, expiring
   * within `maxAgeMs`) in its own memory, re-shaped into a caller's key at a mint. Absent: off.
   */
  pool: { size: number; maxAgeMs: number } | undefined;
  rules: Rule[];
}

export interface WebhookConfig {
  secretEnv: string;
  reconcileIntervalMs: number;
  /** The largest body read (GitHub's workflow_run and pull_request payloads are tens of kB). */
  bodyBytes: number;
  /** How long an unverified body may take to arrive whole. */
  readTimeoutMs: number;
  /** Unverified bodies read at once; past this a delivery is answered 503 with Retry-After. */
  maxUnverified: number;
}

/** Where /metrics listens when the config says nothing: an internal port, never the public one. */
export const DEFAULT_METRICS = { listener: 'internal', host: '127.0.0.1', port: 9090 } as const;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`the broker's config is not valid:\n${problems.map((problem) => `  ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Node = Record<string, unknown>;
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const CEILING_KEYS = ['usd', 'diem', 'periods', 'max-expiry', 'privacy-floor', 'scopes', 'live-keys'];
const RATE_LIMIT_KEYS = ['mint', 'delete', 'unwrap'] as const;
const RULE_KEYS = ['name', 'match', 'over-ceiling', 'allow-skip-delete', 'operations', 'ceilings', 'rate-limits'];

export function parseConfig(text: string): BrokerConfig {
  const problems: string[] = [];
  let root: unknown;
  try {
    root = parse(text);
  } catch (error) {
    throw new ConfigError([`not YAML: ${(error as Error).message.split('\n')[0]}`]);
  }
  const read = reader(problems);
  const top = read.object(
    root,
    '',
    ['listen', 'oidc', 'venice', 'limits', 'store', 'metrics', 'github-webhook', 'pool', 'defaults', 'rules'],
    true,
  );
  const listen = read.object(top.listen, 'listen', ['host', 'port', 'trusted-proxies']);
  const oidc = read.object(
    top.oidc,
    'oidc',
    ['issuer', 'audience', 'jwks-url', 'algorithms', 'clock-tolerance', 'max-token-age', 'jwks-refresh', 'jwks-stale-for', 'jwks-cooldown'],
    true,
  );
  const venice = read.object(top.venice, 'venice', ['api-url', 'admin-key-env']);
  const limits = read.object(top.limits, 'limits', [
    'creates-per-minute',
    'create-window',
    'active-keys',
    'queue-timeout',
    'body-bytes',
    'request-timeout',
    'keep-alive-timeout',
    'max-connections',
    'refusals-per-address',
    'shutdown-timeout',
    'venice-timeout',
    'reconcile-interval',
  ]);
  const store = read.object(top.store, 'store', ['redis-url-env', 'state-dir', 'allow-unauthenticated', 'command-timeout']);
  const config = readSections({ listen, oidc, venice, limits, store }, read);
  checkServiceLimits(config, read);
  config.metrics = readMetrics(top.metrics, read);
  if (top['github-webhook'] !== undefined) config.githubWebhook = readWebhook(top['github-webhook'], read);
  if (top.pool !== undefined) config.pool = readPool(top.pool, read);
  config.rules = readRules(top, read);
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** listen, oidc, venice, limits and store, each value read with its default and bounds. */
function readSections(sections: Record<'listen' | 'oidc' | 'venice' | 'limits' | 'store', Node>, read: Reader): BrokerConfig {
  const { listen, oidc, venice, limits, store } = sections;
  const issuer = read.url(oidc.issuer, 'oidc.issuer', GITHUB_ISSUER);
  const config: BrokerConfig = {
    listen: {
      host: read.string(listen.host, 'listen.host', '127.0.0.1', /^[0-9A-Za-z.:-]+$/, '0.0.0.0'),
      port: read.integer(listen.port, 'listen.port', 8080, 0, 65_535),
      trustedProxies: readTrustedProxies(listen['trusted-proxies'], read),
    },
    oidc: {
      issuer,
      audience: read.string(oidc.audience, 'oidc.audience', undefined, /^[\x21-\x7e]{1,200}$/, 'https://broker.example.org'),
      jwksUrl: read.url(oidc['jwks-url'], 'oidc.jwks-url', `${issuer}/.well-known/jwks`),
      algorithms: read.list(oidc.algorithms, 'oidc.algorithms', ALGORITHMS, ['RS256']),
      clockToleranceMs: read.duration(oidc['clock-tolerance'], 'oidc.clock-tolerance', 30_000, '30s'),
      maxTokenAgeMs: read.duration(oidc['max-token-age'], 'oidc.max-token-age', 600_000, '10m'),
      jwksRefreshMs: read.duration(oidc['jwks-refresh'], 'oidc.jwks-refresh', 600_000, '10m'),
      jwksStaleForMs: read.duration(oidc['jwks-stale-for'], 'oidc.jwks-stale-for', 6 * 3_600_000, '6h'),
      jwksCooldownMs: read.duration(oidc['jwks-cooldown'], 'oidc.jwks-cooldown', 30_000, '30s', true),
    },
    venice: {
      apiUrl: read.url(venice['api-url'], 'venice.api-url', 'https://api.venice.ai/api/v1'),
      adminKeyEnv: read.string(
        venice['admin-key-env'],
        'venice.admin-key-env',
        'VENICE_ADMIN_KEY',
        /^[A-Za-z_][A-Za-z0-9_]*$/,
        'VENICE_ADMIN_KEY',
      ),
    },
    limits: {
      createsPerMinute: read.integer(limits['creates-per-minute'], 'limits.creates-per-minute', 20, 1, 20),
      createWindowMs: read.duration(limits['create-window'], 'limits.create-window', 60_000, '1m'),
      activeKeys: read.integer(limits['active-keys'], 'limits.active-keys', 500, 1, 500),
      queueTimeoutMs: read.duration(limits['queue-timeout'], 'limits.queue-timeout', 120_000, '2m'),
      bodyBytes: read.integer(limits['body-bytes'], 'limits.body-bytes', 16_384, 256, 1_048_576),
      requestTimeoutMs: read.duration(limits['request-timeout'], 'limits.request-timeout', 10_000, '10s'),
      keepAliveTimeoutMs: read.duration(limits['keep-alive-timeout'], 'limits.keep-alive-timeout', 5_000, '5s'),
      maxConnections: read.integer(limits['max-connections'], 'limits.max-connections', 512, 8, 100_000),
      refusalsPerAddress: read.integer(limits['refusals-per-address'], 'limits.refusals-per-address', 60, 1, 100_000),
      shutdownTimeoutMs: read.duration(limits['shutdown-timeout'], 'limits.shutdown-timeout', 20_000, '20s'),
      veniceTimeoutMs: read.duration(limits['venice-timeout'], 'limits.venice-timeout', 60_000, '1m'),
      reconcileIntervalMs: read.duration(limits['reconcile-interval'], 'limits.reconcile-interval', 30_000, '30s'),
    },
    store: {
      redisUrlEnv:
        store['redis-url-env'] === undefined
          ? undefined
          : read.string(store['redis-url-env'], 'store.redis-url-env', undefined, /^[A-Za-z_][A-Za-z0-9_]*$/, 'BROKER_REDIS_URL'),
      stateDir:
        store['state-dir'] === undefined
          ? undefined
          : read.string(store['state-dir'], 'store.state-dir', undefined, /^\/[^\0]*$/, '/var/lib/venice-key-broker'),
      allowUnauthenticated: read.boolean(store['allow-unauthenticated'], 'store.allow-unauthenticated', false),
      commandTimeoutMs: read.duration(store['command-timeout'], 'store.command-timeout', 2_000, '2s'),
    },
    metrics: { ...DEFAULT_METRICS },
    githubWebhook: undefined,
    pool: undefined,
    rules: [],
  };
  return config;
}

/** The checks across settings of limits and store. */
function checkServiceLimits(config: BrokerConfig, read: Reader): void {
  if (config.limits.reconcileIntervalMs > 30_000) {
    read.problem('limits.reconcile-interval: at most 30s, so a crashed mint\'s key is found within about two minutes; e.g. "30s"');
  }
  if (config.store.redisUrlEnv && config.store.stateDir) {
    read.problem(
      "store: redis-url-env and state-dir are two different stores (Redis is shared by replicas; state-dir is one process's); keep one of them.",
    );
  }
  if (config.store.commandTimeoutMs > 60_000) {
    read.problem('store.command-timeout: from 1s to 1m, so a Redis that stops answering is noticed; e.g. "2s"');
  }
}

/** github-webhook: where the secret is, and how a stranger's deliveries are bounded before they verify. */
function readWebhook(value: unknown, read: Reader): WebhookConfig {
  const webhook = read.object(value, 'github-webhook', [
    'secret-env',
    'reconcile-interval',
    'body-bytes',
    'read-timeout',
    'max-unverified',
  ]);
  const settings: WebhookConfig = {
    secretEnv: read.string(
      webhook['secret-env'],
      'github-webhook.secret-env',
      'GITHUB_WEBHOOK_SECRET',
      /^[A-Za-z_][A-Za-z0-9_]*$/,
      'GITHUB_WEBHOOK_SECRET',
    ),
    reconcileIntervalMs: read.duration(webhook['reconcile-interval'], 'github-webhook.reconcile-interval', 600_000, '10m'),
    bodyBytes: read.integer(webhook['body-bytes'], 'github-webhook.body-bytes', 262_144, 1_024, 26_214_400),
    readTimeoutMs: read.duration(webhook['read-timeout'], 'github-webhook.read-timeout', 2_000, '2s'),
    maxUnverified: read.integer(webhook['max-unverified'], 'github-webhook.max-unverified', 16, 1, 4_096),
  };
  if (settings.readTimeoutMs > 10_000) {
    read.problem(
      'github-webhook.read-timeout: at most 10s (GitHub sends a delivery whole at once and waits 10 s for the answer); e.g. "2s"',
    );
  }
  return settings;
}

/** defaults, then the rules (at least one, names unique), each read with the defaults. */
function readRules(top: Node, read: Reader): Rule[] {
  const defaults = read.object(top.defaults, 'defaults', ['ceilings', 'rate-limits']);
  const defaultCeilings = read.object(defaults.ceilings, 'defaults.ceilings', CEILING_KEYS);
  const defaultRates = readRateLimits(defaults['rate-limits'], 'defaults.rate-limits', DEFAULT_RATE_LIMITS, read);
  if (!Array.isArray(top.rules) || top.rules.length === 0) {
    read.problem(
      'rules: at least one rule is needed, e.g. `rules: [{ name: ci, match: { repository_owner_id: 123456, event_name: push }, ceilings: { usd: 5, diem: 1, max-expiry: 1h, live-keys: 10 } }]`',
    );
    return [];
  }
  const rules = top.rules.map((rule, index) => readRule(rule, `rules[${index}]`, read, { ceilings: defaultCeilings, rates: defaultRates }));
  const names = rules.map((rule) => rule.name);
  const repeated = names.find((name, index) => names.indexOf(name) !== index);
  if (repeated) read.problem(`rules: the name "${repeated}" is used twice; the audit log names rules, so each needs its own.`);
  return rules;
}

/** pool: { size, max-age }: up to 500 keys (Venice's active keys), living 5 minutes to a day. */
function readPool(value: unknown, read: Reader): BrokerConfig['pool'] {
  const pool = read.object(value, 'pool', ['size', 'max-age']);
  const size = read.integer(pool.size, 'pool.size', 20, 1, 500);
  const maxAgeMs = read.duration(pool['max-age'], 'pool.max-age', 1_800_000, '30m');
  if (maxAgeMs < 300_000 || maxAgeMs > 86_400_000) {
    read.problem('pool.max-age: from 5m to 1d, so a pool key is replaced before long and lives past a refill; e.g. "30m"');
  }
  return { size, maxAgeMs };
}

/** listen.trusted-proxies: CIDRs, each judged (client-address.ts); too wide a range is refused. */
function readTrustedProxies(value: unknown, read: Reader): string[] {
  if (value === undefined) return [];
  const items: unknown[] = Array.isArray(value) ? value : [];
  if (items.length === 0) {
    read.problem("listen.trusted-proxies: must be a list of your proxies' CIDRs; e.g. [10.0.0.0/24]");
    return [];
  }
  return items.flatMap((item, index) => {
    const cidr = typeof item === 'string' ? parseCidr(item) : 'is not a string';
    if (typeof cidr === 'string') {
      read.problem(`listen.trusted-proxies[${index}]: ${JSON.stringify(item)} ${cidr}; e.g. 10.0.0.0/24`);
      return [];
    }
    return [`${cidr.address}/${cidr.prefix}`];
  });
}

/** metrics: absent → internal 127.0.0.1:9090; { listener: api } → on the API listener (nothing else beside it). */
function readMetrics(value: unknown, read: Reader): BrokerConfig['metrics'] {
  const metrics = read.object(value, 'metrics', ['listener', 'host', 'port']);
  const listener = read.choice(metrics.listener, 'metrics.listener', ['internal', 'api'] as const) ?? 'internal';
  if (listener === 'api') {
    if (metrics.host !== undefined || metrics.port !== undefined) {
      read.problem('metrics: host and port are for the internal listener; with listener: api, /metrics is on listen.host and listen.port');
    }
    return { listener: 'api' };
  }
  return {
    listener: 'internal',
    host: read.string(metrics.host, 'metrics.host', DEFAULT_METRICS.host, /^[0-9A-Za-z.:-]+$/, '127.0.0.1'),
    port: read.integer(metrics.port, 'metrics.port', DEFAULT_METRICS.port, 0, 65_535),
  };
}

function readRateLimits(value: unknown, path: string, fallback: RateLimits, read: Reader): RateLimits {
  const node = read.object(value, path, RATE_LIMIT_KEYS);
  const limits = { ...fallback };
  for (const key of RATE_LIMIT_KEYS) limits[key] = read.integer(node[key], `${path}.${key}`, fallback[key], 1, 100_000);
  return limits;
}

function readRule(value: unknown, path: string, read: Reader, defaults: { ceilings: Node; rates: RateLimits }): Rule {
  const rule = read.object(value, path, RULE_KEYS, true);
  const name = read.string(rule.name, `${path}.name`, undefined, /^[A-Za-z0-9_.-]{1,64}$/, 'main-branch-ci');
  const where = name ? `${path} ("${name}")` : path;
  const match = read.object(rule.match, `${where}.match`, MATCHABLE_CLAIMS, true);
  // The rule's own ceilings, each falling back to defaults.ceilings.
  const own = read.object(rule.ceilings, `${where}.ceilings`, CEILING_KEYS);
  const ceilings: Node = { ...defaults.ceilings, ...own };
  const patterns: Rule['match'] = {};
  for (const claim of MATCHABLE_CLAIMS) {
    const pattern = match[claim];
    if (pattern === undefined) continue;
    if (ID_CLAIMS.has(claim)) {
      const id = typeof pattern === 'number' ? String(pattern) : pattern;
      patterns[claim] = read.string(id, `${where}.match.${claim}`, undefined, /^[1-9]\d{0,15}$/, '123456789 (the number GitHub shows)');
      continue;
    }
    const text = read.string(pattern, `${where}.match.${claim}`, undefined, /^\S{1,200}$/, 'octo-org/*');
    const unsupported = unsupportedCharacter(text);
    if (unsupported !== undefined) {
      read.problem(
        `${where}.match.${claim}: "${unsupported}" is not supported; patterns use only * (any text but /), ** (any text) and ? (one character); write one rule per alternative`,
      );
    }
    patterns[claim] = text;
  }
  if (Object.keys(patterns).length === 0) read.problem(`${where}.match: name at least one claim, e.g. \`repository_owner_id: 123456\``);
  else checkRuleCannotFailOpen(patterns, where, read);
  for (const required of ['usd', 'diem', 'max-expiry', 'live-keys']) {
    if (ceilings[required] === undefined) {
      read.problem(
        `${where}.ceilings.${required}: required (here or in defaults.ceilings); e.g. ${required === 'max-expiry' ? '1h' : required === 'live-keys' ? '10' : '5, or "unlimited" for no ceiling'}`,
      );
    }
  }
  return {
    name,
    match: patterns,
    matcher: compileMatch(patterns),
    overCeiling: read.choice(rule['over-ceiling'], `${where}.over-ceiling`, ['clamp', 'refuse'] as const) ?? 'refuse',
    allowSkipDelete: read.boolean(rule['allow-skip-delete'], `${where}.allow-skip-delete`, false),
    ceilings: {
      // A missing ceiling was reported above (the 0 stands in); null is "unlimited", as written.
      usd: ceilings.usd === undefined ? 0 : (read.limit(ceilings.usd, `${where}.ceilings.usd`) as number | null),
      diem: ceilings.diem === undefined ? 0 : (read.limit(ceilings.diem, `${where}.ceilings.diem`) as number | null),
      periods: ceilings.periods === undefined ? undefined : read.list(ceilings.periods, `${where}.ceilings.periods`, LIMIT_PERIODS, []),
      maxExpiryMs:
        ceilings['max-expiry'] === undefined ? 0 : read.duration(ceilings['max-expiry'], `${where}.ceilings.max-expiry`, 0, '2h'),
      privacyFloor: read.choice(ceilings['privacy-floor'], `${where}.ceilings.privacy-floor`, MODEL_PRIVACIES),
      scopes: ceilings.scopes === undefined ? undefined : read.list(ceilings.scopes, `${where}.ceilings.scopes`, SCOPES, []),
      liveKeys: ceilings['live-keys'] === undefined ? 0 : read.integer(ceilings['live-keys'], `${where}.ceilings.live-keys`, 20, 0, 500),
    },
    rateLimits: readRateLimits(rule['rate-limits'], `${where}.rate-limits`, defaults.rates, read),
    operations: read.list(rule.operations, `${where}.operations`, OPERATIONS, DEFAULT_OPERATIONS),
  };
}

/** The shapes of rule that admit more than they read (see the file's header); each problem names the fix. */
function checkRuleCannotFailOpen(patterns: Rule['match'], where: string, read: Reader): void {
  const exactOwner = patterns.repository_owner !== undefined && !hasWildcard(patterns.repository_owner);
  const repository = patterns.repository;
  if (repository !== undefined && !/^[^/]+\/[^/]+$/.test(repository)) {
    read.problem(`${where}.match.repository: "${repository}" is not owner/name; e.g. octo-org/shop or octo-org/*`);
  }
  const repositoryOwner = repository?.split('/')[0];
  const exactRepositoryOwner = repositoryOwner !== undefined && !hasWildcard(repositoryOwner);
  const exactRepository = patterns.repository_id !== undefined || (repository !== undefined && !hasWildcard(repository));
  if (!(patterns.repository_owner_id !== undefined || patterns.repository_id !== undefined || exactOwner || exactRepositoryOwner)) {
    read.problem(
      `${where}.match: pins no owner, so a workflow in anyone's repository could match it (anyone can get a token); add repository_owner_id (best: ids do not change hands), repository_owner without a wildcard, or a repository such as octo-org/*`,
    );
  }
  if (patterns.ref !== undefined && (patterns.event_name === undefined || hasWildcard(patterns.event_name))) {
    read.problem(
      `${where}.match: ref without an exact event_name also matches pull_request_target, issue_comment, workflow_run and schedule runs (their ref is the default branch, and they may run a fork's code); add event_name, e.g. push`,
    );
  }
  if (patterns.environment !== undefined && !exactRepository) {
    read.problem(
      `${where}.match: environment is trusted only for one exact repository (environment protections are per repository: anyone who can create a repository under the owner can create an unprotected "${patterns.environment}"); pin repository (e.g. octo-org/shop) or repository_id`,
    );
  }
}

type Reader = ReturnType<typeof reader>;

/** Readers for each kind of value; each records a problem (path, value, an example) and returns a stand-in. */
function reader(problems: string[]) {
  const problem = (text: string): void => void problems.push(text);
  const shown = (value: unknown): string => JSON.stringify(value)?.slice(0, 80) ?? String(value);
  return {
    problem,
    object(value: unknown, path: string, keys: readonly string[], required = false): Node {
      if (value === undefined || value === null) {
        if (required) problem(`${path || 'the file'}: missing; it needs ${keys.slice(0, 3).join(', ')}…`);
        return {};
      }
      if (typeof value !== 'object' || Array.isArray(value)) {
        problem(`${path || 'the file'}: must be a mapping of ${keys.join(', ')}`);
        return {};
      }
      for (const key of Object.keys(value)) {
        if (!keys.includes(key)) problem(`${path ? `${path}.` : ''}${key}: not a known setting; known here: ${keys.join(', ')}`);
      }
      return value as Node;
    },
    ...scalarReaders(problem, shown),
    ...measureReaders(problem, shown),
  };
}

type Problem = (text: string) => void;
type Shown = (value: unknown) => string;

/** Strings, booleans, URLs and whole numbers. */
function scalarReaders(problem: Problem, shown: Shown) {
  return {
    string(value: unknown, path: string, fallback: string | undefined, pattern: RegExp, example: string): string {
      if (value === undefined && fallback !== undefined) return fallback;
      if (typeof value !== 'string' || !pattern.test(value)) {
        problem(`${path}: ${value === undefined ? 'missing' : `${shown(value)} is not accepted`}; e.g. ${example}`);
        return fallback ?? '';
      }
      return value;
    },
    boolean(value: unknown, path: string, fallback: boolean): boolean {
      if (value === undefined) return fallback;
      if (typeof value !== 'boolean') {
        problem(`${path}: ${shown(value)} is not true or false; e.g. ${fallback}`);
        return fallback;
      }
      return value;
    },
    url(value: unknown, path: string, fallback: string): string {
      if (value === undefined) return fallback;
      let url: URL | undefined;
      try {
        url = new URL(String(value));
      } catch {}
      const loopback = url !== undefined && isLoopbackHost(url.hostname);
      if (typeof value !== 'string' || !url || !(url.protocol === 'https:' || (url.protocol === 'http:' && loopback))) {
        problem(`${path}: ${shown(value)} is not an https URL (http is allowed only on loopback); e.g. ${fallback}`);
        return fallback;
      }
      return value.replace(/\/+$/, '');
    },
    integer(value: unknown, path: string, fallback: number, min: number, max: number): number {
      if (value === undefined) return fallback;
      if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
        problem(`${path}: ${shown(value)} is not a whole number from ${min} to ${max}; e.g. ${Math.max(min, Math.min(max, fallback))}`);
        return fallback;
      }
      return value;
    },
  };
}

/** Durations, ceilings, choices and lists. */
function measureReaders(problem: Problem, shown: Shown) {
  return {
    duration(value: unknown, path: string, fallback: number, example: string, allowZero = false): number {
      if (value === undefined) return fallback;
      if (allowZero && (value === '0' || value === '0s')) return 0;
      const ms = typeof value === 'string' ? parseDuration(value) : undefined;
      if (ms === undefined) {
        problem(`${path}: ${shown(value)} is not a duration; use d, h, m, s in that order, e.g. "${example}"`);
        return fallback;
      }
      return ms;
    },
    limit(value: unknown, path: string): number | null | undefined {
      if (value === undefined) return undefined;
      if (value === 'unlimited') return null;
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_LIMIT) {
        problem(`${path}: ${shown(value)} is not a ceiling; use a number from 0 to ${MAX_LIMIT}, e.g. 5, or "unlimited"`);
        return 0;
      }
      return value;
    },
    choice<T extends string>(value: unknown, path: string, allowed: readonly T[]): T | undefined {
      if (value === undefined) return undefined;
      const found = allowed.find((choice) => choice.toLowerCase() === String(value).toLowerCase());
      if (typeof value !== 'string' || found === undefined)
        problem(`${path}: ${shown(value)} is not one of ${allowed.join(', ')}; e.g. ${allowed[0]}`);
      return found;
    },
    list<T extends string>(value: unknown, path: string, allowed: readonly T[], fallback: T[]): T[] {
      if (value === undefined) return fallback;
      const items = Array.isArray(value) ? value : [];
      const found = items.map((item) => allowed.find((choice) => choice.toLowerCase() === String(item).toLowerCase()));
      if (items.length === 0 || found.some((item) => item === undefined)) {
        problem(`${path}: ${shown(value)} must be a list of ${allowed.join(', ')}; e.g. [${allowed[0]}]`);
        return fallback;
      }
      return found as T[];
    },
  };
}
