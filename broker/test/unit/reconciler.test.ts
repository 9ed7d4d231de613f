// Reconciliation's own cases, against the Venice test server and the in-process state: nothing while
// another replica leads; an overdue intent is taken and its key deleted; a key that vanished meanwhile is
// audited as already gone; a key whose tag changed under it (hand-edited) is left alone; a key with a
// lease is never the reconciler's; an intent not signed by this broker deletes nothing and is said in the
// log; a lease whose key expired ends with one line; a lease whose deletion failed is tried again.

import { expect, test } from 'vitest';
import { formatTag, type KeyTag } from '../../../core/description-tag.ts';
import { VeniceServer } from '../../../fakes/venice-server.ts';
import { addOwnedKey } from '../../../testkit/seed-keys.ts';
import { KeyListing } from '../../src/keys/key-listing.ts';
import { LeaseBook } from '../../src/keys/lease-book.ts';
import type { Lease } from '../../src/keys/leases.ts';
import { Reconciler } from '../../src/keys/reconciler.ts';
import { recordKeys, signRecord } from '../../src/keys/sealed-records.ts';
import type { AuditRecord } from '../../src/observe/audit.ts';
import { BrokerMetrics } from '../../src/observe/metrics.ts';
import { memoryState } from '../../src/state/memory-state.ts';
import { leaseOfKey, veniceClientOf } from '../support/builders.ts';

function setUp(venice: VeniceServer) {
  const state = memoryState({ perWindow: 20, windowMs: 60_000, timeoutMs: 0, now: Date.now, sleep: async () => {}, stateDir: undefined });
  const client = () => veniceClientOf(venice).forCleanup();
  const audit: AuditRecord[] = [];
  const logs: string[] = [];
  const log = { info: (line: string) => logs.push(line), warning: (line: string) => logs.push(line) };
  const records = recordKeys(venice.adminKey);
  const leases = new LeaseBook(state.leases, records, log);
  const reconciler = new Reconciler({
    state,
    leases,
    records,
    venice: client,
    listing: new KeyListing(() => client().listKeys(), 2_000, Date.now),
    audit: (record) => audit.push(record),
    metrics: new BrokerMetrics({ queueDepth: () => 0, windowCreates: async () => 0 }),
    log,
    now: Date.now,
    intervalMs: 1_000,
  });
  /** An intent for `key`'s tag, signed with `signingKey` (the admin key by default), due in `withinMs`. */
  const intend = async (id: string, key: { tag: KeyTag }, withinMs: number, signingKey = venice.adminKey) => {
    const intent = signRecord(recordKeys(signingKey), 'intent', { id, tag: formatTag(key.tag), repository: 'octo-org/shop', runId: '500' });
    const result = await state.mints.admit({
      mintId: id,
      repositoryId: 'r1',
      liveKeys: 100,
      inFlightMs: withinMs,
      intent,
      intentWithinMs: withinMs,
      idempotency: undefined,
    });
    if (result.outcome === 'admitted') result.ticket.leave();
  };
  return { state, audit, logs, leases, reconciler, intend };
}

function leaseOf(key: { id: string; description: string; tag: KeyTag }, overrides: Partial<Lease> = {}): Lease {
  return leaseOfKey(key, { repositoryId: 'r1', ...overrides });
}

test('overdue intents: taken, and their keys deleted, already gone, or no longer ours; nothing while another replica leads', async () => {
  const venice = await new VeniceServer().start();
  try {
    const { state, audit, reconciler, intend } = setUp(venice);
    const [orphan, vanishing, edited] = [0, 1, 2].map(() => addOwnedKey(venice, { repository: 'octo-org/shop', runId: '500' }));
    await intend('later', orphan as NonNullable<typeof orphan>, 60_000);
    expect(await reconciler.runOnce()).toBe(0);
    expect(venice.count('list')).toBe(0); // nothing overdue: Venice is not asked

    // Looked at in this order: the edited key's read finds another description; the vanishing key is
    // gone by the time its delete arrives; the orphan is as it was.
    await intend('c', edited as NonNullable<typeof edited>, -1);
    await intend('b', vanishing as NonNullable<typeof vanishing>, -1);
    await intend('a', orphan as NonNullable<typeof orphan>, -1);
    state.lead = async () => false; // another replica's turn
    expect(await reconciler.runOnce()).toBe(0);
    expect(venice.count('list')).toBe(0);

    const leads = memoryState({ perWindow: 20, windowMs: 60_000, timeoutMs: 0, now: Date.now, sleep: async () => {}, stateDir: undefined });
    state.lead = leads.lead; // its turn now
    venice.inject('get', { kind: 'patch-data', data: { description: 'hand-edited: not a tag' } });
    venice.inject('delete', { kind: 'status', status: 404, error: 'API key not found' });
    expect(await reconciler.runOnce()).toBe(1);
    expect(audit.map((record) => [record.outcome, record.keyId]).sort()).toEqual(
      [
        ['already-gone', vanishing?.id],
        ['deleted', orphan?.id],
      ].sort(),
    );
    expect(await state.journal.overdue()).toEqual([]); // 'later' is not due yet; the rest were taken
    await reconciler.stop(); // never started: nothing to stop
  } finally {
    await venice.stop();
  }
});

test('a leased key is never deleted by the reconciler; a forged intent deletes nothing and is said once', async () => {
  const venice = await new VeniceServer().start();
  try {
    const { audit, logs, leases, state, reconciler, intend } = setUp(venice);
    const [held, target] = [0, 1].map(() => addOwnedKey(venice, { repository: 'octo-org/shop', runId: '500' })) as NonNullable<
      ReturnType<typeof addOwnedKey>
    >[];
    await intend('held', held as NonNullable<typeof held>, -1);
    // Its lease was written (a hand-out whose answer was lost on the way back from the store).
    const signed = leases.sign(leaseOf(held as NonNullable<typeof held>));
    const mint = await state.mints.admit({
      mintId: 'm',
      repositoryId: 'r1',
      liveKeys: 100,
      inFlightMs: 60_000,
      intent: 'x',
      intentWithinMs: 60_000,
      idempotency: undefined,
    });
    if (mint.outcome === 'admitted') mint.ticket.leave();
    await state.mints.handOut({
      mintId: 'm',
      repositoryId: 'r1',
      keyId: held?.id as string,
      expiresAt: Date.now() + 3_600_000,
      signedLease: signed,
      idempotency: undefined,
    });
    // An intent written by whoever can write to the store, but not with this broker's admin key.
    await intend('forged', target as NonNullable<typeof target>, -1, 'not-the-admin-key');
    expect(await reconciler.runOnce()).toBe(0);
    expect(
      venice
        .liveKeys()
        .map((key) => key.id)
        .sort(),
    ).toEqual([held?.id, target?.id].sort());
    expect(audit).toEqual([]);
    expect(logs.filter((line) => /an intent in the mint journal failed verification/.test(line))).toHaveLength(1);
  } finally {
    await venice.stop();
  }
});

test('a lease whose key expired ends with one line; a lease whose deletion failed is tried again when due', async () => {
  const venice = await new VeniceServer().start();
  try {
    const { audit, leases, state, reconciler } = setUp(venice);
    const [expired, failed] = [0, 1].map(() =>
      addOwnedKey(venice, { repository: 'octo-org/shop', runId: '500', scope: 'run' }),
    ) as NonNullable<ReturnType<typeof addOwnedKey>>[];
    for (const [key, lease] of [
      [expired, leaseOf(expired as NonNullable<typeof expired>, { expiresAt: Date.now() - 1 })],
      [failed, leaseOf(failed as NonNullable<typeof failed>)],
    ] as const) {
      const mintId = `m-${key?.id}`;
      const mint = await state.mints.admit({
        mintId,
        repositoryId: 'r1',
        liveKeys: 100,
        inFlightMs: 60_000,
        intent: 'x',
        intentWithinMs: 60_000,
        idempotency: undefined,
      });
      if (mint.outcome === 'admitted') mint.ticket.leave();
      await state.mints.handOut({
        mintId,
        repositoryId: 'r1',
        keyId: lease.keyId,
        expiresAt: lease.expiresAt,
        signedLease: leases.sign(lease),
        idempotency: undefined,
      });
    }
    const failing = (await leases.get(failed?.id as string)) as Lease;
    await leases.failedToEnd(failing, 'run 500 attempt 1 completed', 'delivery-1', Date.now() - 60_000);
    expect(await reconciler.runOnce()).toBe(0);
    expect(audit.map((line) => [line.action, line.leaseEnded, line.keyId, line.rule, line.delivery])).toEqual([
      ['expire', 'expiry', expired?.id, 'ci', undefined],
      ['webhook', 'webhook', failed?.id, 'ci', 'delivery-1'],
    ]);
    expect(venice.liveKeys().map((key) => key.id)).toEqual([expired?.id]); // an expired key is Venice's to drop, not deleted
    expect(await leases.list()).toEqual([]);
  } finally {
    await venice.stop();
  }
});
