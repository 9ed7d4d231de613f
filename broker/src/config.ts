/**
 * broker.yaml, read into one typed, validated BrokerConfig. Unknown keys are refused (a typo such as
 * `max_expiry` must not silently drop a ceiling), and every mistake is reported with its path in the
 * file and an accepted value. The admin key is never in this file: only the name of the variable that
 * holds it.
 */
import { parse } from 'yaml';
import { parseDuration } from '../../src/duration.js';
import { isLoopbackHost } from '../../src/http.js';
import { type KeyScope, LIMIT_PERIODS, type LimitPeriod, MAX_LIMIT, MODEL_PRIVACIES, type ModelPrivacy, SCOPES } from '../../src/inputs.js';
import { MATCHABLE_CLAIMS, type MatchableClaim } from './glob.js';

export const GITHUB_ISSUER = 'https://token.actions.githubusercontent.com';

export interface Ceilings {
  /** null: no ceiling ("unlimited" allowed). */
  usd: number | null | undefined;
  diem: number | null | undefined;
  periods: LimitPeriod[] | undefined;
  maxExpiryMs: number | undefined;
  privacyFloor: ModelPrivacy | undefined;
  scopes: KeyScope[] | undefined;
  liveKeys: number | undefined;
}

export interface Rule {
  name: string;
  match: Partial<Record<MatchableClaim, string>>;
  /** What a request above a ceiling gets: lowered to the ceiling, or refused. */
  overCeiling: 'clamp' | 'refuse';
  ceilings: Ceilings;
}

export interface BrokerConfig {
  listen: { host: string; port: number };
  oidc: { issuer: string; audience: string; jwksUrl: string; algorithms: string[]; clockToleranceMs: number; maxTokenAgeMs: number };
  venice: { apiUrl: string; adminKeyEnv: string };
  limits: { createsPerMinute: number; activeKeys: number; queueTimeoutMs: number; bodyBytes: number; requestTimeoutMs: number };
  rules: Rule[];
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`the broker's config is not valid:\n${problems.map((problem) => `  ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Node = Record<string, unknown>;
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

export function parseConfig(text: string): BrokerConfig {
  const problems: string[] = [];
  let root: unknown;
  try {
    root = parse(text);
  } catch (error) {
    throw new ConfigError([`not YAML: ${(error as Error).message.split('\n')[0]}`]);
  }
  const read = reader(problems);
  const top = read.object(root, '', ['listen', 'oidc', 'venice', 'limits', 'rules'], true);
  const listen = read.object(top.listen, 'listen', ['host', 'port']);
  const oidc = read.object(top.oidc, 'oidc', ['issuer', 'audience', 'jwks-url', 'algorithms', 'clock-tolerance', 'max-token-age'], true);
  const venice = read.object(top.venice, 'venice', ['api-url', 'admin-key-env']);
  const limits = read.object(top.limits, 'limits', ['creates-per-minute', 'active-keys', 'queue-timeout', 'body-bytes', 'request-timeout']);
  const issuer = read.url(oidc.issuer, 'oidc.issuer', GITHUB_ISSUER);
  const config: BrokerConfig = {
    listen: {
      host: read.string(listen.host, 'listen.host', '127.0.0.1', /^[0-9A-Za-z.:-]+$/, '0.0.0.0'),
      port: read.integer(listen.port, 'listen.port', 8080, 0, 65_535),
    },
    oidc: {
      issuer,
      audience: read.string(oidc.audience, 'oidc.audience', undefined, /^[\x21-\x7e]{1,200}$/, 'venice-key-broker'),
      jwksUrl: read.url(oidc['jwks-url'], 'oidc.jwks-url', `${issuer}/.well-known/jwks`),
      algorithms: read.list(oidc.algorithms, 'oidc.algorithms', ALGORITHMS, ['RS256']),
      clockToleranceMs: read.duration(oidc['clock-tolerance'], 'oidc.clock-tolerance', 30_000, '30s'),
      maxTokenAgeMs: read.duration(oidc['max-token-age'], 'oidc.max-token-age', 600_000, '10m'),
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
      activeKeys: read.integer(limits['active-keys'], 'limits.active-keys', 500, 1, 500),
      queueTimeoutMs: read.duration(limits['queue-timeout'], 'limits.queue-timeout', 120_000, '2m'),
      bodyBytes: read.integer(limits['body-bytes'], 'limits.body-bytes', 16_384, 256, 1_048_576),
      requestTimeoutMs: read.duration(limits['request-timeout'], 'limits.request-timeout', 10_000, '10s'),
    },
    rules: [],
  };
  if (!Array.isArray(top.rules) || top.rules.length === 0) {
    problems.push(
      'rules: at least one rule is needed, e.g. `rules: [{ name: ci, match: { repository_owner: octo-org }, ceilings: { usd: 5 } }]`',
    );
  } else {
    config.rules = top.rules.map((rule, index) => readRule(rule, `rules[${index}]`, read));
    const names = config.rules.map((rule) => rule.name);
    const repeated = names.find((name, index) => names.indexOf(name) !== index);
    if (repeated) problems.push(`rules: the name "${repeated}" is used twice; the audit log names rules, so each needs its own.`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

function readRule(value: unknown, path: string, read: Reader): Rule {
  const rule = read.object(value, path, ['name', 'match', 'over-ceiling', 'ceilings'], true);
  const match = read.object(rule.match, `${path}.match`, MATCHABLE_CLAIMS, true);
  const ceilings = read.object(rule.ceilings, `${path}.ceilings`, [
    'usd',
    'diem',
    'periods',
    'max-expiry',
    'privacy-floor',
    'scopes',
    'live-keys',
  ]);
  const patterns: Rule['match'] = {};
  for (const claim of MATCHABLE_CLAIMS) {
    if (match[claim] !== undefined)
      patterns[claim] = read.string(match[claim], `${path}.match.${claim}`, undefined, /^\S{1,200}$/, 'octo-org/*');
  }
  if (Object.keys(patterns).length === 0) read.problem(`${path}.match: name at least one claim, e.g. \`repository_owner: octo-org\``);
  return {
    name: read.string(rule.name, `${path}.name`, undefined, /^[A-Za-z0-9_.-]{1,64}$/, 'main-branch-ci'),
    match: patterns,
    overCeiling: read.choice(rule['over-ceiling'], `${path}.over-ceiling`, ['clamp', 'refuse'] as const) ?? 'refuse',
    ceilings: {
      usd: read.limit(ceilings.usd, `${path}.ceilings.usd`),
      diem: read.limit(ceilings.diem, `${path}.ceilings.diem`),
      periods: ceilings.periods === undefined ? undefined : read.list(ceilings.periods, `${path}.ceilings.periods`, LIMIT_PERIODS, []),
      maxExpiryMs:
        ceilings['max-expiry'] === undefined ? undefined : read.duration(ceilings['max-expiry'], `${path}.ceilings.max-expiry`, 0, '2h'),
      privacyFloor: read.choice(ceilings['privacy-floor'], `${path}.ceilings.privacy-floor`, MODEL_PRIVACIES),
      scopes: ceilings.scopes === undefined ? undefined : read.list(ceilings.scopes, `${path}.ceilings.scopes`, SCOPES, []),
      liveKeys:
        ceilings['live-keys'] === undefined ? undefined : read.integer(ceilings['live-keys'], `${path}.ceilings.live-keys`, 20, 0, 500),
    },
  };
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
    string(value: unknown, path: string, fallback: string | undefined, pattern: RegExp, example: string): string {
      if (value === undefined && fallback !== undefined) return fallback;
      if (typeof value !== 'string' || !pattern.test(value)) {
        problem(`${path}: ${value === undefined ? 'missing' : `${shown(value)} is not accepted`}; e.g. ${example}`);
        return fallback ?? '';
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
    duration(value: unknown, path: string, fallback: number, example: string): number {
      if (value === undefined) return fallback;
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
