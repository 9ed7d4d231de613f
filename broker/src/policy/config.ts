/**
 * broker.yaml, read into one typed, validated BrokerConfig. Unknown keys are refused (a typo such as
 * `max_expiry` must not silently drop a ceiling), and every mistake is reported with its path in the
 * file and an accepted value. The admin key is never in this file: only the name of the variable that
 * holds it. Each plain setting (its default, bounds and example) is declared once in config-settings.ts,
 * which this file reads by and the schema is generated from; what is here is what a table cannot say.
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
import { type KeyScope, type LimitPeriod, MAX_LIMIT, type ModelPrivacy } from '../../../core/key-request.js';
import { parseCidr } from './client-address.js';
import {
  CEILINGS,
  GITHUB_WEBHOOK,
  LIMITS,
  LISTEN,
  METRICS,
  OIDC,
  type OPERATIONS,
  POOL,
  RATE_LIMITS,
  REQUIRED_CEILINGS,
  RULE,
  type SectionOf,
  type Setting,
  type Settings,
  STORE,
  VENICE,
} from './config-settings.js';
import {
  type CompiledMatch,
  compileMatch,
  hasWildcard,
  ID_CLAIMS,
  MATCHABLE_CLAIMS,
  type MatchableClaim,
  unsupportedCharacter,
} from './glob.js';

export { GITHUB_ISSUER, OPERATIONS } from './config-settings.js';

export type Ceilings = {
  /** null: no ceiling (written as "unlimited"). */
  usd: number | null;
  diem: number | null;
  periods: LimitPeriod[] | undefined;
  maxExpiryMs: number;
  privacyFloor: ModelPrivacy | undefined;
  scopes: KeyScope[] | undefined;
  liveKeys: number;
};

/** Requests per repository per minute, for each endpoint. */
export type RateLimits = SectionOf<typeof RATE_LIMITS>;

export const DEFAULT_RATE_LIMITS: RateLimits = {
  mint: RATE_LIMITS.mint.default,
  delete: RATE_LIMITS.delete.default,
  unwrap: RATE_LIMITS.unwrap.default,
};

export type Operation = (typeof OPERATIONS)[number];

export interface Rule extends SectionOf<typeof RULE> {
  match: Partial<Record<MatchableClaim, string>>;
  /** The match, compiled at load. */
  matcher: CompiledMatch;
  ceilings: Ceilings;
  rateLimits: RateLimits;
}

/** Each section's fields and what they mean are declared in config-settings.ts. */
export interface BrokerConfig {
  listen: SectionOf<typeof LISTEN>;
  oidc: SectionOf<typeof OIDC>;
  venice: SectionOf<typeof VENICE>;
  limits: SectionOf<typeof LIMITS>;
  /**
   * Where the state shared by replicas lives. Absent: in this process (one instance), the mint journal
   * in `stateDir` when set. With Redis: the creation window, the fair queue, mints in flight, the
   * per-caller limits, Venice's back-off and the journal, for every replica.
   */
  store: SectionOf<typeof STORE>;
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
  pool: SectionOf<typeof POOL> | undefined;
  rules: Rule[];
  /** Settings written under a former name: read as the new one, and said at start so they get renamed. */
  notices: string[];
}

export type WebhookConfig = SectionOf<typeof GITHUB_WEBHOOK>;

/** Where /metrics listens when the config says nothing: an internal port, never the public one. */
export const DEFAULT_METRICS = {
  listener: 'internal',
  host: METRICS.host.default,
  port: METRICS.port.default,
} as const;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`the broker's config is not valid:\n${problems.map((problem) => `  ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Node = Record<string, unknown>;
const TOP_KEYS = ['listen', 'oidc', 'venice', 'limits', 'store', 'metrics', 'github-webhook', 'pool', 'defaults', 'rules'];
const RULE_KEYS = ['name', 'match', 'over-ceiling', 'allow-skip-delete', 'operations', 'ceilings', 'rate-limits'];
const PLAIN_SECTIONS = { listen: LISTEN, oidc: OIDC, venice: VENICE, limits: LIMITS, store: STORE } as const;

export function parseConfig(text: string): BrokerConfig {
  const problems: string[] = [];
  const notices: string[] = [];
  let root: unknown;
  try {
    root = parse(text);
  } catch (error) {
    throw new ConfigError([`not YAML: ${(error as Error).message.split('\n')[0]}`]);
  }
  const read = reader(problems, notices);
  const top = read.object(root, '', TOP_KEYS, true);
  // Every section's keys are judged before any value, so unknown keys are listed first.
  const nodes = Object.fromEntries(
    Object.entries(PLAIN_SECTIONS).map(([name, table]) => [name, read.section(top[name], name, table, name === 'oidc')]),
  ) as Record<keyof typeof PLAIN_SECTIONS, Node>;
  const config: BrokerConfig = {
    listen: read.values(nodes.listen, 'listen', LISTEN),
    oidc: read.values(nodes.oidc, 'oidc', OIDC),
    venice: read.values(nodes.venice, 'venice', VENICE),
    limits: read.values(nodes.limits, 'limits', LIMITS),
    store: read.values(nodes.store, 'store', STORE),
    metrics: { ...DEFAULT_METRICS },
    githubWebhook: undefined,
    pool: undefined,
    rules: [],
    notices,
  };
  if (config.store.redisUrlEnv && config.store.stateDir) {
    read.problem(
      "store: redis-url-env and state-dir are two different stores (Redis is shared by replicas; state-dir is one process's); keep one of them.",
    );
  }
  config.metrics = readMetrics(top.metrics, read);
  if (top['github-webhook'] !== undefined) config.githubWebhook = read.whole(top['github-webhook'], 'github-webhook', GITHUB_WEBHOOK);
  if (top.pool !== undefined) config.pool = read.whole(top.pool, 'pool', POOL);
  config.rules = readRules(top, read);
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** defaults, then the rules (at least one, names unique), each read with the defaults. */
function readRules(top: Node, read: Reader): Rule[] {
  const defaults = read.object(top.defaults, 'defaults', ['ceilings', 'rate-limits']);
  const defaultCeilings = read.section(defaults.ceilings, 'defaults.ceilings', CEILINGS);
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

/** listen.trusted-proxies: CIDRs, each judged (client-address.ts); too wide a range is refused. */
function readTrustedProxies(value: unknown, path: string, problem: Problem): string[] {
  if (value === undefined) return [];
  const items: unknown[] = Array.isArray(value) ? value : [];
  if (items.length === 0) {
    problem(`${path}: must be a list of your proxies' CIDRs; e.g. [10.0.0.0/24]`);
    return [];
  }
  return items.flatMap((item, index) => {
    const cidr = typeof item === 'string' ? parseCidr(item) : 'is not a string';
    if (typeof cidr === 'string') {
      problem(`${path}[${index}]: ${JSON.stringify(item)} ${cidr}; e.g. 10.0.0.0/24`);
      return [];
    }
    return [`${cidr.address}/${cidr.prefix}`];
  });
}

/** metrics: absent → internal 127.0.0.1:9090; { listener: api } → on the API listener (nothing else beside it). */
function readMetrics(value: unknown, read: Reader): BrokerConfig['metrics'] {
  const node = read.section(value, 'metrics', METRICS);
  if (read.values(node, 'metrics', { listener: METRICS.listener }).listener === 'api') {
    if (node.host !== undefined || node.port !== undefined) {
      read.problem('metrics: host and port are for the internal listener; with listener: api, /metrics is on listen.host and listen.port');
    }
    return { listener: 'api' };
  }
  const { host, port } = read.values(node, 'metrics', { host: METRICS.host, port: METRICS.port });
  return { listener: 'internal', host, port };
}

function readRateLimits(value: unknown, path: string, fallback: RateLimits, read: Reader): RateLimits {
  const node = read.section(value, path, RATE_LIMITS);
  const limits = { ...fallback };
  for (const [key, setting] of Object.entries(RATE_LIMITS)) {
    limits[setting.field] = read.integer(node[key], `${path}.${key}`, fallback[setting.field], setting.min, setting.max);
  }
  return limits;
}

function readRule(value: unknown, path: string, read: Reader, defaults: { ceilings: Node; rates: RateLimits }): Rule {
  const rule = read.object(value, path, RULE_KEYS, true);
  const name = read.setting(rule.name, `${path}.name`, RULE.name) as string;
  const where = name ? `${path} ("${name}")` : path;
  const match = read.object(rule.match, `${where}.match`, MATCHABLE_CLAIMS, true);
  // The rule's own ceilings, each falling back to defaults.ceilings.
  const own = read.section(rule.ceilings, `${where}.ceilings`, CEILINGS);
  const patterns = readMatch(match, where, read);
  if (Object.keys(patterns).length === 0) read.problem(`${where}.match: name at least one claim, e.g. \`repository_owner_id: 123456\``);
  else checkRuleCannotFailOpen(patterns, where, read);
  const ceilings = { ...defaults.ceilings, ...own };
  for (const [required, example] of Object.entries(REQUIRED_CEILINGS)) {
    if (ceilings[required] === undefined)
      read.problem(`${where}.ceilings.${required}: required (here or in defaults.ceilings); e.g. ${example}`);
  }
  const { 'over-ceiling': overCeiling, 'allow-skip-delete': allowSkipDelete, operations } = RULE;
  const scalars = read.values(rule, where, { 'over-ceiling': overCeiling, 'allow-skip-delete': allowSkipDelete });
  return {
    name,
    ...scalars,
    match: patterns,
    matcher: compileMatch(patterns),
    ceilings: readCeilings(ceilings, `${where}.ceilings`, read),
    rateLimits: readRateLimits(rule['rate-limits'], `${where}.rate-limits`, defaults.rates, read),
    ...read.values(rule, where, { operations }),
  };
}

/** Each claim of a rule's match: ids as digits, the rest as patterns of *, ** and ? only. */
function readMatch(match: Node, where: string, read: Reader): Rule['match'] {
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
  return patterns;
}

/** A rule's ceilings (its own over defaults.ceilings); a missing required one (reported before) reads as 0. */
function readCeilings(node: Node, path: string, read: Reader): Ceilings {
  const ceilings: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(CEILINGS)) {
    const missing = node[key] === undefined;
    ceilings[setting.field] = missing ? (key in REQUIRED_CEILINGS ? 0 : undefined) : read.setting(node[key], `${path}.${key}`, setting);
  }
  return ceilings as Ceilings;
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
function reader(problems: string[], notices: string[]) {
  const problem = (text: string): void => void problems.push(text);
  const shown = (value: unknown): string => JSON.stringify(value)?.slice(0, 80) ?? String(value);
  const scalars = scalarReaders(problem, shown);
  const measures = measureReaders(problem, shown);
  const object = (value: unknown, path: string, keys: readonly string[], required = false, formerly: string[] = []): Node => {
    if (value === undefined || value === null) {
      if (required) problem(`${path || 'the file'}: missing; it needs ${keys.slice(0, 3).join(', ')}…`);
      return {};
    }
    if (typeof value !== 'object' || Array.isArray(value)) {
      problem(`${path || 'the file'}: must be a mapping of ${keys.join(', ')}`);
      return {};
    }
    for (const key of Object.keys(value)) {
      if (!keys.includes(key) && !formerly.includes(key)) {
        problem(`${path ? `${path}.` : ''}${key}: not a known setting; known here: ${keys.join(', ')}`);
      }
    }
    return value as Node;
  };
  /** One setting, read by its declaration; `values` are the section's settings read before it. */
  const setting = (value: unknown, path: string, declared: Setting, values: Record<string, unknown> = {}): unknown => {
    switch (declared.kind) {
      case 'string':
        return declared.optional && value === undefined
          ? undefined
          : scalars.string(value, path, declared.default, declared.pattern, declared.example);
      case 'url':
        return scalars.url(
          value,
          path,
          declared.default.replace(/\{(\w+)\}/g, (_, field: string) => String(values[field])),
        );
      case 'integer':
        return scalars.integer(value, path, declared.default, declared.min, declared.max);
      case 'duration':
        return measures.duration(value, path, declared);
      case 'boolean':
        return scalars.boolean(value, path, declared.default);
      case 'choice':
        return measures.choice(value, path, declared.values) ?? declared.default;
      case 'list':
        return measures.list(value, path, declared.values, declared.default);
      case 'limit':
        return measures.limit(value, path);
      case 'cidrs':
        return readTrustedProxies(value, path, problem);
    }
  };
  return {
    problem,
    object,
    setting,
    /** A section's mapping, its keys judged against the table (former names accepted). */
    section(value: unknown, path: string, table: Settings, required = false): Node {
      const formerly = Object.values(table).flatMap((declared) => (declared.formerly ? [declared.formerly] : []));
      return object(value, path, Object.keys(table), required, formerly);
    },
    /** Every setting of a table from its section's mapping, keyed by field. */
    values<T extends Settings>(node: Node, path: string, table: T): SectionOf<T> {
      const values: Record<string, unknown> = {};
      for (const [name, declared] of Object.entries(table)) {
        values[declared.field] = setting(
          renamed(node, path, name, declared.formerly, problem, notices),
          `${path}.${name}`,
          declared,
          values,
        );
      }
      return values as SectionOf<T>;
    },
    /** A section read whole: its keys judged, then its values. */
    whole<T extends Settings>(value: unknown, path: string, table: T): SectionOf<T> {
      return this.values(this.section(value, path, table), path, table);
    },
    ...scalars,
    ...measures,
  };
}

/** A setting's value, also when written under its former name (said in the notices). */
function renamed(node: Node, path: string, name: string, formerly: string | undefined, problem: Problem, notices: string[]): unknown {
  if (formerly === undefined || node[formerly] === undefined) return node[name];
  if (node[name] !== undefined) {
    problem(`${path}.${formerly}: the former name of ${path}.${name}, which is also set; keep ${name} only`);
    return node[name];
  }
  notices.push(`${path}.${formerly} is now ${path}.${name}; it is read as before, but rename it in the config`);
  return node[formerly];
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
    duration(value: unknown, path: string, declared: Extract<Setting, { kind: 'duration' }>): number {
      const fallback = declared.default === undefined ? 0 : (parseDuration(declared.default) as number);
      const example = declared.example ?? declared.default;
      if (value === undefined) return fallback;
      if (declared.zero && (value === '0' || value === '0s')) return 0;
      const ms = typeof value === 'string' ? parseDuration(value) : undefined;
      if (ms === undefined) {
        problem(`${path}: ${shown(value)} is not a duration; use d, h, m, s in that order, e.g. "${example}"`);
        return fallback;
      }
      const { min, max, why = '' } = declared;
      if ((min && ms < (parseDuration(min) as number)) || (max && ms > (parseDuration(max) as number))) {
        problem(`${path}: ${min ? `from ${min} to ${max}` : `at most ${max}`}${why}; e.g. "${example}"`);
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
    list<T extends string>(value: unknown, path: string, allowed: readonly T[], fallback?: readonly T[]): T[] | undefined {
      if (value === undefined) return fallback && [...fallback];
      const items = Array.isArray(value) ? value : [];
      const found = items.map((item) => allowed.find((choice) => choice.toLowerCase() === String(item).toLowerCase()));
      if (items.length === 0 || found.some((item) => item === undefined)) {
        problem(`${path}: ${shown(value)} must be a list of ${allowed.join(', ')}; e.g. [${allowed[0]}]`);
        return [...(fallback ?? [])];
      }
      return found as T[];
    },
  };
}
