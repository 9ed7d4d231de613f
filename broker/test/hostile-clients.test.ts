// The broker survives what the internet sends it: bodies that are not JSON or not objects, bodies past
// its size limit (declared or streamed), raw garbage, and clients that send a request slowly. Each gets a
// clear refusal or is cut off at the request timeout; the broker keeps serving, and nothing it answers
// or audits holds a secret.
import { connect, type Socket } from 'node:net';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { jobClaims } from '../../fakes/oidc-issuer.ts';
import { call, useBrokerBed } from './support/broker-bed.ts';

// The real limits' shape, shortened: a request must arrive whole within 1 s (10 s by default).
const bed = useBrokerBed({ limits: { 'body-bytes': 1024, 'request-timeout': '1s' } });
let token: string;
beforeEach(async () => {
  token = await bed.issuer.sign(jobClaims('octo-org/shop', '500'));
});
// Registered after the bed's own: runs before it stops the broker.
afterEach(async () => {
  expect((await call(bed.broker, 'GET', '/healthz')).json).toEqual({ ok: true });
});

test.each([
  ['not JSON', '{"usd-limit": ', 400, /the body is not JSON/],
  ['a JSON array', '[1,2,3]', 400, /the body must be a JSON object/],
  ['JSON null', 'null', 400, /the body must be a JSON object/],
  ['fields of the wrong type', '{"usd-limit": {"$gt": 0}, "scope": ["job"]}', 400, /field 'usd-limit': "\{"\$gt":0\}" is not a limit/],
  ['a body past the limit', JSON.stringify({ description: 'x'.repeat(5000) }), 413, /larger than the broker's 1024 bytes/],
])('a mint with %s is refused and makes nothing', async (_, body, status, reason) => {
  const answer = await call(bed.broker, 'POST', '/v1/keys', { token, body });
  expect(answer.status).toBe(status);
  expect(answer.json.error).toMatch(reason);
  expect(bed.venice.count('create')).toBe(0);
  expect(bed.broker.audit).toEqual([expect.objectContaining({ action: 'mint', outcome: 'refused', status })]);
});

/** A raw connection, for what fetch will not send; resolves with everything the broker wrote back. */
function rawExchange(url: string, write: (socket: Socket) => void): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => write(socket));
    let received = '';
    socket.on('data', (chunk) => {
      received += chunk.toString('utf8');
    });
    socket.on('close', () => resolve(received));
    socket.on('error', reject);
  });
}

test('a streamed body with no length is cut at the limit', async () => {
  const answer = await rawExchange(bed.broker.url, (socket) => {
    socket.write(
      `POST /v1/keys HTTP/1.1\r\nHost: broker\r\nAuthorization: Bearer ${token}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`,
    );
    for (let i = 0; i < 8; i++) socket.write(`200\r\n${'x'.repeat(512)}\r\n`);
    socket.end('0\r\n\r\n');
  });
  expect(answer).toMatch(/^HTTP\/1\.1 413/);
  expect(bed.venice.count('create')).toBe(0);
});

test('garbage that is not HTTP gets a 400 and the connection closed', async () => {
  const answer = await rawExchange(bed.broker.url, (socket) => socket.write('\u0016\u0003\u0001 GARBAGE \r\n\r\n'));
  expect(answer).toMatch(/^HTTP\/1\.1 400/);
});

test.each([
  ['headers', (socket: Socket) => socket.write('POST /v1/keys HTTP/1.1\r\nHost: broker\r\nX-Slow: ')],
  [
    'a body',
    (socket: Socket) =>
      socket.write(`POST /v1/keys HTTP/1.1\r\nHost: broker\r\nAuthorization: Bearer ${token}\r\nContent-Length: 100\r\n\r\n{"sco`),
  ],
])('a client that never finishes sending %s is cut off, while others are served', async (_, start) => {
  const trickle: NodeJS.Timeout[] = [];
  const slow = rawExchange(bed.broker.url, (socket) => {
    start(socket);
    // One more byte now and then: slow, never done.
    trickle.push(setInterval(() => socket.writable && socket.write('a'), 200));
  });
  expect((await call(bed.broker, 'POST', '/v1/keys', { token, body: {} })).status).toBe(201);
  const answer = await slow;
  for (const timer of trickle) clearInterval(timer);
  expect(answer).toMatch(/^HTTP\/1\.1 408 Request Timeout/); // Node's answer at the request timeout, then the close
  expect(bed.venice.count('create')).toBe(1);
});

test('an unknown path is a 404 that lists the endpoints', async () => {
  const answer = await call(bed.broker, 'GET', '/v1/keys/../../admin', { token });
  expect(answer.status).toBe(404);
  expect(answer.json.error).toMatch(/POST \/v1\/keys, DELETE \/v1\/keys\/\{id\}/);
});
