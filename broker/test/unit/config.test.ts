// broker.yaml: every setting read into the typed config with its default, and every mistake reported
// at once with its path and an accepted value; a typo in a key is refused, never ignored.
import { expect, test } from 'vitest';
import { ConfigError, parseConfig } from '../../src/policy/config.ts';
import { globPattern } from '../../src/policy/glob.ts';

const MINIMAL = `
oidc:
  audience: https://broker.example.org
rules:
  - name: ci
    match: { repository_owner_id: 123456, event_name: push }
    ceilings: { usd: 5, diem: 1, max-expiry: 1h, live-keys: 10 }
`;

function problemsOf(text: string): string[] {
  try {
    parseConfig(text);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('the config was accepted');
}

test('a minimal config takes the documented defaults', () => {
  const config = parseConfig(MINIMAL);
  expect({ ...config, rules: config.rules.map(({ matcher: _, ...rule }) => rule) }).toEqual({
    listen: { host: '127.0.0.1', port: 8080, trustedProxies: [] },
    oidc: {
      issuer: 'https://token.actions.githubusercontent.com',
      audience: 'https://broker.example.org',
      jwksUrl: 'https://token.actions.githubusercontent.com/.well-known/jwks',
      algorithms: ['RS256'],
      clockToleranceMs: 30_000,
      maxTokenAgeMs: 600_000,
      jwksRefreshMs: 600_000,
      jwksStaleForMs: 6 * 3_600_000,
      jwksCooldownMs: 30_000,
    },
    venice: { apiUrl: 'https://api.venice.ai/api/v1', adminKeyEnv: 'VENICE_ADMIN_KEY' },
    limits: {
      createsPerMinute: 20,
      createWindowMs: 60_000,
      activeKeys: 500,
      queueTimeoutMs: 120_000,
      bodyBytes: 16_384,
      requestTimeoutMs: 10_000,
      keepAliveTimeoutMs: 5_000,
      maxConnections: 512,
      refusalsPerAddress: 60,
      shutdownTimeoutMs: 20_000,
      veniceTimeoutMs: 60_000,
      orphanScanIntervalMs: 30_000,
    },
    store: { redisUrlEnv: undefined, stateDir: undefined, allowUnauthenticated: false, commandTimeoutMs: 2_000 },
    metrics: { listener: 'internal', host: '127.0.0.1', port: 9090 },
    notices: [],
    rules: [
      {
        name: 'ci',
        match: { repository_owner_id: '123456', event_name: 'push' },
        overCeiling: 'refuse',
        allowSkipDelete: false,
        ceilings: {
          usd: 5,
          diem: 1,
          periods: undefined,
          maxExpiryMs: 3_600_000,
          privacyFloor: undefined,
          scopes: undefined,
          liveKeys: 10,
        },
        rateLimits: { mint: 60, delete: 120, unwrap: 120 },
        operations: ['mint', 'use', 'delete'],
      },
    ],
    githubWebhook: undefined,
    pool: undefined,
  });
});

test('every setting, as the README documents it', () => {
  const config = parseConfig(`
listen: { host: 0.0.0.0, port: 9000 }
oidc:
  issuer: https://ghes.example.com/_services/token/
  audience: https://broker.example.com
  jwks-url: https://ghes.example.com/_services/token/.well-known/jwks
  algorithms: [RS256, ES256]
  clock-tolerance: 10s
  max-token-age: 5m
venice: { api-url: http://127.0.0.1:4000/api/v1, admin-key-env: ORG_VENICE_ADMIN }
limits: { creates-per-minute: 10, active-keys: 400, queue-timeout: 90s, body-bytes: 4096, request-timeout: 5s }
rules:
  - name: releases
    match: { repository: octo-org/shop, ref: refs/tags/v*, environment: production, event_name: push, job_workflow_ref: octo-org/ci/**, sub: repo:octo-org/* }
    over-ceiling: CLAMP
    ceilings: { usd: unlimited, diem: 0.5, periods: [month, LIFETIME], max-expiry: 1d, privacy-floor: private_only, scopes: [run], live-keys: 3 }
`);
  expect(config.listen).toEqual({ host: '0.0.0.0', port: 9000, trustedProxies: [] });
  expect(config.oidc).toMatchObject({
    issuer: 'https://ghes.example.com/_services/token',
    algorithms: ['RS256', 'ES256'],
    clockToleranceMs: 10_000,
  });
  expect(config.venice).toEqual({ apiUrl: 'http://127.0.0.1:4000/api/v1', adminKeyEnv: 'ORG_VENICE_ADMIN' });
  expect(config.limits).toMatchObject({
    createsPerMinute: 10,
    activeKeys: 400,
    queueTimeoutMs: 90_000,
    bodyBytes: 4096,
    requestTimeoutMs: 5_000,
  });
  expect(config.rules[0]).toMatchObject({
    overCeiling: 'clamp',
    ceilings: {
      usd: null,
      diem: 0.5,
      periods: ['MONTH', 'LIFETIME'],
      maxExpiryMs: 86_400_000,
      privacyFloor: 'PRIVATE_ONLY',
      scopes: ['run'],
      liveKeys: 3,
    },
  });
});

test('every mistake is listed with its path and an accepted value', () => {
  expect(
    problemsOf(`
listen: { host: "a b", port: 70000, tls: true }
oidc: { issuer: "http://token.example.com", audience: "", algorithms: [none], clock-tolerance: 30, max_token_age: 5m }
venice: { api-url: "ftp://venice", admin-key-env: "1KEY" }
limits: { creates-per-minute: 50, active-keys: 0, queue-timeout: soon, body-bytes: 1.5 }
rules:
  - name: ci
    match: { repository_owner: octo-org, branch: main }
    over-ceiling: maybe
    ceilings: { usd: -1, diem: lots, periods: WEEK, max-expiry: forever, privacy-floor: NONE, scopes: [everyone], live-keys: 1000, cap: 3 }
  - name: ci
    match: {}
  - "just a string"
`),
  ).toEqual([
    'listen.tls: not a known setting; known here: host, port, trusted-proxies',
    'oidc.max_token_age: not a known setting; known here: issuer, audience, jwks-url, algorithms, clock-tolerance, max-token-age, jwks-refresh, jwks-stale-for, jwks-cooldown',
    'listen.host: "a b" is not accepted; e.g. 0.0.0.0',
    'listen.port: 70000 is not a whole number from 0 to 65535; e.g. 8080',
    'oidc.issuer: "http://token.example.com" is not an https URL (http is allowed only on loopback); e.g. https://token.actions.githubusercontent.com',
    'oidc.audience: "" is not accepted; e.g. https://broker.example.org',
    'oidc.algorithms: ["none"] must be a list of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA; e.g. [RS256]',
    'oidc.clock-tolerance: 30 is not a duration; use d, h, m, s in that order, e.g. "30s"',
    'venice.api-url: "ftp://venice" is not an https URL (http is allowed only on loopback); e.g. https://api.venice.ai/api/v1',
    'venice.admin-key-env: "1KEY" is not accepted; e.g. VENICE_ADMIN_KEY',
    'limits.creates-per-minute: 50 is not a whole number from 1 to 20; e.g. 20',
    'limits.active-keys: 0 is not a whole number from 1 to 500; e.g. 500',
    'limits.queue-timeout: "soon" is not a duration; use d, h, m, s in that order, e.g. "2m"',
    'limits.body-bytes: 1.5 is not a whole number from 256 to 1048576; e.g. 16384',
    'rules[0] ("ci").match.branch: not a known setting; known here: repository_owner_id, repository_id, repository_owner, repository, ref, environment, event_name, job_workflow_ref, sub',
    'rules[0] ("ci").ceilings.cap: not a known setting; known here: usd, diem, periods, max-expiry, privacy-floor, scopes, live-keys',
    'rules[0] ("ci").over-ceiling: "maybe" is not one of clamp, refuse; e.g. clamp',
    'rules[0] ("ci").ceilings.usd: -1 is not a ceiling; use a number from 0 to 9999999999, e.g. 5, or "unlimited"',
    'rules[0] ("ci").ceilings.diem: "lots" is not a ceiling; use a number from 0 to 9999999999, e.g. 5, or "unlimited"',
    'rules[0] ("ci").ceilings.periods: "WEEK" must be a list of EPOCH, MONTH, LIFETIME; e.g. [EPOCH]',
    'rules[0] ("ci").ceilings.max-expiry: "forever" is not a duration; use d, h, m, s in that order, e.g. "2h"',
    'rules[0] ("ci").ceilings.privacy-floor: "NONE" is not one of ALL, PRIVATE_TEXT, PRIVATE_ONLY; e.g. ALL',
    'rules[0] ("ci").ceilings.scopes: ["everyone"] must be a list of job, run, pr; e.g. [job]',
    'rules[0] ("ci").ceilings.live-keys: 1000 is not a whole number from 0 to 500; e.g. 20',
    'rules[1] ("ci").match: name at least one claim, e.g. `repository_owner_id: 123456`',
    'rules[1] ("ci").ceilings.usd: required (here or in defaults.ceilings); e.g. 5, or "unlimited" for no ceiling',
    'rules[1] ("ci").ceilings.diem: required (here or in defaults.ceilings); e.g. 5, or "unlimited" for no ceiling',
    'rules[1] ("ci").ceilings.max-expiry: required (here or in defaults.ceilings); e.g. 1h',
    'rules[1] ("ci").ceilings.live-keys: required (here or in defaults.ceilings); e.g. 10',
    'rules[2]: must be a mapping of name, match, over-ceiling, allow-skip-delete, operations, ceilings, rate-limits',
    'rules[2].name: missing; e.g. main-branch-ci',
    'rules[2].match: missing; it needs repository_owner_id, repository_id, repository_owner\u2026',
    'rules[2].match: name at least one claim, e.g. `repository_owner_id: 123456`',
    'rules[2].ceilings.usd: required (here or in defaults.ceilings); e.g. 5, or "unlimited" for no ceiling',
    'rules[2].ceilings.diem: required (here or in defaults.ceilings); e.g. 5, or "unlimited" for no ceiling',
    'rules[2].ceilings.max-expiry: required (here or in defaults.ceilings); e.g. 1h',
    'rules[2].ceilings.live-keys: required (here or in defaults.ceilings); e.g. 10',
    'rules: the name "ci" is used twice; the audit log names rules, so each needs its own.',
  ]);
});

test.each([
  ['not YAML', 'rules: [', /^not YAML: /],
  ['no rules', 'oidc: { audience: a }', /^rules: at least one rule is needed/],
  ['no oidc', 'rules: [{ name: a, match: { sub: x } }]', /^oidc: missing; it needs issuer, audience, jwks-url…$/],
  [
    'a list at the top',
    '- a',
    /^the file: must be a mapping of listen, oidc, venice, limits, store, metrics, github-webhook, pool, defaults, rules$/,
  ],
])('%s is refused', (_, text, problem) => {
  expect(problemsOf(text)[0]).toMatch(problem);
});

test.each([
  ['octo-org/*', 'repository', 'OCTO-ORG/Shop', true],
  ['octo-org/*', 'repository', 'octo-org/shop/extra', false],
  ['refs/heads/*', 'ref', 'refs/heads/feature/x', false],
  ['refs/heads/**', 'ref', 'refs/heads/feature/x', true],
  ['refs/tags/v?', 'ref', 'refs/tags/v1', true],
  ['refs/tags/v?', 'ref', 'refs/tags/v10', false],
  ['refs/heads/main', 'ref', 'refs/heads/MAIN', false],
  ['a.b+c', 'environment', 'a.b+c', true],
  ['a.b+c', 'environment', 'aXbbc', false],
] as const)('%s on %s matches %s: %s', (pattern, claim, value, matches) => {
  expect(globPattern(pattern, claim).test(value)).toBe(matches);
});

/** The problems of one rule under otherwise valid settings (ceilings complete unless the rule sets them). */
function ruleProblems(rule: string): string[] {
  return problemsOf(`
oidc: { audience: https://broker.example.org }
defaults: { ceilings: { usd: 1, diem: 1, max-expiry: 1h, live-keys: 5 } }
rules:
  - ${rule}
`);
}

test.each([
  [
    'no owner at all (only the shared workflow)',
    '{ name: shared, match: { job_workflow_ref: "octo-org/ci/.github/workflows/mint.yml@refs/heads/main" } }',
    /^rules\[0\] \("shared"\)\.match: pins no owner, so a workflow in anyone's repository could match it/,
  ],
  ['an owner with a wildcard', '{ name: wild, match: { repository_owner: "octo-*", event_name: push } }', /pins no owner/],
  ['a repository whose owner part has a wildcard', '{ name: wild, match: { repository: "*/shop", event_name: push } }', /pins no owner/],
  [
    'a ref without event_name',
    '{ name: main, match: { repository_owner: octo-org, ref: refs/heads/main } }',
    /ref without an exact event_name also matches pull_request_target/,
  ],
  [
    'an environment on an owner-wide rule',
    '{ name: release, match: { repository: "octo-org/*", environment: release, event_name: push, ref: "refs/tags/v*" } }',
    /environment is trusted only for one exact repository/,
  ],
  [
    'a character class',
    '{ name: classes, match: { repository_owner: octo-org, event_name: push, ref: "refs/heads/[a-z]*" } }',
    /ref: "\[" is not supported/,
  ],
  [
    'braces',
    '{ name: braces, match: { repository_owner: octo-org, event_name: push, ref: "refs/heads/{main,dev}" } }',
    /"\{" is not supported/,
  ],
  [
    'an extglob',
    '{ name: extglob, match: { repository_owner: octo-org, event_name: push, ref: "refs/heads/+(a|b)" } }',
    /"\(" is not supported|"\+" is not supported/,
  ],
  [
    'a repository that is not owner/name',
    '{ name: bare, match: { repository: octo-org, event_name: push } }',
    /repository: "octo-org" is not owner\/name/,
  ],
  [
    'allow-skip-delete that is not a boolean',
    '{ name: kept, match: { repository_owner: octo-org }, allow-skip-delete: "yes" }',
    /allow-skip-delete: "yes" is not true or false/,
  ],
  [
    'a repository id that is not a number',
    '{ name: ids, match: { repository_id: "abc", event_name: push } }',
    /repository_id: "abc" is not accepted; e\.g\. 123456789/,
  ],
])('a rule with %s is refused at load, naming the rule and the fix', (_, rule, problem) => {
  const problems = ruleProblems(rule);
  expect(
    problems.some((line) => problem.test(line)),
    problems.join('\n'),
  ).toBe(true);
});

test('a rule without ceilings is refused unless defaults give them; "unlimited" only when written', () => {
  const problems = problemsOf(`
oidc: { audience: https://broker.example.org }
rules:
  - { name: bare, match: { repository_owner_id: 1, event_name: push } }
`);
  expect(problems).toEqual([
    'rules[0] ("bare").ceilings.usd: required (here or in defaults.ceilings); e.g. 5, or "unlimited" for no ceiling',
    'rules[0] ("bare").ceilings.diem: required (here or in defaults.ceilings); e.g. 5, or "unlimited" for no ceiling',
    'rules[0] ("bare").ceilings.max-expiry: required (here or in defaults.ceilings); e.g. 1h',
    'rules[0] ("bare").ceilings.live-keys: required (here or in defaults.ceilings); e.g. 10',
  ]);
  const config = parseConfig(`
oidc: { audience: https://broker.example.org }
defaults:
  ceilings: { usd: 1, diem: 1, max-expiry: 1h, live-keys: 5 }
  rate-limits: { mint: 10 }
rules:
  - { name: inherits, match: { repository_owner_id: 1, event_name: push } }
  - { name: own, match: { repository_id: 2 }, ceilings: { usd: unlimited }, rate-limits: { delete: 3 }, allow-skip-delete: true }
`);
  expect(config.rules[0]?.ceilings).toMatchObject({ usd: 1, diem: 1, maxExpiryMs: 3_600_000, liveKeys: 5 });
  expect(config.rules[0]?.rateLimits).toEqual({ mint: 10, delete: 120, unwrap: 120 });
  expect(config.rules[1]).toMatchObject({ allowSkipDelete: true, ceilings: { usd: null, diem: 1 }, rateLimits: { mint: 10, delete: 3 } });
});

test('the pinned shapes load: an owner id, an exact owner, an exact repository, a repository id with an environment', () => {
  const config = parseConfig(`
oidc: { audience: https://broker.example.org }
defaults: { ceilings: { usd: 1, diem: 1, max-expiry: 1h, live-keys: 5 } }
rules:
  - { name: by-owner-id, match: { repository_owner_id: 123456, job_workflow_ref: "octo-org/ci/.github/workflows/mint.yml@refs/heads/main" } }
  - { name: by-owner, match: { repository_owner: octo-org, event_name: push, ref: refs/heads/main } }
  - { name: by-repo, match: { repository: "octo-org/*", event_name: pull_request } }
  - { name: release, match: { repository_id: "42", environment: release, event_name: push, ref: "refs/tags/v*" } }
`);
  expect(config.rules.map((rule) => rule.name)).toEqual(['by-owner-id', 'by-owner', 'by-repo', 'release']);
});

test('operations default to mint, use and delete; github-webhook takes its defaults; mistakes in either are named', () => {
  const config = parseConfig(`
oidc: { audience: https://broker.example.org }
github-webhook: {}
defaults: { ceilings: { usd: 1, diem: 1, max-expiry: 1h, live-keys: 5 } }
rules:
  - { name: plain, match: { repository_owner_id: 1, event_name: push } }
  - { name: previews, match: { repository_owner_id: 1, event_name: pull_request }, operations: [mint, rotate, revoke] }
`);
  expect(config.githubWebhook).toEqual({
    secretEnv: 'GITHUB_WEBHOOK_SECRET',
    deleteRetryMaxWaitMs: 600_000,
    bodyBytes: 262_144,
    readTimeoutMs: 2_000,
    maxUnverified: 16,
  });
  expect(problemsOf(`${MINIMAL}github-webhook: { read-timeout: 30s }\n`)).toEqual([
    'github-webhook.read-timeout: at most 10s (GitHub sends a delivery whole at once and waits 10 s for the answer); e.g. "2s"',
  ]);
  expect(config.rules.map((rule) => rule.operations)).toEqual([
    ['mint', 'use', 'delete'],
    ['mint', 'rotate', 'revoke'],
  ]);
  expect(parseConfig(MINIMAL).githubWebhook).toBeUndefined();
  expect(
    problemsOf(`
oidc: { audience: https://broker.example.org }
github-webhook: { secret-env: "1X", delete-retry-max-wait: often, body-bytes: 10, events: [push] }
defaults: { ceilings: { usd: 1, diem: 1, max-expiry: 1h, live-keys: 5 } }
rules:
  - { name: plain, match: { repository_owner_id: 1 }, operations: [mint, destroy] }
`),
  ).toEqual([
    'github-webhook.events: not a known setting; known here: secret-env, delete-retry-max-wait, body-bytes, read-timeout, max-unverified',
    'github-webhook.secret-env: "1X" is not accepted; e.g. GITHUB_WEBHOOK_SECRET',
    'github-webhook.delete-retry-max-wait: "often" is not a duration; use d, h, m, s in that order, e.g. "10m"',
    'github-webhook.body-bytes: 10 is not a whole number from 1024 to 26214400; e.g. 262144',
    'rules[0] ("plain").operations: ["mint","destroy"] must be a list of mint, use, delete, rotate, revoke, sweep; e.g. [mint]',
  ]);
});

test('store, metrics and the service limits: read with their defaults; a config that mixes stores or reconciles too seldom is refused', () => {
  const config = parseConfig(`${MINIMAL}store: { redis-url-env: BROKER_REDIS_URL }
metrics: { port: 9464 }
limits: { shutdown-timeout: 45s, venice-timeout: 30s, orphan-scan-interval: 10s }
`);
  expect(config.store).toEqual({
    redisUrlEnv: 'BROKER_REDIS_URL',
    stateDir: undefined,
    allowUnauthenticated: false,
    commandTimeoutMs: 2_000,
  });
  expect(config.metrics).toEqual({ listener: 'internal', host: '127.0.0.1', port: 9464 });
  // Without a metrics block, /metrics is on an internal listener, never the public one.
  expect(parseConfig(MINIMAL).metrics).toEqual({ listener: 'internal', host: '127.0.0.1', port: 9090 });
  expect(parseConfig(`${MINIMAL}metrics: { listener: api }\n`).metrics).toEqual({ listener: 'api' });
  expect(problemsOf(`${MINIMAL}metrics: { listener: api, port: 9464 }\n`)).toEqual([
    'metrics: host and port are for the internal listener; with listener: api, /metrics is on listen.host and listen.port',
  ]);
  expect(parseConfig(`${MINIMAL}store: { redis-url-env: R, allow-unauthenticated: true, command-timeout: 1s }\n`).store).toMatchObject({
    allowUnauthenticated: true,
    commandTimeoutMs: 1_000,
  });
  expect(problemsOf(`${MINIMAL}store: { redis-url-env: R, command-timeout: 5m }\n`)).toEqual([
    'store.command-timeout: from 1s to 1m, so a Redis that stops answering is noticed; e.g. "2s"',
  ]);
  expect([config.limits.shutdownTimeoutMs, config.limits.veniceTimeoutMs, config.limits.orphanScanIntervalMs]).toEqual([
    45_000, 30_000, 10_000,
  ]);
  expect(parseConfig(`${MINIMAL}store: { state-dir: /var/lib/venice-key-broker }\n`).store.stateDir).toBe('/var/lib/venice-key-broker');
  expect(
    problemsOf(`${MINIMAL}store: { redis-url-env: BROKER_REDIS_URL, state-dir: /var/lib/venice-key-broker }
metrics: { host: "a b", port: 70000, path: /m }
limits: { orphan-scan-interval: 5m }
`),
  ).toEqual([
    'limits.orphan-scan-interval: at most 30s, so a crashed mint\'s key is found within about two minutes; e.g. "30s"',
    "store: redis-url-env and state-dir are two different stores (Redis is shared by replicas; state-dir is one process's); keep one of them.",
    'metrics.path: not a known setting; known here: listener, host, port',
    'metrics.host: "a b" is not accepted; e.g. 127.0.0.1',
    'metrics.port: 70000 is not a whole number from 0 to 65535; e.g. 9090',
  ]);
  expect(problemsOf(`${MINIMAL}store: { state-dir: relative/dir }\n`)).toEqual([
    'store.state-dir: "relative/dir" is not accepted; e.g. /var/lib/venice-key-broker',
  ]);
});

test('pool: off unless written; size and max-age read with their defaults; a max-age out of range is refused', () => {
  expect(parseConfig(MINIMAL).pool).toBeUndefined();
  expect(parseConfig(`${MINIMAL}pool: {}\n`).pool).toEqual({ size: 20, maxAgeMs: 1_800_000 });
  expect(parseConfig(`${MINIMAL}pool: { size: 60, max-age: 2h }\n`).pool).toEqual({ size: 60, maxAgeMs: 7_200_000 });
  expect(problemsOf(`${MINIMAL}pool: { size: 501, max-age: 1m, spare: 2 }\n`)).toEqual([
    'pool.spare: not a known setting; known here: size, max-age',
    'pool.size: 501 is not a whole number from 1 to 500; e.g. 20',
    'pool.max-age: from 5m to 1d, so a pool key is replaced before long and lives past a refill; e.g. "30m"',
  ]);
});

test('the two reconcile-interval settings are read under their former names, with a notice to rename them; both names at once are refused', () => {
  const config = parseConfig(`${MINIMAL}limits: { reconcile-interval: 10s }\ngithub-webhook: { reconcile-interval: 5m }\n`);
  expect([config.limits.orphanScanIntervalMs, config.githubWebhook?.deleteRetryMaxWaitMs]).toEqual([10_000, 300_000]);
  expect(config.notices).toEqual([
    'limits.reconcile-interval is now limits.orphan-scan-interval; it is read as before, but rename it in the config',
    'github-webhook.reconcile-interval is now github-webhook.delete-retry-max-wait; it is read as before, but rename it in the config',
  ]);
  expect(problemsOf(`${MINIMAL}limits: { reconcile-interval: 5m }\n`)).toEqual([
    'limits.orphan-scan-interval: at most 30s, so a crashed mint\'s key is found within about two minutes; e.g. "30s"',
  ]);
  expect(problemsOf(`${MINIMAL}limits: { reconcile-interval: 10s, orphan-scan-interval: 20s }\n`)).toEqual([
    'limits.reconcile-interval: the former name of limits.orphan-scan-interval, which is also set; keep orphan-scan-interval only',
  ]);
});
