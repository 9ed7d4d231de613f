// The one way a leased key ends, against the Venice test server: deleted and audited with the lease's own
// rule and why; a key Venice now shows with another description is left alone (refused, said in the
// line); a lease whose description holds no tag ends without a request; a deletion that fails leaves the
// lease for a retry, and a batch names every key it could not delete.

import { expect, test } from 'vitest';
import { Deadline } from '../../../core/deadline.ts';
import { createTransport } from '../../../core/http.ts';
import { VeniceClient } from '../../../core/venice-client.ts';
import { VeniceServer } from '../../../fakes/venice-server.ts';
import { fastPolicy } from '../../../testkit/fast-policy.ts';
import { addOwnedKey } from '../../../testkit/seed-keys.ts';
import { LeaseBook } from '../../src/keys/lease-book.ts';
import { endLeasedKey, endLeasedKeys } from '../../src/keys/lease-ends.ts';
import type { Lease } from '../../src/keys/leases.ts';
import { recordKeys } from '../../src/keys/sealed-records.ts';
import type { AuditRecord } from '../../src/observe/audit.ts';
import { memoryState } from '../../src/state/memory-state.ts';
import { leaseOfKey } from '../support/builders.ts';

test('ends: deleted, not ours any more, no tag at all; a failed batch names what it could not delete', async () => {
  const venice = await new VeniceServer().start();
  try {
    const state = memoryState({ perWindow: 20, windowMs: 60_000, timeoutMs: 0, now: Date.now, sleep: async () => {}, stateDir: undefined });
    const leases = new LeaseBook(state.leases, recordKeys(venice.adminKey), { warning: () => undefined });
    const audit: AuditRecord[] = [];
    const client = new VeniceClient({
      apiUrl: venice.apiUrl,
      adminKey: venice.adminKey,
      transport: createTransport({}),
      deadline: new Deadline(10_000),
      policy: { ...fastPolicy(), maxAttempts: 1 },
      log: () => undefined,
    });
    const deps = {
      cleanup: () => client,
      leases,
      audit: (record: AuditRecord) => void audit.push(record),
      log: { info: () => undefined, warning: () => undefined },
      changed: () => undefined,
    };
    const leaseOf = (key: { id: string; description: string }, description = key.description): Lease =>
      leaseOfKey({ id: key.id, description }, { runId: '100', handedOutAt: 0, expiresAt: Date.now() + 60_000 });
    const [plain, edited, untagged, failing] = [0, 1, 2, 3].map(() => addOwnedKey(venice, {}));
    const why = { why: 'revoke' as const, action: 'revoke' as const, reason: 'PR #7 revoked' };
    expect(await endLeasedKey(leaseOf(plain as NonNullable<typeof plain>), why, deps)).toMatchObject({ outcome: 'deleted' });
    venice.inject('get', { kind: 'patch-data', data: { description: 'hand-edited: not a tag' } });
    expect(await endLeasedKey(leaseOf(edited as NonNullable<typeof edited>), why, deps)).toEqual({ outcome: 'not-ours', spent: undefined });
    expect(await endLeasedKey(leaseOf(untagged as NonNullable<typeof untagged>, 'no tag here'), why, deps)).toMatchObject({
      outcome: 'already-gone',
    });
    expect(audit.map((line) => [line.outcome, line.rule, line.leaseEnded, line.reason])).toEqual([
      ['deleted', 'ci', 'revoke', 'PR #7 revoked'],
      ['refused', 'ci', 'revoke', 'PR #7 revoked; Venice shows another description now, so it was not deleted'],
      ['already-gone', 'ci', 'revoke', 'PR #7 revoked'],
    ]);
    expect(
      venice
        .liveKeys()
        .map((key) => key.id)
        .sort(),
    ).toEqual([edited?.id, untagged?.id, failing?.id].sort());
    venice.inject('delete', { kind: 'status', status: 500 });
    await expect(endLeasedKeys([leaseOf(failing as NonNullable<typeof failing>)], why, deps)).rejects.toThrow(
      new RegExp(`^deleted 0 of 1 key\\(s\\); could not delete ${failing?.id}: `),
    );
  } finally {
    await venice.stop();
  }
});
