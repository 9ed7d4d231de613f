// Builders for the broker's unit tests: a lease as the broker records one
// (keys/leases.ts) with every field a test does not care about filled in, and a client of a Venice fake
// with one connection, no log and a fast retry policy.
import { Deadline } from '../../../core/deadline.ts';
import type { KeyTag } from '../../../core/description-tag.ts';
import { createTransport } from '../../../core/http.ts';
import type { RetryPolicy } from '../../../core/retry.ts';
import { VeniceClient } from '../../../core/venice-client.ts';
import type { VeniceServer } from '../../../fakes/venice-server.ts';
import { fastPolicy } from '../../../testkit/fast-policy.ts';
import type { Lease } from '../../src/keys/leases.ts';

/** A live job key's lease of octo-org/shop, run 42, rule ci, but for the fields given. */
export function aLease(fields: Partial<Lease> = {}): Lease {
  return {
    keyId: '11111111-2222-4333-8444-555555555555',
    repositoryId: '1',
    repository: 'octo-org/shop',
    scope: 'job',
    pr: undefined,
    slot: undefined,
    runId: '42',
    runAttempt: '1',
    description: 'ci vek:…',
    handedOutAt: 1_000,
    expiresAt: 3_600_000,
    rule: 'ci',
    idempotencyKey: undefined,
    state: 'live',
    ...fields,
  };
}

/** The lease of a key placed in a Venice fake: its id, description and (when given) its tag's facts; live for an hour. */
export function leaseOfKey(key: { id: string; description: string; tag?: KeyTag }, fields: Partial<Lease> = {}): Lease {
  const facts = key.tag
    ? { scope: key.tag.scope, pr: key.tag.pr, slot: key.tag.slot, runId: key.tag.runId, runAttempt: key.tag.runAttempt }
    : {};
  return aLease({
    keyId: key.id,
    description: key.description,
    handedOutAt: Date.now(),
    expiresAt: Date.now() + 3_600_000,
    ...facts,
    ...fields,
  });
}

/** A client of a Venice fake for one test: one connection, no log, the fast policy unless another is given. */
export function veniceClientOf(venice: VeniceServer, options: { now?: () => number; policy?: RetryPolicy } = {}): VeniceClient {
  return new VeniceClient({
    apiUrl: venice.apiUrl,
    adminKey: venice.adminKey,
    transport: createTransport({}, undefined, 1),
    deadline: Deadline.forStep(10_000, options.now),
    policy: options.policy ?? fastPolicy(),
    log: () => undefined,
  });
}
