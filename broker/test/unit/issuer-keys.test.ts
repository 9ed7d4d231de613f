// GitHub's keys as the broker holds them: what a key-set endpoint may answer that is not a usable key
// set (an error status, more than 1 MiB, JSON that is not a JWKS) is a failed fetch, said why, and the
// keys held before stay; a set with two keys under one kid is not guessed between.
import { createServer } from 'node:http';
import { afterEach, expect, test } from 'vitest';
import { closeServer, listenOnLoopback } from '../../../fakes/loopback.ts';
import { newSigningKey } from '../../../fakes/oidc-issuer.ts';
import { IssuerKeys } from '../../src/policy/issuer-keys.ts';

let answer: { status: number; body: string } = { status: 200, body: '{"keys":[]}' };
const server = createServer((_, res) => void res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body));
afterEach(() => closeServer(server).catch(() => undefined));

test('an error status, a body over 1 MiB or JSON that is not a key set is a failed fetch; the keys held stay', async () => {
  const url = `http://127.0.0.1:${await listenOnLoopback(server)}/jwks`;
  let now = 0;
  const results: string[] = [];
  const keys = new IssuerKeys({
    url,
    refreshMs: 1_000,
    staleForMs: 60_000,
    cooldownMs: 0,
    now: () => now,
    onFetch: (result, detail) => void results.push(`${result}: ${detail}`),
  });
  const good = await newSigningKey('key-1');
  answer = { status: 200, body: JSON.stringify({ keys: [good.jwk] }) };
  await keys.start();
  for (const bad of [
    { status: 500, body: '{}' },
    { status: 200, body: `{"keys":[],"pad":"${'x'.repeat(1_100_000)}"}` },
    { status: 200, body: '{"not":"a key set"}' },
    { status: 200, body: 'not json' },
  ]) {
    answer = bad;
    now += 2_000; // older than jwks-refresh: each lookup asks again
    await expect(keys.getKey({ alg: 'RS256', kid: 'key-1' }, { payload: '', signature: '' })).resolves.toBeDefined();
  }
  expect(results.map((line) => line.replace(/: .*/s, (detail) => detail.slice(0, 60)))).toEqual([
    'ok: 1 key(s)',
    'failed: HTTP 500',
    'failed: the key set is larger than 1 MiB',
    'failed: not a JSON Web Key Set',
    expect.stringMatching(/^failed: /),
  ]);
});

test('two keys under one kid: the lookup fails rather than guess', async () => {
  const url = `http://127.0.0.1:${await listenOnLoopback(server)}/jwks`;
  const [first, second] = [await newSigningKey('same'), await newSigningKey('same')];
  answer = { status: 200, body: JSON.stringify({ keys: [first.jwk, second.jwk] }) };
  const keys = new IssuerKeys({ url, refreshMs: 60_000, staleForMs: 60_000, cooldownMs: 30_000, now: () => 0 });
  await keys.start();
  await expect(keys.getKey({ alg: 'RS256', kid: 'same' }, { payload: '', signature: '' })).rejects.toThrow(/multiple matching keys/i);
});
