// PATCH /api_keys (the broker's warm pool re-shapes a key with it), against the Venice test server: the
// server takes exactly what the spec allows (strict body, `id` required, an unknown id 400) and changes
// the key as asked; the client checks the answer field by field and calls anything else an error.
import { expect, test } from 'vitest';
import { Deadline } from '../../core/deadline.ts';
import { createTransport } from '../../core/http.ts';
import type { CreateKeyBody } from '../../core/venice-api.ts';
import { VeniceClient } from '../../core/venice-client.ts';
import { VeniceError } from '../../core/venice-errors.ts';
import { fastPolicy } from '../../testkit/fast-policy.ts';
import { useTestBed } from '../support/bed.ts';

const bed = useTestBed();

const client = (): VeniceClient =>
  new VeniceClient({
    apiUrl: bed.venice.apiUrl,
    adminKey: bed.venice.adminKey,
    transport: createTransport({}),
    deadline: new Deadline(10_000),
    policy: fastPolicy(),
    log: () => undefined,
  });

const granted = (): CreateKeyBody => ({
  apiKeyType: 'INFERENCE',
  description: 'evals vek:octo-org/shop job r42.1 abcdef',
  expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
  consumptionLimit: { usd: 5, diem: 1 },
  limitPeriod: 'EPOCH',
  modelPrivacy: 'PRIVATE_TEXT',
});

test('an inert key becomes exactly the key asked for', async () => {
  const inert = bed.venice.addKey({
    description: 'vek:pool 00000000-0000-4000-8000-000000000000 abcdef',
    consumptionLimit: { usd: 0, diem: 0 },
    limitPeriod: 'LIFETIME',
  });
  const body = granted();
  expect(await client().updateKey(inert.id, body)).toEqual({ expiresAt: body.expiresAt });
  const key = bed.venice.keys.get(inert.id);
  expect(key).toMatchObject({
    description: body.description,
    expiresAt: body.expiresAt,
    consumptionLimit: { usd: 5, diem: 1 },
    limitPeriod: 'EPOCH',
    modelPrivacy: 'PRIVATE_TEXT',
  });
  // The PATCH carries the id and the fields to change, never apiKeyType (the spec's body has none).
  const { apiKeyType: _type, ...fields } = body;
  expect(bed.venice.updateBodies).toEqual([{ id: inert.id, ...fields }]);
});

test.each([
  ['the caps', { consumptionLimits: { usd: 0, diem: 0 } }, 'consumptionLimits.usd, consumptionLimits.diem'],
  ['the period', { limitPeriod: 'LIFETIME' }, 'limitPeriod'],
  ['the privacy', { modelPrivacy: 'ALL' }, 'modelPrivacy'],
  ['a later expiry', { expiresAt: '2099-01-01T00:00:00.000Z' }, 'expiresAt'],
  ['another id', { id: '00000000-0000-4000-8000-000000000001' }, 'id'],
  ['an admin key', { apiKeyType: 'ADMIN' }, 'apiKeyType'],
  ['the description', { description: 'something else' }, 'description'],
])('an answer with %s not as asked is an error naming the field', async (_, data, fields) => {
  const inert = bed.venice.addKey({ description: 'inert', consumptionLimit: { usd: 0, diem: 0 } });
  bed.venice.inject('update', { kind: 'patch-data', data });
  const error = await client()
    .updateKey(inert.id, granted())
    .catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(VeniceError);
  expect((error as VeniceError).message).toBe(`updating the key failed: the answer is not the key asked for (${fields}).`);
});

test('an unknown id, a failing server and a strict body are each refused', async () => {
  expect(
    await client()
      .updateKey('00000000-0000-4000-8000-00000000000f', granted())
      .catch((error: VeniceError) => error.status),
  ).toBe(400);
  const inert = bed.venice.addKey({ description: 'inert' });
  bed.venice.inject('update', { kind: 'status', status: 500 });
  expect(
    await client()
      .updateKey(inert.id, granted())
      .catch((error: VeniceError) => error.status),
  ).toBe(500);
  // The server holds PATCH to the spec: an unknown field, or no id, is a 400.
  const raw = (body: unknown) =>
    fetch(`${bed.venice.apiUrl}/api_keys`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${bed.venice.adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }).then((response) => response.status);
  expect(await raw({ id: inert.id, apiKeyType: 'INFERENCE' })).toBe(400);
  expect(await raw({ description: 'no id' })).toBe(400);
  expect(await raw({ id: inert.id, expiresAt: null })).toBe(200);
  expect(bed.venice.keys.get(inert.id)?.expiresAt).toBeNull();
});
