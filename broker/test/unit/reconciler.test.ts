// Reconciliation's own cases, against the Venice test server and the in-process state: it does nothing
// (not even a listing) while no intent is overdue, or while another replica leads; an overdue intent's
// key is deleted; a key that vanished in the meantime is audited as already gone; a key whose tag
// changed under it (hand-edited) is left alone; either way the intent is forgotten.
import { expect, test } from 'vitest';
import { Deadline } from '../../../core/deadline.ts';
import { formatTag } from '../../../core/description-tag.ts';
import { createTransport } from '../../../core/http.ts';
import { VeniceClient } from '../../../core/venice-client.ts';
import { VeniceServer } from '../../../fakes/venice-server.ts';
import { addOwnedKey } from '../../../test/support/bed.ts';
import { fastPolicy } from '../../../test/support/in-process.ts';
import type { AuditRecord } from '../../src/audit.ts';
import { KeyListing } from '../../src/key-listing.ts';
import { memoryState } from '../../src/memory-state.ts';
import { BrokerMetrics } from '../../src/metrics.ts';
import { Reconciler } from '../../src/reconciler.ts';

test('overdue intents: deleted, already gone, or no longer ours; nothing while none is overdue or another replica leads', async () => {
  const venice = await new VeniceServer().start();
  try {
    const state = memoryState({ perWindow: 20, windowMs: 60_000, timeoutMs: 0, now: Date.now, sleep: async () => {}, stateDir: undefined });
    const client = () =>
      new VeniceClient({
        apiUrl: venice.apiUrl,
        adminKey: venice.adminKey,
        transport: createTransport({}, undefined, 1),
        deadline: Deadline.forStep(10_000),
        policy: fastPolicy(),
        log: () => undefined,
      }).forCleanup();
    const audit: AuditRecord[] = [];
    const logs: string[] = [];
    const metrics = new BrokerMetrics({ queueDepth: () => 0, windowCreates: async () => 0 });
    const reconciler = new Reconciler({
      state,
      venice: client,
      listing: new KeyListing(() => client().listKeys(), 2_000, Date.now),
      audit: (record) => audit.push(record),
      metrics,
      log: { info: (line) => logs.push(line), warning: (line) => logs.push(line) },
      now: Date.now,
      intervalMs: 1_000,
    });
    const [orphan, vanishing, edited] = [0, 1, 2].map(() => addOwnedKey(venice, { repository: 'octo-org/shop', runId: '500' }));
    const intent = (id: string, key: { tag: Parameters<typeof formatTag>[0] }, withinMs: number) =>
      state.journal.intend({ id, tag: formatTag(key.tag), repository: 'octo-org/shop', runId: '500' }, withinMs);
    await intent('later', orphan as NonNullable<typeof orphan>, 60_000);
    expect(await reconciler.runOnce()).toBe(0);
    expect(venice.count('list')).toBe(0); // nothing overdue: Venice is not asked

    // Looked at in this order: the edited key's read finds another description; the vanishing key is
    // gone by the time its delete arrives; the orphan is as it was.
    await intent('c', edited as NonNullable<typeof edited>, -1);
    await intent('b', vanishing as NonNullable<typeof vanishing>, -1);
    await intent('a', orphan as NonNullable<typeof orphan>, -1);
    expect(await state.lead('reconcile', 60_000)).toBe(true); // another replica's turn
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
    expect(await state.journal.overdue()).toEqual([]); // 'later' is not due yet; the rest were forgotten
    await reconciler.stop(); // never started: nothing to stop
  } finally {
    await venice.stop();
  }
});
