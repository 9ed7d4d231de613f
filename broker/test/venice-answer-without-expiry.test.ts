// A create Venice answers without the expiry the broker asked for (or with a later one) is not handed out:
// the key is deleted at once and the caller gets a final 502, never a 503 it would retry (each retry
// would create and delete another key).
import { beforeEach, expect, test } from 'vitest';
import { jobClaims } from '../../fakes/oidc-issuer.ts';
import { call, useBrokerBed } from './support/broker-bed.ts';

const bed = useBrokerBed();
let token: string;
beforeEach(async () => {
  token = await bed.issuer.sign(jobClaims('octo-org/shop', '500'));
});

test.each([
  ['without an expiry', { expiresAt: null }, /answered without the expiry asked for/],
  ['with a later expiry', { expiresAt: '2099-01-01T00:00:00.000Z' }, /later than the .* asked for/],
])('a create answered %s: 502, final, and the key is deleted', async (_, data, reason) => {
  bed.venice.inject('create', { kind: 'patch-data', data });
  const answer = await call(bed.broker, 'POST', '/v1/keys', { token, body: {} });
  expect(answer.status).toBe(502);
  expect(answer.headers.get('retry-after')).toBeNull();
  expect(answer.json.error).toMatch(/^Venice's answer was not usable: Venice created key /);
  expect(answer.json.error).toMatch(reason);
  expect(answer.json.error).toMatch(/The key was deleted\./);
  expect(bed.venice.count('create')).toBe(1);
  expect(bed.venice.liveKeys()).toEqual([]);
  expect(bed.broker.audit).toEqual([expect.objectContaining({ action: 'mint', outcome: 'failed', status: 502 })]);
});
