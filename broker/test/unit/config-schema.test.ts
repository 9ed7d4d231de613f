// broker/config.schema.json (for editors and a config repository's CI) is generated from the settings the
// parser reads by (config-settings.ts): the committed file is what they generate, and a changed bound
// changes it (positive control). It also means what the parser means: the
// example and the operator guide's config (docs/broker.md) are valid; each config of a corpus is accepted by the schema exactly
// when the parser accepts it (rule-name uniqueness aside, which the schema cannot say). A schema with one
// rule taken out disagrees with the parser on the corpus (positive control).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { expect, test } from 'vitest';
import { parse } from 'yaml';
import { REPO } from '../../../fakes/runner.ts';
import { parseConfig } from '../../src/policy/config.ts';
import { configSchema } from '../../src/policy/config-schema.ts';
import * as declared from '../../src/policy/config-settings.ts';

const SCHEMA = JSON.parse(readFileSync(join(REPO, 'broker', 'config.schema.json'), 'utf8')) as Record<string, unknown>;
const validator = (schema: Record<string, unknown>) => new Ajv2020({ strict: false, allErrors: true }).compile(schema);
const parserAccepts = (text: string): boolean => {
  try {
    parseConfig(text);
    return true;
  } catch {
    return false;
  }
};

const HEAD = 'oidc: { audience: https://broker.example.org }\n';
const CEILINGS = '{ usd: 1, diem: 1, max-expiry: 1h, live-keys: 5 }';
const rule = (text: string): string => `${HEAD}rules:\n  - ${text}\n`;
const CORPUS = [
  // accepted
  rule(`{ name: a, match: { repository_owner_id: 1, event_name: push }, ceilings: ${CEILINGS} }`),
  rule(`{ name: a, match: { repository_owner: octo-org, event_name: push, ref: refs/heads/main }, ceilings: ${CEILINGS} }`),
  rule(`{ name: a, match: { repository: "octo-org/*", event_name: pull_request }, operations: [MINT, rotate], ceilings: ${CEILINGS} }`),
  rule(`{ name: a, match: { repository_id: "42", environment: release, event_name: push, ref: "refs/tags/v*" }, ceilings: ${CEILINGS} }`),
  rule(
    `{ name: a, match: { repository: octo-org/shop, environment: release }, over-ceiling: CLAMP, ceilings: { usd: unlimited, diem: 0, max-expiry: 2h30m, live-keys: 0, periods: [month], privacy-floor: private_only, scopes: [run] } }`,
  ),
  `${HEAD}defaults: { ceilings: ${CEILINGS}, rate-limits: { mint: 5 } }\nrules: [{ name: a, match: { repository_owner_id: 7 } }]\n`,
  `${HEAD}github-webhook: { secret-env: HOOK, reconcile-interval: 5m }\nlimits: { creates-per-minute: 2, create-window: 6s }\nrules: [{ name: a, match: { repository_owner_id: 7 }, ceilings: ${CEILINGS} }]\n`,
  `${HEAD}github-webhook: { read-timeout: 3s, max-unverified: 4, body-bytes: 65536 }\nmetrics: { listener: INTERNAL, port: 9464 }\nstore: { redis-url-env: R, allow-unauthenticated: true, command-timeout: 5s }\nrules: [{ name: a, match: { repository_owner_id: 7 }, ceilings: ${CEILINGS} }]\n`,
  `${HEAD}metrics: { listener: api }\nrules: [{ name: a, match: { repository_owner_id: 7 }, ceilings: ${CEILINGS} }]\n`,
  `${HEAD}listen: { trusted-proxies: [10.0.0.0/24, "2001:db8::/32", 192.0.2.7] }\nrules: [{ name: a, match: { repository_owner_id: 7 }, ceilings: ${CEILINGS} }]\n`,
  `${HEAD}pool: { size: 40, max-age: 30m }\nrules: [{ name: a, match: { repository_owner_id: 7 }, ceilings: ${CEILINGS} }]\n`,
  `${HEAD}limits: { reconcile-interval: 10s }\nrules: [{ name: a, match: { repository_owner_id: 7 }, ceilings: ${CEILINGS} }]\n`,
  // refused
  `${HEAD}limits: { reconcile-interval: 10s, orphan-scan-interval: 10s }\nrules: [{ name: a, match: { repository_owner_id: 7 }, ceilings: ${CEILINGS} }]\n`,
  `${HEAD}pool: { size: 0 }\nrules: [{ name: a, match: { repository_owner_id: 7 }, ceilings: ${CEILINGS} }]\n`,
  `${HEAD}pool: { size: 10, max-age: soon }\nrules: [{ name: a, match: { repository_owner_id: 7 }, ceilings: ${CEILINGS} }]\n`,
  `${HEAD}listen: { trusted-proxies: [proxy.internal] }\nrules: [{ name: a, match: { repository_owner_id: 7 }, ceilings: ${CEILINGS} }]\n`,
  `${HEAD}listen: { trusted-proxies: [] }\nrules: [{ name: a, match: { repository_owner_id: 7 }, ceilings: ${CEILINGS} }]\n`,
  rule(`{ name: a, match: { job_workflow_ref: "octo-org/ci/.github/workflows/v.yml@refs/heads/main" }, ceilings: ${CEILINGS} }`),
  rule(`{ name: a, match: { repository_owner: "octo-*", event_name: push }, ceilings: ${CEILINGS} }`),
  rule(`{ name: a, match: { repository: "*/shop", event_name: push }, ceilings: ${CEILINGS} }`),
  rule(`{ name: a, match: { repository_owner: octo-org, ref: refs/heads/main }, ceilings: ${CEILINGS} }`),
  rule(`{ name: a, match: { repository_owner: octo-org, ref: refs/heads/main, event_name: "pu*" }, ceilings: ${CEILINGS} }`),
  rule(`{ name: a, match: { repository: "octo-org/*", environment: release, event_name: push }, ceilings: ${CEILINGS} }`),
  rule(`{ name: a, match: { repository_owner: octo-org, event_name: push, ref: "refs/heads/[a-z]*" }, ceilings: ${CEILINGS} }`),
  rule(`{ name: a, match: { repository_owner: octo-org, event_name: push, ref: "refs/heads/{a,b}" }, ceilings: ${CEILINGS} }`),
  rule(`{ name: a, match: { repository_id: "abc" }, ceilings: ${CEILINGS} }`),
  rule(`{ name: a, match: { repository: octo-org }, ceilings: ${CEILINGS} }`),
  rule(`{ name: a, match: { repository_owner_id: 1 }, ceilings: { usd: 1, diem: 1, max-expiry: 1h } }`),
  rule(`{ name: a, match: { repository_owner_id: 1 } }`),
  rule(`{ name: a, match: { repository_owner_id: 1 }, operations: [destroy], ceilings: ${CEILINGS} }`),
  rule(`{ name: a, match: { repository_owner_id: 1 }, ceilings: { usd: -1, diem: 1, max-expiry: 1h, live-keys: 5 } }`),
  rule(`{ name: a, match: { repository_owner_id: 1 }, ceilings: { usd: 1, diem: 1, max-expiry: forever, live-keys: 5 } }`),
  rule(`{ name: a, match: { repository_owner_id: 1 }, allow-skip-delete: "yes", ceilings: ${CEILINGS} }`),
  rule(`{ name: a, match: {}, ceilings: ${CEILINGS} }`),
  `${HEAD}rules: []\n`,
  `${HEAD}metrics: { listener: api, port: 9090 }\nrules: [{ name: a, match: { repository_owner_id: 7 }, ceilings: ${CEILINGS} }]\n`,
  `${HEAD}metrics: { listener: public }\nrules: [{ name: a, match: { repository_owner_id: 7 }, ceilings: ${CEILINGS} }]\n`,
  `${HEAD}github-webhook: { max-unverified: 0 }\nrules: [{ name: a, match: { repository_owner_id: 7 }, ceilings: ${CEILINGS} }]\n`,
  `${HEAD}store: { allow-unauthenticated: "yes" }\nrules: [{ name: a, match: { repository_owner_id: 7 }, ceilings: ${CEILINGS} }]\n`,
  `${HEAD}limits: { creates-per-minute: 50 }\nrules: [{ name: a, match: { repository_owner_id: 7 }, ceilings: ${CEILINGS} }]\n`,
  `${HEAD}venice: { api-url: "http://venice.example.com" }\nrules: [{ name: a, match: { repository_owner_id: 7 }, ceilings: ${CEILINGS} }]\n`,
  `${HEAD}surprise: true\nrules: [{ name: a, match: { repository_owner_id: 7 }, ceilings: ${CEILINGS} }]\n`,
  `oidc: {}\nrules: [{ name: a, match: { repository_owner_id: 7 }, ceilings: ${CEILINGS} }]\n`,
];

function disagreements(schema: Record<string, unknown>): string[] {
  const validate = validator(schema);
  return CORPUS.filter((text) => validate(parse(text)) !== parserAccepts(text));
}

test("the example config and the operator guide's config are valid under the schema", () => {
  const validate = validator(SCHEMA);
  const example = parse(readFileSync(join(REPO, 'broker/broker.example.yaml'), 'utf8'));
  expect(validate(example), JSON.stringify(validate.errors)).toBe(true);
  const readme = readFileSync(join(REPO, 'docs', 'broker.md'), 'utf8');
  const block = /```yaml\n(# broker\.yaml\n[\s\S]*?)```/.exec(readme)?.[1] ?? '';
  expect(validate(parse(block)), JSON.stringify(validate.errors)).toBe(true);
  expect(readFileSync(join(REPO, 'broker/broker.example.yaml'), 'utf8')).toMatch(
    /^# yaml-language-server: \$schema=\.\/config\.schema\.json$/m,
  );
});

test('the schema accepts exactly what the parser accepts, over a corpus of both', () => {
  expect(CORPUS.filter(parserAccepts).length).toBe(12);
  expect(disagreements(SCHEMA)).toEqual([]);
});

test('a schema without the owner-pin rule disagrees with the parser (positive control)', () => {
  const loosened = structuredClone(SCHEMA) as { properties: { rules: { items: { properties: { match: { allOf: unknown[] } } } } } };
  loosened.properties.rules.items.properties.match.allOf.shift();
  expect(disagreements(loosened as unknown as Record<string, unknown>).length).toBeGreaterThan(0);
});

test('the committed schema is the one the declared settings generate; a changed bound generates another (positive control)', () => {
  expect(SCHEMA).toEqual(configSchema());
  const widened = { ...declared, POOL: { ...declared.POOL, size: { ...declared.POOL.size, max: 600 } } };
  expect(configSchema(widened)).not.toEqual(SCHEMA);
  expect(JSON.stringify(configSchema(widened))).toContain('"maximum":600');
});
