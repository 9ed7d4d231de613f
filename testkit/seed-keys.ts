// Keys placed in a Venice fake the way earlier runs, other repositories or people would have left them,
// for the action's tests and the broker's alike, and the repository and run the tests play.
import { formatTag, type KeyTag, newTag, type Scope } from '../core/description-tag.ts';
import type { StoredKey, VeniceServer } from '../fakes/venice-server.ts';

export const REPOSITORY = 'octo-org/shop';
export const RUN_ID = '18234567890';

/**
 * A key as this action would have minted it in an earlier run (tagged for `repository`), created a
 * minute ago unless said otherwise.
 */
export function addOwnedKey(
  venice: VeniceServer,
  fields: { repository?: string; pr?: number; scope?: Scope; slot?: string; runId?: string; label?: string; createdAt?: string } = {},
): StoredKey & { tag: KeyTag } {
  const tag = newTag(fields.repository ?? REPOSITORY, {
    pr: fields.pr,
    scope: fields.scope ?? 'job',
    slot: fields.scope === 'pr' ? (fields.slot ?? 'web') : undefined,
    runId: fields.runId ?? '100',
    runAttempt: '1',
    token: Math.random().toString(36).slice(2, 8).padEnd(6, '0'),
  });
  const key = venice.addKey({
    description: `${fields.label ?? 'earlier'} ${formatTag(tag)}`,
    createdAt: fields.createdAt ?? new Date(Date.now() - 60_000).toISOString(),
  });
  return { ...key, tag };
}

/**
 * Keys that must survive any deletion this repository's action makes: hand-made keys with look-alike
 * descriptions, an admin key and a never-expiring key carrying a valid tag, and another repository's key.
 */
export function addKeysThatMustSurvive(venice: VeniceServer, pr = 7): StoredKey[] {
  const valid = formatTag(newTag(REPOSITORY, { pr, scope: 'pr', slot: 'web', runId: '100', runAttempt: '1', token: 'abcdef' }));
  return [
    venice.addKey({ description: 'my own key' }),
    venice.addKey({ description: `vek:${REPOSITORY}#${pr} pr:web r100.1 ABCDEF` }),
    venice.addKey({ description: `${valid} edited later` }),
    venice.addKey({ description: valid.replace(REPOSITORY, 'octo-org/shop2') }),
    venice.addKey({ description: `admin ${valid}`, apiKeyType: 'ADMIN' }),
    venice.addKey({ description: `forever ${valid}`, expiresAt: null }),
    addOwnedKey(venice, { repository: 'octo-org/other', pr, scope: 'pr' }),
  ];
}
