/**
 * The audit log: one JSON line on stdout per decision (mint, delete, unwrap; granted or refused), for
 * whoever owns the broker to ship to their log store. Only named fields are written, each from the
 * token's claims or the broker's own decision: never a token, a key, a handle or a request body.
 */
import type { KeyRequest } from '../../src/inputs.js';
import type { CallerClaims } from './caller-token.js';

export interface AuditRecord {
  action: 'mint' | 'delete' | 'unwrap';
  outcome: 'granted' | 'clamped' | 'refused' | 'deleted' | 'already-gone' | 'failed';
  status: number;
  claims?: CallerClaims | undefined;
  rule?: string | undefined;
  keyId?: string | undefined;
  granted?: KeyRequest | undefined;
  clamped?: string[] | undefined;
  reason?: string | undefined;
}

export type Audit = (record: AuditRecord) => void;

export function auditLine(record: AuditRecord, now: number): string {
  const { claims, granted } = record;
  return JSON.stringify({
    time: new Date(now).toISOString(),
    action: record.action,
    outcome: record.outcome,
    status: record.status,
    repository: claims?.repository,
    run: claims?.run_id,
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
    // A refusal may quote what the caller sent (a bad field's value): kept short, so one line stays one line.
    reason: record.reason && record.reason.length > 500 ? `${record.reason.slice(0, 500)}…` : record.reason,
  });
}
