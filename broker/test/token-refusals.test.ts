// Every way a caller's token can fail to prove who it is gets a 401 that names the claim, never the
// token; a key the issuer starts publishing later is fetched again on its unknown kid.
import { base64url, SignJWT } from 'jose';
import { expect, test } from 'vitest';
import { jobClaims, newSigningKey } from '../../fakes/oidc-issuer.ts';
import { AUDIENCE, call, expectCleanAudit, useBrokerBed } from './support/broker-bed.ts';

const bed = useBrokerBed();
const claims = jobClaims('octo-org/shop', '500');

const unsigned = (header: Record<string, unknown>, payload: Record<string, unknown>): string =>
  `${base64url.encode(JSON.stringify(header))}.${base64url.encode(JSON.stringify(payload))}.`;

test.each([
  [
    'a wrong signature',
    async () => (await bed.issuer.sign(claims)).replace(/\.[^.]+$/, `.${base64url.encode('x'.repeat(256))}`),
    /signature/,
  ],
  [
    'another issuer',
    () => bed.issuer.sign(claims, { issuer: 'https://token.actions.githubusercontent.example' }),
    /"iss": the issuer must be/,
  ],
  [
    'another audience',
    () => bed.issuer.sign(claims, { audience: 'sts.amazonaws.com' }),
    /"aud": the audience must include https:\/\/broker\.example\.org/,
  ],
  [
    'an expired token',
    () => bed.issuer.sign(claims, { issuedIn: -600, notBeforeIn: -600, expiresIn: -120 }),
    /"exp": the token has expired/,
  ],
  ['a token not yet valid', () => bed.issuer.sign(claims, { notBeforeIn: 600, expiresIn: 900 }), /"nbf": the token is not valid yet/],
  ['a token issued in the future', () => bed.issuer.sign(claims, { issuedIn: 600, expiresIn: 900 }), /"iat"/],
  [
    'alg none',
    async () => unsigned({ alg: 'none', typ: 'JWT' }, { ...claims, iss: bed.issuer.url, aud: AUDIENCE, exp: Date.now() / 1000 + 300 }),
    /"alg": the token's algorithm is not allowed \(allowed: RS256\)/,
  ],
  [
    'HS256 signed with the public key',
    async () =>
      new SignJWT({ ...claims })
        .setProtectedHeader({ alg: 'HS256', kid: 'key-1' })
        .setIssuer(bed.issuer.url)
        .setAudience(AUDIENCE)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode(JSON.stringify(bed.issuer.published[0]?.jwk))),
    /"alg"/,
  ],
  [
    'an unknown kid',
    async () => bed.issuer.sign(claims, { key: await newSigningKey('key-unknown') }),
    /"kid": the token was signed with a key the issuer does not publish/,
  ],
  [
    'a token without exp',
    async () =>
      new SignJWT({ ...claims })
        .setProtectedHeader({ alg: 'RS256', kid: 'key-1' })
        .setIssuer(bed.issuer.url)
        .setAudience(AUDIENCE)
        .setIssuedAt()
        .sign(bed.issuer.published[0]?.privateKey as Parameters<SignJWT['sign']>[0]),
    /"exp": the claim is missing or not valid/,
  ],
  ['no token at all', async () => '', /no token/],
  ['not a JWT', async () => 'not-a-jwt', /no token|not a JWT/],
  ['a token without GitHub claims', () => bed.issuer.sign({ sub: 'someone' }), /"repository": missing or not as GitHub writes it/],
  [
    'a token issued longer ago than max-token-age (but not expired)',
    () => bed.issuer.sign(claims, { issuedIn: -900, notBeforeIn: -900, expiresIn: 300 }),
    /"iat": the token was issued more than 600s ago/,
  ],
  [
    'a token without the repository id',
    () => bed.issuer.sign({ ...claims, repository_id: undefined }),
    /"repository_id": missing or not as GitHub writes it/,
  ],
  [
    'a token whose repository is not under its owner',
    () => bed.issuer.sign({ ...claims, repository: 'someone-else/shop' }),
    /"repository": not under "repository_owner"/,
  ],
])('%s is refused with 401', async (_, makeToken, reason) => {
  const token = await makeToken();
  const answer = await call(bed.broker, 'POST', '/v1/keys', { token, body: {} });
  expect(answer.status).toBe(401);
  expect(answer.json.error).toMatch(reason);
  if (token) expect(answer.text).not.toContain(token);
  expect(bed.venice.count('create')).toBe(0);
  expect(bed.broker.audit).toEqual([
    expect.objectContaining({ action: 'mint', outcome: 'refused', status: 401, reason: answer.json.error }),
  ]);
  expectCleanAudit(bed.broker, bed.venice, bed.issuer, token ? [token] : []);
});

test('a key the issuer publishes later is fetched on its unknown kid, then accepted', async () => {
  await call(bed.broker, 'POST', '/v1/keys', { token: await bed.issuer.sign(claims), body: {} });
  const fetches = bed.issuer.jwksFetches;
  const rotated = await newSigningKey('key-2');
  bed.issuer.published.push(rotated);
  const answer = await call(bed.broker, 'POST', '/v1/keys', { token: await bed.issuer.sign(claims, { key: rotated }), body: {} });
  expect(answer.status).toBe(201);
  expect(bed.issuer.jwksFetches).toBe(fetches + 1);
  expectCleanAudit(bed.broker, bed.venice, bed.issuer);
});
