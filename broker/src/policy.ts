/**
 * The organisation's policy: the first rule whose `match` fits the token's claims decides, and its
 * ceilings bound the key. A request above a ceiling is lowered to it (`over-ceiling: clamp`) or refused
 * (`refuse`, the default); either way the answer says which ceiling and by how much. A scope the rule
 * does not allow is always refused: it cannot be lowered to another owner. No matching rule: refused.
 */
import { formatDuration } from '../../src/duration.js';
import type { KeyRequest, ModelPrivacy } from '../../src/inputs.js';
import type { Rule } from './config.js';
import { matchesClaims } from './glob.js';

export type Decision =
  | { outcome: 'granted'; rule: Rule; granted: KeyRequest; clamped: string[] }
  | { outcome: 'refused'; rule: Rule | undefined; reason: string };

const PRIVACY_RANK: Record<ModelPrivacy, number> = { ALL: 0, PRIVATE_TEXT: 1, PRIVATE_ONLY: 2 };

export function decide(rules: Rule[], claims: Record<string, unknown>, request: KeyRequest): Decision {
  const rule = rules.find((candidate) => matchesClaims(candidate.match, claims));
  if (!rule) {
    return {
      outcome: 'refused',
      rule: undefined,
      reason:
        `no rule of the broker's policy matches repository ${String(claims.repository)}, ref ${String(claims.ref)}, ` +
        `event ${String(claims.event_name)}; ask the broker's owner to add one.`,
    };
  }
  const { ceilings } = rule;
  if (ceilings.scopes && !ceilings.scopes.includes(request.scope)) {
    return {
      outcome: 'refused',
      rule,
      reason: `rule "${rule.name}" does not allow scope ${request.scope} (it allows ${ceilings.scopes.join(', ')}).`,
    };
  }
  const granted: KeyRequest = { ...request };
  const over: { why: string; lowered: string }[] = [];
  const limitOver = (field: 'usdLimit' | 'diemLimit', name: string, ceiling: number | null | undefined): void => {
    const asked = granted[field];
    if (ceiling === undefined || ceiling === null || (asked !== null && asked <= ceiling)) return;
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
  if (ceilings.maxExpiryMs !== undefined && granted.expiresInMs > ceilings.maxExpiryMs) {
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
      rule,
      reason: `rule "${rule.name}" refuses requests above its ceilings: ${over.map((item) => item.why).join('; ')}.`,
    };
  }
  return { outcome: 'granted', rule, granted, clamped: over.map((item) => `${item.why}: granted ${item.lowered}`) };
}
