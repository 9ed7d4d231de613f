// The Venice client against the loopback server: how each answer is classified and explained.
import { afterEach, beforeEach, expect, test } from 'vitest';
import { Deadline } from '../../src/deadline.ts';
import { ActionFailure } from '../../src/errors.ts';
import { type CreateKeyBody, retryAfterMs, VeniceClient, VeniceError } from '../../src/venice-client.ts';
import { fastPolicy } from '../support/in-process.ts';
import { VeniceServer } from '../support/venice-server.ts';

let server: VeniceServer;
beforeEach(async () => {
  server = await new VeniceServer().start();
});
afterEach(async () => {
  await server.stop();
});

const body: CreateKeyBody = {
  apiKeyType: 'INFERENCE',
  description: 'unit test',
  expiresAt: new Date(Date.now() + 60_000).toISOString(),
  consumptionLimit: { usd: 1, diem: null },
  limitPeriod: 'EPOCH',
};

interface ClientOptions {
  apiUrl?: string;
  adminKey?: string;
  timeoutMs?: number;
  maxAttempts?: number;
  signal?: AbortSignal;
  log?: string[];
}

function client(options: ClientOptions = {}): VeniceClient {
  return new VeniceClient({
    apiUrl: options.apiUrl ?? server.apiUrl,
    adminKey: options.adminKey ?? server.adminKey,
    deadline: new Deadline(options.timeoutMs ?? 10_000),
    policy: { ...fastPolicy(), ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}) },
    log: (message) => options.log?.push(message),
    signal: options.signal,
    settleSignal: options.signal,
  });
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a failure');
}

const noRecovery = async (): Promise<void> => {};

test('create, verify, list and delete round trip', async () => {
  const venice = client();
  const key = await venice.createKey(body, noRecovery);
  expect(key.apiKey).toMatch(/^VENICE_INFERENCE_KEY_/);
  expect(key.description).toBe('unit test');
  expect(await venice.verifyKey(key.apiKey)).toBe(true);
  expect((await venice.listKeys()).map((k) => k.id)).toEqual([key.id]);
  expect(await venice.deleteKey(key.id)).toBe('deleted');
  expect(await venice.deleteKey(key.id)).toBe('already-gone');
});

test.each([
  ['create', 401, 'Admin API key required', /admin-key holds an inference key/],
  ['create', 401, 'Authentication failed', /Venice refused the admin-key \(401\).*wrong, expired or revoked/],
  ['verify', 401, 'Authentication failed', /the new key did not work/],
  ['create', 402, 'Payment required', /402 Payment Required to creating the key/],
  ['list', 403, 'Forbidden', /Venice forbade listing keys \(403\)/],
  ['create', 400, 'Invalid request parameters', /Venice rejected the new key's settings \(400\)/],
  ['delete', 404, 'Not found', /deleting the key failed with HTTP 404\. Venice said: "Not found"/],
] as const)('%s answered %i "%s" is final and explained', async (call, status, error, explanation) => {
  server.inject(call, { kind: 'status', status, error });
  const venice = client();
  const attempt = {
    create: () => venice.createKey(body, noRecovery),
    verify: () => venice.verifyKey('VENICE_INFERENCE_KEY_x'),
    list: () => venice.listKeys(),
    delete: () => venice.deleteKey('some-id'),
  }[call];
  const thrown = await failure(attempt());
  expect(thrown).toBeInstanceOf(VeniceError);
  expect(thrown.message).toMatch(explanation);
  expect((thrown as VeniceError).status).toBe(status);
  expect(server.count(call)).toBe(1); // never retried
});

test('a secret Venice echoes back is blanked out; long texts are cut', async () => {
  server.inject('list', { kind: 'status', status: 403, error: `bad key ${server.adminKey} ${'x'.repeat(300)}` });
  const thrown = await failure(client().listKeys());
  expect(thrown.message).not.toContain(server.adminKey);
  expect(thrown.message).toContain('bad key ***');
  expect((thrown as VeniceError).veniceText.length).toBeLessThanOrEqual(201);
});

test("retries give up after the policy's attempts with the last problem named", async () => {
  server.inject('list', { kind: 'status', status: 503 }, 99);
  const log: string[] = [];
  const thrown = await failure(client({ log, timeoutMs: 120_000 }).listKeys());
  expect(thrown).toBeInstanceOf(ActionFailure);
  expect(thrown.message).toBe('list failed 8 times; the last attempt failed with: HTTP 503 An unknown error occurred.');
  expect(log).toHaveLength(7);
  expect(log[0]).toMatch(/^list: attempt 1 failed \(HTTP 503 An unknown error occurred\); retrying in \d/);
});

test('a wait longer than the deadline fails at once, saying what it was waiting for', async () => {
  server.inject('list', { kind: 'status', status: 429, retryAfter: '60' });
  const thrown = await failure(client({ timeoutMs: 5_000 }).listKeys());
  expect(thrown.message).toMatch(
    /gave up after the step's timeout of 5s while waiting for list\. The last attempt failed with: HTTP 429 Rate limit exceeded\./,
  );
  expect(server.count('list')).toBe(1);
});

test('a request after the deadline is not sent', async () => {
  const thrown = await failure(client({ timeoutMs: 0 }).listKeys());
  expect(thrown.message).toMatch(/while waiting for list\. Raise the `timeout` input/);
  expect(server.requests).toEqual([]);
});

test('a cancelled request stops at once and is not retried', async () => {
  const controller = new AbortController();
  server.inject('list', { kind: 'hang' });
  const pending = client({ signal: controller.signal }).listKeys();
  await server.nextRequest('list');
  controller.abort();
  const thrown = await failure(pending);
  expect(thrown.message).toBe('listing keys was cancelled.');
  expect(server.count('list')).toBe(1);
});

test('connection refused is retried, then reported', async () => {
  const url = server.apiUrl;
  await server.stop();
  const thrown = await failure(client({ apiUrl: url, adminKey: 'k', maxAttempts: 2 }).listKeys());
  expect(thrown.message).toBe('list failed 2 times; the last attempt failed with: connection refused.');
  server = await new VeniceServer().start(); // for afterEach
});

test('when create gives up after an ambiguous attempt, it still looks for the key it may have made', async () => {
  server.inject('create', { kind: 'reset-after' }, 99);
  const recovered: number[] = [];
  await failure(client({ maxAttempts: 2 }).createKey(body, async () => void recovered.push(1)));
  expect(recovered).toHaveLength(2); // before the retry, and after the last attempt

  const log: string[] = [];
  await failure(client({ maxAttempts: 1, log }).createKey(body, async () => Promise.reject(new Error('list failed too'))));
  expect(log).toEqual(['Could not look for a key left by the failed create (list failed too); the post step will look again.']);
});

test('list entries that are not keys are skipped; missing fields get safe defaults', async () => {
  server.addKey({ description: 'plain', expiresAt: null });
  const keys = await client().listKeys();
  expect(keys).toEqual([expect.objectContaining({ description: 'plain', expiresAt: null })]);
});

test.each([
  [{ 'retry-after': '3' }, 3_000],
  [{ 'retry-after': '0.5' }, 500],
  [{ 'retry-after': new Date(1_000_000 + 7_000).toUTCString() }, 7_000],
  [{ 'retry-after': ['2', '9'] }, 2_000],
  [{ 'retry-after': 'soon' }, undefined],
  [{ 'x-ratelimit-reset-requests': '4' }, 4_000],
  [{ 'x-ratelimit-reset-requests': String(1_000 + 5) }, 1_005_000],
  [{ 'x-ratelimit-reset-requests': '-1' }, undefined],
  [{}, undefined],
])('retryAfterMs(%j) = %j', (headers, expected) => {
  expect(retryAfterMs(headers, 1_000_000)).toBe(expected);
});

test('x-ratelimit-reset as epoch seconds or epoch milliseconds', () => {
  const now = 1_800_000_000_000;
  expect(retryAfterMs({ 'x-ratelimit-reset': String(now / 1000 + 5) }, now)).toBe(5_000);
  expect(retryAfterMs({ 'x-ratelimit-reset': String(now + 2_500) }, now)).toBe(2_500);
  expect(retryAfterMs({ 'x-ratelimit-reset': String(now - 2_500) }, now)).toBe(0);
});
