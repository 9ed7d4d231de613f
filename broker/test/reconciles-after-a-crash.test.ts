// A broker killed mid-mint leaves an intent in its mint journal (store.state-dir) and, at Venice, a key
// nobody was handed. The next broker on that directory reads the journal at start and deletes that key,
// found by its tag, with an audit line and a count in /metrics; keys the journal does not name (keys
// callers hold, other repositories' keys, hand-made look-alikes) are untouched.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { formatTag } from '../../core/description-tag.ts';
import { addKeysThatMustSurvive, addOwnedKey } from '../../testkit/seed-keys.ts';
import { stopAll } from '../../testkit/stop.ts';
import { recordKeys, signRecord } from '../src/keys/sealed-records.ts';
import { expectCleanAudit, startFakes, startTestBroker, TEST_DEFAULTS } from './support/broker-bed.ts';
import { scrape } from './support/metrics.ts';

test("a crashed mint's key is found through the journal in state-dir and deleted at the next start; nothing else is", async () => {
  const { venice, issuer } = await startFakes();
  const orphan = addOwnedKey(venice, { repository: 'octo-org/shop', runId: '500' });
  const held = addOwnedKey(venice, { repository: 'octo-org/shop', runId: '500' });
  const survivors = [held, ...addKeysThatMustSurvive(venice)];
  const dir = mkdtempSync(join(tmpdir(), 'vek-state-'));
  // What the killed process left: its intent for the orphan (its deadline still ahead: it died first),
  // one for a key Venice never made, and one written by someone without the admin key, naming a key a
  // caller holds: it deletes nothing.
  const intent = (id: string, tag: string, signingKey = venice.adminKey) => [
    id,
    {
      deadline: Date.now() + 600_000,
      text: signRecord(recordKeys(signingKey), 'intent', { id, tag, repository: 'octo-org/shop', runId: '500' }),
    },
  ];
  writeFileSync(
    join(dir, 'state.json'),
    JSON.stringify({
      version: 2,
      intents: [
        intent('m1', formatTag(orphan.tag)),
        intent('m2', 'vek:octo-org/shop job r500.1 zzzzzz'),
        intent('m3', formatTag(held.tag), 'someone-else'),
      ],
      leases: [],
    }),
  );
  const broker = await startTestBroker({ venice, issuer, defaults: TEST_DEFAULTS, store: { 'state-dir': dir } });
  try {
    // Bounded (10 s): the first pass runs at start, and the machine may be busy with other tests.
    for (let tries = 0; tries < 200 && !broker.audit.some((line) => line.keyId === orphan.id); tries++) {
      await new Promise((done) => setTimeout(done, 50));
    }
    expect(
      venice
        .liveKeys()
        .map((key) => key.id)
        .sort(),
    ).toEqual(survivors.map((key) => key.id).sort());
    expect(broker.audit).toEqual([
      expect.objectContaining({ action: 'reconcile', outcome: 'deleted', keyId: orphan.id, repository: 'octo-org/shop', run: '500' }),
    ]);
    const metrics = await scrape(broker);
    expect(metrics.value('broker_orphans_reconciled_total')).toBe(1);
    expect(metrics.value('broker_requests_total', { route: 'reconcile', outcome: 'deleted' })).toBe(1);
    expect(broker.logs.join('\n')).toMatch(/an intent in the mint journal failed verification/);
    expectCleanAudit(broker, venice, issuer);
  } finally {
    await stopAll(broker, issuer, venice);
  }
});
