// limits.max-connections: at the cap, the broker closes an idle keep-alive connection to make room for
// a new one; when every connection has a request in progress, the new connection is closed instead.
// Requests refused before a rule matched count against the client's address (limits.refusals-per-address).

import { connect, type Socket } from 'node:net';
import { afterEach, expect, test } from 'vitest';
import { jobClaims } from '../../fakes/oidc-issuer.ts';
import { stopAll } from '../../testkit/stop.ts';
import { call, startFakes, startTestBroker, useBrokerBed } from './support/broker-bed.ts';

const bed = useBrokerBed({ limits: { 'max-connections': 8, 'refusals-per-address': 3 } });
const sockets: Socket[] = [];
afterEach(() => {
  for (const socket of sockets) socket.destroy();
  sockets.length = 0;
});

/** A raw connection that has sent `request`; resolves once connected. */
function open(request: string): Promise<{ socket: Socket; closed: Promise<void>; received: () => string }> {
  const { hostname, port } = new URL(bed.broker.url);
  return new Promise((resolve) => {
    let text = '';
    const socket = connect(Number(port), hostname, () => {
      socket.write(request);
      resolve({ socket, closed, received: () => text });
    });
    const closed = new Promise<void>((done) => socket.on('close', () => done()));
    socket.on('data', (chunk) => {
      text += chunk.toString('utf8');
    });
    socket.on('error', () => undefined);
    sockets.push(socket);
  });
}

const until = async (check: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((done) => setTimeout(done, 10));
};

test('at the cap an idle keep-alive connection is closed for a new one; with none idle the new one is closed', async () => {
  const idle = await Promise.all(Array.from({ length: 8 }, () => open('GET /healthz HTTP/1.1\r\nHost: broker\r\n\r\n')));
  await until(() => idle.every((connection) => connection.received().includes('{"ok":true}')));
  // A ninth client is served: one idle connection made room.
  expect((await call(bed.broker, 'GET', '/healthz')).json).toEqual({ ok: true });
  await until(() => idle.some((connection) => connection.socket.destroyed || connection.socket.readableEnded));
  expect(idle.filter((connection) => connection.socket.destroyed || connection.socket.readableEnded).length).toBeGreaterThan(0);
  for (const connection of idle) connection.socket.destroy();

  // Eight connections each with a request in progress: admitted, and its body still to come.
  const token = await bed.issuer.sign(jobClaims('octo-org/shop', '3'));
  const busy = await Promise.all(
    Array.from({ length: 8 }, () =>
      open(
        `POST /v1/keys HTTP/1.1\r\nHost: broker\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{`,
      ),
    ),
  );
  await new Promise((done) => setTimeout(done, 100));
  const extra = await open('GET /healthz HTTP/1.1\r\nHost: broker\r\n\r\n');
  await extra.closed;
  expect(extra.received()).toBe('');
  for (const connection of busy) connection.socket.destroy();
});

test('on IPv6 loopback the broker answers at its bracketed address', async () => {
  const { venice, issuer } = await startFakes();
  const v6 = await startTestBroker({ venice, issuer, host: '::1' });
  try {
    expect(v6.url).toMatch(/^http:\/\/\[::1\]:\d+$/);
    expect((await call(v6, 'GET', '/healthz')).json).toEqual({ ok: true });
  } finally {
    await stopAll(v6, issuer, venice);
  }
});

test('refusals before a rule matched, past the per-address limit, are answered 429 with Retry-After', async () => {
  const stranger = await bed.issuer.sign(jobClaims('evil-corp/x', '1'));
  const statuses = [];
  for (let i = 0; i < 5; i++) statuses.push((await call(bed.broker, 'POST', '/v1/keys', { token: stranger, body: {} })).status);
  expect(statuses).toEqual([403, 403, 403, 429, 429]);
  const limited = await call(bed.broker, 'DELETE', '/v1/keys/x', { token: stranger });
  expect(limited.status).toBe(429);
  expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(limited.json.error).toMatch(/^too many refused requests from this address \(limits\.refusals-per-address\)/);
  // A repository the policy admits, from the same address, is served as ever.
  const admitted = await call(bed.broker, 'POST', '/v1/keys', { token: await bed.issuer.sign(jobClaims('octo-org/shop', '2')), body: {} });
  expect(admitted.status).toBe(201);
});
