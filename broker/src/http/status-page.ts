/**
 * The operators' status page, as server-rendered HTML (no script, a little CSS): GET / on the internal
 * listener gives the overview, GET /repositories/{owner}/{name} one repository's keys by run and pull
 * request. It shows ids, owners, rules, expiry and spend only: never a key, a handle, a token or a
 * header. Every text that came from outside the broker (repository names, rules read back from the
 * store, Venice's words) passes through safeText, then HTML escaping, before it is written.
 */
import type { Hono } from 'hono';
import { safeText } from '../../../core/safe-text.js';
import type { KeyRow, RepositoryRow, StatusSnapshot } from './status.js';

/** Text for HTML: neutralised (the one neutralising function), then escaped for markup and attributes. */
export function html(untrusted: string): string {
  return safeText(untrusted).replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** The headers every page goes out with: not cached, not framed, no script, no referrer. */
export const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
};

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1b1f24;background:#fff}
h1{font-size:1.3rem;margin:0 0 .2rem}h2{font-size:1.05rem;margin:1.4rem 0 .4rem}
table{border-collapse:collapse;min-width:40rem}th,td{text-align:left;padding:.25rem .7rem;border-bottom:1px solid #d8dee4}
th{background:#f3f5f7;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.bad{color:#b42318;font-weight:600}.ok{color:#1a7f37}.muted{color:#59636e}
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{border:1px solid #d8dee4;border-radius:6px;padding:.6rem .9rem;min-width:12rem}`;

function page(title: string, snapshot: StatusSnapshot, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${html(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>${STYLE}</style></head>
<body><h1>${html(title)}</h1>
<p class="muted">venice-key-broker <span id="version">${html(snapshot.version)}</span> · as of ${iso(snapshot.at)} · this page changes nothing</p>
${body}
</body></html>`;
}

export function renderOverview(snapshot: StatusSnapshot): string {
  return page('Venice key broker', snapshot, [services(snapshot), repositoriesTable(snapshot), activity(snapshot)].join('\n'));
}

/** One repository's keys; undefined when it holds no live lease. */
export function renderRepository(snapshot: StatusSnapshot, repository: string): string | undefined {
  const row = snapshot.repositories?.find((candidate) => candidate.repository.toLowerCase() === repository.toLowerCase());
  if (!row) return undefined;
  const header = `<p><a href="/">← all repositories</a> · ${row.live} live, ${row.ending} ending · rules: ${row.rules.map(html).join(', ')}</p>`;
  return page(`Keys of ${row.repository}`, snapshot, `${header}\n${keysTable(row.keys, snapshot.spendKnown)}`);
}

function services(snapshot: StatusSnapshot): string {
  const { queue, store, jwks } = snapshot;
  const window =
    queue.windowCreates === undefined
      ? '<span class="bad">unknown (store out of reach)</span>'
      : `${queue.windowCreates} of ${queue.perWindow}`;
  const held = queue.heldForMs
    ? `<span class="bad">Venice holds creates off for ${Math.ceil(queue.heldForMs / 1000)} s</span>`
    : 'not held';
  const storeText =
    store.health === 'ok'
      ? `<span class="ok">${store.kind}: taking writes</span>`
      : `<span class="bad">${store.kind}: ${store.health}</span>`;
  const last = jwks.last ? ` (last fetch ${jwks.last.result} at ${iso(jwks.last.at)})` : '';
  const keys = jwks.held ? `<span class="ok">held</span>${last}` : `<span class="bad">not held</span>${last}`;
  return `<div class="cards">
<div class="card" id="queue"><b>Queue</b><br>waiting here: ${queue.waiting}<br>creates this window (${queue.windowMs / 1000} s): ${window}<br>${held}</div>
<div class="card" id="store"><b>Store</b><br>${storeText}</div>
<div class="card" id="jwks"><b>Issuer keys</b><br>${keys}</div>
${webhookCard(snapshot)}
<div class="card" id="pool"><b>Warm pool</b><br>${snapshot.pool ? `${snapshot.pool.keys} of ${snapshot.pool.size} keys here` : '<span class="muted">not configured</span>'}</div>
</div>`;
}

function webhookCard({ webhook }: StatusSnapshot): string {
  if (!webhook.configured) return '<div class="card" id="webhook"><b>Webhook</b><br><span class="muted">not configured</span></div>';
  const last = webhook.last;
  const delivery = last
    ? `last delivery: ${html(last.event ?? 'unknown event')} ${html(last.outcome)} (${last.status}) at ${iso(last.at)}${last.reason ? `<br><span class="muted">${html(last.reason)}</span>` : ''}`
    : 'no delivery since start';
  const deletion = webhook.lastDeletion
    ? `last deletion: ${webhook.lastDeletion.count} key(s) at ${iso(webhook.lastDeletion.at)}`
    : 'no deletion since start';
  return `<div class="card" id="webhook"><b>Webhook</b><br>${delivery}<br>${deletion}</div>`;
}

function repositoriesTable(snapshot: StatusSnapshot): string {
  const rows = snapshot.repositories;
  if (rows === undefined) return '<h2>Live keys</h2><p class="bad">The leases cannot be read: the store is out of reach.</p>';
  if (rows.length === 0) return '<h2>Live keys</h2><p>No live keys.</p>';
  const total = rows.reduce((sum, row) => sum + row.keys.length, 0);
  const body = rows.map((row) => repositoryLine(row, snapshot)).join('\n');
  return `<h2>Live keys: <span id="total">${total}</span> in ${rows.length} repositor${rows.length === 1 ? 'y' : 'ies'}</h2>
${snapshot.spendKnown ? '' : '<p class="bad">Venice\'s listing could not be read: spend unknown.</p>'}
<table id="repositories"><thead><tr><th>Repository</th><th>Live</th><th>Ending</th><th>Oldest expiry</th><th>Spent, 7 days (USD / DIEM)</th><th>Spent, limit period (USD / DIEM)</th><th>Rules</th></tr></thead>
<tbody>
${body}
</tbody></table>`;
}

function repositoryLine(row: RepositoryRow, snapshot: StatusSnapshot): string {
  const [owner = '', name = ''] = row.repository.split('/');
  const href = `/repositories/${encodeURIComponent(owner)}/${encodeURIComponent(name)}`;
  const spend = (spent: { usd: number; diem: number }) => (snapshot.spendKnown ? `${usd(spent.usd)} / ${usd(spent.diem)}` : '?');
  return `<tr data-repository="${html(row.repository)}"><td><a href="${html(href)}">${html(row.repository)}</a></td><td class="n">${row.live}</td><td class="n">${row.ending}</td><td>${iso(row.oldestExpiry)}</td><td class="n">${spend(row.spent)}</td><td class="n">${spend(row.currentPeriod)}</td><td>${row.rules.map(html).join(', ')}</td></tr>`;
}

function keysTable(keys: KeyRow[], spendKnown: boolean): string {
  const lines = keys.map(({ lease, spent, currentPeriod }) => {
    const owner = lease.pr !== undefined ? `PR #${lease.pr}${lease.slot ? ` (${html(lease.slot)})` : ''}` : `run ${html(lease.runId)}`;
    const spend = (value: { usd: number; diem: number } | undefined) =>
      spendKnown && value ? `${usd(value.usd)} / ${usd(value.diem)}` : '?';
    const state = lease.state === 'live' ? 'live' : `<span class="bad">ending (${html(lease.ending?.why ?? '')})</span>`;
    return `<tr data-key="${html(lease.keyId)}"><td><code>${html(lease.keyId)}</code></td><td>${html(lease.scope)}</td><td>${owner}</td><td class="n">${html(lease.runAttempt)}</td><td>${html(lease.rule)}</td><td>${iso(lease.handedOutAt)}</td><td>${iso(lease.expiresAt)}</td><td>${state}</td><td class="n">${spend(spent)}</td><td class="n">${spend(currentPeriod)}</td></tr>`;
  });
  return `<table id="keys"><thead><tr><th>Key id</th><th>Scope</th><th>Owner</th><th>Attempt</th><th>Rule</th><th>Handed out</th><th>Expires</th><th>State</th><th>Spent, 7 days</th><th>Spent, limit period</th></tr></thead>
<tbody>
${lines.join('\n')}
</tbody></table>`;
}

function activity(snapshot: StatusSnapshot): string {
  const list = (items: { word: string; count: number }[], id: string, none: string): string =>
    items.length === 0
      ? `<p id="${id}" class="muted">${none}</p>`
      : `<table id="${id}"><tbody>${items.map((item) => `<tr><td>${html(item.word)}</td><td class="n">${item.count}</td></tr>`).join('')}</tbody></table>`;
  return `<h2>Refusals in the last hour (this replica)</h2>
${list(
  snapshot.refusals.map(({ reason, count }) => ({ word: reason, count })),
  'refusals',
  'None.',
)}
<h2>Leases ended in the last hour (this replica)</h2>
${list(
  snapshot.leaseEnds.map(({ why, count }) => ({ word: why, count })),
  'lease-ends',
  'None.',
)}`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function usd(amount: number): string {
  return amount.toFixed(2);
}

/** GET / and GET /repositories/{owner}/{name}, on the internal listener. */
export function addStatusRoutes(app: Hono, board: { snapshot: () => Promise<StatusSnapshot> }): void {
  app.get('/', async (c) => c.body(renderOverview(await board.snapshot()), 200, PAGE_HEADERS));
  app.get('/repositories/:owner/:name', async (c) => {
    const repository = `${c.req.param('owner')}/${c.req.param('name')}`;
    const snapshot = await board.snapshot();
    const text = renderRepository(snapshot, repository);
    if (text) return c.body(text, 200, PAGE_HEADERS);
    return c.body(
      page('No live keys', snapshot, `<p>No live keys for ${html(repository)}. <a href="/">All repositories</a></p>`),
      404,
      PAGE_HEADERS,
    );
  });
}
