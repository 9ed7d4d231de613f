// broker/openapi.yaml documents the broker's HTTP API; every broker test's call() holds the answers it
// sees to it. Here: the document itself, and that a drifted answer or document is caught (positive control).
import { expect, test } from 'vitest';
import { BROKER_OPENAPI, undocumented } from '../../broker/test/support/broker-openapi.ts';

const minted = {
  id: '0d8fbff0-5ab9-4ba1-94c2-fb2f19656310',
  apiKey: 'VENICE_INFERENCE_KEY_abc',
  description: 'vek:octo-org/shop job r1.1 abcdef',
  expiresAt: '2026-11-30T12:00:00.000Z',
  rule: 'ci',
  granted: { 'usd-limit': '1' },
  clamped: [],
};

test('the document names every route the broker serves', () => {
  expect(Object.keys(BROKER_OPENAPI.paths).sort()).toEqual(
    [
      '/healthz',
      '/readyz',
      '/metrics',
      '/v1/github/webhook',
      '/v1/keys',
      '/v1/keys/revoke',
      '/v1/keys/sweep',
      '/v1/keys/unwrap',
      '/v1/keys/{id}',
    ].sort(),
  );
});

test('an answer that drifts from the document is caught: a field missing or added, a status not listed (positive control)', () => {
  expect(undocumented('POST', '/v1/keys', 201, minted)).toEqual([]);
  expect(undocumented('POST', '/v1/keys', 201, { ...minted, id: undefined })).toEqual([
    "POST /v1/keys 201: (body) must have required property 'id'",
  ]);
  expect(undocumented('POST', '/v1/keys', 201, { ...minted, secretSauce: true })).toEqual([
    'POST /v1/keys 201: (body) must NOT have additional properties',
  ]);
  expect(undocumented('DELETE', '/v1/keys/0d8fbff0-5ab9-4ba1-94c2-fb2f19656310', 418, { error: 'x' })).toEqual([
    'DELETE /v1/keys/{id} answered 418, a status the document does not list',
  ]);
  expect(undocumented('GET', '/v1/keys/unwrap', 200, {})).toEqual(['GET /v1/keys/unwrap is not documented']);
  // A document that no longer lists a field the broker sends rejects the real answer.
  const drifted = structuredClone(BROKER_OPENAPI) as unknown as {
    components: { schemas: { Minted: { properties: Record<string, unknown> } } };
  };
  delete drifted.components.schemas.Minted.properties.rule;
  expect(undocumented('POST', '/v1/keys', 201, minted, drifted as unknown as typeof BROKER_OPENAPI)).toEqual([
    'POST /v1/keys 201: (body) must NOT have additional properties',
  ]);
});
