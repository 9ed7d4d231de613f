// The Venice client against the loopback server: how each answer is validated, classified and explained.
import { createServer } from 'node:http';
import { expect, test } from 'vitest';
import { Deadline } from '../../core/deadline.ts';
import { ActionFailure } from '../../core/errors.ts';
import { createTransport } from '../../core/http.ts';
import { type CreateKeyBody, isoDate } from '../../core/venice-api.ts';
import { VeniceClient } from '../../core/venice-client.ts';
import { retryAfterMs, VeniceError } from '../../core/venice-errors.ts';
import { closeServer, listenOnLoopback } from '../../fakes/loopback.ts';
import { fastPolicy } from '../../testkit/fast-policy.ts';
import { useTestBed } from '../support/bed.ts';

const bed = useTestBed();

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
    apiUrl: options.apiUrl ?? bed.venice.apiUrl,
    adminKey: options.adminKey ?? bed.venice.adminKey,
    transport: createTransport({}),
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

const noRecovery = { recover: async (): Promise<void> => {} };

test('create, verify, list, get and delete round trip', async () => {
  const venice = client();
  const key = await venice.createKey(body, noRecovery);
  expect(key.apiKey).toMatch(/^VENICE_INFERENCE_KEY_/);
  expect(key.description).toBe('unit test');
  expect(await venice.verifyKey(key.apiKey)).toBe(true);
  expect((await venice.listKeys()).map((k) => k.id)).toEqual([key.id]);
  bed.venice.keys.get(key.id)!.usage = { usd: 0.25, diem: 2 };
  expect(await venice.getKey(key.id)).toMatchObject({ id: key.id, spent: { usd: 0.25, diem: 2 }, currentPeriod: { usd: 0.25, diem: 2 } });
  expect(await venice.deleteKey(key.id)).toBe('deleted');
  expect(await venice.deleteKey(key.id)).toBe('already-gone');
  expect(await venice.getKey(key.id)).toBeUndefined();
});

test.each([
  ['a', 'a one-letter secret (masking it would hide every a in the log)'],
  [' ', 'a blank secret (which cannot be masked)'],
  ['VENICE_INFERENCE_KEY_abc\n::warning::forged', 'a secret with a line break'],
  ['', 'an empty secret'],
])('a create answered with apiKey %j is a failed create, and the key is deleted by id', async (apiKey) => {
  bed.venice.inject('create', { kind: 'patch-data', data: { apiKey } });
  const thrown = await failure(client().createKey(body, noRecovery));
  const id = bed.venice.minted[0]!.id;
  expect(thrown.message).toBe(
    `Venice created key ${id} but answered with a secret that does not look like a Venice key. ` +
      'This is not expected from Venice; if api-url points at a proxy or gateway, check what it does to the answer. The key was deleted.',
  );
  expect(bed.venice.liveKeys()).toEqual([]);
  expect(bed.venice.count('create')).toBe(1);
});

test('a create answered with an id that is not an id is ambiguous: recovered by tag, then retried', async () => {
  bed.venice.inject('create', { kind: 'patch-data', data: { id: 'x\n::warning::forged' } });
  const recovered: number[] = [];
  const key = await client().createKey(body, { recover: async () => void recovered.push(1) });
  expect(recovered).toEqual([1]);
  expect(key.id).toBe(bed.venice.minted[1]!.id);
});

test('an expiresAt that is not a date is no expiry: the key is deleted and the create fails; an earlier one is kept, in UTC', async () => {
  bed.venice.inject('create', { kind: 'patch-data', data: { expiresAt: '::warning::tomorrow' } });
  const left: number[] = [];
  const thrown = await failure(client().createKey(body, { ...noRecovery, nothingLeft: () => void left.push(1) }));
  expect(thrown.message).toMatch(
    /answered without the expiry asked for .*; a key that may never expire is not handed out\. The key was deleted\.$/,
  );
  expect(bed.venice.liveKeys()).toEqual([]);
  expect(left).toEqual([1]); // answered, and its key deleted: nothing for anyone to look for
  // An expiry written with an offset, a minute before the one asked: kept, as UTC.
  const earlier = new Date(Date.parse(body.expiresAt) - 60_000);
  const offset = new Date(earlier.getTime() + 2 * 3_600_000).toISOString().replace(/\.\d+Z$/, '+02:00');
  bed.venice.inject('create', { kind: 'patch-data', data: { expiresAt: offset } });
  expect((await client().createKey(body, noRecovery)).expiresAt).toBe(earlier.toISOString().replace(/\.\d+Z$/, '.000Z'));
  expect(isoDate('tomorrow')).toBeUndefined();
  expect(isoDate(17)).toBeUndefined();
});

test('a DELETE answered 200 with success: false is not a deletion: retried, then a failure', async () => {
  bed.venice.inject('delete', { kind: 'answer', body: { success: false } }, 99);
  const key = bed.venice.addKey({ description: 'x' });
  const thrown = await failure(client({ maxAttempts: 3 }).deleteKey(key.id));
  expect(thrown.message).toBe(
    'deleting the key failed 3 times in a row; the last attempt failed with: an answer that does not say success: true.',
  );
});

test('a 2 GB answer is read only up to the cap, each time, and the retries give up without buffering it', async () => {
  bed.venice.inject('list', { kind: 'huge-body', bytes: 2 * 1024 ** 3 }, 3);
  const before = process.memoryUsage().rss;
  const thrown = await failure(client({ maxAttempts: 3 }).listKeys());
  expect(thrown.message).toBe('listing keys failed 3 times in a row; the last attempt failed with: an answer larger than 4 MiB.');
  expect(process.memoryUsage().rss - before).toBeLessThan(200 * 1024 * 1024);
});

test('list entries with ids or dates Venice would not write are left out', async () => {
  bed.venice.inject('list', {
    kind: 'answer',
    body: {
      object: 'list',
      data: [
        { id: 'ok-1', description: 'fine', expiresAt: '2031-01-01T00:00:00Z', apiKeyType: 'INFERENCE' },
        { id: 'bad id\n::warning::x', description: 'forged', expiresAt: null },
        { id: 'ok-2', description: 'odd date', expiresAt: 'never' },
        'not an object',
      ],
    },
  });
  expect((await client().listKeys()).map((key) => [key.id, key.expiresAt])).toEqual([['ok-1', '2031-01-01T00:00:00.000Z']]);
});

test.each([
  ['create', 401, 'Admin API key required', /the admin key is an inference key\.$/],
  ['create', 401, 'Authentication failed', /^Venice refused the admin key \(401\)\. Venice said: "Authentication failed"\.$/],
  ['verify', 401, 'Authentication failed', /the key did not work/],
  ['create', 402, 'Payment required', /Venice answered 402 \(payment required\) while creating the key/],
  ['list', 403, 'Forbidden', /Venice forbade listing keys \(403\)/],
  ['create', 400, 'Invalid request parameters', /Venice rejected the new key's settings \(400\)/],
  [
    'delete',
    404,
    'Not found',
    /^deleting the key failed with HTTP 404: the address does not look like Venice's API\. Venice said: "Not found"\.$/,
  ],
] as const)('%s answered %i "%s" is final and explained', async (call, status, error, explanation) => {
  bed.venice.inject(call, { kind: 'status', status, error });
  const venice = client();
  const attempt = {
    create: () => venice.createKey(body, noRecovery),
    verify: () => venice.verifyKey('VENICE_INFERENCE_KEY_x'),
    list: () => venice.listKeys(),
    delete: () => venice.deleteKey('some-id'),
    get: () => venice.getKey('some-id'),
  }[call];
  const thrown = await failure(attempt());
  expect(thrown).toBeInstanceOf(VeniceError);
  expect(thrown.message).toMatch(explanation);
  expect((thrown as VeniceError).status).toBe(status);
  expect(bed.venice.count(call)).toBe(1); // never retried
});

test('a secret Venice echoes back is blanked out; long texts are cut', async () => {
  bed.venice.inject('list', { kind: 'status', status: 403, error: `bad key ${bed.venice.adminKey} ${'x'.repeat(300)}` });
  const thrown = await failure(client().listKeys());
  expect(thrown.message).not.toContain(bed.venice.adminKey);
  expect(thrown.message).toContain('bad key ***');
  expect((thrown as VeniceError).veniceText.length).toBeLessThanOrEqual(201);
});

test("retries give up after the policy's attempts with the last problem named", async () => {
  bed.venice.inject('list', { kind: 'status', status: 503 }, 99);
  const log: string[] = [];
  const thrown = await failure(client({ log, timeoutMs: 120_000 }).listKeys());
  expect(thrown).toBeInstanceOf(ActionFailure);
  expect(thrown.message).toBe('listing keys failed 8 times in a row; the last attempt failed with: HTTP 503 An unknown error occurred.');
  expect(log).toHaveLength(7);
  expect(log[0]).toMatch(/^listing keys: attempt failed \(HTTP 503 An unknown error occurred\); retrying in \d/);
});

test('a wait longer than the deadline fails at once, saying what it was waiting for', async () => {
  bed.venice.inject('list', { kind: 'status', status: 429, retryAfter: '60' });
  const thrown = await failure(client({ timeoutMs: 5_000 }).listKeys());
  expect(thrown.message).toMatch(
    /gave up after the time budget of 5s while waiting for listing keys\. The last attempt failed with: HTTP 429 Rate limit exceeded\./,
  );
  expect(bed.venice.count('list')).toBe(1);
});

test('a request after the deadline is not sent', async () => {
  const thrown = await failure(client({ timeoutMs: 0 }).listKeys());
  expect(thrown.message).toBe('gave up after the time budget of 0s while waiting for listing keys.');
  expect(bed.venice.requests).toEqual([]);
});

test('a cancelled request stops at once and is not retried', async () => {
  const controller = new AbortController();
  bed.venice.inject('list', { kind: 'hang' });
  const pending = client({ signal: controller.signal }).listKeys();
  await bed.venice.nextRequest('list');
  controller.abort();
  const thrown = await failure(pending);
  expect(thrown.message).toBe('listing keys was cancelled.');
  expect(bed.venice.count('list')).toBe(1);
});

test("connection refused is tried once more, then reported as final, with the program's advice", async () => {
  const log: string[] = [];
  const refused = client({ apiUrl: 'http://127.0.0.1:9/api/v1', adminKey: 'k', log });
  const thrown = await failure(refused.listKeys());
  expect(thrown.message).toBe('listing keys failed: could not reach http://127.0.0.1:9: connection refused.');
  expect(log).toEqual([
    expect.stringMatching(/^listing keys: attempt failed \(could not reach http:\/\/127\.0\.0\.1:9: connection refused\)/),
  ]);
  expect((thrown as VeniceError).retryable).toBe(false);
  // A host that does not resolve is final at once (test/scenarios/unreachable-api-url.test.ts, in a
  // network namespace of its own: a lookup here would leave loopback).
});

test('when create gives up after an ambiguous attempt, it still looks for the key it may have made', async () => {
  bed.venice.inject('create', { kind: 'reset-after' }, 99);
  const recovered: number[] = [];
  await failure(client({ maxAttempts: 2 }).createKey(body, { recover: async () => void recovered.push(1) }));
  expect(recovered).toHaveLength(2); // before the retry, and after the last attempt

  const log: string[] = [];
  await failure(client({ maxAttempts: 1, log }).createKey(body, { recover: async () => Promise.reject(new Error('list failed too')) }));
  expect(log).toEqual(['Could not look for a key left by the failed create (list failed too); the post step will look again.']);
});

test('list entries that are not keys are skipped; missing fields get safe defaults', async () => {
  bed.venice.addKey({ description: 'plain', expiresAt: null });
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

test('nothingCanLand is called only while every create attempt so far was answered', async () => {
  const calls: string[] = [];
  await client().createKey(body, { ...noRecovery, nothingCanLand: () => calls.push('answered') });
  expect(calls).toEqual(['answered']);
  calls.length = 0;
  bed.venice.inject('create', { kind: 'reset-before' });
  await client().createKey(body, { ...noRecovery, nothingCanLand: () => calls.push('answered') });
  expect(calls).toEqual([]); // the first attempt was cut: its key could still appear
  bed.venice.inject('create', { kind: 'status', status: 503 });
  await client().createKey(body, { ...noRecovery, nothingCanLand: () => calls.push('answered') });
  expect(calls).toEqual(['answered', 'answered']);
});

test('a web page where Venice JSON should be is final, said as such, and no key is looked for', async () => {
  const page = createServer(
    (_, res) => void res.writeHead(200, { 'content-type': 'text/html' }).end('  <html><body>Welcome</body></html>'),
  );
  const port = await listenOnLoopback(page);
  try {
    const left: number[] = [];
    const thrown = await failure(
      client({ apiUrl: `http://127.0.0.1:${port}/api/v1` }).createKey(body, { ...noRecovery, nothingLeft: () => void left.push(1) }),
    );
    expect(thrown.message).toBe("creating the key got an HTML page, not Venice's JSON: the address does not look like Venice's API.");
    expect(left).toEqual([1]);
  } finally {
    await closeServer(page);
  }
});
