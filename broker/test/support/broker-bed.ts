// The broker under test, with the Venice test server behind it and the loopback OIDC issuer in front:
// started in-process (startTestBroker: the clock and retry policy can be replaced, audit lines are
// collected) or as the separate process a container would run (spawnBroker: broker/dist/server.js
// under Node 24, configured by a file and VENICE_ADMIN_KEY). Both read their config from YAML
// through the broker's own parser.
import { afterEach, beforeEach, expect } from 'vitest';
import type { RetryPolicy } from '../../../core/retry.ts';
import { AUDIENCE, configYaml, type HarnessOptions, type TestBroker } from '../../../fakes/broker-process.ts';
import { jobClaims, OidcIssuer } from '../../../fakes/oidc-issuer.ts';
import { stepsRun } from '../../../fakes/runner.ts';
import { VeniceServer, type VeniceServerOptions } from '../../../fakes/venice-server.ts';
import { expectNoLeaks, expectNotShown } from '../../../testkit/leaks.ts';
import { REPOSITORY, RUN_ID } from '../../../testkit/seed-keys.ts';
import { startBroker } from '../../src/broker.ts';
import { parseConfig } from '../../src/policy/config.ts';
import { undocumented } from './broker-openapi.ts';

export { AUDIENCE, DEFAULT_RULES, spawnBroker, type TestBroker } from '../../../fakes/broker-process.ts';

export async function startTestBroker(options: HarnessOptions & { now?: () => number; policy?: RetryPolicy }): Promise<TestBroker> {
  const lines: string[] = [];
  const logs: string[] = [];
  const broker = await startBroker({
    // No JWKS cooldown unless a test sets one: a test's new signing key is fetched at once.
    config: parseConfig(configYaml({ ...options, oidc: { 'jwks-cooldown': '0s', ...options.oidc } })),
    adminKey: options.venice.adminKey,
    env: options.redisUrl ? { BROKER_REDIS_URL: options.redisUrl } : {},
    writeAudit: (line) => lines.push(line),
    writeLog: (line) => logs.push(line),
    webhookSecret: options.webhookSecret,
    ...(options.now ? { now: options.now } : {}),
    ...(options.policy ? { policy: options.policy } : {}),
  });
  return {
    url: broker.url,
    metricsUrl: broker.metricsUrl,
    get audit() {
      return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    },
    auditText: () => lines.join('\n'),
    logs,
    stop: broker.close,
  };
}

export interface Answer {
  status: number;
  json: Record<string, unknown>;
  text: string;
  headers: Headers;
}

/** One request to the broker, as a caller with `token` would send it. */
export async function call(
  broker: { url: string },
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  { token, body, timeoutMs = 20_000 }: { token?: string; body?: unknown; timeoutMs?: number } = {},
): Promise<Answer> {
  const response = await fetch(broker.url + path, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {}
  // Every answer of a documented route must be what broker/openapi.yaml says.
  expect(undocumented(method, path, response.status, json)).toEqual([]);
  return { status: response.status, json, text, headers: response.headers };
}

/** A Venice fake and an OIDC issuer (for AUDIENCE) for one test, each with the options given. */
export async function startFakes(options: { venice?: VeniceServerOptions; clock?: () => number } = {}): Promise<{
  venice: VeniceServer;
  issuer: OidcIssuer;
}> {
  const venice = await new VeniceServer(options.venice).start();
  const issuer = await new OidcIssuer(AUDIENCE, options.clock).start();
  return { venice, issuer };
}

/**
 * For tests that start their own fakes and broker (each with the options it needs): after each test the
 * broker is stopped, its audit and log scanned for every secret (expectCleanAudit), then the issuer and
 * Venice stopped. `started` reads the test's current ones; any it did not start is skipped.
 */
export function stopAndScanAfterEach(
  started: () => { venice?: VeniceServer | undefined; issuer?: OidcIssuer | undefined; broker?: TestBroker | undefined },
  extraSecrets: string[] = [],
): void {
  afterEach(async () => {
    const { venice, issuer, broker } = started();
    await broker?.stop();
    if (broker && venice && issuer) expectCleanAudit(broker, venice, issuer, extraSecrets);
    await issuer?.stop();
    await venice?.stop();
  });
}

/** Every audit line is one JSON object, and none holds a secret (the admin key, a minted key, a token). */
export function expectCleanAudit(broker: TestBroker, venice: VeniceServer, issuer: OidcIssuer, extraSecrets: string[] = []): void {
  const text = broker.auditText();
  const secrets = [venice.adminKey, ...venice.minted.map((key) => key.apiKey), ...issuer.tokensIssued, ...extraSecrets];
  expect(secrets.filter((secret) => secret !== '' && text.includes(secret))).toEqual([]);
  const logText = broker.logs.join('\n');
  expect(secrets.filter((secret) => secret !== '' && logText.includes(secret))).toEqual([]);
  for (const line of text.split('\n').filter(Boolean)) expect(() => JSON.parse(line)).not.toThrow();
}

export interface BrokerBed {
  venice: VeniceServer;
  issuer: OidcIssuer;
  broker: TestBroker;
  /** broker-url, broker-audience and api-url (for verify), plus the given inputs: no admin key. */
  inputs(extra?: Record<string, string>): Record<string, string>;
  /** The runner's ID-token variables for a job of `repository` (default octo-org/shop), run RUN_ID. */
  jobEnv(repository?: string, claims?: Record<string, string>): Record<string, string>;
}

/**
 * A fresh Venice server, OIDC issuer and in-process broker per test; after each, every step and the
 * audit log are scanned for the admin key, every minted key, every ID token and request token.
 */
/** Ceilings every rule must have; rules in tests that do not set them get these. */
export const TEST_DEFAULTS = { ceilings: { usd: 5, diem: 5, 'max-expiry': '2h', 'live-keys': 100 } };

export function useBrokerBed(
  options: { rules?: unknown[]; limits?: Record<string, unknown>; defaults?: Record<string, unknown> } = {},
): BrokerBed {
  const requestTokens: string[] = [];
  const bed = {
    inputs: (extra: Record<string, string> = {}) => ({
      'broker-url': bed.broker.url,
      'broker-audience': AUDIENCE,
      'api-url': bed.venice.apiUrl,
      ...extra,
    }),
    jobEnv: (repository = REPOSITORY, claims: Record<string, string> = {}) => {
      const env = bed.issuer.jobEnv(jobClaims(repository, RUN_ID, claims));
      requestTokens.push(env.ACTIONS_ID_TOKEN_REQUEST_TOKEN as string);
      return env;
    },
  } as unknown as BrokerBed;
  beforeEach(async () => {
    stepsRun.length = 0;
    requestTokens.length = 0;
    ({ venice: bed.venice, issuer: bed.issuer } = await startFakes());
    bed.broker = await startTestBroker({ venice: bed.venice, issuer: bed.issuer, defaults: TEST_DEFAULTS, ...options });
  });
  // Hooks after a test run last-registered first: the leak scans of the steps, then the fixture's stop and scan.
  stopAndScanAfterEach(() => bed, requestTokens);
  afterEach(() => {
    expectNoLeaks(bed.venice);
    expectNotShown([...bed.issuer.tokensIssued, ...requestTokens]);
  });
  return bed;
}

/**
 * A key minted through the broker (so it has a lease), for a job of `repository` and `runId`; `pr` makes
 * it a pull_request run's (its token's ref names the PR). Returns its id.
 */
export async function leasedKey(
  at: { broker: { url: string }; issuer: OidcIssuer },
  fields: { repository?: string; runId?: string; pr?: number; body?: Record<string, unknown> } = {},
): Promise<{ id: string }> {
  const claims: Record<string, string> = fields.pr === undefined ? {} : { event_name: 'pull_request', ref: `refs/pull/${fields.pr}/merge` };
  const token = await at.issuer.sign(jobClaims(fields.repository ?? REPOSITORY, fields.runId ?? RUN_ID, claims));
  const answer = await call(at.broker, 'POST', '/v1/keys', { token, body: fields.body ?? {} });
  expect(answer.status, JSON.stringify(answer.json)).toBe(201);
  return { id: answer.json.id as string };
}
