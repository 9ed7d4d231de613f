// The operators' status page on the internal listener, in-process (the rendering and its sources): live
// keys grouped by repository with what Venice says they spent, one repository's keys by run and pull
// request, refusals and lease ends of the last hour, the webhook's last delivery, the version. It shows
// no secret, escapes what it did not write, is never on the API listener, and reloading it does not
// multiply Venice's listings. (status-page-in-a-browser.test.ts loads it from the bundle in Chromium.)
import { expect, test } from 'vitest';
import { jobClaims } from '../../fakes/oidc-issuer.ts';
import { BROKER_VERSION } from '../src/observe/version.ts';
import { call, leasedKey, useBrokerBed } from './support/broker-bed.ts';

const bed = useBrokerBed();

async function page(path: string): Promise<{ status: number; text: string; headers: Headers }> {
  const response = await fetch(`${bed.broker.metricsUrl}${path}`, { signal: AbortSignal.timeout(10_000) });
  return { status: response.status, text: await response.text(), headers: response.headers };
}

test('the overview groups live keys by repository with their spend, and a repository page lists its keys by run and PR', async () => {
  const shop = [await leasedKey(bed, { repository: 'octo-org/shop' }), await leasedKey(bed, { repository: 'octo-org/shop', pr: 12 })];
  const docs = await leasedKey(bed, { repository: 'octo-org/docs', runId: '77' });
  (bed.venice.keys.get(shop[0]?.id as string) as { usage: { usd: number; diem: number } }).usage = { usd: 1.25, diem: 0.5 };
  (bed.venice.keys.get(docs.id) as { usage: { usd: number; diem: number } }).usage = { usd: 0.1, diem: 0 };
  await call(bed.broker, 'POST', '/v1/keys', { token: await bed.issuer.sign(jobClaims('evil-corp/x', '1')), body: {} });

  const overview = await page('/');
  expect(overview.status).toBe(200);
  expect(overview.headers.get('content-type')).toBe('text/html; charset=utf-8');
  expect(overview.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
  expect(overview.text).toContain(`<span id="version">${BROKER_VERSION}</span>`);
  expect(overview.text).toContain('Live keys: <span id="total">3</span> in 2 repositories');
  expect(overview.text).toMatch(
    /<tr data-repository="octo-org\/shop"><td><a href="\/repositories\/octo-org\/shop">octo-org\/shop<\/a><\/td><td class="n">2<\/td><td class="n">0<\/td><td>[^<]+<\/td><td class="n">1\.25 \/ 0\.50<\/td>/,
  );
  expect(overview.text).toMatch(/<tr data-repository="octo-org\/docs">.*<td class="n">0\.10 \/ 0\.00<\/td>/);
  expect(overview.text).toMatch(/<table id="refusals"><tbody><tr><td>no-rule<\/td><td class="n">1<\/td><\/tr>/);
  expect(overview.text).toContain('<span class="ok">memory: taking writes</span>');

  const repository = await page('/repositories/octo-org/shop');
  expect(repository.status).toBe(200);
  expect(repository.text).toContain(`<tr data-key="${shop[0]?.id}">`);
  expect(repository.text).toMatch(new RegExp(`<tr data-key="${shop[1]?.id}">.*<td>PR #12</td>`));
  expect(repository.text).not.toContain(docs.id);
  const none = await page('/repositories/octo-org/nothing-here');
  expect(none.status).toBe(404);
  expect(none.text).toContain('No live keys for octo-org/nothing-here');

  const secrets = [bed.venice.adminKey, ...bed.venice.minted.map((key) => key.apiKey), ...bed.issuer.tokensIssued];
  for (const text of [overview.text, repository.text]) expect(secrets.filter((secret) => text.includes(secret))).toEqual([]);
});

test('reloading the page a hundred times costs Venice one listing; the API listener has no page', async () => {
  await leasedKey(bed);
  const before = bed.venice.count('list');
  for (let i = 0; i < 100; i++) expect((await page('/')).status).toBe(200);
  expect(bed.venice.count('list') - before).toBeLessThanOrEqual(1);
  expect((await fetch(`${bed.broker.url}/`)).status).toBe(404);
});

test('a deleted key leaves the page; its lease end is counted in the last hour', async () => {
  const key = await leasedKey(bed);
  const token = await bed.issuer.sign(jobClaims('octo-org/shop', '18234567890'));
  expect((await call(bed.broker, 'DELETE', `/v1/keys/${key.id}`, { token })).status).toBe(200);
  const overview = await page('/');
  expect(overview.text).toContain('No live keys.');
  expect(overview.text).toMatch(/<table id="lease-ends"><tbody><tr><td>post<\/td><td class="n">1<\/td><\/tr>/);
  expect(overview.text).toContain('<div class="card" id="webhook"><b>Webhook</b><br><span class="muted">not configured</span></div>');
});
