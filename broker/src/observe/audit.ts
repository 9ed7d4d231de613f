/**
 * The audit log: one JSON line on stdout per decision (mint, delete, unwrap; granted or refused), for
 * whoever owns the broker to ship to their log store. Only named fields are written, each from the
 * token's claims or the broker's own decision: never a token, a key, a handle or a request body, and a
 * reason never quotes what the caller sent (it names the field and what is accepted).
 *
 * Refusals before a rule matched (no or bad token, no rule, body too large) are what a stranger's
 * flood produces, so they are logged in aggregate (RefusalLog): the first few of each minute get their
 * own line, the rest are counted, and one line a minute gives the counts by reason.
 */
import type { KeyRequest } from '../../../core/key-request.js';
import type { CallerClaims } from '../policy/caller-token.js';
import type { LeaseEnd } from './metrics.js';

export interface AuditRecord {
  action: 'mint' | 'delete' | 'unwrap' | 'revoke' | 'list' | 'sweep' | 'webhook' | 'reconcile' | 'request' | 'rotate' | 'expire';
  outcome: 'granted' | 'clamped' | 'refused' | 'deleted' | 'already-gone' | 'failed';
  status: number;
  claims?: CallerClaims | undefined;
  rule?: string | undefined;
  keyId?: string | undefined;
  granted?: KeyRequest | undefined;
  clamped?: string[] | undefined;
  reason?: string | undefined;
  /** Keys deleted by this decision (revoke, sweep, a webhook's clean-up). */
  deleted?: string[] | undefined;
  /** A webhook delivery's GUID, and its event. */
  delivery?: string | undefined;
  event?: string | undefined;
  /** For a webhook or a reconciled key: the repository (and run) it names, there being no token. */
  repository?: string | undefined;
  run?: string | undefined;
  /** The line of a lease's end: why it ended (not a request: counted in broker_leases_ended_total). */
  leaseEnded?: LeaseEnd | undefined;
  /** A request's line that is also its lease's end (post's delete: no line of its own is written). */
  endsLease?: LeaseEnd | undefined;
  /** Who asked, when not a workflow's token: an operator's command. */
  by?: 'operator' | undefined;
}

export type Audit = (record: AuditRecord) => void;

export function auditLine(record: AuditRecord, now: number): string {
  const { claims, granted } = record;
  return JSON.stringify({
    time: new Date(now).toISOString(),
    action: record.action,
    outcome: record.outcome,
    status: record.status,
    repository: claims?.repository ?? record.repository,
    delivery: record.delivery,
    webhookEvent: record.event,
    repositoryId: claims?.repository_id,
    owner: claims?.repository_owner,
    ownerId: claims?.repository_owner_id,
    run: claims?.run_id ?? record.run,
    attempt: claims?.run_attempt,
    job: claims?.job_workflow_ref,
    actor: claims?.actor,
    ref: claims?.ref,
    event: claims?.event_name,
    environment: claims?.environment,
    rule: record.rule,
    keyId: record.keyId,
    caps: granted && {
      scope: granted.scope,
      usd: granted.usdLimit,
      diem: granted.diemLimit,
      period: granted.limitPeriod,
      expiresInS: Math.round(granted.expiresInMs / 1000),
      privacy: granted.modelPrivacy ?? 'ALL',
    },
    clamped: record.clamped?.length ? record.clamped : undefined,
    deleted: record.deleted,
    leaseEnded: record.leaseEnded,
    by: record.by,
    // Reasons are the broker's own words; kept short so one line stays one line.
    reason: record.reason && record.reason.length > 500 ? `${record.reason.slice(0, 500)}…` : record.reason,
  });
}

/** Refusals before a rule matched, each with its own line while under budget, then counted. */
export class RefusalLog {
  private windowStart: number;
  private lines = 0;
  private counts = new Map<string, number>();
  private readonly addresses = new Set<string>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly options: {
      /** Individual lines per window; the rest are counted. */
      linesPerWindow: number;
      windowMs: number;
      now: () => number;
      write: (line: string) => void;
      audit: Audit;
      /** Every refusal, written or counted (the metrics). */
      counted?: (record: AuditRecord, kind: string) => void;
    },
  ) {
    this.windowStart = options.now();
    // The count is written when the window ends even if no refusal follows it.
    this.timer = setInterval(() => this.roll(), Math.min(options.windowMs, 60_000));
    this.timer.unref();
  }

  record(record: AuditRecord, kind: string, address: string): void {
    this.options.counted?.(record, kind);
    this.roll();
    if (this.lines < this.options.linesPerWindow) {
      this.lines++;
      this.options.audit(record);
      return;
    }
    const key = `${record.status} ${kind}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    // Distinct addresses, up to a bound: a count, not a list, is what goes in the line.
    if (this.addresses.size < 10_000) this.addresses.add(address);
  }

  /** Writes the window's counts, if any, and starts a new window when this one is over. */
  roll(force = false): void {
    const now = this.options.now();
    if (!force && now - this.windowStart < this.options.windowMs) return;
    if (this.counts.size > 0) {
      const byReason = Object.fromEntries([...this.counts].sort((a, b) => b[1] - a[1]));
      const count = [...this.counts.values()].reduce((sum, n) => sum + n, 0);
      this.options.write(
        JSON.stringify({
          time: new Date(now).toISOString(),
          action: 'refusals',
          outcome: 'aggregated',
          since: new Date(this.windowStart).toISOString(),
          count,
          byReason,
          addresses: this.addresses.size,
        }),
      );
    }
    this.windowStart = now;
    this.lines = 0;
    this.counts = new Map();
    this.addresses.clear();
  }

  close(): void {
    clearInterval(this.timer);
    this.roll(true);
  }
}
