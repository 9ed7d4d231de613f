// A webhook delivery is judged on its headers before any of its body is read: each case below sends its
// headers and no body at all, and is answered at once (a body would never come). Then the body has its
// own read deadline and its own count of readers (the oldest read gives way to a newcomer), and a
// connection still sending an unverified body is closed to make room for a runner's request at the
// connection cap. Every answer before a verified signature closes its connection.
import { randomUUID } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { afterEach, expect, test } from 'vitest';
import { deliver, workflowRunCompleted } from '../../fakes/github-webhooks.ts';
import { jobClaims, type OidcIssuer } from '../../fakes/oidc-issuer.ts';
import type { VeniceServer } from '../../fakes/venice-server.ts';
import { call, startFakes, startTestBroker, stopAndScanAfterEach, TEST_DEFAULTS, type TestBroker } from './support/broker-bed.ts';

const SECRET = 'a-webhook-secret-for-tests-only';
const SIGNATURE = `sha256=${'0'.repeat(64)}`;
let venice: VeniceServer;
let issuer: OidcIssuer;
let broker: TestBroker;
const sockets: Socket[] = [];

stopAndScanAfterEach(() => ({ venice, issuer, broker }), [SECRET]);
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
});

async function start(webhook: Record<string, unknown> = {}, limits: Record<string, unknown> = {}): Promise<void> {
  ({ venice, issuer } = await startFakes());
  broker = await startTestBroker({
    venice,
    issuer,
    defaults: TEST_DEFAULTS,
    githubWebhook: { 'read-timeout': '1s', ...webhook },
    webhookSecret: SECRET,
    limits,
  });
}

/** Sends a delivery's head (and `body`, if any) on a raw connection; resolves with the answer's first line once it closes. */
function send(headers: Record<string, string>, body = ''): { answer: Promise<string>; socket: Socket } {
  const { hostname, port } = new URL(broker.url);
  const socket = connect(Number(port), hostname);
  sockets.push(socket);
  const answer = new Promise<string>((resolve) => {
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('utf8');
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(received));
  });
  const head = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.write(`POST /v1/github/webhook HTTP/1.1\r\nHost: broker\r\n${head}\r\n${body}`);
  return { answer: answer.then((text) => `${text.split('\r\n')[0]} ${/\{.*\}/.exec(text)?.[0] ?? ''}`), socket };
}

const GOOD = { 'x-github-event': 'workflow_run', 'x-github-delivery': randomUUID(), 'x-hub-signature-256': SIGNATURE };

test.each([
  [
    'no signature',
    { ...GOOD, 'x-hub-signature-256': '', 'content-length': '100' },
    /^HTTP\/1\.1 401 .*not sha256=<64 hex digits>; nothing was read/,
  ],
  ['a signature of another shape', { ...GOOD, 'x-hub-signature-256': 'sha1=abc', 'content-length': '100' }, /^HTTP\/1\.1 401 /],
  ['a delivery id not as GitHub writes it', { ...GOOD, 'x-github-delivery': 'not a guid!', 'content-length': '100' }, /^HTTP\/1\.1 400 /],
  [
    'an event the broker does not act on',
    { ...GOOD, 'x-github-event': 'push', 'content-length': '100' },
    /^HTTP\/1\.1 202 .*"ignored":true/,
  ],
  ['no Content-Length', { ...GOOD, 'transfer-encoding': 'chunked' }, /^HTTP\/1\.1 411 .*needs a Content-Length/],
  [
    'a Content-Length above body-bytes',
    { ...GOOD, 'content-length': String(300_000) },
    /^HTTP\/1\.1 413 .*github-webhook\.body-bytes \(262144 bytes\)/,
  ],
])('%s: answered from the headers alone, and the connection closed', async (_, headers, expected) => {
  await start();
  expect(await send(headers).answer).toMatch(expected);
  expect(venice.requests).toEqual([]);
});

test('a body slower than read-timeout is 408; past max-unverified, the oldest read gives way (503 with Retry-After)', async () => {
  await start({ 'max-unverified': 2 });
  const slow = send({ ...GOOD, 'content-length': '500' }, '{"action":');
  const first = await slow.answer;
  expect(first).toMatch(/^HTTP\/1\.1 408 .*read-timeout/);
  const [oldest, second, third] = [0, 1, 2].map(() => send({ ...GOOD, 'content-length': '500' }, '{"a'));
  expect(await oldest?.answer).toMatch(/^HTTP\/1\.1 503 .*this one was the slowest/);
  // A signed delivery sent whole still gets a reader's place and is acted on.
  const payload = workflowRunCompleted('octo-org/shop', '77');
  expect((await deliver(broker.url, 'workflow_run', payload, { signWith: SECRET })).status).toBe(202);
  second?.socket.destroy();
  third?.socket.destroy();
});

test('at the connection cap, a connection still sending an unverified body makes room for a runner', async () => {
  await start({ 'read-timeout': '10s' }, { 'max-connections': 8, 'request-timeout': '10s' });
  const slow = Array.from({ length: 8 }, () => send({ ...GOOD, 'content-length': '500' }, '{"a'));
  await new Promise((done) => setTimeout(done, 200)); // all eight are being read
  const token = await issuer.sign(jobClaims('octo-org/shop', '500'));
  expect((await call(broker, 'POST', '/v1/keys', { token, body: {} })).status).toBe(201);
  expect(await Promise.race(slow.map((one) => one.answer))).toBe(' '); // one was closed without an answer
});

test('a body whose signature is well formed but wrong: read, then 401, and nothing is acted on', async () => {
  await start();
  const body = JSON.stringify(workflowRunCompleted('octo-org/shop', '77'));
  expect(await send({ ...GOOD, 'content-length': String(Buffer.byteLength(body)) }, body).answer).toMatch(
    /^HTTP\/1\.1 401 .*does not match the body with the webhook secret/,
  );
  expect(venice.requests).toEqual([]);
});
