// A lease is trusted only when this broker signed it: a record forged by whoever can write to the store
// (or signed with another admin key, or altered by one byte) is ignored, deletes nothing, counts toward
// nothing, and is said once in the log; a failed deletion marks the lease ending with a doubling wait.

import { expect, test } from 'vitest';
import { LeaseBook } from '../../src/keys/lease-book.ts';
import type { Lease } from '../../src/keys/leases.ts';
import { openAnswer, recordKeys, sealAnswer, signRecord, verifyRecord } from '../../src/keys/sealed-records.ts';
import { memoryState } from '../../src/state/memory-state.ts';
import { aLease } from '../support/builders.ts';

const lease: Lease = aLease({
  keyId: 'k1',
  repositoryId: '42',
  runId: '500',
  description: 'vek:octo-org/shop job r500.1 abcdef',
  expiresAt: Date.now() + 60_000,
});

async function stored(text: string, keyId: string) {
  const state = memoryState({ perWindow: 20, windowMs: 60_000, timeoutMs: 0, now: Date.now, sleep: async () => {}, stateDir: undefined });
  const admitted = await state.mints.admit({
    mintId: 'm',
    repositoryId: '42',
    liveKeys: 10,
    inFlightMs: 60_000,
    intent: 'x',
    intentWithinMs: 60_000,
    idempotency: undefined,
  });
  if (admitted.outcome === 'admitted') admitted.ticket.leave();
  await state.mints.handOut({
    mintId: 'm',
    repositoryId: '42',
    keyId,
    expiresAt: lease.expiresAt,
    signedLease: text,
    idempotency: undefined,
  });
  return state;
}

test('a forged, altered or foreign lease is ignored and said once; a signed one is read back', async () => {
  const keys = recordKeys('the-admin-key');
  const warnings: string[] = [];
  const signed = signRecord(keys, 'lease', lease);
  for (const [text, trusted] of [
    [signed, true],
    [signRecord(recordKeys('another-admin-key'), 'lease', lease), false],
    [signed.replace('"rule":"ci"', '"rule":"cx"'), false],
    [`v1.${'0'.repeat(64)}.${JSON.stringify(lease)}`, false],
    [signRecord(keys, 'intent', lease), false], // a record of another kind
    ['not a record', false],
  ] as const) {
    const book = new LeaseBook((await stored(text, 'k1')).leases, keys, { warning: (line) => warnings.push(line) });
    expect(await book.get('k1'), text.slice(0, 40)).toEqual(trusted ? lease : undefined);
    expect(await book.list('42')).toHaveLength(trusted ? 1 : 0);
    await book.list('42'); // said once, however often it is read
  }
  expect(warnings).toHaveLength(5);
  expect(warnings[0]).toMatch(/^a lease record in the store failed verification .* it was ignored and deletes nothing/);
  // A record whose key id is not the one asked for is not that key's lease.
  const elsewhere = new LeaseBook((await stored(signed, 'k2')).leases, keys, { warning: () => undefined });
  expect(await elsewhere.get('k2')).toBeUndefined();
  expect(verifyRecord(keys, 'lease', `${signed}x`)).toBeUndefined();
});

test('a failed deletion marks the lease ending, waiting twice as long each time, up to the longest', async () => {
  const keys = recordKeys('the-admin-key');
  const state = await stored(signRecord(keys, 'lease', lease), 'k1');
  const book = new LeaseBook(state.leases, keys, { warning: () => undefined }, { firstMs: 1_000, maxMs: 3_000 });
  const waits: number[] = [];
  for (let i = 0; i < 3; i++) {
    const current = (await book.get('k1')) as Lease;
    await book.failedToEnd(current, 'run 500 attempt 1 completed', i === 0 ? 'delivery-1' : undefined, 10_000);
    const ending = ((await book.get('k1')) as Lease).ending;
    waits.push((ending?.nextAt ?? 0) - 10_000);
    expect(ending).toMatchObject({ why: 'run 500 attempt 1 completed', delivery: 'delivery-1', attempts: i + 1 });
  }
  expect(waits).toEqual([1_000, 2_000, 3_000]);
});

test("a sealed answer opens only with the broker's key and for its own binding", () => {
  const keys = recordKeys('the-admin-key');
  const sealed = sealAnswer(keys, { id: 'k1', apiKey: 'VENICE_INFERENCE_KEY_secret' }, '42|idem');
  expect(sealed).not.toContain('VENICE_INFERENCE_KEY_secret');
  expect(openAnswer(keys, sealed, '42|idem')).toEqual({ id: 'k1', apiKey: 'VENICE_INFERENCE_KEY_secret' });
  expect(openAnswer(keys, sealed, '43|idem')).toBeUndefined();
  expect(openAnswer(recordKeys('another-admin-key'), sealed, '42|idem')).toBeUndefined();
  expect(openAnswer(keys, 'short', '42|idem')).toBeUndefined();
  expect(openAnswer(keys, sealAnswer(keys, [1] as unknown as object, 'b').slice(0, -2), 'b')).toBeUndefined();
});
