/**
 * The organisation's policy. findRule: the first rule whose `match` fits the token's claims admits the
 * caller; no rule, no service (every endpoint asks this first, before anything else is spent).
 * decide: the rule's ceilings bound the key. A request above a ceiling is lowered to it
 * (`over-ceiling: clamp`) or refused (`refuse`, the default); either way the answer says which ceiling
 * and by how much. A scope the rule does not allow, or skip-delete where the rule forbids it, is always
 * refused: neither can be lowered to something else.
 */
import { formatDuration } from '../../../core/duration.js';
import type { KeyRequest, ModelPrivacy } from '../../../core/key-request.js';
import type { Rule } from './config.js';
import { matchesClaims } from './glob.js';

export type Decision = { outcome: 'granted'; granted: KeyRequest; clamped: string[] } | { outcome: 'refused'; reason: string };

const PRIVACY_RANK: Record<ModelPrivacy, number> = { ALL: 0, PRIVATE_TEXT: 1, PRIVATE_ONLY: 2 };

export function findRule(rules: Rule[], claims: Record<string, unknown>): Rule | undefined {
  return rules.find((candidate) => matchesClaims(candidate.matcher, claims));
}

/** Why no rule admitted the caller: the same words for everyone, quoting nothing the caller sent. */
export const NO_RULE =
  "no rule of the broker's policy admits this workflow (the audit log records its repository, ids, ref and event); ask the broker's owner to add one.";

export function decide(rule: Rule, request: KeyRequest): Decision {
  const { ceilings } = rule;
  if (ceilings.scopes && !ceilings.scopes.includes(request.scope)) {
    return {
      outcome: 'refused',
      reason: `rule "${rule.name}" does not allow scope ${request.scope} (it allows ${ceilings.scopes.join(', ')}).`,
    };
  }
  if (request.scope === 'job' && request.skipDelete && !rule.allowSkipDelete) {
    return {
      outcome: 'refused',
      reason: `rule "${rule.name}" does not allow skip-delete (a job key that outlives its job); use scope run or pr, or ask for allow-skip-delete.`,
    };
  }
  const granted: KeyRequest = { ...request };
  const over: { why: string; lowered: string }[] = [];
  const limitOver = (field: 'usdLimit' | 'diemLimit', name: string, ceiling: number | null): void => {
    const asked = granted[field];
    if (ceiling === null || (asked !== null && asked <= ceiling)) return;
    over.push({ why: `${name} ${asked ?? 'unlimited'} is above the ceiling ${ceiling}`, lowered: `${name} ${ceiling}` });
    granted[field] = ceiling;
  };
  limitOver('usdLimit', 'usd-limit', ceilings.usd);
  limitOver('diemLimit', 'diem-limit', ceilings.diem);
  if (ceilings.periods && !ceilings.periods.includes(granted.limitPeriod)) {
    over.push({
      why: `limit-period ${granted.limitPeriod} is not allowed (allowed: ${ceilings.periods.join(', ')})`,
      lowered: `limit-period ${ceilings.periods[0]}`,
    });
    granted.limitPeriod = ceilings.periods[0] as KeyRequest['limitPeriod'];
  }
  if (granted.expiresInMs > ceilings.maxExpiryMs) {
    over.push({
      why: `expires-in ${formatDuration(granted.expiresInMs)} is longer than ${formatDuration(ceilings.maxExpiryMs)}`,
      lowered: `expires-in ${formatDuration(ceilings.maxExpiryMs)}`,
    });
    granted.expiresInMs = ceilings.maxExpiryMs;
  }
  const floor = ceilings.privacyFloor;
  if (floor !== undefined && PRIVACY_RANK[granted.modelPrivacy ?? 'ALL'] < PRIVACY_RANK[floor]) {
    over.push({
      why: `model-privacy ${granted.modelPrivacy ?? 'ALL (unset)'} is below the floor ${floor}`,
      lowered: `model-privacy ${floor}`,
    });
    granted.modelPrivacy = floor;
  }
  if (over.length > 0 && rule.overCeiling === 'refuse') {
    return {
      outcome: 'refused',
      reason: `rule "${rule.name}" refuses requests above its ceilings: ${over.map((item) => item.why).join('; ')}.`,
    };
  }
  return { outcome: 'granted', granted, clamped: over.map((item) => `${item.why}: granted ${item.lowered}`) };
}
