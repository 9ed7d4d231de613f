/**
 * The leases as the broker reads them: signed when written, verified when read. A record that does not
 * verify (forged by whoever can write to Redis, altered, or signed with another admin key) is ignored:
 * it deletes nothing, counts toward nothing, and is said once in the log.
 */
import { safeText } from '../../../core/safe-text.js';
import type { LeaseStore } from '../state/shared-state.js';
import { isLease, type Lease, leaseRecord } from './leases.js';
import { type RecordKeys, signRecord, verifyRecord } from './sealed-records.js';

export class LeaseBook {
  private readonly warned = new Set<string>();

  constructor(
    private readonly store: LeaseStore,
    private readonly keys: RecordKeys,
    private readonly log: { warning: (message: string) => void },
    /** A failed deletion's first wait (limits.orphan-scan-interval), doubling up to the longest (github-webhook.delete-retry-max-wait). */
    private readonly retry = { firstMs: 30_000, maxMs: 600_000 },
  ) {}

  sign(lease: Lease): string {
    return signRecord(this.keys, 'lease', leaseRecord(lease));
  }

  /** The lease a text holds, when this broker signed it; undefined (said once) for anything else. */
  verify(text: string): Lease | undefined {
    const body = verifyRecord(this.keys, 'lease', text);
    if (isLease(body)) return body;
    const fingerprint = text.slice(0, 80);
    if (!this.warned.has(fingerprint)) {
      this.warned.add(fingerprint);
      if (this.warned.size > 1_000) this.warned.clear();
      this.log.warning(
        `a lease record in the store failed verification (not signed by this broker's admin key: forged, altered or from another deployment); it was ignored and deletes nothing: ${safeText(fingerprint)}`,
      );
    }
    return undefined;
  }

  async get(keyId: string): Promise<Lease | undefined> {
    const text = await this.store.get(keyId);
    const lease = text === undefined ? undefined : this.verify(text);
    return lease?.keyId === keyId ? lease : undefined;
  }

  /** Live leases: every one, or one repository's (by its id). */
  async list(repositoryId?: string): Promise<Lease[]> {
    const leases = (await this.store.list(repositoryId)).flatMap((text) => this.verify(text) ?? []);
    return repositoryId === undefined ? leases : leases.filter((lease) => lease.repositoryId === repositoryId);
  }

  /** Leases whose keys expired since the last look (each once). */
  async expired(): Promise<Lease[]> {
    return (await this.store.expired()).flatMap((text) => this.verify(text) ?? []);
  }

  end(lease: Lease): Promise<void> {
    return this.store.end(lease);
  }

  /** A deletion that failed: the lease is marked ending, to be tried again with backoff until its key expires. */
  async failedToEnd(lease: Lease, why: string, delivery: string | undefined, now: number): Promise<void> {
    const attempts = (lease.ending?.attempts ?? 0) + 1;
    const wait = Math.min(this.retry.maxMs, this.retry.firstMs * 2 ** (attempts - 1));
    const ending = { why, delivery: delivery ?? lease.ending?.delivery, attempts, nextAt: now + wait };
    await this.store.update(lease.keyId, this.sign({ ...lease, state: 'ending', ending }));
  }
}
