// Rules about who may mint match the immutable ids GitHub puts in the token, through the broker as its
// own process: whoever registers a freed owner name (same name, new id) is refused by an id rule, and
// every audit line records the ids beside the names.
import { expect, test } from 'vitest';
import { idOf, jobClaims, type OidcIssuer } from '../../fakes/oidc-issuer.ts';
import type { VeniceServer } from '../../fakes/venice-server.ts';
import { call, spawnBroker, startFakes, stopAndScanAfterEach, type TestBroker } from './support/broker-bed.ts';

let venice: VeniceServer;
let issuer: OidcIssuer;
let broker: TestBroker;
stopAndScanAfterEach(() => ({ venice, issuer, broker }));

test('an id rule admits its owner and refuses a token with the same owner name but another id', async () => {
  ({ venice, issuer } = await startFakes());
  const ownerId = idOf('octo-org');
  broker = await spawnBroker({
    venice,
    issuer,
    rules: [
      {
        name: 'octo-org-by-id',
        // Written as a number, as an operator copies it from GitHub; tokens carry it as a string.
        match: { repository_owner_id: Number(ownerId), event_name: 'push' },
        ceilings: { usd: 1, diem: 1, 'max-expiry': '1h', 'live-keys': 5 },
      },
    ],
  });
  const owner = await call(broker, 'POST', '/v1/keys', { token: await issuer.sign(jobClaims('octo-org/shop', '900')), body: {} });
  expect(owner.status).toBe(201);
  // The name octo-org re-registered by someone else after the organisation was renamed or deleted.
  const impostor = await issuer.sign(jobClaims('octo-org/shop', '901', { repository_owner_id: '424242', repository_id: '434343' }));
  const refused = await call(broker, 'POST', '/v1/keys', { token: impostor, body: {} });
  expect(refused.status).toBe(403);
  expect(venice.count('create')).toBe(1);
  // Nor can the impostor delete the owner's key: no rule admits it, so Venice is not even asked.
  const listsBefore = venice.count('list');
  expect((await call(broker, 'DELETE', `/v1/keys/${owner.json.id}`, { token: impostor })).status).toBe(403);
  expect(venice.count('list')).toBe(listsBefore);
  expect(venice.liveKeys()).toHaveLength(1);
  expect(broker.audit.map((line) => [line.status, line.ownerId, line.repositoryId])).toEqual([
    [201, ownerId, idOf('octo-org/shop')],
    [403, '424242', '434343'],
    [403, '424242', '434343'],
  ]);
});

test('--check validates a config and exits: 0 for the example, 1 naming the rule and the fix for one that fails open', async () => {
  const { spawnSync } = await import('node:child_process');
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { NODE24, REPO } = await import('../../fakes/runner.ts');
  const check = (path: string) =>
    spawnSync(NODE24, [join(REPO, 'broker/dist/server.js'), '--config', path, '--check'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH },
    });
  const good = check(join(REPO, 'broker/broker.example.yaml'));
  expect(good.status).toBe(0);
  expect(good.stdout).toMatch(
    /broker\.example\.yaml is valid: 5 rule\(s\) \(release-tags, main-branch-ci, pull-request-previews, nightly-sweep, shared-workflow\)/,
  );
  const dir = mkdtempSync(join(tmpdir(), 'vek-check-'));
  const bad = join(dir, 'broker.yaml');
  writeFileSync(
    bad,
    'oidc: { audience: https://broker.example.org }\nrules:\n  - { name: shared, match: { job_workflow_ref: "octo-org/ci/.github/workflows/v.yml@refs/heads/main" }, ceilings: { usd: 1, diem: 1, max-expiry: 1h, live-keys: 1 } }\n',
  );
  const refused = check(bad);
  expect(refused.status).toBe(1);
  expect(refused.stderr).toMatch(/rules\[0\] \("shared"\)\.match: pins no owner.*add repository_owner_id/);
  // Never a stack trace for a config mistake.
  expect(refused.stderr).not.toMatch(/\n\s+at /);
  // venice/broker stubs for afterEach
  ({ venice, issuer } = await startFakes());
  broker = await spawnBroker({ venice, issuer });
});
