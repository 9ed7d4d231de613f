// The status page's rendering and its recent activity, from snapshots built here: the states a running
// broker rarely shows at will (the store out of reach, Venice's listing unreadable, Venice holding off,
// a webhook delivery and its deletions, the issuer's keys lost), hostile text escaped, and the hour of
// counts rolling over on a virtual clock.

import { expect, test } from 'vitest';
import { RecentActivity, repositoryRows, type StatusSnapshot } from '../../src/http/status.ts';
import { html, renderOverview, renderRepository } from '../../src/http/status-page.ts';
import { aLease } from '../support/builders.ts';

const lease = aLease;

const snapshot = (fields: Partial<StatusSnapshot>): StatusSnapshot => ({
  version: '9.9.9',
  at: Date.UTC(2026, 11, 2),
  repositories: [],
  spendKnown: true,
  queue: { waiting: 0, windowCreates: 0, perWindow: 20, windowMs: 60_000, heldForMs: 0 },
  refusals: [],
  leaseEnds: [],
  webhook: { configured: true, last: undefined, lastDeletion: undefined },
  store: { kind: 'redis', health: 'ok' },
  jwks: { held: true, last: undefined },
  pool: undefined,
  ...fields,
});

test('text the broker did not write is neutralised and escaped', () => {
  expect(html('<script>alert("x")</script> & \'y\'\n::stop')).toBe(
    '&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; &#38; &#39;y&#39;\\n::stop',
  );
  const hostile = lease({
    repository: 'octo-org/<b>x</b>',
    rule: '"><img src=x>',
    state: 'ending',
    ending: { why: '<i>', delivery: undefined, attempts: 1, nextAt: 0 },
  });
  const rows = repositoryRows([hostile], []);
  const page =
    renderOverview(snapshot({ repositories: rows })) + (renderRepository(snapshot({ repositories: rows }), 'octo-org/<b>x</b>') ?? '');
  expect(page).not.toMatch(/<b>x<\/b>|<img|<i>/);
  expect(page).toContain('ending (&#60;i&#62;)');
});

test('a store out of reach, an unreadable listing, a hold, a lost issuer and a webhook delivery are each said', () => {
  const down = renderOverview(
    snapshot({
      repositories: undefined,
      queue: { waiting: 3, windowCreates: undefined, perWindow: 20, windowMs: 60_000, heldForMs: 4_200 },
      store: { kind: 'redis', health: 'unreachable' },
      jwks: { held: false, last: { at: 0, result: 'failed' } },
      webhook: {
        configured: true,
        last: { at: 0, event: 'workflow_run', outcome: 'deleted', status: 200, reason: 'run 42 completed' },
        lastDeletion: { at: 0, count: 2 },
      },
    }),
  );
  expect(down).toContain('The leases cannot be read: the store is out of reach.');
  expect(down).toContain('unknown (store out of reach)');
  expect(down).toContain('Venice holds creates off for 5 s');
  expect(down).toContain('<span class="bad">redis: unreachable</span>');
  expect(down).toContain('<span class="bad">not held</span> (last fetch failed at 1970-01-01T00:00:00Z)');
  expect(down).toContain(
    'last delivery: workflow_run deleted (200) at 1970-01-01T00:00:00Z<br><span class="muted">run 42 completed</span>',
  );
  expect(down).toContain('last deletion: 2 key(s)');
  const silent = renderOverview(
    snapshot({
      webhook: {
        configured: true,
        last: { at: 0, event: undefined, outcome: 'refused', status: 401, reason: undefined },
        lastDeletion: undefined,
      },
    }),
  );
  expect(silent).toContain('last delivery: unknown event refused (401)');
  expect(renderOverview(snapshot({}))).toContain('no delivery since start');
  expect(renderOverview(snapshot({}))).toContain('<b>Warm pool</b><br><span class="muted">not configured</span>');
  expect(renderOverview(snapshot({ pool: { keys: 3, size: 20 } }))).toContain('<b>Warm pool</b><br>3 of 20 keys here');

  const rows = repositoryRows(
    [lease({}), lease({ keyId: '21111111-2222-4333-8444-555555555555', pr: 7, slot: 'web', scope: 'pr' })],
    undefined,
  );
  const unknown = renderOverview(snapshot({ repositories: rows, spendKnown: false }));
  expect(unknown).toContain("Venice's listing could not be read: spend unknown.");
  expect(unknown).toMatch(/<td class="n">\?<\/td><td class="n">\?<\/td>/);
  expect(renderRepository(snapshot({ repositories: rows, spendKnown: false }), 'OCTO-ORG/SHOP')).toContain('<td>PR #7 (web)</td>');
  expect(renderRepository(snapshot({ repositories: undefined }), 'octo-org/shop')).toBeUndefined();
  expect(renderOverview(snapshot({ repositories: [rows[0] as NonNullable<(typeof rows)[0]>] }))).toContain('in 1 repository<');
});

test('the hour of counts: the last sixty minutes, most first, older minutes forgotten', () => {
  let now = Date.UTC(2026, 11, 2, 10);
  const activity = new RecentActivity(() => now);
  activity.refused('no-rule');
  activity.refused('bad-token');
  activity.refused('bad-token');
  activity.ended('post');
  expect(activity.refusalsLastHour()).toEqual([
    { reason: 'bad-token', count: 2 },
    { reason: 'no-rule', count: 1 },
  ]);
  now += 61 * 60_000;
  activity.refused('no-rule');
  expect(activity.refusalsLastHour()).toEqual([{ reason: 'no-rule', count: 1 }]);
  expect(activity.leaseEndsLastHour()).toEqual([]);
  activity.saw({ action: 'mint', outcome: 'granted', status: 201 });
  expect(activity.lastDelivery).toBeUndefined();
  activity.saw({ action: 'webhook', outcome: 'deleted', status: 200, leaseEnded: 'webhook' });
  expect(activity.lastDeletion).toEqual({ at: now, count: 1 });
  expect(activity.lastDelivery).toBeUndefined();
});
